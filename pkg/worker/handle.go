package worker

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Delivery is one received task message.
type Delivery struct {
	MessageID string
	Body      string
	// ServerTime is a lower bound of the queue service's clock at receipt:
	// the later of the message's SentTimestamp and its
	// ApproximateFirstReceiveTimestamp. Zero when unknown.
	ServerTime time.Time
	// ReceivedAt is when this process received the message (time.Now, with
	// its monotonic reading).
	ReceivedAt time.Time
	// VisibleUntil is when the message becomes visible again unless
	// deleted (the receive's visibility deadline); zero when unknown.
	// Passed to the target with the message ID and origin, so that a
	// receiver can classify duplicates.
	VisibleUntil time.Time
	// Task, when set, is the task as read (strongly) for this delivery's
	// batch, saving Handle its own read. Nil: Handle reads it.
	Task *task.Task
	// ReceiveCount is the message's ApproximateReceiveCount (0: unknown).
	// A redelivered message (above 1) of a finished task republishes the
	// task's lifecycle events under BatchEvents: its earlier delivery may
	// have kept it for exactly that. A failed store read waits longer with
	// each receive (task.RedeliveryDelay), so that the task queue's
	// maxReceiveCount outlasts a DynamoDB outage.
	ReceiveCount int
}

// storeRetryBase is the first wait after a failed store read.
const storeRetryBase = 5 * time.Second

// Redeliver asks the caller to leave the message on the queue and make it
// visible again after After (0: when its current visibility runs out — the
// queue's visibility timeout under Lambda, the poller's short per-receive
// visibility under a long-polling host).
type Redeliver struct {
	After  time.Duration
	Reason string
}

func (r *Redeliver) Error() string { return "redeliver in " + r.After.String() + ": " + r.Reason }

// now is the clock-skew guard. It returns the earlier of this machine's
// clock and the queue service's clock (extrapolated from the message's
// server timestamps with this process's monotonic clock). A worker whose
// clock runs ahead therefore still never runs a task early; one whose clock
// runs behind runs late by its skew.
func (w *Worker) now(d Delivery) time.Time {
	local := w.clock.Now()
	if d.ServerTime.IsZero() || d.ReceivedAt.IsZero() {
		return local
	}
	server := d.ServerTime.Add(time.Since(d.ReceivedAt))
	if server.Before(local) {
		return server
	}
	return local
}

// Handle processes one delivery. nil means the message is done with and can
// be deleted; a *Redeliver (or any other error) means it must stay.
func (w *Worker) Handle(ctx context.Context, d Delivery) error {
	msg, id, err := task.DecodeTaskMessage(d.Body)
	if err != nil {
		w.log.Error().Err(err).Str("message_id", d.MessageID).Msg("dropping malformed task message")
		return nil
	}
	log := w.log.With().Str("task_id", msg.ID).Str("message_id", d.MessageID).Str("origin", msg.Describe()).Logger()
	dl := target.Delivery{MessageID: d.MessageID, Origin: msg.Describe(), ReceivedAt: d.ReceivedAt, VisibleUntil: d.VisibleUntil}
	t, err := d.Task, error(nil)
	if t == nil || t.ID != id {
		t, err = w.store.Get(ctx, id)
	}
	switch {
	case errors.Is(err, task.ErrNotFound):
		log.Warn().Msg("dropping message for a task that does not exist")
		return nil
	case err != nil:
		return &Redeliver{After: task.RedeliveryDelay(storeRetryBase, d.ReceiveCount), Reason: err.Error()}
	}
	log = log.With().Str("tenant", t.Tenant).Logger()
	if t.PayloadHash != msg.PH {
		log.Info().Msg("dropping stale message: the task changed after it was sent")
		return nil
	}
	if t.State.Terminal() {
		w.releaseInFlight(ctx, t, log) // finished, or cancelled while dispatched
	}
	if d.ReceiveCount > 1 && (t.State == task.Succeeded || t.State == task.Failed) {
		// A finished task's message comes back when its events were not
		// sent (see BatchEvents), or when its delete failed: publish them
		// again (at least once). Without a batch this does nothing. The
		// gate hears of it again too (the delivery that finished it may
		// have crashed before telling it).
		w.completed(ctx, t)
		if rep, ok := ctx.Value(reportKey{}).(*finishedReport); ok {
			rep.task, rep.deadLettered = t, t.State == task.Failed
		}
		return nil
	}
	if r := w.skip(t, w.clock.Now()); r != nil || t.State.Terminal() {
		return r
	}

	// Hold until due (under the clock-skew guard), or send back to the queue.
	for {
		wait := t.RunAt().Sub(w.now(d))
		if wait <= 0 {
			break
		}
		if wait > w.cfg.MaxHold {
			if err := w.q.Send(ctx, w.cfg.TaskQueue, task.OutMessage{Body: msg.Requeued().Encode(), Delay: wait, Group: t.Tenant}); err != nil {
				return &Redeliver{After: min(wait, time.Minute), Reason: err.Error()}
			}
			log.Debug().Dur("wait", wait).Msg("early message re-queued")
			return nil
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return &Redeliver{Reason: "shutting down"}
		case <-timer.C:
		}
	}

	if w.cfg.Gate != nil && t.Occurrence != nil {
		ok, err := w.cfg.Gate.Admit(ctx, t, w.clock.Now())
		if err != nil {
			return &Redeliver{Reason: err.Error()}
		}
		if !ok {
			log.Info().Str("schedule", t.Occurrence.Schedule).Msg("dropping occurrence its schedule no longer runs")
			return nil
		}
	}

	fast := msg.Origin == task.OriginFastPath || (msg.Origin == task.OriginRequeue && msg.RequeuedFrom == task.OriginFastPath)
	if fast && w.capsInFlight() {
		// The create sent this task itself (the dispatcher reserved every
		// other): take its slot of the tenant's cap here, or wait.
		now := w.clock.Now()
		n, err := w.cfg.InFlight.AcquireInFlight(ctx, t.Tenant, w.cfg.MaxInFlight, []string{t.ID.String()}, now, now.Add(inFlightLease))
		if err != nil {
			return &Redeliver{Reason: err.Error()}
		}
		if n == 0 {
			if err := w.q.Send(ctx, w.cfg.TaskQueue, task.OutMessage{Body: msg.Requeued().Encode(), Delay: time.Second, Group: t.Tenant}); err != nil {
				return &Redeliver{After: time.Second, Reason: err.Error()}
			}
			log.Debug().Msg("tenant at its in-flight cap; fast-path message re-queued")
			return nil
		}
	}

	if t.LimitKey != "" && w.cfg.Limiter != nil {
		// The slot is taken before the claim, so that a task that must
		// wait leaves no lease behind it (a claimed task that waited would
		// hold off its own re-queued message until the lease ended).
		holder := w.cfg.ID + ":" + randomHex(6)
		h, done, err := w.acquire(ctx, msg, t, holder, log)
		if done {
			return err
		}
		if h.held {
			release := w.releaser(ctx, t, h, log)
			defer release()
			ctx = context.WithValue(ctx, calledKey{}, release)
		}
	}

	if !w.cfg.Claim {
		// No claim: this attempt's number is one past the recorded ones, and
		// Settle fences its outcome on the version read above.
		att := *t
		att.AttemptN++
		return w.run(ctx, &att, "", dl, log)
	}

	// Due-ness was settled above under the skew guard. Leases are judged by
	// this machine's clock: the server bound of a redelivered message is
	// stale (its first receive), and a lease taken over a little early
	// costs at most a duplicate call whose completion is fenced off.
	now := w.clock.Now()
	owner := w.cfg.ID + ":" + randomHex(6)
	claimed, err := w.store.Claim(ctx, id, msg.PH, owner, now, now.Add(w.cfg.Lease))
	if errors.Is(err, task.ErrConflict) {
		cur, gerr := w.store.Get(ctx, id)
		if gerr != nil {
			return &Redeliver{Reason: gerr.Error()}
		}
		if cur.State == task.Running && cur.LeaseOwner == owner {
			// Our claim was applied but its answer was lost, and the SDK's
			// retry then failed the condition: we hold the lease. Without
			// this the task waited out its own lease (found by the bench:
			// a few tasks ran lease + 1 s late).
			if err := w.crash("after-claim"); err != nil {
				return err
			}
			return w.run(ctx, cur, owner, dl, log)
		}
		if r := w.skip(cur, now); r != nil || cur.State.Terminal() {
			return r
		}
		return &Redeliver{After: time.Second, Reason: "claim lost to a concurrent change"}
	}
	if err != nil {
		return &Redeliver{Reason: err.Error()}
	}
	if err := w.crash("after-claim"); err != nil {
		return err
	}
	return w.run(ctx, claimed, owner, dl, log)
}

// skip decides about a task that is not (or not yet) claimable: nil with a
// terminal task means drop the message; a *Redeliver means come back later.
func (w *Worker) skip(t *task.Task, now time.Time) error {
	switch {
	case t.State.Terminal():
		return nil
	case t.State == task.Running && t.LeaseUntil.After(now):
		// Another worker holds it. Keep this message until that lease
		// ends: if that worker dies, this delivery finishes the task.
		return &Redeliver{After: t.LeaseUntil.Sub(now) + time.Second, Reason: "task is running elsewhere"}
	}
	return nil
}

func (w *Worker) capsInFlight() bool { return w.cfg.MaxInFlight > 0 && w.cfg.InFlight != nil }

// releaseInFlight gives a finished task's slot of its tenant's in-flight
// cap back (one write; nothing without a cap). A failure is logged: the
// reservation then lapses at its expiry.
func (w *Worker) releaseInFlight(ctx context.Context, t *task.Task, log zerolog.Logger) {
	if !w.capsInFlight() {
		return
	}
	if err := w.cfg.InFlight.ReleaseInFlight(ctx, t.Tenant, t.ID.String()); err != nil {
		log.Warn().Err(err).Msg("in-flight release failed; the reservation lapses at its expiry")
	}
}
