package dispatch_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
)

// On the emulator, a tenant's burst of 60 tasks due at one instant, far
// more than the workers take (issue 18: make dev's congestion collapse):
//
//   - while the workers take nothing, the dispatcher never puts more into
//     the task queue than QueueDepth plus one second's share: the rest
//     waits SCHEDULED in the table, and the unit keeps passing;
//   - messages the workers hold in flight do not throttle the backlog: a
//     pass after the workers took everything visible sends a full share
//     again (counting them, a pass sent one task);
//   - once the workers run, every task runs exactly once.
func TestFairBoundsTheQueueUnderOverload(t *testing.T) {
	t.Parallel()
	const (
		burst     = 60
		perSecond = 5
		depth     = 10
	)
	s := stacktest.New(t, stacktest.Options{Shards: 1})
	due := time.Now().Add(9 * time.Second).Truncate(time.Second)
	ids := make([]string, burst)
	for i := range ids {
		ids[i] = s.Create("noisy", due, nil)
	}
	q := &sentLog{Sender: s.Comps.Queue}
	d := dispatch.New(dispatch.Config{TaskQueue: s.Res.TaskQueueURL, ScanQueue: s.Res.ScanQueueURL,
		Fair: dispatch.Fair{PerSecond: perSecond, QueueDepth: depth, Shards: 1, Depth: s.Comps.Queue}},
		s.Comps.Store, q, s.Comps.Clock, s.Comps.Log)
	ctx := context.Background()
	queued := func() int {
		visible, inflight, delayed, err := s.Comps.Queue.Depth(ctx, s.Res.TaskQueueURL)
		require.NoError(t, err)
		return visible + inflight + delayed
	}
	bound := depth + perSecond

	// Workers stalled for ten seconds past the burst's due time: the
	// scanner announces the bucket, the unit passes again and again, and
	// the queue stays within the bound. (Counting in-flight messages, each
	// pass with the queue full still sent one more task.)
	most := 0
	s.Until(40*time.Second, "ten seconds past the burst's due time", func() bool {
		return time.Now().After(due.Add(10 * time.Second))
	}, func() {
		s.Tick()
		_, failed := s.Dispatch(d)
		require.Zero(t, failed)
		n := queued()
		most = max(most, n)
		require.LessOrEqual(t, n, bound, "the dispatcher queued more than QueueDepth + one second's share")
	})
	t.Logf("workers stalled: at most %d messages queued (bound %d)", most, bound)
	sentStalled := len(q.sent())
	require.GreaterOrEqual(t, sentStalled, depth, "the backlog moved until the queue was full")
	require.Less(t, sentStalled, burst, "the rest waits in the table")

	// The workers take everything visible and hold it (busy workers): the
	// next pass tops the queue up by a full share.
	var held int
	s.Until(10*time.Second, "the workers to hold every message", func() bool { return held >= sentStalled }, func() {
		msgs, err := s.Comps.Queue.Receive(ctx, s.Res.TaskQueueURL, 10, 0, 4*time.Second)
		require.NoError(t, err)
		held += len(msgs)
	})
	s.Until(10*time.Second, "a pass with the queue's messages in flight", func() bool { return len(q.sent()) > sentStalled }, func() {
		_, failed := s.Dispatch(d)
		require.Zero(t, failed)
	})
	require.GreaterOrEqual(t, len(q.sent())-sentStalled, depth, "in-flight messages throttled the backlog")

	// The workers run: every task runs once.
	done := func() bool {
		for _, id := range ids {
			if s.Get(id).State != task.Succeeded {
				return false
			}
		}
		return true
	}
	s.Until(90*time.Second, "every task to succeed", done, func() {
		s.Dispatch(d)
		s.Work(nil)
	})
	for _, id := range ids {
		require.Len(t, s.Sink.Calls(id), 1, "task %s ran once", id)
	}
}
