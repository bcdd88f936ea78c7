package e2e_test

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

// inflightSink records each call's arrival and the most calls it had in
// flight at once; every call takes hold.
type inflightSink struct {
	hold     time.Duration
	mu       sync.Mutex
	inflight int
	maxIn    int
	arrivals []time.Time
	ids      map[string]int
}

func (s *inflightSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.inflight++
	s.maxIn = max(s.maxIn, s.inflight)
	s.arrivals = append(s.arrivals, time.Now())
	s.ids[r.Header.Get("Hourglass-Task-Id")]++
	s.mu.Unlock()
	time.Sleep(s.hold)
	s.mu.Lock()
	s.inflight--
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// maxPerSecond is the most arrivals in any one-second window.
func maxPerSecond(at []time.Time) int {
	sorted := append([]time.Time(nil), at...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Before(sorted[j]) })
	best := 0
	for i := range sorted {
		n := 0
		for j := i; j < len(sorted) && sorted[j].Sub(sorted[i]) < time.Second; j++ {
			n++
		}
		best = max(best, n)
	}
	return best
}

// TestLimitsHoldAcrossTwoWorkers: tasks on a key limited to 2 concurrent
// and 4 a second, worked by two worker instances at once (each with its
// own holder IDs; they share only the table), never exceed either limit;
// every task runs, with one recorded attempt, no redelivery (no Handle error
// leaves a message on the queue) and its wait on record. Another tenant's
// tasks naming the same key are not limited by it.
func TestLimitsHoldAcrossTwoWorkers(t *testing.T) {
	s := setup(t, stacktest.Options{})
	sink := &inflightSink{hold: 300 * time.Millisecond, ids: map[string]int{}}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)

	require.NoError(t, s.Comps.Store.PutLimit(t.Context(), task.Limit{Tenant: "acme", Key: "api.example.com", MaxConcurrency: 2, PerSecond: 4, UpdatedAt: time.Now()}))

	const n = 12
	due := time.Now().Add(3 * time.Second)
	target := map[string]any{"kind": "webhook", "url": srv.URL + "/hook"}
	ids := make([]string, 0, n)
	for range n {
		ids = append(ids, s.Create("acme", due, map[string]any{"target": target, "limit_key": "api.example.com"}))
	}
	free := s.Create("other", due, map[string]any{"target": s.Webhook(), "limit_key": "api.example.com"})

	workers := []*worker.Worker{
		s.Comps.Worker(func(c *worker.Config) { c.ID = "w1" }),
		s.Comps.Worker(func(c *worker.Config) { c.ID = "w2" }),
	}
	var (
		mu   sync.Mutex
		errs []error
		stop = make(chan struct{})
		wg   sync.WaitGroup
	)
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, e := s.Work(w)
				mu.Lock()
				errs = append(errs, e...)
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	s.Until(90*time.Second, "every task to finish", func() bool {
		for _, id := range append(ids, free) {
			if !s.Get(id).State.Terminal() {
				return false
			}
		}
		return true
	}, func() {
		s.Tick()
		s.Dispatch(nil)
	})
	close(stop)
	wg.Wait()

	sink.mu.Lock()
	defer sink.mu.Unlock()
	assert.LessOrEqual(t, sink.maxIn, 2, "max_concurrency held across both workers")
	assert.LessOrEqual(t, maxPerSecond(sink.arrivals), 4, "per_second held across both workers")
	assert.Empty(t, errs, "no delivery was left for redelivery")
	waited := 0
	for _, id := range ids {
		got := s.Get(id)
		require.Equal(t, task.Succeeded, got.State, id)
		assert.Equal(t, 1, got.AttemptN, "waiting charged no attempt: %s", id)
		// A duplicate delivery (the sweep's) may call again: it holds a
		// slot of its own, so the limits above count it.
		assert.GreaterOrEqual(t, sink.ids[id], 1, "ran: %s", id)
		if got.LimitWaits > 0 {
			waited++
			assert.Positive(t, got.LimitWaited, id)
		}
	}
	assert.GreaterOrEqual(t, waited, n-4, "at most per_second tasks started without waiting")
	assert.Equal(t, task.Succeeded, s.Get(free).State)
	assert.Zero(t, s.Get(free).LimitWaits, "another tenant's key of the same name has no limit")
	t.Logf("max in flight %d, max per second %d, %d of %d waited", sink.maxIn, maxPerSecond(sink.arrivals), waited, n)
}
