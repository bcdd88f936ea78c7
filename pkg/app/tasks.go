package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Store is what the task service needs of the task store.
type Store interface {
	Create(ctx context.Context, t *task.Task, clientToken, reqHash string) (*task.Task, bool, error)
	Get(ctx context.Context, id task.ID) (*task.Task, error)
	Cancel(ctx context.Context, id task.ID, tenant string, now time.Time) (*task.Task, error)
	GetCursor(ctx context.Context) (task.Cursor, error)
	EnsureCursor(ctx context.Context, shards int, now time.Time) error
	// ListIDs reads one page of a tenant's task index, newest due first.
	ListIDs(ctx context.Context, q task.ListQuery) (entries []task.ListEntry, more bool, err error)
	// GetMany reads up to 100 tasks by ID; missing ones are absent.
	GetMany(ctx context.Context, ids []task.ID) (map[task.ID]*task.Task, error)
	// Update changes a SCHEDULED, not yet dispatched task (in place, or by
	// replacing it with next when next has another ID).
	Update(ctx context.Context, prev, next *task.Task, now time.Time) (*task.Task, error)
}

// Queue sends one message, or many (a batch create's fast path) in
// batches of 10, returning an error with Unsent() []int naming those that
// were not sent.
type Queue interface {
	Send(ctx context.Context, url string, m task.OutMessage) error
	SendBatch(ctx context.Context, url string, msgs []task.OutMessage) error
}

// Events publishes lifecycle events (see package lifecycle). TaskCancelled
// must not block; Flush sends what is buffered, bounded in time.
type Events interface {
	TaskCancelled(t *task.Task)
	Flush(ctx context.Context) error
}

// TasksConfig configures the task service.
type TasksConfig struct {
	Layout    task.Layout
	Shards    int
	Lookahead time.Duration
	TaskQueue string        // URL: the fast path sends here
	EarlyBy   time.Duration // as dispatch.Config.EarlyBy
	// AnnounceWait is the scanner's wait between announcing buckets and
	// sending their units (scan.Config.AnnounceWait), or less: a create
	// whose write returned within it of a cursor read showing its bucket
	// unannounced leaves the task to the dispatcher. Zero: every create
	// not marked for the fast path re-reads the cursor after its write.
	AnnounceWait time.Duration
	// CancelCutoff is the store's cancel cut-off (see ddbstore.Options),
	// quoted in the conflict a late cancel gets.
	CancelCutoff time.Duration
	Limits       task.Limits
	Validate     task.TenantTargetValidator
	// Crash, when set, is called at named points ("after-create-write")
	// so tests can stop a create exactly there. Nil in production.
	Crash func(point string) error
	// Events, when set, publishes TaskCancelled after each successful
	// cancel or reschedule (see Tasks.PublishCancelled). Nil: no events.
	Events Events
	// CreateRate and CreateBurst size each tenant's create token bucket on
	// this instance (tasks per second, and burst). Zero takes the defaults
	// (DefaultCreateRate, twice that as burst); a negative rate turns the
	// limit off.
	CreateRate  float64
	CreateBurst int
	// Quota, when set, holds CreateRate across every API instance: a
	// shared per-second counter (see QuotaPlan) replaces the token bucket,
	// CreateBurst is unused and a fractional rate counts as its ceiling.
	// Nil: the rate holds per instance.
	Quota CreateQuota
	// CreateWriters bounds the batch creates' store writes in flight
	// across every request of this instance (see admit.go); zero takes
	// DefaultCreateWriters.
	CreateWriters int
	// PageTokenKey authenticates list page tokens (HMAC-SHA256). Every
	// instance must share it; empty means a random key per process.
	PageTokenKey []byte
	// ListIndex says that the store writes the by_tenant index that
	// listing reads. False: List answers *NotEnabled.
	ListIndex bool
	// Metrics, when set, records TasksCreated (a count per create call of
	// the tasks it stored; found again under an idempotency key: not
	// counted): the console's overview reads it from CloudWatch.
	Metrics interface {
		Record(name string, value float64, unit string)
	}
}

// DefaultCreateRate is the per-tenant, per-instance create rate when
// TasksConfig.CreateRate is zero.
const DefaultCreateRate = 500

// Tasks is the task service.
type Tasks struct {
	cfg   TasksConfig
	store Store
	q     Queue
	clock clock.Clock
	log   zerolog.Logger

	cursorReady ensured

	// cursor caches reads of the scanner cursor (fast path and views).
	cursor cursorCache

	limiter  createLimiter
	writers  *createWriters
	tokenKey []byte
}

// NewTasks returns the task service.
func NewTasks(cfg TasksConfig, store Store, q Queue, clk clock.Clock, log zerolog.Logger) *Tasks {
	s := &Tasks{cfg: cfg, store: store, q: q, clock: clk, log: log.With().Str("component", "tasks").Logger()}
	s.limiter = localLimiter{newLimiter(cfg.CreateRate, cfg.CreateBurst)}
	s.writers = newCreateWriters(cfg.CreateWriters)
	if cfg.Quota != nil && cfg.CreateRate >= 0 {
		rate := int(math.Ceil(cfg.CreateRate))
		if rate == 0 {
			rate = DefaultCreateRate
		}
		s.limiter = newSharedLimiter(rate, cfg.Quota, s.log)
	}
	s.tokenKey = cfg.PageTokenKey
	if len(s.tokenKey) == 0 {
		s.tokenKey = make([]byte, 32)
		_, _ = rand.Read(s.tokenKey)
	}
	return s
}

// MaxIdempotencyKey is the longest idempotency key (the Idempotency-Key
// header, an event's token) a create accepts, in bytes.
const MaxIdempotencyKey = 255

// CreateTask asks for one task. Body is the create document (the body of
// POST /v1/tasks); Token, when set, makes the create idempotent: a second
// create under it returns the first one's task.
type CreateTask struct {
	Body  []byte
	Token string
	// TokenField names the token in field errors ("header:Idempotency-Key").
	TokenField string
}

// Created is a task a create stored or found.
type Created struct {
	Task *task.Task // as shown: a SCHEDULED task whose bucket is announced shows DISPATCHED
	New  bool       // false: a replay of the request's token
}

// Create validates and stores one task for tenant (idempotently under the
// request's token) and sends it on the fast path when its bucket is
// already announced.
func (s *Tasks) Create(ctx context.Context, log zerolog.Logger, tenant string, req CreateTask) (Created, error) {
	if !task.ValidTenant(tenant) {
		return Created{}, invalid("tenant", "must be 1–128 characters: letters, digits, _ . : @ / + = - (starting with a letter or digit)")
	}
	if len(req.Body) > s.MaxCreateBody() {
		return Created{}, &TooLarge{Detail: "the body exceeds the payload limit plus 64 KiB"}
	}
	now := s.clock.Now().UTC().Truncate(time.Millisecond)
	var fieldErrs []task.FieldError
	if fe := checkToken(req.Token, req.TokenField); fe != nil {
		fieldErrs = append(fieldErrs, *fe)
	}
	cr, errs := task.DecodeCreate(req.Body, "", now, s.cfg.Limits, s.cfg.Validate.For(tenant))
	if fieldErrs = append(fieldErrs, errs...); len(fieldErrs) > 0 {
		return Created{}, &Invalid{Fields: fieldErrs}
	}
	if ok, wait := s.limiter.take(ctx, tenant, 1, s.clock.Now()); !ok {
		return Created{}, &LimitExceeded{Detail: "this tenant's create rate limit is exhausted", RetryAfter: wait}
	}
	return s.create(ctx, log.With().Str("tenant", tenant).Logger(), tenant, cr, req.Token, task.RequestHash(req.Body), now)
}

// create stores one validated task (idempotently under token) and sends it
// on the fast path when its bucket is already announced.
func (s *Tasks) create(ctx context.Context, log zerolog.Logger, tenant string, cr task.CreateRequest, token, reqHash string, now time.Time) (Created, error) {
	saved, created, plan, written, err := s.write(ctx, log, tenant, cr, token, reqHash, now)
	if err != nil {
		return Created{}, err
	}
	if !created {
		return Created{Task: s.shown(ctx, saved)}, nil
	}
	tlog := log.With().Str("task_id", saved.ID.String()).Logger()
	if err := s.sendFast(ctx, saved, plan, written); err != nil {
		// The task is stored: the scanner's sweep of its bucket will send
		// it (late). Tell the caller it is accepted, and log loudly.
		tlog.Error().Err(err).Msg("fast-path send failed; the sweep will dispatch the task late")
	}
	tlog.Info().Time("due_at", saved.DueAt).Msg("task created")
	s.recordCreated(1)
	return Created{Task: s.shown(ctx, saved), New: true}, nil
}

// recordCreated records n tasks created, if metrics are on.
func (s *Tasks) recordCreated(n int) {
	if s.cfg.Metrics != nil && n > 0 {
		s.cfg.Metrics.Record("TasksCreated", float64(n), "Count")
	}
}

// MaxCreateBody is the largest create document: the payload limit plus
// 64 KiB for the rest.
func (s *Tasks) MaxCreateBody() int { return s.cfg.Limits.MaxPayloadBytes + 64<<10 }

// checkToken checks an idempotency token, naming it as field.
func checkToken(token, field string) *task.FieldError {
	if field == "" {
		field = "idempotency token"
	}
	if len(token) > MaxIdempotencyKey || !task.Printable(token) {
		return &task.FieldError{Field: field, Reason: "must be at most 255 bytes of printable UTF-8 (no control, bidi or line-separator characters)"}
	}
	return nil
}

// write stores one validated task (idempotently under token): the create
// up to, not including, the fast path's send, whose plan it returns with
// when the write returned (time.Now). created is false when token had
// already created the task (saved is that task).
func (s *Tasks) write(ctx context.Context, log zerolog.Logger, tenant string, req task.CreateRequest, token, reqHash string, now time.Time) (saved *task.Task, created bool, plan fastPlan, written time.Time, err error) {
	id, err := task.NewID(req.DueAt, s.cfg.Shards)
	if err != nil {
		return nil, false, plan, written, invalid("due_at", err.Error())
	}
	if err := s.ensureCursor(ctx, now); err != nil {
		return nil, false, plan, written, err
	}
	t := &task.Task{
		ID: id, Tenant: tenant, DueAt: req.DueAt, Target: req.Target, Payload: req.Payload, Retry: req.Retry,
		IdempotencyKey: req.IdempotencyKey, Labels: req.Labels, LimitKey: req.LimitKey, State: task.Scheduled, Version: 1,
		PayloadHash: task.PayloadHash(req.Target, req.Payload), CreatedAt: now, UpdatedAt: now,
	}
	plan = s.planFastPath(ctx, t)
	saved, created, err = s.store.Create(ctx, t, token, reqHash)
	written = time.Now()
	if err != nil {
		if plan.send {
			// The write may have succeeded with its answer lost, and its
			// item is marked: no dispatcher would send it, only the late
			// sweep. Send it now; if the write did not happen, the worker
			// drops a message for a task that does not exist.
			_ = s.q.Send(ctx, s.cfg.TaskQueue, s.fastPathMessage(t))
		}
		return nil, false, plan, written, err
	}
	if !created {
		log.Info().Str("task_id", saved.ID.String()).Msg("create replayed by Idempotency-Key")
		return saved, false, plan, written, nil
	}
	if s.cfg.Crash != nil {
		if err := s.cfg.Crash("after-create-write"); err != nil {
			return nil, false, plan, written, fmt.Errorf("%w after-create-write: %v", ErrCrashed, err)
		}
	}
	return saved, true, plan, written, nil
}

// ensureCursor makes sure, once per process, that the scanner cursor exists
// and knows this process's shard count, before the first task is written.
func (s *Tasks) ensureCursor(ctx context.Context, now time.Time) error {
	return s.cursorReady.do(func() error { return s.store.EnsureCursor(ctx, s.cfg.Shards, now) })
}

// ensured runs a step until it first succeeds, once per process.
type ensured struct {
	mu   sync.Mutex
	done bool
}

func (e *ensured) do(step func() error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		return nil
	}
	if err := step(); err != nil {
		return err
	}
	e.done = true
	return nil
}

// load reads tenant's task id, reporting another tenant's task, or an ID
// that cannot exist, as not found.
func (s *Tasks) load(ctx context.Context, tenant, id string) (*task.Task, error) {
	tid, err := task.ParseID(id)
	if err != nil {
		return nil, &NotFound{What: "task " + id}
	}
	t, err := s.store.Get(ctx, tid)
	if err == nil && t.Tenant != tenant {
		err = task.ErrNotFound // never reveal another tenant's task
	}
	if err != nil {
		return nil, notFound(err, "task "+tid.String())
	}
	return t, nil
}

// notFound turns the store's task.ErrNotFound into *NotFound naming what.
func notFound(err error, what string) error {
	if errors.Is(err, task.ErrNotFound) {
		return &NotFound{What: what}
	}
	return err
}

// Get returns tenant's task id, as shown.
func (s *Tasks) Get(ctx context.Context, tenant, id string) (*task.Task, error) {
	t, err := s.load(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	return s.shown(ctx, t), nil
}

// Cancel cancels tenant's task id. The task is returned as shown; call
// PublishCancelled with it once the caller has its answer.
func (s *Tasks) Cancel(ctx context.Context, log zerolog.Logger, tenant, id string) (*task.Task, error) {
	tid, err := task.ParseID(id)
	if err != nil {
		return nil, &NotFound{What: "task " + id}
	}
	// An occurrence of a schedule carries the schedule's chain: cancelling
	// it alone would stop the schedule. Pause or delete the schedule.
	if cur, gerr := s.store.Get(ctx, tid); gerr == nil && cur.Tenant == tenant && cur.Occurrence != nil && cur.State.Cancellable() {
		return nil, &Conflict{Detail: "task " + tid.String() + " is an occurrence of schedule " + cur.Occurrence.Schedule + "; pause or delete the schedule instead"}
	}
	t, err := s.store.Cancel(ctx, tid, tenant, s.clock.Now())
	switch {
	case errors.Is(err, task.ErrConflict) && t != nil && t.State.Cancellable():
		return nil, &Conflict{Detail: "task " + tid.String() + " runs at " + t.RunAt().UTC().Format(time.RFC3339Nano) +
			": a worker may already hold it, so it can no longer be cancelled (tasks can be cancelled until " +
			s.cfg.CancelCutoff.String() + " before they run)"}
	case errors.Is(err, task.ErrConflict) && t != nil:
		return nil, &Conflict{Detail: "task " + tid.String() + " is " + string(t.State) + " and can no longer be cancelled"}
	case err != nil:
		return nil, notFound(err, "task "+tid.String())
	}
	log.Info().Str("tenant", tenant).Str("task_id", tid.String()).Msg("task cancelled")
	return s.shown(ctx, t), nil
}

// PublishCancelled publishes TaskCancelled for t (a task just cancelled or
// replaced) and flushes. A door calls it after answering: the cancel is
// durable already, and a failed publish is only logged (the event stays
// buffered for a later flush).
func (s *Tasks) PublishCancelled(ctx context.Context, log zerolog.Logger, t *task.Task) {
	if s.cfg.Events == nil || t == nil {
		return
	}
	s.cfg.Events.TaskCancelled(t)
	if err := s.cfg.Events.Flush(ctx); err != nil {
		log.Warn().Err(err).Str("task_id", t.ID.String()).Msg("TaskCancelled event not sent yet; a later flush retries it")
	}
}

// shown returns t as a caller sees it: a SCHEDULED task whose bucket the
// scanner has announced shows DISPATCHED (the state is derived, never
// stored; t itself is not changed). The cursor comes from the cache: a
// value that covers the bucket, else a read at most a second old, so that
// showing many tasks costs one cursor read. A task past the horizon (see
// pastHorizon: its bucket cannot be announced yet) needs no read at all, so
// a create of a task due later than the look-ahead answers after its one
// write.
func (s *Tasks) shown(ctx context.Context, t *task.Task) *task.Task {
	if t.State != task.Scheduled || s.pastHorizon(t) {
		return t
	}
	if ok, err := s.announced(ctx, s.cfg.Layout.BucketOf(t.ID.Due()), s.readWithin()); err == nil && ok {
		c := *t
		c.State = task.Dispatched
		return &c
	}
	return t
}
