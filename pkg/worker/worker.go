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
	mrand "math/rand/v2"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

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
	// Limiter, when set, holds the per-key limits: a task naming a limit
	// key takes a slot before its claim and target call and gives it back
	// after the outcome; a task whose key is saturated waits (held briefly
	// or re-queued with a delay, neither failed nor charged an attempt).
	// Nil: limit keys are not enforced.
	Limiter Limiter
	// InFlight, with MaxInFlight > 0, keeps the tenants' in-flight cap
	// (HOURGLASS_TENANT_MAX_IN_FLIGHT): the worker releases a task's
	// reservation once its final outcome is recorded (or it is found
	// finished or cancelled), and reserves one itself for a task the create
	// sent on its fast path (the dispatcher reserved every other one),
	// re-queuing it a second later while the tenant is at its cap.
	InFlight InFlight
	// MaxInFlight is the per-tenant cap; 0: none (InFlight unused).
	MaxInFlight int
}

// InFlight is the tenants' in-flight reservations (ddbstore.Store).
type InFlight interface {
	AcquireInFlight(ctx context.Context, tenant string, limit int, ids []string, now, until time.Time) (int, error)
	ReleaseInFlight(ctx context.Context, tenant, id string) error
}

// inFlightLease is how long a worker's own reservation (a fast-path task)
// lasts if never released.
const inFlightLease = 5 * time.Minute

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
	// saturated: limit keys this worker was just refused (see acquire).
	saturated saturation
	// handOver learns from the batch reads when a long-polling host's
	// batches should reach the worker (see HandOverBy).
	handOver HandOver
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

func (w *Worker) record(name string, v float64, unit string) {
	if w.cfg.Metrics != nil {
		w.cfg.Metrics.Record(name, v, unit)
	}
}

// completed tells the gate, if it is a Completer, of an occurrence's
// final outcome.
func (w *Worker) completed(ctx context.Context, t *task.Task) {
	if c, ok := w.cfg.Gate.(Completer); ok && t != nil && t.Occurrence != nil {
		c.Completed(ctx, t)
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
