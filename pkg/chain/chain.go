package chain

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

// Store is what schedules need of storage: schedule items, their
// occurrence records, and the task operations the chain uses.
type Store interface {
	// CreateSchedule writes a new schedule and, when first is not nil, its
	// first occurrence (task and record) in one transaction.
	// task.ErrConflict: the ID exists.
	CreateSchedule(ctx context.Context, s *schedule.Schedule, first *task.Task) error
	// GetSchedule reads a tenant's schedule (strongly consistent);
	// task.ErrNotFound when it does not exist.
	GetSchedule(ctx context.Context, tenant, id string) (*schedule.Schedule, error)
	// UpdateSchedule replaces a schedule if its stored version is still
	// prevVersion, with first (if not nil) in the same transaction.
	// task.ErrConflict: the version moved; task.ErrNotFound: gone.
	UpdateSchedule(ctx context.Context, s *schedule.Schedule, prevVersion int64, first *task.Task) error
	// DeleteScheduleIf removes a schedule only while it is in generation
	// gen; task.ErrConflict if it moved on, task.ErrNotFound if it is gone.
	DeleteScheduleIf(ctx context.Context, tenant, id string, gen int64) error
	// ListSchedules returns one page of a tenant's schedules in ID order
	// after the cursor after ("" first); the returned cursor is "" on the
	// last page.
	ListSchedules(ctx context.Context, tenant, after string, limit int32) ([]*schedule.Schedule, string, error)
	// PutOccurrence stores an occurrence's task and its record. A task that
	// exists already is not an error (a duplicate chain collides on the
	// derived ID): created reports whether this call wrote it.
	PutOccurrence(ctx context.Context, t *task.Task) (created bool, err error)
	// Occurrences returns a schedule's latest occurrence records, newest
	// first.
	Occurrences(ctx context.Context, tenant, id string, limit int32) ([]schedule.OccurrenceRecord, error)
	// Get reads a task; task.ErrNotFound when it does not exist.
	Get(ctx context.Context, id task.ID) (*task.Task, error)
	// GetMany reads up to 100 tasks by ID; missing ones are absent.
	GetMany(ctx context.Context, ids []task.ID) (map[task.ID]*task.Task, error)
	GetCursor(ctx context.Context) (task.Cursor, error)
	EnsureCursor(ctx context.Context, shards int, now time.Time) error
	// Withdraw cancels a task that has not run, without the API's cancel
	// cut-off (the gate holds the task's delivery; see ddbstore.Withdraw).
	Withdraw(ctx context.Context, id task.ID, tenant string, now time.Time) (*task.Task, error)
}

// Sender sends one message to a queue.
type Sender interface {
	Send(ctx context.Context, url string, m task.OutMessage) error
}

// Config configures the chain and the HTTP handler.
type Config struct {
	Layout    task.Layout
	Shards    int           // shards of the task IDs occurrences get
	TaskQueue string        // URL: occurrences due in an announced bucket are sent here
	EarlyBy   time.Duration // as dispatch.Config.EarlyBy
	Limits    task.Limits
	Validate  task.TenantTargetValidator
	// MisfireGrace: under the skip policy, an occurrence that would start
	// more than this late is cancelled. Default 1 minute.
	MisfireGrace time.Duration
	// MaxAhead bounds how many occurrences one chain step creates and sends
	// itself when they fall in buckets already announced (a rate() shorter
	// than the look-ahead, or run_all catching up). The last one is left
	// for the sweep, whose dispatch continues the chain. Default 1000.
	MaxAhead int
}

// Chain continues schedules: it is the dispatcher's dispatch.Chain (each
// dispatched occurrence stores its successor before it is sent) and the
// worker's worker.Gate (an occurrence runs only while its schedule is
// enabled and unchanged).
type Chain struct {
	cfg   Config
	store Store
	q     Sender
	clock clock.Clock
	log   zerolog.Logger
}

// New returns a Chain.
func New(cfg Config, store Store, q Sender, clk clock.Clock, log zerolog.Logger) *Chain {
	if cfg.MisfireGrace <= 0 {
		cfg.MisfireGrace = time.Minute
	}
	if cfg.MaxAhead <= 0 {
		cfg.MaxAhead = 1000
	}
	if cfg.Shards <= 0 {
		cfg.Shards = 1
	}
	return &Chain{cfg: cfg, store: store, q: q, clock: clk, log: log.With().Str("component", "schedules").Logger()}
}

// Next stores the occurrence that follows t, an occurrence being
// dispatched, unless its schedule is gone, paused, changed or finished.
// It is idempotent: called again for t (a duplicate dispatch, or the
// redelivery after a crash) it creates nothing new, because the next task's
// ID is derived from the schedule, generation and fire time.
func (c *Chain) Next(ctx context.Context, t *task.Task) error {
	o := t.Occurrence
	if o == nil {
		return nil
	}
	s, err := c.store.GetSchedule(ctx, t.Tenant, o.Schedule)
	if errors.Is(err, task.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("chain schedule %s: %w", o.Schedule, err)
	}
	if s.State != schedule.Enabled || s.Generation != o.Generation {
		return nil
	}
	now := c.clock.Now()
	next, ok := s.After(o.At, now)
	if !ok || !c.withinHorizon(s, next, now) {
		return nil
	}
	return c.advance(ctx, s, next, nil, now)
}

// advance stores occurrence occ (unless stored is it, already written)
// and, while the stored occurrence falls in a bucket the scanner has
// already announced — so no dispatcher query will see it — stores its
// successor and then sends it itself. An occurrence is never sent before
// its successor is stored: a crash in between leaves it SCHEDULED, and
// the sweep's dispatch chains it.
func (c *Chain) advance(ctx context.Context, s *schedule.Schedule, occ schedule.Occ, stored *task.Task, now time.Time) error {
	var send []*task.Task
	defer func() {
		// Whatever happened later, the occurrences whose successor is stored
		// may go (a failed send leaves them to the sweep).
		for _, t := range send {
			if err := c.q.Send(ctx, c.cfg.TaskQueue, task.OutMessage{Body: task.NewTaskMessage(t, task.OriginChain).Encode(), Delay: t.DueAt.Sub(c.clock.Now()) - c.cfg.EarlyBy, Group: t.Tenant}); err != nil {
				c.log.Error().Err(err).Str("task_id", t.ID.String()).Msg("occurrence send failed; the sweep will dispatch it late")
			}
		}
	}()
	var prev *task.Task // stored, in an announced bucket, waiting for its successor
	var cur task.Cursor
	for i := 0; ; i++ {
		t := stored
		if i > 0 || t == nil {
			var err error
			if t, err = s.Task(occ, c.cfg.Shards, now); err != nil {
				return fmt.Errorf("chain schedule %s: %w", s.ID, err)
			}
			created, err := c.store.PutOccurrence(ctx, t)
			if err != nil {
				return fmt.Errorf("chain schedule %s: %w", s.ID, err)
			}
			if prev != nil {
				send = append(send, prev) // its successor, t, is stored now
			}
			if !created {
				// Another chain call stored t first: it sends t once t's
				// successor is stored, or leaves t to the sweep if it
				// crashed. Walking on would only repeat its writes.
				return nil
			}
		}
		// Read the cursor after the write (as the API's fast path does): a
		// bucket announced later is queried after this write and sees it.
		// The cursor only grows, so one read showing t's bucket announced
		// covers every earlier bucket too.
		if b := c.cfg.Layout.BucketOf(t.ID.Due()); !cur.Exists || b > cur.Dispatching {
			var err error
			if cur, err = c.store.GetCursor(ctx); err != nil {
				return fmt.Errorf("chain schedule %s: %w", s.ID, err)
			}
			cur.Exists = true
			if b > cur.Dispatching {
				return nil // a dispatcher's query will see t
			}
		}
		if i >= c.cfg.MaxAhead {
			return nil // left for the sweep, whose dispatch chains it
		}
		next, ok := s.After(t.Occurrence.At, now)
		if !ok || !c.withinHorizon(s, next, now) {
			send = append(send, t) // the last occurrence: nothing to chain
			return nil
		}
		prev, occ = t, next
	}
}

// withinHorizon reports whether occurrence occ of s may become a task now:
// no occurrence is made due further ahead than a task may be
// (task.Limits.BeyondHorizon). Creation refuses a schedule whose first
// occurrence is beyond it; a later fire time beyond it (a cron with a
// sparse year list) ends the chain, as the last fire time does, and says so
// in the log.
func (c *Chain) withinHorizon(s *schedule.Schedule, occ schedule.Occ, now time.Time) bool {
	if !c.cfg.Limits.BeyondHorizon(now, occ.Due) {
		return true
	}
	c.log.Warn().Str("tenant", s.Tenant).Str("schedule", s.ID).Time("next", occ.Due).
		Msg("next occurrence is beyond the task horizon; the schedule makes no more occurrences")
	return false
}

// Admit is the worker's check before it claims an occurrence: the
// schedule must exist, be ENABLED and still be in the generation the
// occurrence was made in, the occurrence must not be older than the
// schedule's maximum event age (for a first attempt or a retry alike), and
// under the skip policy it must not be later than the grace period. An occurrence that fails the check is
// cancelled and Admit returns false. Tasks of no schedule are admitted
// without a read.
func (c *Chain) Admit(ctx context.Context, t *task.Task, now time.Time) (bool, error) {
	o := t.Occurrence
	if o == nil {
		return true, nil
	}
	s, err := c.store.GetSchedule(ctx, t.Tenant, o.Schedule)
	reason := ""
	switch {
	case errors.Is(err, task.ErrNotFound):
		reason = "schedule deleted"
	case err != nil:
		return false, fmt.Errorf("admit occurrence of %s: %w", o.Schedule, err)
	case s.State != schedule.Enabled:
		reason = "schedule disabled"
	case s.Generation != o.Generation:
		reason = "schedule changed"
	case s.MaxEventAge > 0 && now.Sub(t.DueAt) > s.MaxEventAge:
		// The target's RetryPolicy.MaximumEventAgeInSeconds: past that age
		// of its due time an occurrence neither starts nor retries, whatever
		// the misfire policy.
		reason = "older than the maximum event age"
	case s.Misfire == schedule.RunAll || t.AttemptN > 0 || now.Sub(t.DueAt) <= c.cfg.MisfireGrace:
		return true, nil // on time (or a retry, or run_all): run it
	case s.Misfire == schedule.Skip:
		reason = "misfire skipped"
	default: // run_once: only the latest of the missed occurrences runs
		later, err := c.superseded(ctx, s, o, now)
		if err != nil {
			return false, err
		}
		if !later {
			return true, nil
		}
		reason = "misfire collapsed into a later occurrence"
	}
	cur, err := c.store.Withdraw(ctx, t.ID, t.Tenant, now)
	switch {
	case errors.Is(err, task.ErrConflict) && cur != nil && !cur.State.Terminal():
		// Running elsewhere: the worker's claim settles it.
		return true, nil
	case errors.Is(err, task.ErrConflict), errors.Is(err, task.ErrNotFound):
		return false, nil // finished or gone: nothing to run
	case err != nil:
		return false, fmt.Errorf("cancel occurrence %s of %s: %w", t.ID, o.Schedule, err)
	}
	c.log.Info().Str("task_id", t.ID.String()).Str("schedule", o.Schedule).Str("reason", reason).Msg("occurrence cancelled")
	return false, nil
}

// superseded reports whether a late occurrence o has a stored successor
// that is due by now too — then that one (or its own successor) is the
// single catch-up run of run_once, and o is not. Missed occurrences pile
// up this way when the workers were down but the dispatcher went on
// chaining; when the dispatcher was down too, the chain itself skipped
// ahead, and o has no stored successor among the missed times.
func (c *Chain) superseded(ctx context.Context, s *schedule.Schedule, o *task.Occurrence, now time.Time) (bool, error) {
	next, ok := s.After(o.At, o.At) // the successor as an on-time chain stores it
	if !ok || next.Due.After(now) {
		return false, nil
	}
	nt, err := s.Task(next, c.cfg.Shards, now)
	if err != nil {
		return false, err
	}
	switch _, err := c.store.Get(ctx, nt.ID); {
	case errors.Is(err, task.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("admit occurrence of %s: %w", s.ID, err)
	}
	return true, nil
}

// Completed deletes the schedule of occurrence t, whose final outcome was
// just recorded, when its ActionAfterCompletion is DELETE and t was its
// last occurrence (same generation, no fire time after t's). The task
// itself stays, readable as any other. A failure is logged: the next
// redelivery of the finished task's message, if any, tries again; else the
// schedule stays, fires no more and can be deleted by hand.
func (c *Chain) Completed(ctx context.Context, t *task.Task) {
	o := t.Occurrence
	if o == nil {
		return
	}
	s, err := c.store.GetSchedule(ctx, t.Tenant, o.Schedule)
	if errors.Is(err, task.ErrNotFound) {
		return
	}
	if err != nil {
		c.log.Error().Err(err).Str("schedule", o.Schedule).Msg("after completion: read schedule failed")
		return
	}
	if s.AfterCompletion != schedule.AfterDelete || !s.Completed(o.Generation, o.At) {
		return
	}
	// Conditional on the generation read: an update landing between the
	// read and the delete starts a new generation, which is not finished.
	switch err := c.store.DeleteScheduleIf(ctx, s.Tenant, s.ID, o.Generation); {
	case errors.Is(err, task.ErrConflict):
		c.log.Info().Str("schedule", s.ID).Msg("after completion: the schedule changed meanwhile; kept")
		return
	case errors.Is(err, task.ErrNotFound):
		return
	case err != nil:
		c.log.Error().Err(err).Str("schedule", s.ID).Msg("after completion: delete schedule failed")
		return
	}
	c.log.Info().Str("tenant", s.Tenant).Str("schedule", s.ID).Str("task_id", t.ID.String()).Msg("schedule completed and deleted (ActionAfterCompletion DELETE)")
}

// The chain is the dispatcher's and the worker's schedule hook.
var (
	_ dispatch.Chain   = (*Chain)(nil)
	_ worker.Gate      = (*Chain)(nil)
	_ worker.Completer = (*Chain)(nil)
)

// First builds the first occurrence task of s, just created, changed or
// resumed at now (nil when s is disabled, fires no more, or its next fire
// time is beyond the horizon). It serves app.Schedules.
func (c *Chain) First(s *schedule.Schedule, now time.Time, resumed bool) (*task.Task, schedule.Occ, error) {
	if s.State != schedule.Enabled {
		return nil, schedule.Occ{}, nil
	}
	occ, ok := s.First(now, resumed)
	if !ok || !c.withinHorizon(s, occ, now) {
		return nil, schedule.Occ{}, nil
	}
	t, err := s.Task(occ, c.cfg.Shards, now)
	return t, occ, err
}

// Kick continues from a first occurrence just stored with its schedule:
// if its bucket is already announced it is sent now (after its successor
// is stored). A failure leaves it to the sweep.
func (c *Chain) Kick(ctx context.Context, s *schedule.Schedule, occ schedule.Occ, first *task.Task, now time.Time) {
	if first == nil {
		return
	}
	if err := c.advance(ctx, s, occ, first, now); err != nil {
		c.log.Error().Err(err).Str("schedule", s.ID).Msg("first occurrence stored; the sweep will dispatch it late")
	}
}
