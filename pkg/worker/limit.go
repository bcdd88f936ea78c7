package worker

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Limiter holds the tenants' per-key limits across every worker
// (ddbstore.Store): a task naming a limit key takes a slot before its
// target is called and gives it back after the outcome.
type Limiter interface {
	// AcquireLimit takes a slot of the tenant's limit on key for holder
	// for lease, granted at now() (read as late as it can); Limited false
	// when the key has no limit.
	AcquireLimit(ctx context.Context, tenant, key, holder string, now func() time.Time, lease time.Duration) (task.LimitGrant, error)
	// ReleaseLimit gives holder's slot back (no error when it is gone).
	ReleaseLimit(ctx context.Context, tenant, key, holder string) error
	// NoteLimitWait adds to the task's record of waits for its key.
	NoteLimitWait(ctx context.Context, id task.ID, waits int, waited time.Duration) error
}

// limitHoldMax is the longest a refused task waits in-process for its
// next try (a rate slot a few tens of milliseconds away); a longer wait
// goes back to the queue, so that a saturated key does not pin workers.
const limitHoldMax = 300 * time.Millisecond

// limitRequeueMin and limitRequeueMaxSpread shape a waiting task's
// re-queue delay: at least a second (SQS delays are whole seconds; a zero
// delay would spin), plus a jitter whose range doubles with each wait
// (2 s, 4 s, … up to 16 s), so that a large backlog on one key polls the
// key's item less and less often instead of flooding it with reads (the
// first bench run, with a fixed 1-3 s, executed 1.8 tasks a second on a
// key allowed 20: the waiters' reads starved the emulator).
const (
	limitRequeueMin       = time.Second
	limitRequeueMaxSpread = 16 * time.Second
)

// requeueDelay is the delay before a task's waits-th try.
func (w *Worker) requeueDelay(retryAfter time.Duration, waits int) time.Duration {
	spread := 2 * time.Second
	for i := 1; i < waits && spread < limitRequeueMaxSpread; i++ {
		spread *= 2
	}
	return max(retryAfter, limitRequeueMin) + time.Duration(w.rnd()*float64(min(spread, limitRequeueMaxSpread)))
}

// releaseTimeout bounds a release, which runs even when the delivery's
// context has ended (shutdown): a slot left held waits out its lease.
const releaseTimeout = 5 * time.Second

// limitHold is a slot taken by acquire, to give back after the outcome
// with the record of the task's wait for it.
type limitHold struct {
	held   bool
	holder string
	waits  int
	waited time.Duration
}

// saturatedFor is how long a refusal for the rate makes this worker take
// a key for saturated without asking the store (at most: the refusal's
// RetryAfter is exact), and saturatedConcFor the same after a refusal
// for concurrency, whose end is unknown (a call may return any moment).
// The tasks of one key arrive in batches, and one read then answers the
// whole batch.
const (
	saturatedFor     = 200 * time.Millisecond
	saturatedConcFor = 50 * time.Millisecond
)

// saturation remembers, per tenant and key, until when this worker takes
// the key for saturated; a hint only: it can delay a task, never let one
// past the limit.
type saturation struct {
	mu    sync.Mutex
	until map[string]time.Time
	// locks serialise this worker's acquires of one key: concurrent
	// deliveries of a batch would otherwise race on the key's one item,
	// each lost race a read and a write more (the bench's first runs spent
	// the emulator's DynamoDB on them), and the ones queued behind a
	// refusal find the hint instead of the store.
	locks map[string]*sync.Mutex
}

// lock returns the key's acquire lock.
func (s *saturation) lock(k string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locks == nil {
		s.locks = map[string]*sync.Mutex{}
	}
	l, ok := s.locks[k]
	if !ok {
		if len(s.locks) > 10000 {
			clear(s.locks) // a bound: a dropped lock costs only a race
		}
		l = &sync.Mutex{}
		s.locks[k] = l
	}
	return l
}

func (s *saturation) get(k string, now time.Time) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.until[k]
	if !ok || !u.After(now) {
		delete(s.until, k)
		return 0, false
	}
	return u.Sub(now), true
}

func (s *saturation) set(k string, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.until == nil {
		s.until = map[string]time.Time{}
	}
	if len(s.until) > 10000 {
		clear(s.until) // a bound, not a cache policy: hints are cheap to lose
	}
	s.until[k] = until
}

// acquire takes a slot of t's limit key for holder. done true means the
// delivery ends here: with a nil error the task was re-queued to wait
// (the message is finished with), with a *Redeliver the limit could not
// be read.
func (w *Worker) acquire(ctx context.Context, msg task.TaskMessage, t *task.Task, holder string, log zerolog.Logger) (h limitHold, done bool, err error) {
	h.holder = holder
	waits := msg.LimitWaits
	since := time.UnixMilli(msg.LimitSince)
	hint := t.Tenant + "\x00" + t.LimitKey
	for {
		var g task.LimitGrant
		lock := w.saturated.lock(hint)
		lock.Lock()
		if d, ok := w.saturated.get(hint, w.clock.Now()); ok {
			lock.Unlock()
			g = task.LimitGrant{Limited: true, RetryAfter: d, Reason: "saturated (this worker's hint)"}
		} else {
			var err error
			g, err = w.cfg.Limiter.AcquireLimit(ctx, t.Tenant, t.LimitKey, holder, w.clock.Now, w.cfg.Lease+releaseTimeout)
			if err == nil && !g.OK && g.Limited {
				hold := min(g.RetryAfter, saturatedFor)
				if g.Reason == "max_concurrency" {
					hold = saturatedConcFor
				}
				w.saturated.set(hint, w.clock.Now().Add(hold))
			}
			lock.Unlock()
			if err != nil {
				return h, true, &Redeliver{After: time.Second, Reason: "limit " + t.LimitKey + ": " + err.Error()}
			}
			if !g.Limited {
				return h, false, nil
			}
		}
		now := w.clock.Now()
		if g.OK {
			h.held = true
			if waits > 0 {
				h.waits, h.waited = waits, max(now.Sub(since), 0)
				w.record("LimitWaitedMs", float64(h.waited.Milliseconds()), "Milliseconds")
			}
			return h, false, nil
		}
		if waits == 0 {
			since = now
		}
		waits++
		w.record("LimitWaits", 1, "Count")
		if g.RetryAfter <= limitHoldMax {
			timer := time.NewTimer(g.RetryAfter + time.Duration(w.rnd()*float64(20*time.Millisecond)))
			select {
			case <-ctx.Done():
				timer.Stop()
				return h, true, &Redeliver{Reason: "shutting down"}
			case <-timer.C:
			}
			continue
		}
		delay := w.requeueDelay(g.RetryAfter, waits)
		m := msg.Requeued()
		m.LimitWaits, m.LimitSince = waits, since.UnixMilli()
		if err := w.q.Send(ctx, w.cfg.TaskQueue, task.OutMessage{Body: m.Encode(), Delay: delay}); err != nil {
			return h, true, &Redeliver{After: delay, Reason: err.Error()}
		}
		log.Debug().Str("limit_key", t.LimitKey).Str("reason", g.Reason).Dur("delay", delay).Int("waits", waits).Msg("limit key saturated: task re-queued to wait")
		return h, true, nil
	}
}

// calledKey carries, in a delivery's context, what to do as soon as the
// target call has returned: give the limit slot back.
type calledKey struct{}

// releaser returns the function that gives back the slot taken by acquire
// (once, however often it is called, even after ctx ended) and then
// records the task's wait for it. It runs as soon as the target call
// returns, before the outcome is recorded: the limit protects the
// target, whose call is over, and a slot held through the outcome's write
// would idle for a write's latency (on the emulator, more than the call).
// Handle also runs it when the delivery ends without a call.
func (w *Worker) releaser(ctx context.Context, t *task.Task, h limitHold, log zerolog.Logger) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
			defer cancel()
			if err := w.cfg.Limiter.ReleaseLimit(rctx, t.Tenant, t.LimitKey, h.holder); err != nil {
				// The slot comes back when its lease ends.
				log.Warn().Err(err).Str("limit_key", t.LimitKey).Msg("limit slot not released")
			}
			if h.waits > 0 {
				if err := w.cfg.Limiter.NoteLimitWait(rctx, t.ID, h.waits, h.waited); err != nil {
					// The record of the wait is history only.
					log.Warn().Err(err).Msg("limit wait not recorded")
				}
			}
		})
	}
}

// called runs the delivery's after-the-call hook, if any.
func called(ctx context.Context) {
	if f, ok := ctx.Value(calledKey{}).(func()); ok {
		f()
	}
}
