package dispatch_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
)

// On the emulator: a tenant's burst is sent three at a time while the
// other tenant's task goes in the first pass; the held tasks wait in the
// table, a continuation unit carries the place, and every task runs once
// (work-conserving: slowed, never dropped). The messages carry
// MessageGroupId = tenant, which the emulator's standard queue accepts.
func TestFairDispatchHoldsABurstInTheTable(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{Shards: 1})
	due := time.Now().Add(9 * time.Second).Truncate(time.Second)
	var ids []string
	for range 10 {
		ids = append(ids, s.Create("noisy", due, nil))
	}
	quiet := s.Create("quiet", due.Add(100*time.Millisecond), nil)
	ids = append(ids, quiet)

	d := s.Comps.Dispatcher(func(c *dispatch.Config) {
		c.Fair = dispatch.Fair{PerSecond: 3, QueueDepth: 4, Shards: 1, Depth: s.Comps.Queue}
	})
	ctx := context.Background()

	// The scanner announces the bucket within the look-ahead (and the
	// empty ones before it); the first pass sends three of noisy's ten
	// and quiet's one.
	var st dispatch.Stats
	s.Until(20*time.Second, "the bucket's unit", func() bool { return st.Sent > 0 }, func() {
		s.Tick()
		for _, u := range s.Units() {
			got, err := d.Dispatch(ctx, u)
			require.NoError(t, err)
			st.Sent += got.Sent
			st.HeldTenants += got.HeldTenants
		}
	})
	require.Equal(t, 4, st.Sent)
	require.Equal(t, 1, st.HeldTenants)
	visible, inflight, delayed, err := s.Comps.Queue.Depth(ctx, s.Res.TaskQueueURL)
	require.NoError(t, err)
	require.Equal(t, 4, visible+inflight+delayed, "the burst waits in the table, not in the queue")

	// The continuation waits on the scan queue until the held tasks are due.
	_, _, held, err := s.Comps.Queue.Depth(ctx, s.Res.ScanQueueURL)
	require.NoError(t, err)
	require.Equal(t, 1, held, "a delayed continuation unit")

	// Passes continue until the burst is sent; every task runs.
	done := func() bool {
		for _, id := range ids {
			if s.Get(id).State != task.Succeeded {
				return false
			}
		}
		return true
	}
	s.Until(60*time.Second, "every task to succeed", done, func() {
		s.Dispatch(d)
		s.Work(nil)
	})
	for _, id := range ids {
		require.Len(t, s.Sink.Calls(id), 1, "task %s ran once", id)
	}
}

// byQueue records each queue's message bodies.
type byQueue map[string][]string

func (b byQueue) SendBatch(_ context.Context, url string, msgs []task.OutMessage) error {
	for _, m := range msgs {
		b[url] = append(b[url], m.Body)
	}
	return nil
}

// A sweep that finds a tenant's backlog it would hold puts itself off
// instead of pacing the same tasks beside the unit's own continuations
// (each would then be sent twice); after ten tries it paces them itself.
func TestFairSweepDefersToThePacingChain(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 15, 4, 0, 0, time.UTC)
	var page []*task.Task
	for i := range 6 {
		page = append(page, &task.Task{ID: task.ID{DueMs: now.Add(-time.Second).UnixMilli(), Random: uint64(i + 1)}, Tenant: "noisy",
			DueAt: now.Add(-time.Second), State: task.Scheduled})
	}
	bucket := task.Layout{Bucket: time.Minute}.BucketOf(now.Add(-time.Second))
	setup := func() (*dispatch.Dispatcher, byQueue) {
		q := byQueue{}
		return dispatch.New(dispatch.Config{TaskQueue: "tasks", ScanQueue: "scan", Fair: dispatch.Fair{PerSecond: 2}}, storeOf(page), q,
			clock.NewManual(now), zerolog.Nop()), q
	}

	d, q := setup()
	st, err := d.Dispatch(context.Background(), task.ScanUnit{Bucket: bucket, Shard: 0, Sweep: true})
	require.NoError(t, err)
	require.Zero(t, st.Sent)
	require.Empty(t, q["tasks"])
	require.Len(t, q["scan"], 1)
	again, err := task.DecodeScanUnit(q["scan"][0])
	require.NoError(t, err)
	require.Equal(t, task.ScanUnit{Bucket: bucket, Shard: 0, Sweep: true, Deferred: 1}, again)

	d, q = setup()
	st, err = d.Dispatch(context.Background(), task.ScanUnit{Bucket: bucket, Shard: 0, Sweep: true, Deferred: 10})
	require.NoError(t, err)
	require.Equal(t, 2, st.Sent, "the tenth deferral paces the partition itself")
	require.Len(t, q["tasks"], 2)
	cont, err := task.DecodeScanUnit(q["scan"][0])
	require.NoError(t, err)
	require.Equal(t, 1, cont.Pass)
	require.True(t, cont.Sweep)
}
