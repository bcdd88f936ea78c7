package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

func (w *Worker) run(ctx context.Context, t *task.Task, owner string, dl target.Delivery, log zerolog.Logger) error {
	start := w.clock.Now()
	attempt := task.Attempt{N: t.AttemptN, StartedAt: start, Worker: w.cfg.ID, Run: randomHex(8)}
	var res target.Result
	var execErr error
	exec, ok := w.execs[t.Target.Kind]
	if !ok {
		execErr = target.Permanent(fmt.Errorf("no executor for target kind %q", t.Target.Kind))
	} else {
		// Leave time to record the outcome before the lease ends.
		ectx, cancel := context.WithTimeout(ctx, w.cfg.Lease-min(w.cfg.Lease/4, 5*time.Second))
		res, execErr = exec.Execute(ectx, target.Invocation{
			TaskID: t.ID.String(), Tenant: t.Tenant, Attempt: t.AttemptN, IdempotencyKey: t.Key(),
			DueAt: t.DueAt, Payload: t.Payload, Spec: t.Target.Spec, Delivery: dl,
		})
		cancel()
	}
	called(ctx)
	if err := w.crash("after-execute"); err != nil {
		return err
	}
	if target.IsNotAttempted(execErr) {
		// The target was not called (a dependency of ours failed): no
		// attempt, no outcome; the message comes back, as after a failed
		// task read. (With claims the lease holds it until it ends.)
		log.Warn().Err(execErr).Msg("target not called; redelivering")
		return &Redeliver{After: storeRetryBase, Reason: execErr.Error()}
	}
	end := w.clock.Now()
	attempt.EndedAt, attempt.StatusCode, attempt.Summary = end, res.StatusCode, res.Summary
	lateness := start.Sub(t.RunAt()).Milliseconds()
	log = log.With().Int("attempt", t.AttemptN).Int64("lateness_ms", lateness).Logger()
	w.record("LatenessMs", float64(lateness), "Milliseconds")

	if execErr == nil {
		attempt.Outcome = "succeeded"
		done, err := w.finish(ctx, t, owner, task.Outcome{State: task.Succeeded, Attempt: attempt})
		if err != nil {
			return w.finishFailed(err, log)
		}
		w.releaseInFlight(ctx, done, log)
		w.completed(ctx, done)
		w.published(ctx, done, false)
		log.Info().Int("status", res.StatusCode).Msg("task succeeded")
		w.record("TasksSucceeded", 1, "Count")
		return nil
	}

	attempt.Error = truncate(execErr.Error(), 1024)
	if target.IsPermanent(execErr) || t.AttemptN >= t.Retry.MaxAttempts {
		attempt.Outcome = "failed"
		// Dead-letter first: if the outcome write then fails, the retry
		// repeats the send (a duplicate in the DLQ), never loses it.
		if err := w.q.Send(ctx, w.cfg.DLQ, task.OutMessage{Body: task.NewTaskMessage(t, task.OriginDeadLetter).Encode(), Attributes: map[string]string{
			"error": attempt.Error, "tenant": t.Tenant, "attempts": strconv.Itoa(t.AttemptN),
		}}); err != nil {
			return &Redeliver{Reason: "dead-letter send failed: " + err.Error()}
		}
		done, err := w.finish(ctx, t, owner, task.Outcome{State: task.Failed, Attempt: attempt, LastError: attempt.Error})
		if err != nil {
			return w.finishFailed(err, log)
		}
		w.releaseInFlight(ctx, done, log)
		w.completed(ctx, done)
		w.published(ctx, done, true)
		log.Warn().Str("error", attempt.Error).Bool("permanent", target.IsPermanent(execErr)).Msg("task failed and was dead-lettered")
		w.record("TasksFailed", 1, "Count")
		return nil
	}

	attempt.Outcome = "retrying"
	wait := task.Backoff(t.Retry, t.AttemptN, w.rnd)
	var ra *target.RetryAfterError
	if errors.As(execErr, &ra) && ra.After > wait {
		wait = min(ra.After, t.Retry.MaxBackoff)
	}
	next := end.Add(wait)
	if _, err := w.finish(ctx, t, owner, task.Outcome{State: task.Retrying, Attempt: attempt, NextAt: next, LastError: attempt.Error}); err != nil {
		return w.finishFailed(err, log)
	}
	if err := w.q.Send(ctx, w.cfg.TaskQueue, task.OutMessage{Body: task.NewTaskMessage(t, task.OriginRetry).Encode(), Delay: wait, Group: t.Tenant}); err != nil {
		// The task is RETRYING; this message's redelivery will claim it.
		return &Redeliver{After: min(wait, time.Minute), Reason: "retry send failed: " + err.Error()}
	}
	log.Info().Str("error", attempt.Error).Dur("backoff", wait).Msg("attempt failed; retry queued")
	w.record("TasksRetried", 1, "Count")
	return nil
}

// ErrFencedOff says that an outcome was not recorded because the task
// changed while its target ran, without a claim: another delivery recorded
// an outcome, or the task was cancelled, updated or redriven meanwhile.
// That delivery or change carries the task on; this message is done with.
var ErrFencedOff = errors.New("outcome fenced off: the task changed while its target ran")

// finish records an attempt's outcome: under the claim's lease, or (no
// claim) fenced on the version the worker read. Without a claim, a fenced
// write is ErrFencedOff — unless the fence was our own write, applied with
// its answer lost, which counts as recorded.
func (w *Worker) finish(ctx context.Context, t *task.Task, owner string, o task.Outcome) (*task.Task, error) {
	if w.cfg.Claim {
		return w.store.Finish(ctx, t.ID, owner, o)
	}
	a := o.Attempt
	done, err := w.store.Settle(ctx, t, o)
	if !errors.Is(err, task.ErrConflict) {
		return done, err
	}
	cur, gerr := w.store.Get(ctx, t.ID)
	if gerr != nil {
		return nil, gerr
	}
	if n := len(cur.Attempts); n > 0 && cur.Version == t.Version+1 && cur.AttemptN == t.AttemptN {
		last := cur.Attempts[n-1]
		if last.N == a.N && last.Run == a.Run {
			return cur, nil
		}
	}
	w.log.Info().Str("task_id", t.ID.String()).Str("state", string(cur.State)).
		Msg("outcome fenced off: the task changed while its target ran (a duplicate delivery recorded it, or it was cancelled or updated)")
	return nil, ErrFencedOff
}

// finishFailed is what a delivery answers when its outcome was not
// recorded: done with it when fenced off (another delivery or change
// carries the task on), else redelivered.
func (w *Worker) finishFailed(err error, log zerolog.Logger) error {
	if errors.Is(err, ErrFencedOff) {
		return nil
	}
	if errors.Is(err, task.ErrConflict) {
		// Our lease expired and another worker took over: this completion
		// is fenced off. Keep the message until the task is settled.
		log.Warn().Msg("stale completion fenced off: lease lost")
		return &Redeliver{Reason: "lease lost"}
	}
	return &Redeliver{Reason: err.Error()}
}
