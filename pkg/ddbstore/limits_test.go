package ddbstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

func at(t time.Time) func() time.Time { return func() time.Time { return t } }

// TestLimitCRUD: put (create and replace), get, list (ordered, per
// tenant) and delete; another tenant sees none of it.
func TestLimitCRUD(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()

	_, err := f.store.GetLimit(ctx, "acme", "api.one")
	require.ErrorIs(t, err, task.ErrNotFound)
	require.ErrorIs(t, f.store.DeleteLimit(ctx, "acme", "api.one"), task.ErrNotFound)

	require.NoError(t, f.store.PutLimit(ctx, task.Limit{Tenant: "acme", Key: "api.one", MaxConcurrency: 5, PerSecond: 20, UpdatedAt: base}))
	require.NoError(t, f.store.PutLimit(ctx, task.Limit{Tenant: "acme", Key: "a.zero", PerSecond: 3, UpdatedAt: base}))
	require.NoError(t, f.store.PutLimit(ctx, task.Limit{Tenant: "other", Key: "api.one", MaxConcurrency: 1, UpdatedAt: base}))
	got, err := f.store.GetLimit(ctx, "acme", "api.one")
	require.NoError(t, err)
	assert.Equal(t, task.Limit{Tenant: "acme", Key: "api.one", MaxConcurrency: 5, PerSecond: 20, UpdatedAt: base}, got)

	require.NoError(t, f.store.PutLimit(ctx, task.Limit{Tenant: "acme", Key: "api.one", MaxConcurrency: 2, UpdatedAt: base.Add(time.Second)}))
	got, err = f.store.GetLimit(ctx, "acme", "api.one")
	require.NoError(t, err)
	assert.Equal(t, task.Limit{Tenant: "acme", Key: "api.one", MaxConcurrency: 2, UpdatedAt: base.Add(time.Second)}, got)

	list, err := f.store.ListLimits(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "a.zero", list[0].Key)
	assert.Equal(t, "api.one", list[1].Key)
	other, err := f.store.ListLimits(ctx, "other")
	require.NoError(t, err)
	require.Len(t, other, 1)
	assert.Equal(t, 1, other[0].MaxConcurrency)

	require.NoError(t, f.store.DeleteLimit(ctx, "acme", "api.one"))
	_, err = f.store.GetLimit(ctx, "acme", "api.one")
	require.ErrorIs(t, err, task.ErrNotFound)
	_, err = f.store.GetLimit(ctx, "other", "api.one")
	require.NoError(t, err, "another tenant's limit on the same key stays")
}

// TestLimitAcquireRelease: a key without a limit limits nothing; holders
// are counted across concurrent acquirers (the emulator serialises
// DynamoDB, so this checks the version fence, not DynamoDB's atomicity);
// a release frees a slot; an expired holder is reclaimed.
func TestLimitAcquireRelease(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	now := time.Now()

	g, err := f.store.AcquireLimit(ctx, "acme", "free", "h0", at(now), time.Minute)
	require.NoError(t, err)
	assert.False(t, g.Limited)

	require.NoError(t, f.store.PutLimit(ctx, task.Limit{Tenant: "acme", Key: "k", MaxConcurrency: 3, UpdatedAt: now}))
	var (
		mu      sync.Mutex
		granted []string
		wg      sync.WaitGroup
	)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := fmt.Sprint("h", i)
			g, err := f.store.AcquireLimit(ctx, "acme", "k", h, at(now), time.Minute)
			assert.NoError(t, err)
			assert.True(t, g.Limited)
			if g.OK {
				mu.Lock()
				granted = append(granted, h)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Len(t, granted, 3, "exactly max_concurrency holders")

	g, err = f.store.AcquireLimit(ctx, "acme", "k", "late", at(now), time.Minute)
	require.NoError(t, err)
	require.False(t, g.OK)
	assert.Equal(t, "max_concurrency", g.Reason)

	require.NoError(t, f.store.ReleaseLimit(ctx, "acme", "k", granted[0]))
	require.NoError(t, f.store.ReleaseLimit(ctx, "acme", "k", granted[0]), "a second release is no error")
	g, err = f.store.AcquireLimit(ctx, "acme", "k", "late", at(now), time.Minute)
	require.NoError(t, err)
	require.True(t, g.OK, "the released slot is free")

	// A crashed holder's slot comes back when its lease ends.
	g, err = f.store.AcquireLimit(ctx, "acme", "k", "after", at(now.Add(time.Minute)), time.Minute)
	require.NoError(t, err)
	require.True(t, g.OK)

	require.NoError(t, f.store.DeleteLimit(ctx, "acme", "k"))
	require.NoError(t, f.store.ReleaseLimit(ctx, "acme", "k", "after"), "releasing on a deleted limit is no error")
}

// TestNoteLimitWait adds to a task's wait record without bumping its
// version (an outcome fenced on the version read before still applies).
func TestNoteLimitWait(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	tk := newTask(t, "acme", base)
	tk.LimitKey = "k"
	_, _, err := f.store.Create(ctx, tk, "", "")
	require.NoError(t, err)
	require.NoError(t, f.store.NoteLimitWait(ctx, tk.ID, 2, 1500*time.Millisecond))
	require.NoError(t, f.store.NoteLimitWait(ctx, tk.ID, 1, 500*time.Millisecond))
	got, err := f.store.Get(ctx, tk.ID)
	require.NoError(t, err)
	assert.Equal(t, "k", got.LimitKey)
	assert.Equal(t, 3, got.LimitWaits)
	assert.Equal(t, 2*time.Second, got.LimitWaited)
	assert.Equal(t, tk.Version, got.Version)

	missing := newTask(t, "acme", base)
	require.ErrorIs(t, f.store.NoteLimitWait(ctx, missing.ID, 1, time.Second), task.ErrNotFound)
}
