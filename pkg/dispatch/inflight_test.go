package dispatch_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

// sentLog records the task IDs a dispatcher sends to the task queue.
type sentLog struct {
	dispatch.Sender
	mu  sync.Mutex
	ids []string
}

func (s *sentLog) SendBatch(ctx context.Context, url string, msgs []task.OutMessage) error {
	err := s.Sender.SendBatch(ctx, url, msgs)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		if tm, _, derr := task.DecodeTaskMessage(m.Body); derr == nil {
			s.ids = append(s.ids, tm.ID)
		}
	}
	return err
}

func (s *sentLog) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

// On the emulator, with HOURGLASS_TENANT_MAX_IN_FLIGHT = 2: one tenant's
// ten due tasks never have more than two dispatched and not finished, and
// all ten run once; the other tenant's two tasks (its own cap), due at the
// same instant, are sent in the first pass and finish while the first
// tenant's backlog still waits, not held behind it.
func TestMaxInFlightCapsATenant(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{Shards: 1})
	s.Sink.SetHold(300 * time.Millisecond) // calls overlap: a cap is visible
	due := time.Now().Add(9 * time.Second).Truncate(time.Second)
	var noisy, quiet []string
	for range 10 {
		noisy = append(noisy, s.Create("noisy", due, nil))
	}
	for range 2 { // at its own cap, not over it
		quiet = append(quiet, s.Create("quiet", due, nil))
	}

	q := &sentLog{Sender: s.Comps.Queue}
	d := dispatch.New(dispatch.Config{TaskQueue: s.Res.TaskQueueURL, ScanQueue: s.Res.ScanQueueURL,
		Fair:        dispatch.Fair{PerSecond: 100, QueueDepth: 100, Shards: 1, Depth: s.Comps.Queue},
		MaxInFlight: 2, InFlight: s.Comps.Store}, s.Comps.Store, q, s.Comps.Clock, s.Comps.Log)
	w := s.Comps.Worker(func(c *worker.Config) { c.MaxInFlight, c.InFlight = 2, s.Comps.Store })
	ctx := context.Background()

	isNoisy := map[string]bool{}
	for _, id := range noisy {
		isNoisy[id] = true
	}
	maxInFlight := 0
	check := func() {
		n := 0
		seen := map[string]bool{}
		for _, id := range q.sent() {
			if isNoisy[id] && !seen[id] {
				seen[id] = true
				if !s.Get(id).State.Terminal() {
					n++
				}
			}
		}
		maxInFlight = max(maxInFlight, n)
		require.LessOrEqual(t, n, 2, "noisy's tasks dispatched and not finished")
		held, err := s.Comps.Store.InFlight(ctx, "noisy", time.Now())
		require.NoError(t, err)
		require.LessOrEqual(t, len(held), 2, "noisy's reservations")
	}
	succeeded := func(ids []string) int {
		n := 0
		for _, id := range ids {
			if s.Get(id).State == task.Succeeded {
				n++
			}
		}
		return n
	}

	// The first pass sends quiet's two and two of noisy's ten.
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
	require.Equal(t, 4, st.Sent, "quiet's two and noisy's first two")
	require.Equal(t, 1, st.HeldTenants)
	check()

	quietDone := -1
	s.Until(90*time.Second, "every task to succeed", func() bool { return succeeded(noisy) == 10 && succeeded(quiet) == 2 }, func() {
		s.Dispatch(d)
		check()
		s.Work(w)
		check()
		if quietDone < 0 && succeeded(quiet) == 2 {
			quietDone = succeeded(noisy)
		}
	})
	require.Equal(t, 2, maxInFlight, "the cap was reached")
	require.Less(t, quietDone, 10, "quiet finished while noisy still had a backlog")
	for _, id := range append(noisy, quiet...) {
		require.Len(t, s.Sink.Calls(id), 1, "task %s ran once", id)
	}
	held, err := s.Comps.Store.InFlight(ctx, "noisy", time.Now())
	require.NoError(t, err)
	require.Empty(t, held, "every reservation was released")
}
