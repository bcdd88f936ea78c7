// Package lifecycle publishes task lifecycle events (TaskSucceeded,
// TaskFailed, TaskDeadLettered, TaskCancelled, and ScheduleFired for an
// occurrence of a recurring schedule; see package events) on the Hourglass
// event bus.
//
// Two ways to publish. The worker's events are durable (PublishFinished):
// at the end of each batch of task messages the worker publishes the
// events of the tasks it finished, synchronously, and keeps the message of
// every task whose events were not all sent (the batch item fails, and its
// redelivery is delayed): the task message on the SQS queue is the durable
// record of the unsent event. The redelivered message finds its task
// finished and publishes its events again, until EventBridge takes them.
// So an EventBridge outage delays these events and never loses them, and a
// crash between the outcome write and the publish loses nothing either:
// the message was not deleted. The price is a few more deliveries of a
// finished task's message during an outage, and duplicate events when a
// publish succeeded but the message's delete did not (at-least-once, as
// below). See worker.BatchEvents.
//
// Other events (TaskCancelled from the API) never block their caller: the
// API hands the task to the Publisher, which appends an entry to a bounded
// buffer (dropping — and logging — the oldest entry when it is full), and
// Flush sends the buffer with PutEvents in batches of at most 10 entries,
// retrying entries EventBridge rejected, within a time limit; whatever is
// still unsent stays buffered for the next Flush (the API flushes after
// each cancel, the worker after each batch). These live in memory only.
//
// Which events are published is the Level (HOURGLASS_LIFECYCLE_EVENTS):
// failures (the default) publishes TaskFailed, TaskDeadLettered and
// TaskCancelled; all adds TaskSucceeded and ScheduleFired, one more event
// per successful task ($1.00 per million on EventBridge); off publishes
// nothing. Events a level leaves out are never buffered, so they cost no
// PutEvents entry.
//
// Delivery is at least once, like every EventBridge delivery: a repeated
// cancel, a redelivered task message or a retried PutEvents can publish an
// event twice. Consumers de-duplicate on (detail-type, task_id).
package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/events"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Putter is the one EventBridge call the publisher makes.
type Putter interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Level says which lifecycle events a Publisher publishes.
type Level string

// Levels, the values of HOURGLASS_LIFECYCLE_EVENTS.
const (
	// LevelFailures publishes TaskFailed, TaskDeadLettered and
	// TaskCancelled: what needs someone's attention. The default.
	LevelFailures Level = "failures"
	// LevelAll also publishes TaskSucceeded and ScheduleFired.
	LevelAll Level = "all"
	// LevelOff publishes nothing.
	LevelOff Level = "off"
)

// DefaultLevel is the level of a zero Config.
const DefaultLevel = LevelFailures

// ParseLevel parses a level; "" is DefaultLevel.
func ParseLevel(s string) (Level, error) {
	switch l := Level(s); l {
	case "":
		return DefaultLevel, nil
	case LevelFailures, LevelAll, LevelOff:
		return l, nil
	}
	return "", fmt.Errorf("lifecycle events level %q: want all, failures or off", s)
}

// Publishes reports whether level l publishes events of detailType.
func (l Level) Publishes(detailType string) bool {
	switch l {
	case LevelAll:
		return true
	case LevelOff:
		return false
	}
	switch detailType {
	case events.DetailTaskFailed, events.DetailTaskDeadLettered, events.DetailTaskCancelled:
		return true
	}
	return false
}

// Config configures a Publisher; zero values take the defaults shown.
type Config struct {
	Bus string // the Hourglass bus name or ARN (required)
	// Level says which events are published (failures); events it leaves
	// out are dropped before they are buffered. An unknown level publishes
	// what failures does.
	Level Level
	// MaxBuffer bounds the entries waiting to be sent (1000). When full,
	// the oldest is dropped and logged.
	MaxBuffer int
	// FlushTimeout bounds one Flush (5s).
	FlushTimeout time.Duration
	// Rounds is how many PutEvents rounds one Flush makes at most, each
	// resending what the previous one had rejected (3).
	Rounds int
	// BusBackoff is how long PublishFinished stops calling after a call
	// the bus did not answer (5s): during an EventBridge outage each
	// worker batch would otherwise wait out the SDK's retries and the
	// publish timeout before handing its messages back, and every kept
	// message's redelivery would wait again, so the outage would slow the
	// execution of every task.
	BusBackoff time.Duration
}

// maxBatch is PutEvents' limit on entries per call.
const maxBatch = 10

// flushMargin is left between a flush and its caller's deadline.
const flushMargin = 500 * time.Millisecond

// Publisher buffers lifecycle events and sends them in batches. It is safe
// for concurrent use.
type Publisher struct {
	cfg Config
	c   Putter
	log zerolog.Logger

	mu      sync.Mutex
	buf     []types.PutEventsRequestEntry
	dropped int64
	// downUntil: a PublishFinished call the bus did not answer failed at
	// downUntil − BusBackoff; until then PublishFinished does not call
	// again but reports every task unsent at once.
	downUntil time.Time
}

// New returns a Publisher sending to cfg.Bus through c.
func New(cfg Config, c Putter, log zerolog.Logger) *Publisher {
	if cfg.MaxBuffer <= 0 {
		cfg.MaxBuffer = 1000
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = 5 * time.Second
	}
	if cfg.Rounds <= 0 {
		cfg.Rounds = 3
	}
	if cfg.BusBackoff <= 0 {
		cfg.BusBackoff = 5 * time.Second
	}
	if cfg.Level == "" {
		cfg.Level = DefaultLevel
	}
	return &Publisher{cfg: cfg, c: c, log: log.With().Str("component", "lifecycle").Logger()}
}

// TaskFinished publishes the events of a task whose outcome was just
// recorded: TaskSucceeded for a SUCCEEDED task; TaskFailed, and
// TaskDeadLettered when its message went to the dead-letter queue, for a
// FAILED one. Other states publish nothing. A schedule occurrence that ran
// also publishes ScheduleFired first: an occurrence fires once, however many
// attempts it takes, so the recorded outcome is the one point where a fire
// is counted exactly once per task. The Level may leave any of these out.
// It never blocks on the network.
func (p *Publisher) TaskFinished(t *task.Task, deadLettered bool) {
	for _, e := range p.finishedEntries(t, deadLettered) {
		p.push(e)
	}
}

// TaskCancelled publishes TaskCancelled for a task just cancelled. It never
// blocks on the network.
func (p *Publisher) TaskCancelled(t *task.Task) {
	if t.State != task.Cancelled {
		return
	}
	p.add(t, events.DetailTaskCancelled, events.TaskCancelled{TaskDetail: Detail(t), ReplacedBy: t.ReplacedBy})
}

// Detail is what every lifecycle event says about t.
func Detail(t *task.Task) events.TaskDetail {
	d := events.TaskDetail{
		TaskID: t.ID.String(), Tenant: t.Tenant, State: string(t.State), DueAt: t.DueAt.UTC(), FinishedAt: t.FinishedAt.UTC(),
		Attempts: len(t.Attempts), TargetKind: t.Target.Kind, IdempotencyKey: t.Key(), Labels: t.Labels,
	}
	if d.FinishedAt.IsZero() {
		d.FinishedAt = t.UpdatedAt.UTC()
	}
	if len(t.Attempts) > 0 {
		ms := t.Attempts[0].StartedAt.Sub(t.DueAt).Milliseconds()
		d.LatenessMS = &ms
	}
	return d
}

// Fired is the ScheduleFired detail of t, a schedule occurrence whose
// outcome was recorded; false when t is no occurrence, has no outcome
// (SUCCEEDED or FAILED) or made no attempt (it never fired).
func Fired(t *task.Task) (events.ScheduleFired, bool) {
	o := t.Occurrence
	if o == nil || len(t.Attempts) == 0 || (t.State != task.Succeeded && t.State != task.Failed) {
		return events.ScheduleFired{}, false
	}
	d := Detail(t)
	return events.ScheduleFired{
		ScheduleID: o.Schedule, Tenant: t.Tenant, TaskID: d.TaskID, Generation: o.Generation,
		OccurrenceAt: o.At.UTC(), DueAt: d.DueAt, FiredAt: t.Attempts[0].StartedAt.UTC(), FinishedAt: d.FinishedAt,
		State: d.State, Attempts: d.Attempts, TargetKind: d.TargetKind,
	}, true
}

func outcome(t *task.Task) events.Outcome {
	if len(t.Attempts) == 0 {
		return events.Outcome{Error: t.LastError}
	}
	a := t.Attempts[len(t.Attempts)-1]
	o := events.Outcome{StatusCode: a.StatusCode, Summary: a.Summary, Error: a.Error}
	if t.State == task.Failed && o.Error == "" {
		o.Error = t.LastError
	}
	return o
}

// entry is the PutEvents entry of one event of t; false when the Level
// leaves it out or it cannot be encoded.
func (p *Publisher) entry(t *task.Task, detailType string, detail any) (types.PutEventsRequestEntry, bool) {
	if !p.cfg.Level.Publishes(detailType) {
		return types.PutEventsRequestEntry{}, false
	}
	b, err := json.Marshal(detail)
	if err != nil {
		p.log.Error().Err(err).Str("task_id", t.ID.String()).Str("detail_type", detailType).Msg("lifecycle event not encodable; dropped")
		return types.PutEventsRequestEntry{}, false
	}
	return types.PutEventsRequestEntry{EventBusName: aws.String(p.cfg.Bus), Source: aws.String(events.Source),
		DetailType: aws.String(detailType), Detail: aws.String(string(b)), Resources: []string{}}, true
}

func (p *Publisher) add(t *task.Task, detailType string, detail any) {
	if e, ok := p.entry(t, detailType, detail); ok {
		p.push(e)
	}
}

// push buffers e, dropping the oldest entry when the buffer is full.
func (p *Publisher) push(e types.PutEventsRequestEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) >= p.cfg.MaxBuffer {
		p.dropped++
		p.log.Error().Str("detail_type", aws.ToString(p.buf[0].DetailType)).Int64("dropped_total", p.dropped).
			Msg("lifecycle buffer full; oldest event dropped")
		p.buf = p.buf[1:]
	}
	p.buf = append(p.buf, e)
}

// PublishFinished publishes, now, the events of tasks whose outcome was
// just recorded (as TaskFinished would buffer them; deadLettered[i] is
// tasks[i]'s), in PutEvents batches of at most 10 entries, resending
// rejected entries for up to Rounds rounds within FlushTimeout (or ctx's
// deadline, if sooner). It returns the IDs of the tasks some of whose events
// were not sent, with the last error: the caller keeps what lets it publish
// them again (the worker, the task's message). Nothing is buffered. A nil
// Publisher publishes nothing.
func (p *Publisher) PublishFinished(ctx context.Context, tasks []*task.Task, deadLettered []bool) ([]task.ID, error) {
	if p == nil {
		return nil, nil
	}
	var pending []types.PutEventsRequestEntry
	var owner []task.ID // owner[i] is the task of pending[i]
	for i, t := range tasks {
		for _, e := range p.finishedEntries(t, i < len(deadLettered) && deadLettered[i]) {
			pending = append(pending, e)
			owner = append(owner, t.ID)
		}
	}
	if len(pending) == 0 {
		return nil, nil
	}
	p.mu.Lock()
	down := p.downUntil
	p.mu.Unlock()
	if time.Now().Before(down) {
		return uniqueIDs(owner), fmt.Errorf("lifecycle: events of %d tasks not sent: the bus failed within the last %s", len(uniqueIDs(owner)), p.cfg.BusBackoff)
	}
	ctx, cancel := p.bounded(ctx)
	defer cancel()
	// Entries are identified by their place in the first list.
	idx := make([]int, len(pending))
	for i := range idx {
		idx[i] = i
	}
	var lastErr error
	for round := 0; round < p.cfg.Rounds && len(idx) > 0 && ctx.Err() == nil; round++ {
		if round > 0 {
			wait(ctx, time.Duration(50<<round)*time.Millisecond)
		}
		var retry []int
		for start := 0; start < len(idx); start += maxBatch {
			part := idx[start:min(start+maxBatch, len(idx))]
			batch := make([]types.PutEventsRequestEntry, len(part))
			for j, k := range part {
				batch[j] = pending[k]
			}
			failed, err := p.putIndexed(ctx, batch)
			if err != nil {
				lastErr = err
			}
			if len(failed) == len(batch) && err != nil && !rejected(err) {
				// The bus did not answer: stop calling for a while.
				p.mu.Lock()
				p.downUntil = time.Now().Add(p.cfg.BusBackoff)
				p.mu.Unlock()
			}
			for _, j := range failed {
				retry = append(retry, part[j])
			}
		}
		idx = retry
	}
	if len(idx) == 0 {
		return nil, nil
	}
	left := make([]task.ID, len(idx))
	for i, k := range idx {
		left[i] = owner[k]
	}
	unsent := uniqueIDs(left)
	if lastErr == nil {
		lastErr = ctx.Err()
	}
	return unsent, fmt.Errorf("lifecycle: events of %d tasks not sent: %w", len(unsent), lastErr)
}

// uniqueIDs is ids without repeats, in their first order.
func uniqueIDs(ids []task.ID) []task.ID {
	seen := make(map[task.ID]bool, len(ids))
	var out []task.ID
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// errRejected marks entries EventBridge answered but rejected: the bus is
// up.
type errRejected struct{ error }

func rejected(err error) bool {
	var r errRejected
	return errors.As(err, &r)
}

// finishedEntries are the entries TaskFinished would buffer for t.
func (p *Publisher) finishedEntries(t *task.Task, deadLettered bool) []types.PutEventsRequestEntry {
	var out []types.PutEventsRequestEntry
	add := func(detailType string, detail any) {
		if e, ok := p.entry(t, detailType, detail); ok {
			out = append(out, e)
		}
	}
	d := Detail(t)
	o := outcome(t)
	if f, ok := Fired(t); ok {
		add(events.DetailScheduleFired, f)
	}
	switch t.State {
	case task.Succeeded:
		add(events.DetailTaskSucceeded, events.TaskSucceeded{TaskDetail: d, Outcome: o})
	case task.Failed:
		add(events.DetailTaskFailed, events.TaskFailed{TaskDetail: d, Outcome: o})
		if deadLettered {
			add(events.DetailTaskDeadLettered, events.TaskDeadLettered{TaskDetail: d, Outcome: o})
		}
	}
	return out
}

// bounded is ctx for one publish: not cancelled with its caller (a client
// gone after its response), but bounded by FlushTimeout and by the caller's
// deadline (a Lambda invocation's), with a margin to return before it.
func (p *Publisher) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	timeout := p.cfg.FlushTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl)-flushMargin)
	}
	return context.WithTimeout(context.WithoutCancel(ctx), max(timeout, 0))
}

// putIndexed sends one batch and returns the positions of the entries to
// resend: all of them when the call failed.
func (p *Publisher) putIndexed(ctx context.Context, batch []types.PutEventsRequestEntry) ([]int, error) {
	out, err := p.c.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: batch})
	if err != nil {
		all := make([]int, len(batch))
		for i := range all {
			all[i] = i
		}
		return all, fmt.Errorf("put %d lifecycle events on %s: %w", len(batch), p.cfg.Bus, err)
	}
	if out.FailedEntryCount == 0 {
		return nil, nil
	}
	var failed []int
	var lastErr error
	for i, r := range out.Entries {
		if i < len(batch) && r.ErrorCode != nil {
			failed = append(failed, i)
			lastErr = errRejected{fmt.Errorf("lifecycle event %s rejected: %s: %s", aws.ToString(batch[i].DetailType), aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))}
		}
	}
	return failed, lastErr
}

// Pending returns how many events wait to be sent.
func (p *Publisher) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.buf)
}

// Flush sends the buffered events in batches of at most 10, retrying
// rejected entries for up to Rounds rounds, within FlushTimeout (or ctx's
// deadline, if sooner). Events still unsent stay buffered for the next
// Flush; the error says how many. A nil Publisher flushes nothing.
func (p *Publisher) Flush(ctx context.Context) error {
	if p == nil {
		return nil
	}
	// Concurrent flushes (one per worker batch) each take what is buffered
	// when they start, so they send disjoint events and never wait for
	// each other.
	// A cancelled caller (a client gone after its response) does not stop
	// the flush, but a deadline (a Lambda invocation's) bounds it, with a
	// margin to return before it.
	ctx, cancel := p.bounded(ctx)
	defer cancel()

	p.mu.Lock()
	pending := p.buf
	p.buf = nil
	p.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	var lastErr error
	for round := 0; round < p.cfg.Rounds && len(pending) > 0 && ctx.Err() == nil; round++ {
		if round > 0 {
			wait(ctx, time.Duration(50<<round)*time.Millisecond)
		}
		var retry []types.PutEventsRequestEntry
		for start := 0; start < len(pending); start += maxBatch {
			batch := pending[start:min(start+maxBatch, len(pending))]
			failed, err := p.put(ctx, batch)
			if err != nil {
				lastErr = err
			}
			retry = append(retry, failed...)
		}
		pending = retry
	}
	if len(pending) == 0 {
		return nil
	}
	p.mu.Lock()
	// Unsent events go back in front of any added meanwhile, within bounds.
	p.buf = append(pending, p.buf...)
	if over := len(p.buf) - p.cfg.MaxBuffer; over > 0 {
		p.dropped += int64(over)
		p.buf = p.buf[over:]
		p.log.Error().Int("dropped", over).Msg("lifecycle buffer full; oldest events dropped")
	}
	p.mu.Unlock()
	if lastErr == nil {
		lastErr = ctx.Err()
	}
	return fmt.Errorf("lifecycle: %d events not sent yet: %w", len(pending), lastErr)
}

// put sends one batch and returns the entries to retry.
func (p *Publisher) put(ctx context.Context, batch []types.PutEventsRequestEntry) ([]types.PutEventsRequestEntry, error) {
	out, err := p.c.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: batch})
	if err != nil {
		return batch, fmt.Errorf("put %d lifecycle events on %s: %w", len(batch), p.cfg.Bus, err)
	}
	if out.FailedEntryCount == 0 {
		return nil, nil
	}
	var failed []types.PutEventsRequestEntry
	var lastErr error
	for i, r := range out.Entries {
		if i < len(batch) && r.ErrorCode != nil {
			failed = append(failed, batch[i])
			lastErr = fmt.Errorf("lifecycle event %s rejected: %s: %s", aws.ToString(batch[i].DetailType), aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
		}
	}
	return failed, lastErr
}

func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
