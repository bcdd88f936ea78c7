package ddbstore_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// TestNewItemShape: a created task's item carries only what reads and
// conditions need on their own; target, payload and backoffs travel packed
// in "d", and the ID, att_n and updated_ms are left out until needed
// (issue 18: fewer attributes, cheaper writes).
func TestNewItemShape(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tk := f.create(t, "acme", base.Add(time.Second))
	it := f.rawItem(t, tk)
	names := make([]string, 0, len(it))
	for k := range it {
		names = append(names, k)
	}
	assert.ElementsMatch(t, []string{"pk", "sk", "tenant", "due_ms", "d", "max_att", "state", "ver", "ph", "created_ms"}, names)

	// The first claim starts att_n; an outcome sets updated_ms.
	now := base.Add(2 * time.Second)
	got := f.claim(t, tk, "w1", now)
	assert.Equal(t, 1, got.AttemptN)
	assert.Equal(t, now.UnixMilli(), got.UpdatedAt.UnixMilli())
	assert.Equal(t, tk.CreatedAt, got.CreatedAt)
}

// TestOldItemShapeStillWorks: an item written before the packed body (one
// attribute each for id, kind, target, payload and backoffs, att_n 0,
// updated_ms) reads as before, can be claimed, and an in-place update
// rewrites it into the new shape.
func TestOldItemShapeStillWorks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	tk := newTask(t, "acme", base.Add(time.Second))
	k := task.Layout{Bucket: bucket}.KeyOf(tk.ID)
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	n := func(v int64) types.AttributeValue {
		return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
	}
	old := map[string]types.AttributeValue{
		"pk": s(k.PK), "sk": s(k.SK), "id": s(tk.ID.String()), "tenant": s(tk.Tenant), "due_ms": n(tk.DueAt.UnixMilli()),
		"kind": s(tk.Target.Kind), "target": s(string(tk.Target.Spec)), "payload": s(string(tk.Payload)),
		"max_att": n(3), "back_init": n(1000), "back_max": n(60000), "state": s("SCHEDULED"), "ver": n(1),
		"ph": s(tk.PayloadHash), "att_n": n(0), "created_ms": n(tk.CreatedAt.UnixMilli()), "updated_ms": n(tk.UpdatedAt.UnixMilli()),
		"labels": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": s("v")}},
	}
	_, err := f.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: old})
	require.NoError(t, err)

	got := f.get(t, tk.ID)
	tk.Labels = map[string]string{"k": "v"}
	assert.Equal(t, tk.ID, got.ID)
	assert.Equal(t, tk.Target, got.Target)
	assert.Equal(t, string(tk.Payload), string(got.Payload))
	assert.Equal(t, tk.Retry, got.Retry)
	assert.Equal(t, tk.Labels, got.Labels)
	assert.Equal(t, tk.CreatedAt, got.CreatedAt)
	assert.Equal(t, tk.UpdatedAt, got.UpdatedAt)
	assert.Equal(t, tk.PayloadHash, got.PayloadHash)

	next := *got
	next.Payload = json.RawMessage(`{"n": 2}`)
	next.PayloadHash = task.PayloadHash(next.Target, next.Payload)
	next.Labels = nil
	upd, err := f.store.Update(ctx, got, &next, base.Add(-time.Minute))
	require.NoError(t, err)
	assert.Equal(t, `{"n": 2}`, string(upd.Payload))
	assert.Equal(t, tk.Target, upd.Target)
	assert.Equal(t, tk.Retry, upd.Retry)
	assert.Empty(t, upd.Labels)
	it := f.rawItem(t, tk)
	for _, gone := range []string{"id", "kind", "target", "payload", "back_init", "back_max", "labels"} {
		assert.NotContains(t, it, gone, "rewritten into the packed shape")
	}
	assert.Contains(t, it, "d")

	claimed, err := f.store.Claim(ctx, tk.ID, next.PayloadHash, "w1", base.Add(2*time.Second), base.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 1, claimed.AttemptN)
	assert.Equal(t, `{"n": 2}`, string(claimed.Payload))

	// An old item that was never updated claims too (att_n 0 → 1).
	tk2 := newTask(t, "acme", base.Add(3*time.Second))
	k2 := task.Layout{Bucket: bucket}.KeyOf(tk2.ID)
	old["pk"], old["sk"], old["id"], old["due_ms"] = s(k2.PK), s(k2.SK), s(tk2.ID.String()), n(tk2.DueAt.UnixMilli())
	_, err = f.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: old})
	require.NoError(t, err)
	c2, err := f.store.Claim(ctx, tk2.ID, tk.PayloadHash, "w1", base.Add(4*time.Second), base.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 1, c2.AttemptN)
	assert.Equal(t, string(tk.Payload), string(c2.Payload))
}
