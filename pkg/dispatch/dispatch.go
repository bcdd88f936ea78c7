// Package dispatch is the dispatcher: it takes one (bucket, shard) unit from
// the scan queue, pages through that partition's SCHEDULED tasks and hands
// each to the task queue with DelaySeconds = run time − now (less the early
// delivery; the queue adapter rounds down, and the worker holds the rest).
// It writes nothing to the task: a task shows as DISPATCHED because the
// scanner announced its bucket before fanning out the unit (package scan),
// not because of a mark here. The one write it may make is for a recurring
// schedule's occurrence on the page: it stores that occurrence's successor
// (Config.Chain) before sending the page, and holds back any occurrence
// whose successor could not be stored, so no occurrence is queued without
// its successor.
//
// Crash safety: a unit is acknowledged only after its whole partition was
// sent. A crash before that leaves the unit on the scan queue, and its
// redelivery (or the bucket's sweep, which re-sends whatever is still
// SCHEDULED after the bucket ends) sends the partition again. The resulting
// duplicate messages are harmless: the worker records one outcome per task,
// with an update conditioned on the version it read (HOURGLASS_CLAIM=none,
// the default) or under its lease (HOURGLASS_CLAIM=lease), and refuses a
// message whose payload hash is stale. Dynein's extra "claim" write before
// the send would buy nothing here and cost a write per task.
//
// A regular unit skips the tasks their create marked as sent on its fast
// path (task.Task.FastPath): sending them too would only make duplicates.
// A sweep unit sends them, in case the create crashed before its send.
// Every message names its origin (task.OriginDispatch or OriginSweep).
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Store is what the dispatcher needs of the task store.
type Store interface {
	QueryScheduled(ctx context.Context, bucket int64, shard uint16, after string, limit int32) ([]*task.Task, string, error)
}

// Sender sends batches of messages to a queue. On partial failure it returns
// an error naming the indexes not sent (see Unsent).
type Sender interface {
	SendBatch(ctx context.Context, url string, msgs []task.OutMessage) error
}

// Unsent lets the dispatcher learn which messages of a failed batch were not
// sent (the others were, and count in Stats.Sent); the unit is redelivered
// either way.
type Unsent interface{ Unsent() []int }

// Config configures a Dispatcher.
type Config struct {
	TaskQueue string // URL of the task queue
	PageSize  int32  // items per partition query page (default 200)
	// EarlyBy makes messages visible this much before due (see
	// config.Config.EarlyDelivery); the worker holds them until due.
	EarlyBy time.Duration
	// Crash, when set, is called at named points ("before-send",
	// "after-send": before the unit would be acknowledged) and lets a
	// test stop the dispatcher exactly there. Nil in production.
	Crash func(point string) error
	// Chain, when set, stores the next occurrence of each recurring
	// schedule whose occurrence is on a page, before the page is sent (see
	// package chain). Nil: no schedules, and dispatch writes nothing.
	Chain Chain
	// ScanQueue is the URL of the scan queue, whose failed units HandleSQS
	// delays through Visibility.
	ScanQueue string
	// Visibility, when set, delays the redelivery of a unit whose dispatch
	// failed (a store or queue outage) by task.RedeliveryDelay: 3 s,
	// doubling with each receive, so that the scan queue's maxReceiveCount
	// outlasts the outage instead of dead-lettering the unit after ten
	// quick polls. A long-polling host passes its poll.Poller; nil: the
	// queue passed to New, if it can change visibility.
	Visibility Visibility
	// Fair paces each tenant's tasks into the task queue (see Fair); its
	// continuation units go to ScanQueue. Zero: every task of a partition
	// is sent in one pass.
	Fair Fair
	// MaxInFlight caps each tenant's tasks dispatched but not finished
	// (HOURGLASS_TENANT_MAX_IN_FLIGHT; 0: no cap). It applies on the fair
	// path only: a pass sends a tenant's tasks while InFlight grants them
	// and holds the rest in the table for its continuation passes.
	MaxInFlight int
	// InFlight keeps the tenants' in-flight reservations (ddbstore).
	InFlight InFlight
	// InFlightLease is how long after its run time a reservation lapses
	// if the worker never releases it (a crash); default 5 minutes.
	InFlightLease time.Duration
}

// InFlight reserves slots of a tenant's in-flight cap: how many of ids,
// from the first, are granted (see task.ReserveInFlight).
type InFlight interface {
	AcquireInFlight(ctx context.Context, tenant string, limit int, ids []string, now, until time.Time) (int, error)
}

// Visibility changes a received message's visibility.
type Visibility interface {
	ChangeVisibility(ctx context.Context, url, handle string, d time.Duration) error
}

// unitRetryBase is the first wait after a failed dispatch.
const unitRetryBase = 3 * time.Second

// Chain continues recurring schedules. Next stores the occurrence after t
// (a task with t.Occurrence set); calling it again for t stores nothing new.
type Chain interface {
	Next(ctx context.Context, t *task.Task) error
}

// Dispatcher hands due tasks to the task queue.
type Dispatcher struct {
	cfg   Config
	store Store
	q     Sender
	clock clock.Clock
	log   zerolog.Logger
}

// New returns a Dispatcher.
func New(cfg Config, store Store, q Sender, clk clock.Clock, log zerolog.Logger) *Dispatcher {
	if cfg.PageSize <= 0 {
		cfg.PageSize = 200
	}
	if cfg.InFlightLease <= 0 {
		cfg.InFlightLease = 5 * time.Minute
	}
	if v, ok := q.(Visibility); ok && cfg.Visibility == nil {
		cfg.Visibility = v
	}
	return &Dispatcher{cfg: cfg, store: store, q: q, clock: clk, log: log.With().Str("component", "dispatcher").Logger()}
}

// Stats says what one unit's dispatch did.
type Stats struct {
	Sent int // messages sent
	// HeldTenants counts the tenants whose tasks this pass held back in
	// the table for a continuation pass (see Fair).
	HeldTenants int
}

// Dispatch sends every SCHEDULED task of the unit's partition. It returns an
// error if any task may not have been sent; the caller then leaves the unit
// on the queue for redelivery.
func (d *Dispatcher) Dispatch(ctx context.Context, u task.ScanUnit) (Stats, error) {
	var st Stats
	after := ""
	log := d.log.With().Int64("bucket", u.Bucket).Uint16("shard", u.Shard).Bool("sweep", u.Sweep).Logger()
	origin := task.OriginDispatch
	if u.Sweep {
		origin = task.OriginSweep
	}
	if d.cfg.Fair.PerSecond > 0 && d.cfg.ScanQueue != "" {
		st, err := d.dispatchFair(ctx, u, origin)
		if err == nil && (st.Sent > 0 || st.HeldTenants > 0) {
			lvl := log.Debug()
			if u.Sweep && u.Pass == 0 {
				lvl = log.Warn() // a sweep found stragglers: a crash left them behind
			}
			lvl.Int("sent", st.Sent).Int("pass", u.Pass).Int("held_tenants", st.HeldTenants).Msg("dispatched partition")
		}
		return st, err
	}
	for {
		tasks, next, err := d.store.QueryScheduled(ctx, u.Bucket, u.Shard, after, d.cfg.PageSize)
		if err != nil {
			return st, err
		}
		if !u.Sweep {
			tasks = withoutFastPath(tasks)
		}
		if len(tasks) > 0 {
			if err := d.sendPage(ctx, tasks, origin, &st); err != nil {
				return st, err
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	if st.Sent > 0 {
		lvl := log.Debug()
		if u.Sweep {
			lvl = log.Warn() // a sweep found stragglers: a crash left them behind
		}
		lvl.Int("sent", st.Sent).Msg("dispatched partition")
	}
	return st, nil
}

func (d *Dispatcher) sendPage(ctx context.Context, tasks []*task.Task, origin task.Origin, st *Stats) error {
	var chainErr error
	if d.cfg.Chain != nil {
		if tasks, chainErr = d.chain(ctx, tasks); len(tasks) == 0 {
			return chainErr
		}
	}
	if d.cfg.Crash != nil {
		if err := d.cfg.Crash("before-send"); err != nil {
			return err
		}
	}
	msgs := BuildMessages(tasks, d.clock.Now(), d.cfg.EarlyBy, origin)
	sent := make([]bool, len(tasks))
	for i := range sent {
		sent[i] = true
	}
	sendErr := d.q.SendBatch(ctx, d.cfg.TaskQueue, msgs)
	if sendErr != nil {
		var un Unsent
		if !errors.As(sendErr, &un) {
			return fmt.Errorf("dispatch: %w", sendErr)
		}
		for _, i := range un.Unsent() {
			sent[i] = false
		}
	}
	if d.cfg.Crash != nil {
		if err := d.cfg.Crash("after-send"); err != nil {
			return err
		}
	}
	for i := range tasks {
		if sent[i] {
			st.Sent++
		}
	}
	if sendErr != nil {
		return fmt.Errorf("dispatch: %w", sendErr)
	}
	return chainErr
}

// withoutFastPath drops the tasks whose create sends them itself
// (task.Task.FastPath): their bucket was announced before they were
// written, so the create decided to send them, and a dispatcher sending
// them too would only make a duplicate. A sweep keeps them: the create may
// have crashed between its write and its send.
func withoutFastPath(tasks []*task.Task) []*task.Task {
	kept := tasks[:0:0]
	for _, t := range tasks {
		if !t.FastPath {
			kept = append(kept, t)
		}
	}
	return kept
}

// chainConcurrency bounds the chain calls of one page in flight: each is a
// few sequential store calls, and a page may hold many occurrences that
// share a fire time.
const chainConcurrency = 16

// chain stores the successor of each schedule occurrence on the page. An
// occurrence whose successor could not be stored is held back (it stays
// SCHEDULED for the unit's redelivery or the sweep), so no occurrence is on
// the queue without its successor.
func (d *Dispatcher) chain(ctx context.Context, tasks []*task.Task) ([]*task.Task, error) {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		held  map[int]bool
		first error
		slots = make(chan struct{}, chainConcurrency)
	)
	for i, t := range tasks {
		if t.Occurrence == nil {
			continue
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			if err := d.cfg.Chain.Next(ctx, t); err != nil {
				mu.Lock()
				if held == nil {
					held, first = map[int]bool{}, err
				}
				held[i] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if held == nil {
		return tasks, nil
	}
	kept := make([]*task.Task, 0, len(tasks)-len(held))
	for i, t := range tasks {
		if !held[i] {
			kept = append(kept, t)
		}
	}
	return kept, fmt.Errorf("dispatch: %d schedule occurrence(s) held back: %w", len(held), first)
}

// BuildMessages builds the task-queue messages for one page of tasks: the
// task's ID, payload hash and origin (task.OriginDispatch, or
// task.OriginSweep for a sweep unit), delayed until its run time less
// earlyBy (the queue adapter rounds the delay down to whole seconds). It is
// pure, so the dispatcher's own cost per task can be benchmarked without a
// queue.
func BuildMessages(tasks []*task.Task, now time.Time, earlyBy time.Duration, origin task.Origin) []task.OutMessage {
	msgs := make([]task.OutMessage, len(tasks))
	for i, t := range tasks {
		msgs[i] = task.OutMessage{Body: task.NewTaskMessage(t, origin).Encode(), Delay: t.RunAt().Sub(now) - earlyBy, Group: t.Tenant}
	}
	return msgs
}

// HandleSQS is the Lambda entry point: one scan unit per record, failures
// reported per record so only those are redelivered.
func (d *Dispatcher) HandleSQS(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for _, rec := range ev.Records {
		u, err := task.DecodeScanUnit(rec.Body)
		if err != nil {
			// A malformed unit can never succeed: log and drop it.
			d.log.Error().Err(err).Str("message_id", rec.MessageId).Msg("dropping malformed scan unit")
			continue
		}
		if _, err := d.Dispatch(ctx, u); err != nil {
			n, _ := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
			wait := task.RedeliveryDelay(unitRetryBase, n)
			d.log.Error().Err(err).Int64("bucket", u.Bucket).Uint16("shard", u.Shard).Dur("redelivery_in", wait).Msg("dispatch failed; unit will be redelivered")
			if d.cfg.Visibility != nil && d.cfg.ScanQueue != "" && rec.ReceiptHandle != "" {
				if verr := d.cfg.Visibility.ChangeVisibility(ctx, d.cfg.ScanQueue, rec.ReceiptHandle, wait); verr != nil {
					d.log.Warn().Err(verr).Msg("could not delay the unit's redelivery")
				}
			}
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp, nil
}
