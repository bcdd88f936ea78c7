package ddbstore_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/ddbstore"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// rawItem reads a task's item as stored.
func (f fixture) rawItem(t *testing.T, tk *task.Task) map[string]types.AttributeValue {
	t.Helper()
	k := task.Layout{Bucket: bucket}.KeyOf(tk.ID)
	out, err := f.db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &f.table, ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: k.PK}, "sk": &types.AttributeValueMemberS{Value: k.SK}}})
	require.NoError(t, err)
	require.NotNil(t, out.Item)
	return out.Item
}

// listing is f with a store that writes the by_tenant index
// (Options.ListIndex, HOURGLASS_LIST_INDEX=1) over the same table.
func (f fixture) listing() fixture {
	f.store = ddbstore.New(f.db, f.table, task.Layout{Bucket: bucket}, ddbstore.Options{ListIndex: true})
	return f
}

// TestIndexKeysWrittenOnce: the by_tenant keys are set at create and no
// later transition touches them, so claims and outcomes never write to the
// KEYS_ONLY index (one index write per task).
func TestIndexKeysWrittenOnce(t *testing.T) {
	t.Parallel()
	f := setup(t).listing()
	tk := f.create(t, "acme", base.Add(time.Second))
	at := func() (string, string) {
		it := f.rawItem(t, tk)
		pk, _ := it["gsi1pk"].(*types.AttributeValueMemberS)
		sk, _ := it["gsi1sk"].(*types.AttributeValueMemberS)
		require.NotNil(t, pk)
		require.NotNil(t, sk)
		return pk.Value, sk.Value
	}
	pk0, sk0 := at()
	assert.Equal(t, "ten#4#acme", pk0)
	assert.Equal(t, task.SortKey(tk.ID.DueMs, tk.ID.String()), sk0)
	now := base.Add(2 * time.Second)
	f.claim(t, tk, "w1", now)
	_, err := f.store.Finish(context.Background(), tk.ID, "w1", task.Outcome{State: task.Succeeded, Attempt: task.Attempt{N: 1, StartedAt: now, EndedAt: now, Outcome: "succeeded"}})
	require.NoError(t, err)
	pk1, sk1 := at()
	assert.Equal(t, pk0, pk1)
	assert.Equal(t, sk0, sk1)

	desc, err := f.db.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: &f.table})
	require.NoError(t, err)
	require.Len(t, desc.Table.GlobalSecondaryIndexes, 2, "by_tenant and by_failed")
	for _, g := range desc.Table.GlobalSecondaryIndexes {
		assert.Contains(t, []string{"by_tenant", "by_failed"}, aws.ToString(g.IndexName))
		assert.Equal(t, types.ProjectionTypeKeysOnly, g.Projection.ProjectionType, aws.ToString(g.IndexName))
	}
	_, failed := f.rawItem(t, tk)["failed_sk"]
	assert.False(t, failed, "a SUCCEEDED task is not in the by_failed index")
}

func TestListIDs(t *testing.T) {
	t.Parallel()
	f := setup(t).listing()
	ctx := context.Background()
	var mine []*task.Task
	for i := range 5 {
		mine = append(mine, f.create(t, "a#1", base.Add(time.Duration(i)*time.Minute)))
	}
	// Tenants whose names could meet "a#1" without the length prefix.
	f.create(t, "a", base)
	f.create(t, "1#a#1", base)

	var got []task.ID
	after := ""
	for range 10 {
		es, more, err := f.store.ListIDs(ctx, task.ListQuery{Tenant: "a#1", After: after, Limit: 2})
		require.NoError(t, err)
		for _, e := range es {
			got = append(got, e.ID)
			after = e.Pos
		}
		if !more {
			break
		}
	}
	want := []task.ID{mine[4].ID, mine[3].ID, mine[2].ID, mine[1].ID, mine[0].ID}
	assert.Equal(t, want, got, "newest due first, every task once")

	es, _, err := f.store.ListIDs(ctx, task.ListQuery{Tenant: "a#1", DueAfter: mine[1].DueAt, DueBefore: mine[4].DueAt, Limit: 10})
	require.NoError(t, err)
	require.Len(t, es, 2, "both bounds exclusive")
	assert.Equal(t, []task.ID{mine[3].ID, mine[2].ID}, []task.ID{es[0].ID, es[1].ID})

	_, _, err = f.store.ListIDs(ctx, task.ListQuery{Tenant: "a#1", After: "000000000000000#nope", Limit: 1})
	assert.Error(t, err, "a position that is no sort key is refused")
}

// TestListIndexOptIn: without Options.ListIndex no way of writing a task
// item (create, keyed create, schedule occurrence, reschedule) sets the
// by_tenant keys, so the index costs no write and lists nothing; a store
// with it, over the same table, indexes what it writes from then on.
func TestListIndexOptIn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	require.False(t, f.store.ListIndex(), "off by default")
	on := f.listing()
	require.True(t, on.store.ListIndex())

	// writeAll writes one task item each way for tenant and returns them.
	writeAll := func(f fixture, tenant string) []*task.Task {
		plain := f.create(t, tenant, base)
		keyed := newTask(t, tenant, base.Add(time.Minute))
		_, created, err := f.store.Create(ctx, keyed, "token-"+keyed.ID.String(), "hash")
		require.NoError(t, err)
		require.True(t, created)
		occ := newTask(t, tenant, base.Add(2*time.Minute))
		occ.Occurrence = &task.Occurrence{Schedule: "sch-" + tenant, Generation: 1, At: occ.DueAt}
		// created may be false when the SDK retried a put whose answer was
		// lost (seen under load in CI); the occurrence is there either way.
		_, err = f.store.PutOccurrence(ctx, occ)
		require.NoError(t, err)
		prev := f.create(t, tenant, base.Add(3*time.Minute))
		next := newTask(t, tenant, base.Add(4*time.Minute))
		next.IdempotencyKey = prev.ID.String()
		_, err = f.store.Update(ctx, prev, next, base.Add(-time.Hour))
		require.NoError(t, err)
		return []*task.Task{plain, keyed, occ, prev, next}
	}
	hasKeys := func(tk *task.Task) bool {
		it := f.rawItem(t, tk)
		_, pk := it["gsi1pk"]
		_, sk := it["gsi1sk"]
		require.Equal(t, pk, sk, "both keys or neither")
		return pk
	}

	for _, tk := range writeAll(f, "frugal") {
		assert.False(t, hasKeys(tk), "task %s carries index keys with the index off", tk.ID)
	}
	es, more, err := f.store.ListIDs(ctx, task.ListQuery{Tenant: "frugal", Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, es)
	assert.False(t, more)

	// Turned on later: only what is written from then on is listed.
	indexed := writeAll(on, "frugal")
	for _, tk := range indexed {
		assert.True(t, hasKeys(tk), "task %s lacks index keys with the index on", tk.ID)
	}
	es, _, err = on.store.ListIDs(ctx, task.ListQuery{Tenant: "frugal", Limit: 20})
	require.NoError(t, err)
	var got []task.ID
	for _, e := range es {
		got = append(got, e.ID)
	}
	var want []task.ID
	for _, tk := range indexed {
		want = append(want, tk.ID)
	}
	assert.ElementsMatch(t, want, got)
}

func TestGetMany(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a := f.create(t, "acme", base)
	b := f.create(t, "acme", base.Add(time.Minute))
	missing := newTask(t, "acme", base).ID
	got, err := f.store.GetMany(context.Background(), []task.ID{a.ID, missing, b.ID, a.ID})
	require.NoError(t, err)
	assert.Len(t, got, 2)
	assert.Equal(t, a, got[a.ID])
	assert.Equal(t, b, got[b.ID])
	_, err = f.store.GetMany(context.Background(), make([]task.ID, 101))
	assert.Error(t, err)
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := base.Add(-time.Minute)

	t.Run("in place", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		prev := f.create(t, "acme", base)
		next := *prev
		next.Payload = json.RawMessage(`{"n":2}`)
		next.PayloadHash = task.PayloadHash(next.Target, next.Payload)
		next.Labels = map[string]string{"k": "v"}
		got, err := f.store.Update(ctx, prev, &next, now)
		require.NoError(t, err)
		assert.Equal(t, prev.ID, got.ID)
		assert.JSONEq(t, `{"n":2}`, string(got.Payload))
		assert.Equal(t, next.PayloadHash, got.PayloadHash)
		assert.Equal(t, map[string]string{"k": "v"}, got.Labels)
		assert.Equal(t, prev.Version+1, got.Version)

		_, err = f.store.Update(ctx, prev, &next, now)
		assert.ErrorIs(t, err, task.ErrConflict, "the version read is stale")
		other := *got
		other.Tenant = "globex"
		_, err = f.store.Update(ctx, &other, &other, now)
		assert.ErrorIs(t, err, task.ErrNotFound)
	})

	t.Run("replace", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		prev := f.create(t, "acme", base)
		next := newTask(t, "acme", base.Add(time.Hour))
		got, err := f.store.Update(ctx, prev, next, now)
		require.NoError(t, err)
		assert.Equal(t, next.ID, got.ID)
		old := f.get(t, prev.ID)
		assert.Equal(t, task.Cancelled, old.State)
		assert.Equal(t, next.ID.String(), old.ReplacedBy)
		assert.Equal(t, 2, f.countTasks(t))
	})

	t.Run("refused once the bucket is announced", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		prev := f.create(t, "acme", base)
		require.NoError(t, f.store.SetCursorField(ctx, "dispatching", task.Layout{Bucket: bucket}.BucketOf(base)))
		next := newTask(t, "acme", base.Add(time.Hour))
		_, err := f.store.Update(ctx, prev, next, now)
		assert.ErrorIs(t, err, task.ErrConflict)
		assert.Equal(t, prev, f.get(t, prev.ID))
		assert.Equal(t, 1, f.countTasks(t), "nothing half-written")
		// The control: a task in a later bucket can still change.
		later := f.create(t, "acme", base.Add(10*time.Minute))
		_, err = f.store.Update(ctx, later, newTask(t, "acme", base.Add(time.Hour)), now)
		assert.NoError(t, err)
	})
}
