package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

// On the emulator, with an in-flight cap of 1: a task the create sent on
// its fast path waits (re-queued, target not called) while its tenant is
// at the cap, runs once a slot is free, and its reservation is released
// when its outcome is recorded; a cancelled task's delivery releases its
// reservation too.
func TestInFlightFastPathWaitsAndReleases(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{Shards: 1})
	ctx := context.Background()
	w := s.Comps.Worker(func(c *worker.Config) { c.MaxInFlight, c.InFlight = 1, s.Comps.Store })

	id := s.Create("acme", time.Now().Add(time.Second), nil)
	n, err := s.Comps.Store.AcquireInFlight(ctx, "acme", 1, []string{"someone-else"}, time.Now(), time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	s.Send(task.NewTaskMessage(s.Get(id), task.OriginFastPath).Encode(), 0)

	// At the cap: the message goes back to the queue, the target waits.
	received := 0
	s.Until(10*time.Second, "the fast-path message", func() bool { return received > 0 }, func() {
		got, errs := s.Work(w)
		require.Empty(t, errs)
		received += got
	})
	require.Empty(t, s.Sink.Calls(id), "not called while the tenant is at its cap")
	require.Equal(t, task.Scheduled, s.Get(id).State)
	require.NoError(t, s.Comps.Store.ReleaseInFlight(ctx, "acme", "someone-else"))
	s.Until(10*time.Second, "the task to succeed", func() bool { return s.Get(id).State == task.Succeeded }, func() { s.Work(w) })
	require.Len(t, s.Sink.Calls(id), 1)
	held, err := s.Comps.Store.InFlight(ctx, "acme", time.Now())
	require.NoError(t, err)
	require.Empty(t, held, "released at the outcome")

	// A cancelled task's message releases the slot its dispatch reserved.
	gone := s.Create("acme", time.Now().Add(time.Minute), nil)
	n, err = s.Comps.Store.AcquireInFlight(ctx, "acme", 1, []string{gone}, time.Now(), time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	msg := task.NewTaskMessage(s.Get(gone), task.OriginDispatch).Encode()
	code, body := s.Do("DELETE", "/v1/tasks/"+gone, "acme", nil)
	require.Less(t, code, 300, "cancel: %v", body)
	require.Equal(t, task.Cancelled, s.Get(gone).State)
	s.Send(msg, 0)
	s.Until(10*time.Second, "the cancelled task's release", func() bool {
		held, err := s.Comps.Store.InFlight(ctx, "acme", time.Now())
		require.NoError(t, err)
		return len(held) == 0
	}, func() { s.Work(w) })
	require.Empty(t, s.Sink.Calls(gone))
}
