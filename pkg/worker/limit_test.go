package worker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/memstore"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

// scriptedLimiter answers acquires from a script and records the rest.
type scriptedLimiter struct {
	mu       sync.Mutex
	grants   []task.LimitGrant
	acquired []string
	released []string
	waits    int
	waited   time.Duration
	calls    int
}

func (l *scriptedLimiter) AcquireLimit(_ context.Context, _, key, holder string, _ func() time.Time, _ time.Duration) (task.LimitGrant, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	g := l.grants[0]
	if len(l.grants) > 1 {
		l.grants = l.grants[1:]
	}
	if g.OK {
		l.acquired = append(l.acquired, key+"/"+holder)
	}
	return g, nil
}

func (l *scriptedLimiter) ReleaseLimit(_ context.Context, _, key, holder string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.released = append(l.released, key+"/"+holder)
	return nil
}

func (l *scriptedLimiter) NoteLimitWait(_ context.Context, _ task.ID, waits int, waited time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waits += waits
	l.waited += waited
	return nil
}

func limitedWorker(t *testing.T, lim *scriptedLimiter, claim bool) (*worker.Worker, *memstore.Store, task.ID, string, *keptQueue, *countingExec) {
	t.Helper()
	ms, id, body := unclaimedTask(t, time.Now())
	tk, err := ms.Get(context.Background(), id)
	require.NoError(t, err)
	tk.LimitKey = "api"
	ms.Put(tk)
	q := &keptQueue{}
	exec := &countingExec{}
	w := worker.New(worker.Config{TaskQueue: "q", DLQ: "dlq", Limiter: lim, Claim: claim}, ms, q, []target.Executor{exec}, clock.System{}, zerolog.Nop())
	return w, ms, id, body, q, exec
}

// TestSaturatedKeyRequeuesTheTaskUncharged: a refused task goes back to
// the queue with a delay of at least a second, carrying its wait record;
// its message is finished with (no redelivery), nothing was called and no
// attempt was charged. Its next delivery gets the slot, calls the target,
// releases the slot and records the wait.
func TestSaturatedKeyRequeuesTheTaskUncharged(t *testing.T) {
	t.Parallel()
	for _, claim := range []bool{false, true} {
		lim := &scriptedLimiter{grants: []task.LimitGrant{{Limited: true, RetryAfter: time.Second, Reason: "per_second"}}}
		w, ms, id, body, q, exec := limitedWorker(t, lim, claim)
		require.NoError(t, w.Handle(context.Background(), worker.Delivery{MessageID: "m1", Body: body}))
		assert.Zero(t, exec.n.Load(), "claim=%v: nothing called", claim)
		got, err := ms.Get(context.Background(), id)
		require.NoError(t, err)
		assert.Zero(t, got.AttemptN, "claim=%v: no attempt charged", claim)
		assert.Equal(t, task.Scheduled, got.State, "claim=%v: not claimed", claim)
		require.Len(t, q.sent, 1)
		assert.GreaterOrEqual(t, q.sent[0].Delay, time.Second)
		m, _, err := task.DecodeTaskMessage(q.sent[0].Body)
		require.NoError(t, err)
		assert.Equal(t, 1, m.LimitWaits)
		assert.Positive(t, m.LimitSince)
		assert.Equal(t, task.OriginRequeue, m.Origin)

		lim.grants = []task.LimitGrant{{Limited: true, OK: true}}
		// Just after a refusal this worker takes the key for saturated
		// (up to 200 ms) without asking the store: the next delivery waits
		// that out in-process (a second wait), then asks and gets its slot.
		start := time.Now()
		require.NoError(t, w.Handle(context.Background(), worker.Delivery{MessageID: "m2", Body: q.sent[0].Body}))
		assert.Equal(t, 2, lim.calls, "claim=%v: one store call after the hint", claim)
		assert.Len(t, q.sent, 1, "not re-queued again")
		assert.Less(t, time.Since(start), time.Second)
		assert.EqualValues(t, 1, exec.n.Load(), "claim=%v", claim)
		got, err = ms.Get(context.Background(), id)
		require.NoError(t, err)
		assert.Equal(t, task.Succeeded, got.State)
		assert.Equal(t, 1, got.AttemptN)
		assert.Equal(t, lim.acquired, lim.released, "the slot was given back")
		assert.Len(t, lim.released, 1)
		assert.Equal(t, 2, lim.waits)
		assert.Positive(t, lim.waited)
	}
}

// TestShortRateWaitIsHeldInProcess: a rate slot a few milliseconds away
// is waited for in-process (no re-queue); a key without a limit is not
// released.
func TestShortRateWaitIsHeldInProcess(t *testing.T) {
	t.Parallel()
	lim := &scriptedLimiter{grants: []task.LimitGrant{
		{Limited: true, RetryAfter: 30 * time.Millisecond, Reason: "per_second"},
		{Limited: true, OK: true},
	}}
	w, _, _, body, q, exec := limitedWorker(t, lim, false)
	require.NoError(t, w.Handle(context.Background(), worker.Delivery{MessageID: "m1", Body: body}))
	assert.Empty(t, q.sent)
	assert.EqualValues(t, 1, exec.n.Load())
	assert.Equal(t, 1, lim.waits)
	assert.GreaterOrEqual(t, lim.waited, 30*time.Millisecond)

	free := &scriptedLimiter{grants: []task.LimitGrant{{}}}
	w, _, _, body, _, exec = limitedWorker(t, free, false)
	require.NoError(t, w.Handle(context.Background(), worker.Delivery{MessageID: "m1", Body: body}))
	assert.EqualValues(t, 1, exec.n.Load())
	assert.Empty(t, free.released)
}
