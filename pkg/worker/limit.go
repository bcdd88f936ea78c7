package worker

import (
	"context"
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

// limitRequeueMin and limitRequeueSpread shape a waiting task's re-queue
// delay: at least a second (SQS delays are whole seconds; a zero delay
// would spin), spread so that the waiters of one key do not all come
// back at once.
const (
	limitRequeueMin    = time.Second
	limitRequeueSpread = 2 * time.Second
)

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

// acquire takes a slot of t's limit key for holder. done true means the
// delivery ends here: with a nil error the task was re-queued to wait
// (the message is finished with), with a *Redeliver the limit could not
// be read.
func (w *Worker) acquire(ctx context.Context, msg task.TaskMessage, t *task.Task, holder string, log zerolog.Logger) (h limitHold, done bool, err error) {
	h.holder = holder
	waits := msg.LimitWaits
	since := time.UnixMilli(msg.LimitSince)
	for {
		g, err := w.cfg.Limiter.AcquireLimit(ctx, t.Tenant, t.LimitKey, holder, w.clock.Now, w.cfg.Lease+releaseTimeout)
		if err != nil {
			return h, true, &Redeliver{After: time.Second, Reason: "limit " + t.LimitKey + ": " + err.Error()}
		}
		if !g.Limited {
			return h, false, nil
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
		delay := max(g.RetryAfter, limitRequeueMin) + time.Duration(w.rnd()*float64(limitRequeueSpread))
		m := msg.Requeued()
		m.LimitWaits, m.LimitSince = waits, since.UnixMilli()
		if err := w.q.Send(ctx, w.cfg.TaskQueue, task.OutMessage{Body: m.Encode(), Delay: delay}); err != nil {
			return h, true, &Redeliver{After: delay, Reason: err.Error()}
		}
		log.Debug().Str("limit_key", t.LimitKey).Str("reason", g.Reason).Dur("delay", delay).Int("waits", waits).Msg("limit key saturated: task re-queued to wait")
		return h, true, nil
	}
}

// release gives back the slot taken by acquire, even after ctx ended, and
// then records the task's wait for it: after the target call, so that
// nothing but the grant's own write stands between the grant and the call.
func (w *Worker) release(ctx context.Context, t *task.Task, h limitHold, log zerolog.Logger) {
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
}
