package ddbstore_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/ddbstore"
	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// TestMain fails the run on leaked goroutines (see awstest.VerifyTestMain).
func TestMain(m *testing.M) { awstest.VerifyTestMain(m) }

// bucket is the width of the test layout: wide enough that the tasks of one
// test share a partition when they are due within the same minute.
const bucket = time.Minute

// base is a bucket-aligned due time far from now, so that nothing but the
// arguments the tests pass decides what the store does.
var base = time.Date(2031, 3, 4, 5, 6, 0, 0, time.UTC)

type fixture struct {
	store *ddbstore.Store
	db    *dynamodb.Client
	table string
}

// setup provisions a fresh table in its own emulator account.
func setup(t *testing.T) fixture {
	t.Helper()
	env := awstest.New(t)
	res, err := provision.Ensure(context.Background(), env.Config, provision.Spec{Prefix: env.Name("st")})
	require.NoError(t, err)
	db := dynamodb.NewFromConfig(env.Config)
	return fixture{store: ddbstore.New(db, res.Table, task.Layout{Bucket: bucket}, ddbstore.Options{}), db: db, table: res.Table}
}

// newTask builds a SCHEDULED task the way the API does.
func newTask(t *testing.T, tenant string, due time.Time) *task.Task {
	t.Helper()
	id, err := task.NewID(due, 1)
	require.NoError(t, err)
	return taskWithID(id, tenant)
}

func taskWithID(id task.ID, tenant string) *task.Task {
	created := base.Add(-time.Hour)
	tg := task.Target{Kind: "webhook", Spec: json.RawMessage(`{"kind":"webhook","url":"https://example.com/hook"}`)}
	payload := json.RawMessage(`{"n":1}`)
	return &task.Task{
		ID: id, Tenant: tenant, DueAt: id.Due(), Target: tg, Payload: payload,
		Retry: task.Retry{MaxAttempts: 3, InitialBackoff: time.Second, MaxBackoff: time.Minute},
		State: task.Scheduled, Version: 1, PayloadHash: task.PayloadHash(tg, payload),
		CreatedAt: created, UpdatedAt: created,
	}
}

// create stores a new task due at due and returns it as stored.
func (f fixture) create(t *testing.T, tenant string, due time.Time) *task.Task {
	t.Helper()
	tk := newTask(t, tenant, due)
	_, created, err := f.store.Create(context.Background(), tk, "", "")
	require.NoError(t, err)
	require.True(t, created)
	return f.get(t, tk.ID)
}

func (f fixture) get(t *testing.T, id task.ID) *task.Task {
	t.Helper()
	got, err := f.store.Get(context.Background(), id)
	require.NoError(t, err)
	return got
}

// countTasks counts the task items in the table (items with a tenant), by a
// raw, strongly consistent scan.
func (f fixture) countTasks(t *testing.T) int {
	t.Helper()
	n := 0
	p := dynamodb.NewScanPaginator(f.db, &dynamodb.ScanInput{
		TableName: &f.table, FilterExpression: aws.String("attribute_exists(tenant)"), ConsistentRead: aws.Bool(true),
	})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		require.NoError(t, err)
		n += len(out.Items)
	}
	return n
}

// claim claims tk as owner at now with a lease of a minute.
func (f fixture) claim(t *testing.T, tk *task.Task, owner string, now time.Time) *task.Task {
	t.Helper()
	got, err := f.store.Claim(context.Background(), tk.ID, tk.PayloadHash, owner, now, now.Add(time.Minute))
	require.NoError(t, err)
	return got
}

func TestCreateGet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("round-trips every field", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		tk := newTask(t, "acme", base.Add(1234*time.Millisecond))
		tk.IdempotencyKey = "order-42"
		tk.Labels = map[string]string{"team": "billing", "env": "prod"}
		tk.Retry = task.Retry{MaxAttempts: 7, InitialBackoff: 250 * time.Millisecond, MaxBackoff: 90 * time.Second}
		tk.Target.Spec = json.RawMessage(`{"kind":"webhook","url":"https://example.com/x","timeout_ms":500}`)
		tk.Payload = json.RawMessage(`{"list":[1,2,3],"s":"é"}`)
		tk.PayloadHash = task.PayloadHash(tk.Target, tk.Payload)
		tk.CreatedAt = base.Add(-987 * time.Millisecond)
		tk.UpdatedAt = base.Add(-986 * time.Millisecond)

		saved, created, err := f.store.Create(ctx, tk, "", "")
		require.NoError(t, err)
		require.True(t, created)
		// tk itself, or — when the SDK retried a put whose answer was lost
		// (seen under load in CI) — the stored copy, which must equal it.
		require.Equal(t, tk, saved)

		got := f.get(t, tk.ID)
		assert.Equal(t, tk, got)
		assert.Equal(t, int64(1234), got.DueAt.Sub(base).Milliseconds(), "due time keeps its milliseconds")
		assert.Equal(t, int64(-987), got.CreatedAt.Sub(base).Milliseconds(), "created_at keeps its milliseconds")
	})

	t.Run("missing ID is ErrNotFound", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		id, err := task.NewID(base, 1)
		require.NoError(t, err)
		got, err := f.store.Get(ctx, id)
		require.ErrorIs(t, err, task.ErrNotFound)
		assert.Nil(t, got)
	})

	t.Run("client token replays, refuses a different hash, writes one task", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		first := newTask(t, "acme", base)
		saved, created, err := f.store.Create(ctx, first, "tok-1", "hash-a")
		require.NoError(t, err)
		require.True(t, created)
		require.Equal(t, first.ID, saved.ID)

		again := newTask(t, "acme", base.Add(time.Second))
		got, created, err := f.store.Create(ctx, again, "tok-1", "hash-a")
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, first.ID, got.ID, "the replay answers with the first task")
		_, err = f.store.Get(ctx, again.ID)
		require.ErrorIs(t, err, task.ErrNotFound, "the replay's own task must not be written")

		other := newTask(t, "acme", base.Add(2*time.Second))
		got, created, err = f.store.Create(ctx, other, "tok-1", "hash-b")
		require.ErrorIs(t, err, task.ErrIdempotencyMismatch)
		assert.Nil(t, got)
		assert.False(t, created)
		_, err = f.store.Get(ctx, other.ID)
		require.ErrorIs(t, err, task.ErrNotFound)

		assert.Equal(t, 1, f.countTasks(t), "exactly one task item, nothing half-written")

		// The token is per tenant: another tenant may use it freely.
		theirs := newTask(t, "globex", base)
		_, created, err = f.store.Create(ctx, theirs, "tok-1", "hash-b")
		require.NoError(t, err)
		assert.True(t, created)
		assert.Equal(t, 2, f.countTasks(t))
	})

	t.Run("client token never answers with another tenant's task", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		// Tenants from a JWT claim may contain '#', which the token key
		// uses as its separator: "acme"+"x#y" and "acme#x"+"y" share a key.
		mine := newTask(t, "acme", base)
		_, created, err := f.store.Create(ctx, mine, "x#y", "same-hash")
		require.NoError(t, err)
		require.True(t, created)

		got, _, err := f.store.Create(ctx, newTask(t, "acme#x", base), "y", "same-hash")
		if err == nil {
			require.Equal(t, "acme#x", got.Tenant, "tenant acme#x was answered with acme's task %s", got.ID)
		} else {
			require.ErrorIs(t, err, task.ErrIdempotencyMismatch)
			assert.Nil(t, got)
		}
	})
}

func TestQueryScheduled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	layout := f.store.Layout()

	// Five SCHEDULED tasks in one partition (shard 0), written out of order.
	var want []task.ID
	for _, ms := range []int{40, 10, 50, 20, 30} {
		id := task.ID{DueMs: base.Add(time.Duration(ms) * time.Millisecond).UnixMilli(), Shard: 0, Random: uint64(ms)}
		_, _, err := f.store.Create(ctx, taskWithID(id, "acme"), "", "")
		require.NoError(t, err)
		want = append(want, id)
	}
	slices.SortFunc(want, func(a, b task.ID) int { return int(a.DueMs - b.DueMs) })

	// Same partition, other states: not returned.
	run := task.ID{DueMs: base.Add(15 * time.Millisecond).UnixMilli(), Shard: 0, Random: 1001}
	canc := task.ID{DueMs: base.Add(25 * time.Millisecond).UnixMilli(), Shard: 0, Random: 1002}
	for _, id := range []task.ID{run, canc} {
		_, _, err := f.store.Create(ctx, taskWithID(id, "acme"), "", "")
		require.NoError(t, err)
	}
	runT, err := f.store.Get(ctx, run)
	require.NoError(t, err)
	_, err = f.store.Claim(ctx, run, runT.PayloadHash, "w1", base, base.Add(time.Minute))
	require.NoError(t, err)
	_, err = f.store.Cancel(ctx, canc, "acme", base)
	require.NoError(t, err)
	// Other shard of the same bucket, and the next bucket of this shard.
	for _, id := range []task.ID{
		{DueMs: base.Add(35 * time.Millisecond).UnixMilli(), Shard: 1, Random: 2001},
		{DueMs: base.Add(bucket).UnixMilli(), Shard: 0, Random: 2002},
	} {
		_, _, err := f.store.Create(ctx, taskWithID(id, "acme"), "", "")
		require.NoError(t, err)
	}

	b := layout.BucketOf(base)
	var got []task.ID
	after := ""
	pages := 0
	for {
		page, next, err := f.store.QueryScheduled(ctx, b, 0, after, 2)
		require.NoError(t, err)
		for _, tk := range page {
			assert.Equal(t, task.Scheduled, tk.State)
			got = append(got, tk.ID)
		}
		pages++
		require.Less(t, pages, 20, "paging does not end")
		if next == "" {
			break
		}
		after = next
	}
	assert.Equal(t, want, got)
	assert.GreaterOrEqual(t, pages, 3, "a limit of 2 must page")
}

func TestClaim(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := base

	t.Run("from SCHEDULED", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		tk := f.create(t, "acme", base)
		got, err := f.store.Claim(ctx, tk.ID, tk.PayloadHash, "w1", now, now.Add(30*time.Second))
		require.NoError(t, err)
		assert.Equal(t, task.Running, got.State)
		assert.Equal(t, 1, got.AttemptN)
		assert.Equal(t, "w1", got.LeaseOwner)
		assert.True(t, got.LeaseUntil.Equal(now.Add(30*time.Second)))
		assert.Equal(t, tk.Version+1, got.Version)
		assert.Equal(t, got, f.get(t, tk.ID), "what Claim returns is what is stored")
	})

	t.Run("second claim while the lease is valid", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		tk := f.create(t, "acme", base)
		held := f.claim(t, tk, "w1", now)
		_, err := f.store.Claim(ctx, tk.ID, tk.PayloadHash, "w2", now.Add(59*time.Second), now.Add(2*time.Minute))
		require.ErrorIs(t, err, task.ErrConflict)
		assert.Equal(t, held, f.get(t, tk.ID))
	})

	t.Run("wrong payload hash", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		tk := f.create(t, "acme", base)
		_, err := f.store.Claim(ctx, tk.ID, "not-the-hash", "w1", now, now.Add(time.Minute))
		require.ErrorIs(t, err, task.ErrConflict)
		assert.Equal(t, tk, f.get(t, tk.ID))
	})

	t.Run("after the lease expired", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		tk := f.create(t, "acme", base)
		held := f.claim(t, tk, "w1", now)
		got, err := f.store.Claim(ctx, tk.ID, tk.PayloadHash, "w2", held.LeaseUntil.Add(time.Millisecond), held.LeaseUntil.Add(time.Minute))
		require.NoError(t, err)
		assert.Equal(t, task.Running, got.State)
		assert.Equal(t, 2, got.AttemptN)
		assert.Equal(t, "w2", got.LeaseOwner)
		assert.True(t, got.LeaseUntil.Equal(held.LeaseUntil.Add(time.Minute)))
	})

	t.Run("RETRYING waits for NextAt", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		tk := f.create(t, "acme", base)
		f.claim(t, tk, "w1", now)
		nextAt := now.Add(10 * time.Second)
		_, err := f.store.Finish(ctx, tk.ID, "w1", task.Outcome{State: task.Retrying, Attempt: task.Attempt{N: 1, StartedAt: now, EndedAt: now.Add(time.Second), Outcome: "retrying", Error: "boom"}, NextAt: nextAt, LastError: "boom"})
		require.NoError(t, err)

		_, err = f.store.Claim(ctx, tk.ID, tk.PayloadHash, "w2", nextAt.Add(-time.Millisecond), nextAt.Add(time.Minute))
		require.ErrorIs(t, err, task.ErrConflict)
		assert.Equal(t, task.Retrying, f.get(t, tk.ID).State)

		got, err := f.store.Claim(ctx, tk.ID, tk.PayloadHash, "w2", nextAt, nextAt.Add(time.Minute))
		require.NoError(t, err)
		assert.Equal(t, task.Running, got.State)
		assert.Equal(t, 2, got.AttemptN)
		assert.Equal(t, "w2", got.LeaseOwner)
	})

	t.Run("terminal states and missing tasks are conflicts", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		done := f.create(t, "acme", base)
		f.claim(t, done, "w1", now)
		_, err := f.store.Finish(ctx, done.ID, "w1", task.Outcome{State: task.Succeeded, Attempt: task.Attempt{N: 1, StartedAt: now, EndedAt: now, Outcome: "succeeded"}})
		require.NoError(t, err)
		_, err = f.store.Claim(ctx, done.ID, done.PayloadHash, "w2", now.Add(time.Hour), now.Add(2*time.Hour))
		require.ErrorIs(t, err, task.ErrConflict)

		missing, err := task.NewID(base, 1)
		require.NoError(t, err)
		_, err = f.store.Claim(ctx, missing, "x", "w1", now, now.Add(time.Minute))
		require.ErrorIs(t, err, task.ErrConflict)
		_, err = f.store.Get(ctx, missing)
		require.ErrorIs(t, err, task.ErrNotFound, "a failed claim must not create an item")
	})
}

func TestFinish(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := base

	t.Run("owner succeeds", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		tk := f.create(t, "acme", base)
		held := f.claim(t, tk, "w1", now)
		a := task.Attempt{N: 1, StartedAt: now, EndedAt: now.Add(1500 * time.Millisecond), Outcome: "succeeded", StatusCode: 204, Summary: "ok", Worker: "w1"}
		got, err := f.store.Finish(ctx, tk.ID, "w1", task.Outcome{State: task.Succeeded, Attempt: a})
		require.NoError(t, err)
		assert.Equal(t, task.Succeeded, got.State)
		assert.Equal(t, []task.Attempt{a}, got.Attempts)
		assert.Empty(t, got.LeaseOwner)
		assert.True(t, got.LeaseUntil.IsZero())
		assert.True(t, got.FinishedAt.Equal(a.EndedAt))
		assert.True(t, got.UpdatedAt.Equal(a.EndedAt))
		assert.Equal(t, held.Version+1, got.Version)
		assert.Equal(t, 1, got.AttemptN)
		assert.Equal(t, got, f.get(t, tk.ID))

		_, err = f.store.Finish(ctx, tk.ID, "w1", task.Outcome{State: task.Succeeded, Attempt: a})
		require.ErrorIs(t, err, task.ErrConflict, "a second finish is fenced")
	})

	t.Run("stale owner is fenced", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		tk := f.create(t, "acme", base)
		old := f.claim(t, tk, "w1", now)
		took := f.claim(t, tk, "w2", old.LeaseUntil.Add(time.Millisecond))
		require.Equal(t, "w2", took.LeaseOwner)

		for _, st := range []task.State{task.Succeeded, task.Failed, task.Retrying} {
			_, err := f.store.Finish(ctx, tk.ID, "w1", task.Outcome{State: st, Attempt: task.Attempt{N: 1, StartedAt: now, EndedAt: now.Add(time.Second), Outcome: "failed", Error: "late"}, NextAt: now.Add(time.Hour), LastError: "late"})
			require.ErrorIs(t, err, task.ErrConflict, st)
		}
		assert.Equal(t, took, f.get(t, tk.ID), "the stale worker changed nothing")
	})

	t.Run("RETRYING sets NextAt and LastError", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		tk := f.create(t, "acme", base)
		f.claim(t, tk, "w1", now)
		nextAt := now.Add(4 * time.Second)
		a := task.Attempt{N: 1, StartedAt: now, EndedAt: now.Add(time.Second), Outcome: "retrying", StatusCode: 503, Error: "status 503"}
		got, err := f.store.Finish(ctx, tk.ID, "w1", task.Outcome{State: task.Retrying, Attempt: a, NextAt: nextAt, LastError: "status 503"})
		require.NoError(t, err)
		assert.Equal(t, task.Retrying, got.State)
		assert.True(t, got.NextAt.Equal(nextAt))
		assert.Equal(t, "status 503", got.LastError)
		assert.Empty(t, got.LeaseOwner)
		assert.True(t, got.FinishedAt.IsZero(), "RETRYING is not finished")
		assert.Equal(t, []task.Attempt{a}, got.Attempts)

		// The next attempt succeeds: the retry's error and NextAt are cleared
		// and the attempts accumulate.
		f.claim(t, tk, "w2", nextAt)
		b := task.Attempt{N: 2, StartedAt: nextAt, EndedAt: nextAt.Add(time.Second), Outcome: "succeeded", StatusCode: 200}
		got, err = f.store.Finish(ctx, tk.ID, "w2", task.Outcome{State: task.Succeeded, Attempt: b})
		require.NoError(t, err)
		assert.Equal(t, []task.Attempt{a, b}, got.Attempts)
		assert.Empty(t, got.LastError)
		assert.True(t, got.NextAt.IsZero())
		assert.Equal(t, 2, got.AttemptN)
	})

	t.Run("FAILED", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		tk := f.create(t, "acme", base)
		f.claim(t, tk, "w1", now)
		a := task.Attempt{N: 1, StartedAt: now, EndedAt: now.Add(time.Second), Outcome: "failed", StatusCode: 400, Error: "status 400"}
		got, err := f.store.Finish(ctx, tk.ID, "w1", task.Outcome{State: task.Failed, Attempt: a, LastError: "status 400"})
		require.NoError(t, err)
		assert.Equal(t, task.Failed, got.State)
		assert.Equal(t, "status 400", got.LastError)
		assert.True(t, got.FinishedAt.Equal(a.EndedAt))
		assert.Empty(t, got.LeaseOwner)
		assert.Equal(t, got, f.get(t, tk.ID))
	})
}

func TestCancel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := base.Add(-time.Minute)

	for _, from := range []task.State{task.Scheduled, task.Retrying} {
		t.Run("from "+string(from), func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			tk := f.create(t, "acme", base)
			switch from {
			case task.Retrying:
				f.claim(t, tk, "w1", now)
				_, err := f.store.Finish(ctx, tk.ID, "w1", task.Outcome{State: task.Retrying, Attempt: task.Attempt{N: 1, StartedAt: now, EndedAt: now, Outcome: "retrying"}, NextAt: now.Add(time.Hour), LastError: "boom"})
				require.NoError(t, err)
			}
			before := f.get(t, tk.ID)
			require.Equal(t, from, before.State)

			got, err := f.store.Cancel(ctx, tk.ID, "acme", now.Add(time.Second))
			require.NoError(t, err)
			assert.Equal(t, task.Cancelled, got.State)
			assert.Equal(t, before.Version+1, got.Version)
			assert.True(t, got.FinishedAt.Equal(now.Add(time.Second)))
			assert.Equal(t, got, f.get(t, tk.ID))

			again, err := f.store.Cancel(ctx, tk.ID, "acme", now.Add(2*time.Second))
			require.NoError(t, err, "cancel is idempotent")
			assert.Equal(t, got, again, "a repeated cancel changes nothing")
		})
	}

	t.Run("RUNNING and SUCCEEDED are conflicts", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		tk := f.create(t, "acme", base)
		running := f.claim(t, tk, "w1", now)
		got, err := f.store.Cancel(ctx, tk.ID, "acme", now)
		require.ErrorIs(t, err, task.ErrConflict)
		require.NotNil(t, got, "the conflict comes with the task")
		assert.Equal(t, task.Running, got.State)
		assert.Equal(t, running, f.get(t, tk.ID))

		done, err := f.store.Finish(ctx, tk.ID, "w1", task.Outcome{State: task.Succeeded, Attempt: task.Attempt{N: 1, StartedAt: now, EndedAt: now, Outcome: "succeeded"}})
		require.NoError(t, err)
		got, err = f.store.Cancel(ctx, tk.ID, "acme", now)
		require.ErrorIs(t, err, task.ErrConflict)
		require.NotNil(t, got)
		assert.Equal(t, task.Succeeded, got.State)
		assert.Equal(t, done, f.get(t, tk.ID))
	})

	t.Run("another tenant gets ErrNotFound", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		tk := f.create(t, "acme", base)
		got, err := f.store.Cancel(ctx, tk.ID, "globex", now)
		require.ErrorIs(t, err, task.ErrNotFound)
		assert.Nil(t, got, "nothing of the task is revealed")
		assert.Equal(t, tk, f.get(t, tk.ID))
	})

	t.Run("missing task is ErrNotFound and writes nothing", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		id, err := task.NewID(base, 1)
		require.NoError(t, err)
		_, err = f.store.Cancel(ctx, id, "acme", now)
		require.ErrorIs(t, err, task.ErrNotFound)
		assert.Equal(t, 0, f.countTasks(t))
	})
}

func TestCursor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := base.Add(17 * time.Second)
	width := int64(bucket / time.Second)

	t.Run("missing until ensured", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		c, err := f.store.GetCursor(ctx)
		require.NoError(t, err)
		assert.Equal(t, task.Cursor{}, c)

		require.NoError(t, f.store.EnsureCursor(ctx, 4, now))
		c, err = f.store.GetCursor(ctx)
		require.NoError(t, err)
		start := base.Unix() - width // the bucket before now's
		assert.Equal(t, task.Cursor{Dispatching: start, Fanned: start, Swept: start, Shards: 4, Exists: true}, c)
	})

	t.Run("fields only rise", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		require.NoError(t, f.store.EnsureCursor(ctx, 2, now))
		start := base.Unix() - width
		for _, field := range []string{"dispatching", "fanned", "swept"} {
			require.NoError(t, f.store.SetCursorField(ctx, field, start+10*width))
			require.NoError(t, f.store.SetCursorField(ctx, field, start+5*width), "a lower value is ignored, not an error")
		}
		require.Error(t, f.store.SetCursorField(ctx, "shards", 99))
		require.Error(t, f.store.SetCursorField(ctx, "bogus", 99))
		c, err := f.store.GetCursor(ctx)
		require.NoError(t, err)
		hi := start + 10*width
		assert.Equal(t, task.Cursor{Dispatching: hi, Fanned: hi, Swept: hi, Shards: 2, Exists: true}, c)

		// Ensuring again (a later process start) keeps the progress.
		require.NoError(t, f.store.EnsureCursor(ctx, 3, now.Add(time.Hour)))
		c, err = f.store.GetCursor(ctx)
		require.NoError(t, err)
		assert.Equal(t, task.Cursor{Dispatching: hi, Fanned: hi, Swept: hi, Shards: 3, Exists: true}, c)
	})

	t.Run("shards rise, never fall", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		require.NoError(t, f.store.EnsureCursor(ctx, 4, now))
		require.NoError(t, f.store.EnsureCursor(ctx, 8, now))
		c, err := f.store.GetCursor(ctx)
		require.NoError(t, err)
		assert.Equal(t, 8, c.Shards)

		require.NoError(t, f.store.EnsureCursor(ctx, 2, now))
		c, err = f.store.GetCursor(ctx)
		require.NoError(t, err)
		assert.Equal(t, 8, c.Shards)
	})
}
