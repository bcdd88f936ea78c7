package ddbstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// failedIDs lists a tenant's FAILED tasks from the by_failed index.
func (f fixture) failedIDs(t *testing.T, tenant string) []task.ID {
	t.Helper()
	entries, more, err := f.store.ListFailedIDs(context.Background(), task.ListQuery{Tenant: tenant, Limit: 100})
	require.NoError(t, err)
	require.False(t, more)
	ids := make([]task.ID, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	return ids
}

// TestFailedIndex: the by_failed index holds exactly the tenant's FAILED
// tasks — written by the outcome write that fails a task (claimed or not,
// and with the list index off), removed by a redrive — newest due first,
// and never another tenant's.
func TestFailedIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t) // ListIndex off: by_failed does not depend on it
	now := base
	fail := func(a task.Attempt) task.Attempt {
		a.StartedAt, a.EndedAt, a.Outcome, a.Error = now, now.Add(time.Second), "failed", "HTTP 500"
		return a
	}

	failed1 := f.create(t, "acme", base)
	f.claim(t, failed1, "w1", now)
	_, err := f.store.Finish(ctx, failed1.ID, "w1", task.Outcome{State: task.Failed, Attempt: fail(task.Attempt{N: 1}), NextAt: time.Time{}, LastError: "HTTP 500"})
	require.NoError(t, err)

	// Settled without a claim (claim mode "none"), due later.
	failed2 := f.create(t, "acme", base.Add(10*time.Second))
	prev := f.get(t, failed2.ID)
	prev.AttemptN = 1
	_, err = f.store.Settle(ctx, prev, task.Outcome{State: task.Failed, Attempt: fail(task.Attempt{N: 1}), NextAt: time.Time{}, LastError: "HTTP 500"})
	require.NoError(t, err)

	ok := f.create(t, "acme", base.Add(20*time.Second))
	f.claim(t, ok, "w1", now)
	_, err = f.store.Finish(ctx, ok.ID, "w1", task.Outcome{State: task.Succeeded, Attempt: task.Attempt{N: 1, StartedAt: now, EndedAt: now, Outcome: "succeeded"}, NextAt: time.Time{}, LastError: ""})
	require.NoError(t, err)

	retrying := f.create(t, "acme", base.Add(30*time.Second))
	f.claim(t, retrying, "w1", now)
	_, err = f.store.Finish(ctx, retrying.ID, "w1", task.Outcome{State: task.Retrying, Attempt: fail(task.Attempt{N: 1}), NextAt: now.Add(time.Minute), LastError: "HTTP 500"})
	require.NoError(t, err)

	other := f.create(t, "globex", base)
	f.claim(t, other, "w1", now)
	_, err = f.store.Finish(ctx, other.ID, "w1", task.Outcome{State: task.Failed, Attempt: fail(task.Attempt{N: 1}), NextAt: time.Time{}, LastError: "HTTP 500"})
	require.NoError(t, err)

	assert.Equal(t, []task.ID{failed2.ID, failed1.ID}, f.failedIDs(t, "acme"), "FAILED only, newest due first")
	assert.Equal(t, []task.ID{other.ID}, f.failedIDs(t, "globex"))
	_, hasTenantKeys := f.rawItem(t, failed1)["gsi1pk"]
	assert.False(t, hasTenantKeys, "the by_tenant index stays off")

	// Due bounds and paging work as on by_tenant.
	entries, more, err := f.store.ListFailedIDs(ctx, task.ListQuery{Tenant: "acme", Limit: 1})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.True(t, more)
	entries, _, err = f.store.ListFailedIDs(ctx, task.ListQuery{Tenant: "acme", Limit: 10, After: entries[0].Pos})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, failed1.ID, entries[0].ID)
	entries, _, err = f.store.ListFailedIDs(ctx, task.ListQuery{Tenant: "acme", Limit: 10, DueAfter: base.Add(5 * time.Second)})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, failed2.ID, entries[0].ID)

	// A redrive takes the task out of the index; failing again puts it back.
	red, err := f.store.Redrive(ctx, failed1.ID, now.Add(time.Minute), 2)
	require.NoError(t, err)
	require.Equal(t, task.Retrying, red.State)
	_, has := f.rawItem(t, failed1)["failed_sk"]
	assert.False(t, has)
	assert.Equal(t, []task.ID{failed2.ID}, f.failedIDs(t, "acme"))
	f.claim(t, red, "w2", now.Add(2*time.Minute))
	_, err = f.store.Finish(ctx, failed1.ID, "w2", task.Outcome{State: task.Failed, Attempt: fail(task.Attempt{N: 2}), NextAt: time.Time{}, LastError: "HTTP 500"})
	require.NoError(t, err)
	assert.Equal(t, []task.ID{failed2.ID, failed1.ID}, f.failedIDs(t, "acme"))
}
