// Package worker executes tasks delivered by the task queue: it holds a task
// until its due time, runs the target with the task's idempotency key,
// records the attempt and either finishes the task, queues the next attempt
// with backoff, or — after the last attempt — marks it FAILED and sends it
// to the dead-letter queue.
//
// Two claim modes. By default (Config.Claim false) the worker calls the
// target straight after reading the task and records the outcome with one
// write fenced on the version it read (Store.Settle): two writes per task
// in all, create and outcome. Concurrent duplicate deliveries may then both
// call the target, with the same idempotency key, and one outcome is
// recorded. With Config.Claim the worker first claims the task under a
// lease (Store.Claim), so a concurrent duplicate waits instead of calling,
// at the price of a third write.
//
// The same code serves the Lambda SQS consumer (HandleSQS, partial batch
// responses) and the long-polling process (see package poll).
package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Store is what the worker needs of the task store.
type Store interface {
	Get(ctx context.Context, id task.ID) (*task.Task, error)
	Claim(ctx context.Context, id task.ID, ph, owner string, now, leaseUntil time.Time) (*task.Task, error)
	Finish(ctx context.Context, id task.ID, owner string, state task.State, a task.Attempt, nextAt time.Time, lastErr string) (*task.Task, error)
	Settle(ctx context.Context, prev *task.Task, state task.State, a task.Attempt, nextAt time.Time, lastErr string) (*task.Task, error)
}

// Queue sends single messages.
type Queue interface {
	Send(ctx context.Context, url string, m task.OutMessage) error
}

// Visibility changes a received message's visibility (the Lambda path uses
// it to delay a redelivery); optional.
type Visibility interface {
	ChangeVisibility(ctx context.Context, url, handle string, d time.Duration) error
}

// Config configures a Worker.
type Config struct {
	TaskQueue string // URL of the task queue (retries are sent here)
	DLQ       string // URL of the task dead-letter queue
	// Claim: claim a lease on the task before calling its target (three
	// writes per task instead of two; see the package comment).
	Claim bool
	// Lease is how long a claim holds the task (with Claim), and bounds
	// every target call either way. Under Lambda it must be shorter than
	// the task queue's visibility timeout, so that a live worker's message
	// is not redelivered under its lease and a crashed worker's lease has
	// expired when its message comes back. Under a long-polling worker
	// (package poll) the heartbeat keeps the message hidden for as long as
	// the worker holds it, whatever the lease; a crashed worker's message
	// is back within the poller's short visibility, and with Claim it then
	// waits out the rest of the lease (see the poll package comment): the
	// lease, not the visibility, bounds recovery in lease mode. Default 60s.
	Lease time.Duration
	// Visibility, when set, delays redeliveries instead of the task queue
	// (see Redeliver.After): a long-polling host passes its poll.Poller,
	// which stops extending the message before changing it. Nil: the queue
	// passed to New, if it can.
	Visibility Visibility
	// MaxHold: a message that arrives up to this long before its due time
	// is held in-process; earlier ones go back to the queue with a delay.
	// Default 2s.
	MaxHold time.Duration
	// ID names this worker in attempts and leases.
	ID string
	// Crash, when set, is called at named points ("after-claim",
	// "after-execute") so tests can stop the worker exactly there. Nil in
	// production.
	Crash func(point string) error
	// Gate, when set, is asked before a schedule occurrence (a task with
	// Occurrence set) is claimed whether it may still run; see package
	// schedules. Nil: no schedules.
	Gate Gate
	// Metrics, when set, receives LatenessMs per attempt and a count per
	// outcome (TasksSucceeded, TasksRetried, TasksFailed).
	Metrics Metrics
	// Events, when set, is told of every task whose outcome was recorded
	// (SUCCEEDED; FAILED and dead-lettered), for lifecycle events, and is
	// flushed at the end of each HandleSQS batch. Nil: no events.
	Events Events
}

// Events publishes lifecycle events (see package lifecycle). TaskFinished
// must not block; Flush sends what is buffered, bounded in time.
type Events interface {
	TaskFinished(t *task.Task, deadLettered bool)
	Flush(ctx context.Context) error
}

// BatchEvents is Events that can also publish given tasks' events at once
// and say which were not sent (lifecycle.Publisher). With it, HandleSQS
// makes lifecycle events durable: at the end of each batch it publishes the
// events of the tasks the batch finished, and the message of a task whose
// events were not all sent stays on the queue (a batch item failure,
// visible again after EventRetryDelay). The message is the durable record
// of the unsent event: its redelivery finds the task finished and publishes
// the events again. An EventBridge outage thus delays events and loses
// none, and neither does a crash between the outcome write and the
// publish. Handle alone (no batch) buffers events through TaskFinished.
type BatchEvents interface {
	Events
	PublishFinished(ctx context.Context, tasks []*task.Task, deadLettered []bool) ([]task.ID, error)
}

// EventRetryDelay is how long a message whose task's events were not sent
// waits before its next delivery: 15 s for its first receive, doubling
// with each receive up to an hour, so that the task queue's maxReceiveCount
// (10 by default) covers an EventBridge outage of about three hours before
// the message goes to the task DLQ.
func EventRetryDelay(receiveCount int) time.Duration {
	d := 15 * time.Second
	for i := 1; i < receiveCount && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// finishedReport collects, for one delivery handled by HandleSQS, the task
// whose outcome it recorded (or, redelivered, found recorded), for the
// batch's durable publish.
type finishedReport struct {
	task         *task.Task
	deadLettered bool
}

type reportKey struct{}

// Gate admits schedule occurrences. Admit returns false after cancelling
// an occurrence that must not run (its schedule was paused, changed or
// deleted); the message is then dropped.
type Gate interface {
	Admit(ctx context.Context, t *task.Task, now time.Time) (bool, error)
}

// Metrics records metric values (see package metrics for the EMF sink).
type Metrics interface {
	Record(name string, value float64, unit string)
}

// Worker executes tasks.
type Worker struct {
	cfg   Config
	store Store
	q     Queue
	vis   Visibility
	execs map[string]target.Executor
	clock clock.Clock
	log   zerolog.Logger
	rnd   func() float64
}

// New returns a Worker running the given executors.
func New(cfg Config, store Store, q Queue, execs []target.Executor, clk clock.Clock, log zerolog.Logger) *Worker {
	if cfg.Lease <= 0 {
		cfg.Lease = 60 * time.Second
	}
	if cfg.MaxHold <= 0 {
		cfg.MaxHold = 2 * time.Second
	}
	if cfg.ID == "" {
		cfg.ID = "worker-" + randomHex(4)
	}
	m := make(map[string]target.Executor, len(execs))
	for _, e := range execs {
		m[e.Kind()] = e
	}
	w := &Worker{cfg: cfg, store: store, q: q, execs: m, clock: clk, log: log.With().Str("component", "worker").Str("worker", cfg.ID).Logger(), rnd: mrand.Float64}
	if v, ok := q.(Visibility); ok {
		w.vis = v
	}
	if cfg.Visibility != nil {
		w.vis = cfg.Visibility
	}
	return w
}

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

// BatchGetter reads many tasks in one call (strongly consistent; missing
// ones absent); optional. HandleSQS uses it to read a whole batch's tasks
// with one request instead of one GetItem each.
type BatchGetter interface {
	GetMany(ctx context.Context, ids []task.ID) (map[task.ID]*task.Task, error)
}

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
	if d.ReceiveCount > 1 && (t.State == task.Succeeded || t.State == task.Failed) {
		// A finished task's message comes back when its events were not
		// sent (see BatchEvents), or when its delete failed: publish them
		// again (at least once). Without a batch this does nothing.
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
			if err := w.q.Send(ctx, w.cfg.TaskQueue, task.OutMessage{Body: msg.Requeued().Encode(), Delay: wait}); err != nil {
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
	if err := w.crash("after-execute"); err != nil {
		return err
	}
	end := w.clock.Now()
	attempt.EndedAt, attempt.StatusCode, attempt.Summary = end, res.StatusCode, res.Summary
	lateness := start.Sub(t.RunAt()).Milliseconds()
	log = log.With().Int("attempt", t.AttemptN).Int64("lateness_ms", lateness).Logger()
	w.record("LatenessMs", float64(lateness), "Milliseconds")

	if execErr == nil {
		attempt.Outcome = "succeeded"
		done, err := w.finish(ctx, t, owner, task.Succeeded, attempt, time.Time{}, "")
		if err != nil {
			return w.finishFailed(err, log)
		}
		if done == nil {
			return nil // fenced off; see finish
		}
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
		done, err := w.finish(ctx, t, owner, task.Failed, attempt, time.Time{}, attempt.Error)
		if err != nil {
			return w.finishFailed(err, log)
		}
		if done == nil {
			return nil
		}
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
	done, err := w.finish(ctx, t, owner, task.Retrying, attempt, next, attempt.Error)
	if err != nil {
		return w.finishFailed(err, log)
	}
	if done == nil {
		return nil
	}
	if err := w.q.Send(ctx, w.cfg.TaskQueue, task.OutMessage{Body: task.NewTaskMessage(t, task.OriginRetry).Encode(), Delay: wait}); err != nil {
		// The task is RETRYING; this message's redelivery will claim it.
		return &Redeliver{After: min(wait, time.Minute), Reason: "retry send failed: " + err.Error()}
	}
	log.Info().Str("error", attempt.Error).Dur("backoff", wait).Msg("attempt failed; retry queued")
	w.record("TasksRetried", 1, "Count")
	return nil
}

// finish records an attempt's outcome: under the claim's lease, or (no
// claim) fenced on the version the worker read. Without a claim, a fenced
// write returns (nil, nil) — another delivery recorded an outcome, or the
// task was cancelled, updated or redriven meanwhile: that delivery or
// change carries the task on, and this message is done with — unless the
// fence was our own write, applied with its answer lost, which counts as
// recorded.
func (w *Worker) finish(ctx context.Context, t *task.Task, owner string, state task.State, a task.Attempt, next time.Time, lastErr string) (*task.Task, error) {
	if w.cfg.Claim {
		return w.store.Finish(ctx, t.ID, owner, state, a, next, lastErr)
	}
	done, err := w.store.Settle(ctx, t, state, a, next, lastErr)
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
	return nil, nil
}

func (w *Worker) finishFailed(err error, log zerolog.Logger) error {
	if errors.Is(err, task.ErrConflict) {
		// Our lease expired and another worker took over: this completion
		// is fenced off. Keep the message until the task is settled.
		log.Warn().Msg("stale completion fenced off: lease lost")
		return &Redeliver{Reason: "lease lost"}
	}
	return &Redeliver{Reason: err.Error()}
}

func (w *Worker) record(name string, v float64, unit string) {
	if w.cfg.Metrics != nil {
		w.cfg.Metrics.Record(name, v, unit)
	}
}

// published hands a task whose outcome was recorded to the lifecycle
// events port, if any: to the batch's durable publish under HandleSQS with
// BatchEvents, else to the buffer.
func (w *Worker) published(ctx context.Context, t *task.Task, deadLettered bool) {
	if w.cfg.Events == nil || t == nil {
		return
	}
	if rep, ok := ctx.Value(reportKey{}).(*finishedReport); ok {
		rep.task, rep.deadLettered = t, deadLettered
		return
	}
	w.cfg.Events.TaskFinished(t, deadLettered)
}

func (w *Worker) crash(point string) error {
	if w.cfg.Crash == nil {
		return nil
	}
	return w.cfg.Crash(point)
}

// HandleSQS is the Lambda entry point: records run concurrently; failures
// are reported per record (ReportBatchItemFailures) and, where the worker
// asked for a delay, the record's visibility is changed accordingly.
func (w *Worker) HandleSQS(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	received := time.Now()
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		resp events.SQSEventResponse
	)
	tasks := w.prefetch(ctx, ev.Records)
	be, durable := w.cfg.Events.(BatchEvents)
	reports := make([]finishedReport, len(ev.Records))
	for i, rec := range ev.Records {
		wg.Add(1)
		go func(rec events.SQSMessage) {
			defer wg.Done()
			ctx := ctx
			if durable {
				ctx = context.WithValue(ctx, reportKey{}, &reports[i])
			}
			d := Delivery{MessageID: rec.MessageId, Body: rec.Body, ServerTime: ServerTime(rec.Attributes), ReceivedAt: received}
			d.ReceiveCount, _ = strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
			if ns, err := strconv.ParseInt(rec.Attributes[ReceivedAtAttribute], 10, 64); err == nil {
				// A poller's batching window held it since then: anchor
				// the skew guard's server clock at the receive, not at
				// this start.
				d.ReceivedAt = time.Unix(0, ns)
			}
			if ns, err := strconv.ParseInt(rec.Attributes[VisibleUntilAttribute], 10, 64); err == nil {
				d.VisibleUntil = time.Unix(0, ns)
			}
			if _, id, err := task.DecodeTaskMessage(rec.Body); err == nil {
				d.Task = tasks[id]
			}
			err := w.safeHandle(ctx, d)
			if err == nil {
				return
			}
			var r *Redeliver
			if errors.As(err, &r) && r.After > 0 && w.vis != nil && rec.ReceiptHandle != "" {
				if verr := w.vis.ChangeVisibility(ctx, w.cfg.TaskQueue, rec.ReceiptHandle, r.After); verr != nil {
					w.log.Warn().Err(verr).Msg("could not delay redelivery")
				}
			}
			mu.Lock()
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
			mu.Unlock()
		}(rec)
	}
	wg.Wait()
	if durable {
		resp.BatchItemFailures = append(resp.BatchItemFailures, w.publishBatch(ctx, be, ev.Records, reports, resp.BatchItemFailures)...)
	}
	// Send what else is buffered before returning: in Lambda the
	// environment may freeze right after. Bounded; never fails the batch.
	if w.cfg.Events != nil {
		if err := w.cfg.Events.Flush(ctx); err != nil {
			w.log.Warn().Err(err).Msg("lifecycle events not all sent; the next batch retries them")
		}
	}
	return resp, nil
}

// publishBatch publishes the lifecycle events of the tasks a batch
// finished and returns the batch item failures that keep the messages of
// the tasks whose events were not sent, each visible again after
// EventRetryDelay (see BatchEvents). Records already failing are left
// alone.
func (w *Worker) publishBatch(ctx context.Context, be BatchEvents, recs []events.SQSMessage, reports []finishedReport, failing []events.SQSBatchItemFailure) []events.SQSBatchItemFailure {
	failed := make(map[string]bool, len(failing))
	for _, f := range failing {
		failed[f.ItemIdentifier] = true
	}
	var done []*task.Task
	var dead []bool
	for i, r := range reports {
		if r.task != nil && !failed[recs[i].MessageId] {
			done = append(done, r.task)
			dead = append(dead, r.deadLettered)
		}
	}
	if len(done) == 0 {
		return nil
	}
	unsent, err := be.PublishFinished(ctx, done, dead)
	if len(unsent) == 0 {
		return nil
	}
	keep := make(map[task.ID]bool, len(unsent))
	for _, id := range unsent {
		keep[id] = true
	}
	var out []events.SQSBatchItemFailure
	for i, r := range reports {
		rec := recs[i]
		if r.task == nil || failed[rec.MessageId] || !keep[r.task.ID] {
			continue
		}
		n, _ := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
		if w.vis != nil && rec.ReceiptHandle != "" {
			if verr := w.vis.ChangeVisibility(ctx, w.cfg.TaskQueue, rec.ReceiptHandle, EventRetryDelay(n)); verr != nil {
				w.log.Warn().Err(verr).Msg("could not delay redelivery")
			}
		}
		out = append(out, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
	}
	w.log.Warn().Err(err).Int("tasks", len(unsent)).Msg("lifecycle events not sent; their task messages stay queued and publish them on redelivery")
	return out
}

// prefetch reads the tasks of a batch's messages with one BatchGetItem per
// 100 (when the store can), so that a batch of many costs a request, not
// one per message. A failed read only loses the saving: each Handle then
// reads its task itself.
func (w *Worker) prefetch(ctx context.Context, recs []events.SQSMessage) map[task.ID]*task.Task {
	bg, ok := w.store.(BatchGetter)
	if !ok || len(recs) < 2 {
		return nil
	}
	ids := make([]task.ID, 0, len(recs))
	for _, rec := range recs {
		if _, id, err := task.DecodeTaskMessage(rec.Body); err == nil {
			ids = append(ids, id)
		}
	}
	all := make(map[task.ID]*task.Task, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 100)
		got, err := bg.GetMany(ctx, ids[:n])
		if err != nil {
			w.log.Warn().Err(err).Msg("batch read failed; reading tasks one by one")
			return all
		}
		for id, t := range got {
			all[id] = t
		}
		ids = ids[n:]
	}
	return all
}

// safeHandle is Handle with a panic turned into a redelivery, so one bad
// task cannot take down the other records of its batch; a task that panics
// every time reaches the DLQ through the queue's redrive policy.
func (w *Worker) safeHandle(ctx context.Context, d Delivery) (err error) {
	defer func() {
		if p := recover(); p != nil {
			w.log.Error().Str("message_id", d.MessageID).Interface("panic", p).Msg("task handler panicked; message will be redelivered")
			err = &Redeliver{Reason: fmt.Sprintf("panic: %v", p)}
		}
	}()
	return w.Handle(ctx, d)
}

// Batching is how the long-polling worker (and the local host) batch task
// messages, as the stack's event source mapping does: up to BatchMax
// messages gathered for up to BatchWindow. Messages become visible a little
// before due (the early delivery), so the wait happens while gathering —
// free in an event source mapping — and one invocation holds many tasks
// for the rest of their sub-second remainder.
const (
	BatchMax    = 100
	BatchWindow = time.Second
	// handOverMargin leaves a batch time for its one read of its tasks
	// before the first is due (milliseconds in AWS; the emulator takes
	// hundreds for a read of 100).
	handOverMargin = 500 * time.Millisecond
)

// ReceivedAtAttribute is the record attribute in which a poller (see
// poll.Poller.ReceivedAttr) says when it received a message. Lambda's
// event source mapping sets none: its batches are not windowed (the
// stack's mapping has no batching window), so the handler's start is a
// fresh enough anchor.
const ReceivedAtAttribute = "HourglassReceivedAt"

// VisibleUntilAttribute is the record attribute in which a poller (see
// poll.Poller.VisibleUntilAttr) says when the message's visibility ends
// (Unix nanoseconds). The worker passes it on to the target (the webhook's
// Hourglass-Visible-Until) so that a receiver can tell a redelivery within
// the visibility (the queue's own duplicate) from one after it.
const VisibleUntilAttribute = "HourglassVisibleUntil"

// HandOverBy is a task message's batching deadline (see poll.Poller):
// handOverMargin before the task's due time, so that a batch still
// gathering is handed over in time to read its tasks and run them on time.
// Retries, due later than the ID says, are handed over at once.
func HandOverBy(body string) (time.Time, bool) {
	_, id, err := task.DecodeTaskMessage(body)
	if err != nil {
		return time.Time{}, false
	}
	return id.Due().Add(-handOverMargin), true
}

// ServerTime extracts the clock-skew guard's server time from SQS system
// attributes: the later of SentTimestamp and ApproximateFirstReceiveTimestamp.
func ServerTime(attrs map[string]string) time.Time {
	var best int64
	for _, k := range []string{"SentTimestamp", "ApproximateFirstReceiveTimestamp"} {
		if v, err := strconv.ParseInt(attrs[k], 10, 64); err == nil && v > best {
			best = v
		}
	}
	if best == 0 {
		return time.Time{}
	}
	return time.UnixMilli(best)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
