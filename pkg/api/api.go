// Package api is Hourglass's HTTP API as one http.Handler: served directly by
// the local host, and in Lambda through API Gateway's HTTP API adapter.
// Errors are RFC 9457 problem documents naming each bad field.
//
// Routes: POST /v1/tasks, POST /v1/tasks:batch, GET /v1/tasks,
// GET|PATCH|DELETE /v1/tasks/{id}, GET /v1/openapi.json, GET /healthz. The
// OpenAPI 3.1 document (openapi.json, embedded) is the contract; the tests
// validate every response against it.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Store is what the API needs of the task store.
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

// Config configures the API.
type Config struct {
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
	// quoted in the 409 a late cancel gets.
	CancelCutoff time.Duration
	Limits       task.Limits
	Validate     task.TenantTargetValidator
	// Ready, when set, gates /healthz (the local host reports readiness).
	Ready func() bool
	// RequestTimeout bounds each authenticated request (default 10s, under
	// API Gateway's 29 s integration timeout): a store that does not
	// answer in time makes a 503 with Retry-After (storeProblem), never a
	// hung request or a gateway's 504. The outage run found creates hanging
	// past 30 s on an overloaded store.
	RequestTimeout time.Duration
	// Crash, when set, is called at named points ("after-create-write")
	// so tests can stop a create exactly there. Nil in production.
	Crash func(point string) error
	// Events, when set, publishes TaskCancelled after each successful
	// cancel or reschedule (flushed after the response is written). Nil:
	// no events.
	Events Events

	// CreateRate and CreateBurst size each tenant's create token bucket on
	// this instance (tasks per second, and burst). Zero takes the defaults
	// (DefaultCreateRate, twice that as burst); a negative rate turns the
	// limit off. In AWS, API Gateway's stage throttling is the global limit;
	// this one keeps a single tenant from starving the others on an instance.
	CreateRate  float64
	CreateBurst int
	// PageTokenKey authenticates list page tokens (HMAC-SHA256). Every
	// instance must share it; empty means a random key per process.
	PageTokenKey []byte
	// ListIndex says that the store writes the by_tenant index that
	// GET /v1/tasks reads (ddbstore.Options.ListIndex, HOURGLASS_LIST_INDEX).
	// False: listing answers 501, saying how to turn the index on.
	ListIndex bool
}

// DefaultCreateRate is the per-tenant, per-instance create rate when
// Config.CreateRate is zero.
const DefaultCreateRate = 500

// Server serves the API.
type Server struct {
	cfg   Config
	store Store
	q     Queue
	auth  Authenticator
	clock clock.Clock
	log   zerolog.Logger
	mux   *http.ServeMux

	cursorOnce sync.Mutex
	cursorOK   bool

	// cursor caches reads of the scanner cursor (fast path and views).
	cursor cursorCache

	limiter  *limiter
	tokenKey []byte
}

// New returns the API server.
func New(cfg Config, store Store, q Queue, auth Authenticator, clk clock.Clock, log zerolog.Logger) *Server {
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	s := &Server{cfg: cfg, store: store, q: q, auth: auth, clock: clk, log: log.With().Str("component", "api").Logger(), mux: http.NewServeMux()}
	s.limiter = newLimiter(cfg.CreateRate, cfg.CreateBurst)
	s.tokenKey = cfg.PageTokenKey
	if len(s.tokenKey) == 0 {
		s.tokenKey = make([]byte, 32)
		_, _ = rand.Read(s.tokenKey)
	}
	s.mux.HandleFunc("GET /healthz", s.health)
	s.mux.HandleFunc("GET /v1/openapi.json", serveOpenAPI)
	s.mux.HandleFunc("POST /v1/tasks", s.authed(s.createTask))
	// A literal ":batch" suffix: ServeMux matches it exactly, and it cannot
	// collide with /v1/tasks/{id} (no slash).
	s.mux.HandleFunc("POST /v1/tasks:batch", s.authed(s.createBatch))
	s.mux.HandleFunc("GET /v1/tasks", s.authed(s.listTasks))
	s.mux.HandleFunc("GET /v1/tasks/{id}", s.authed(s.getTask))
	s.mux.HandleFunc("PATCH /v1/tasks/{id}", s.authed(s.patchTask))
	s.mux.HandleFunc("DELETE /v1/tasks/{id}", s.authed(s.cancelTask))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.NotFound("route " + r.Method + " " + r.URL.Path).Write(w)
	})
	return s
}

type ctxKey int

const (
	tenantKey ctxKey = iota
	loggerKey
)

// ServeHTTP adds a request ID and a request-scoped logger, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := r.Header.Get("X-Request-Id")
	if reqID == "" || len(reqID) > 128 {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		reqID = hex.EncodeToString(b)
	}
	w.Header().Set("X-Request-Id", reqID)
	log := s.log.With().Str("request_id", reqID).Logger()
	if uncleanPath(r.URL.Path) {
		problem.NotFound("route " + r.Method + " " + r.URL.Path).Write(w)
		return
	}
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), loggerKey, log)))
}

// CleanPaths answers a request whose path is not in its clean form (with
// "//", "." or ".." segments, or not starting with "/") with a 404 problem
// before h sees it. Every ServeMux in front of a route needs it: a mux
// answers such a path with a redirect (text/html) to its clean form, so
// one route could be reached by many spellings, and the answer would not
// be a problem document.
func CleanPaths(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if uncleanPath(r.URL.Path) {
			problem.NotFound("route " + r.Method + " " + r.URL.Path).Write(w)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func uncleanPath(p string) bool {
	return p == "" || p[0] != '/' || (p != "/" && path.Clean(p) != p)
}

func logger(r *http.Request) zerolog.Logger {
	if l, ok := r.Context().Value(loggerKey).(zerolog.Logger); ok {
		return l
	}
	return zerolog.Nop()
}

func tenantOf(r *http.Request) string { s, _ := r.Context().Value(tenantKey).(string); return s }

func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tenant, err := s.auth.Tenant(r)
		if err != nil {
			problem.Unauthorized(err.Error()).Write(w)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		ctx = context.WithValue(ctx, tenantKey, tenant)
		ctx = context.WithValue(ctx, loggerKey, logger(r).With().Str("tenant", tenant).Logger())
		h(w, r.WithContext(ctx))
	}
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil && !s.cfg.Ready() {
		problem.Unavailable("starting", time.Second).Write(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// storeProblem maps a store error to a response, logging what is not the
// client's fault.
func storeProblem(r *http.Request, err error, what string) *problem.Problem {
	switch {
	case errors.Is(err, task.ErrNotFound):
		return problem.NotFound(what)
	case errors.Is(err, task.ErrIdempotencyMismatch):
		return problem.Unprocessable("Idempotency-Key was already used with a different request body")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return problem.Unavailable("request timed out", time.Second)
	}
	l := logger(r)
	l.Error().Err(err).Msg("store call failed")
	return problem.Unavailable("storage is unavailable; retry the request (with the same Idempotency-Key)", 2*time.Second)
}

func (s *Server) parseID(w http.ResponseWriter, r *http.Request) (task.ID, bool) {
	id, err := task.ParseID(r.PathValue("id"))
	if err != nil {
		// An ID that cannot exist is reported like one that does not.
		problem.NotFound("task " + r.PathValue("id")).Write(w)
		return id, false
	}
	return id, true
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request) {
	id, ok := s.parseID(w, r)
	if !ok {
		return
	}
	t, err := s.store.Get(r.Context(), id)
	if err == nil && t.Tenant != tenantOf(r) {
		err = task.ErrNotFound // never reveal another tenant's task
	}
	if err != nil {
		storeProblem(r, err, "task "+id.String()).Write(w)
		return
	}
	writeJSON(w, http.StatusOK, s.view(r.Context(), t))
}

func (s *Server) cancelTask(w http.ResponseWriter, r *http.Request) {
	id, ok := s.parseID(w, r)
	if !ok {
		return
	}
	// An occurrence of a schedule carries the schedule's chain: cancelling
	// it alone would stop the schedule. Pause or delete the schedule.
	if cur, gerr := s.store.Get(r.Context(), id); gerr == nil && cur.Tenant == tenantOf(r) && cur.Occurrence != nil && cur.State.Cancellable() {
		problem.Conflict("task " + id.String() + " is an occurrence of schedule " + cur.Occurrence.Schedule + "; pause or delete the schedule instead").Write(w)
		return
	}
	t, err := s.store.Cancel(r.Context(), id, tenantOf(r), s.clock.Now())
	switch {
	case errors.Is(err, task.ErrConflict) && t != nil && t.State.Cancellable():
		problem.Conflict("task " + id.String() + " runs at " + t.RunAt().UTC().Format(time.RFC3339Nano) +
			": a worker may already hold it, so it can no longer be cancelled (tasks can be cancelled until " +
			s.cfg.CancelCutoff.String() + " before they run)").Write(w)
	case errors.Is(err, task.ErrConflict) && t != nil:
		problem.Conflict("task " + id.String() + " is " + string(t.State) + " and can no longer be cancelled").Write(w)
	case err != nil:
		storeProblem(r, err, "task "+id.String()).Write(w)
	default:
		l := logger(r)
		l.Info().Str("task_id", id.String()).Msg("task cancelled")
		writeJSON(w, http.StatusOK, s.view(r.Context(), t))
		s.publishCancelled(r, t)
	}
}

const maxClientToken = 255

// readBody reads a request body of at most limit bytes, answering 413 (with
// tooLarge as the detail) or 400 itself when it cannot.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, tooLarge string) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			problem.TooLarge(tooLarge).Write(w)
			return nil, false
		}
		problem.Invalid(problem.FieldError{Field: "body", Reason: "could not be read"}).Write(w)
		return nil, false
	}
	return body, true
}

func (s *Server) createTask(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, int64(s.cfg.Limits.MaxPayloadBytes)+64<<10, "the body exceeds the payload limit plus 64 KiB")
	if !ok {
		return
	}
	now := s.clock.Now().UTC().Truncate(time.Millisecond)
	token := r.Header.Get("Idempotency-Key")
	var fieldErrs []problem.FieldError
	if len(token) > maxClientToken || !task.Printable(token) {
		fieldErrs = append(fieldErrs, problem.FieldError{Field: "header:Idempotency-Key", Reason: "must be at most 255 bytes of printable UTF-8 (no control, bidi or line-separator characters)"})
	}
	req, errs := task.DecodeCreate(body, "", now, s.cfg.Limits, s.cfg.Validate.For(tenantOf(r)))
	if fieldErrs = append(fieldErrs, errs...); len(fieldErrs) > 0 {
		problem.Invalid(fieldErrs...).Write(w)
		return
	}
	if ok, wait := s.limiter.take(tenantOf(r), 1, s.clock.Now()); !ok {
		problem.TooManyRequests("this tenant's create rate limit is exhausted; retry after the Retry-After delay", wait).Write(w)
		return
	}
	view, created, p := s.create(r, req, token, task.RequestHash(body), now)
	if p != nil {
		p.Write(w)
		return
	}
	if !created {
		writeJSON(w, http.StatusOK, view)
		return
	}
	w.Header().Set("Location", "/v1/tasks/"+view.ID)
	writeJSON(w, http.StatusCreated, view)
}

// create stores one validated task (idempotently under token) and sends it
// on the fast path when its bucket is already announced.
func (s *Server) create(r *http.Request, req task.CreateRequest, token, reqHash string, now time.Time) (TaskView, bool, *problem.Problem) {
	saved, created, plan, written, p := s.write(r, req, token, reqHash, now)
	if p != nil {
		return TaskView{}, false, p
	}
	if !created {
		return s.view(r.Context(), saved), false, nil
	}
	log := logger(r).With().Str("task_id", saved.ID.String()).Logger()
	if err := s.sendFast(r.Context(), saved, plan, written); err != nil {
		// The task is stored: the scanner's sweep of its bucket will send
		// it (late). Tell the caller it is accepted, and log loudly.
		log.Error().Err(err).Msg("fast-path send failed; the sweep will dispatch the task late")
	}
	log.Info().Time("due_at", saved.DueAt).Msg("task created")
	return s.view(r.Context(), saved), true, nil
}

// write stores one validated task (idempotently under token): the create
// up to, not including, the fast path's send, whose plan it returns with
// when the write returned (time.Now). created is false when token had
// already created the task (saved is that task).
func (s *Server) write(r *http.Request, req task.CreateRequest, token, reqHash string, now time.Time) (saved *task.Task, created bool, plan fastPlan, written time.Time, p *problem.Problem) {
	id, err := task.NewID(req.DueAt, s.cfg.Shards)
	if err != nil {
		return nil, false, plan, written, problem.Invalid(problem.FieldError{Field: "due_at", Reason: err.Error()})
	}
	if err := s.ensureCursor(r.Context(), now); err != nil {
		return nil, false, plan, written, storeProblem(r, err, "")
	}
	t := &task.Task{
		ID: id, Tenant: tenantOf(r), DueAt: req.DueAt, Target: req.Target, Payload: req.Payload, Retry: req.Retry,
		IdempotencyKey: req.IdempotencyKey, Labels: req.Labels, State: task.Scheduled, Version: 1,
		PayloadHash: task.PayloadHash(req.Target, req.Payload), CreatedAt: now, UpdatedAt: now,
	}
	plan = s.planFastPath(r.Context(), t)
	saved, created, err = s.store.Create(r.Context(), t, token, reqHash)
	written = time.Now()
	if err != nil {
		if plan.send {
			// The write may have succeeded with its answer lost, and its
			// item is marked: no dispatcher would send it, only the late
			// sweep. Send it now; if the write did not happen, the worker
			// drops a message for a task that does not exist.
			_ = s.q.Send(r.Context(), s.cfg.TaskQueue, s.fastPathMessage(t))
		}
		return nil, false, plan, written, storeProblem(r, err, "")
	}
	if !created {
		l := logger(r)
		l.Info().Str("task_id", saved.ID.String()).Msg("create replayed by Idempotency-Key")
		return saved, false, plan, written, nil
	}
	if s.cfg.Crash != nil {
		if err := s.cfg.Crash("after-create-write"); err != nil {
			return nil, false, plan, written, problem.Internal()
		}
	}
	return saved, true, plan, written, nil
}

// ensureCursor makes sure, once per process, that the scanner cursor exists
// and knows this process's shard count, before the first task is written.
func (s *Server) ensureCursor(ctx context.Context, now time.Time) error {
	s.cursorOnce.Lock()
	defer s.cursorOnce.Unlock()
	if s.cursorOK {
		return nil
	}
	if err := s.store.EnsureCursor(ctx, s.cfg.Shards, now); err != nil {
		return err
	}
	s.cursorOK = true
	return nil
}

// The fast path. A task whose bucket the scanner has already announced
// (raised the cursor's "dispatching" before sending the bucket's units) may
// be missed by the dispatcher, whose query can come before the task's
// write: the create must then send it itself. Sending it whenever the
// bucket is announced after the write (the old rule) sent it twice when
// the dispatcher's query came after the write too. So the decision is
// ordered, on this process's own monotonic clock only:
//
//  1. Before the write, a cursor read begun at t0 (from the cache if begun
//     within AnnounceWait/4). Bucket announced: the item is written marked
//     FastPath — dispatchers skip it, sweeps do not — and the create sends
//     it after the write. Never both, never neither (a crash after the
//     write leaves it to the sweep).
//  2. Not announced, and the write returned at t1 with t1 − t0 <
//     AnnounceWait: the announcement came after t0, and the scanner waits
//     AnnounceWait after it before sending units (scan.Config.AnnounceWait),
//     so the dispatcher's query follows the write and sees the task. Not
//     sent here.
//  3. Otherwise (a slow write, a failed read, AnnounceWait zero): the old
//     rule — a read begun after the write; announced, send. Both may send
//     then: the rare remaining overlap, which the worker absorbs.
//
// Tasks due beyond the horizon (pastHorizon) need none of this.

// fastPlan is a create's fast-path decision taken before its write.
type fastPlan struct {
	// send: the bucket was announced before the write; the item is marked
	// FastPath and the create sends the task.
	send bool
	// certain: the bucket cannot be announced yet; the dispatcher sends it.
	certain bool
	// read is when the cursor read that showed the bucket unannounced
	// began; zero when there was none (decide after the write).
	read time.Time
}

// planFastPath decides, before t is written, what its create will do (see
// the rules above) and marks t.FastPath accordingly.
func (s *Server) planFastPath(ctx context.Context, t *task.Task) fastPlan {
	if s.pastHorizon(t) {
		return fastPlan{certain: true}
	}
	if s.cfg.AnnounceWait <= 0 {
		// No window to rely on: only a cached value covering the bucket
		// decides before the write (no read); else the read after it.
		if s.cursor.covers(s.cfg.Layout.BucketOf(t.ID.Due())) {
			t.FastPath = true
			return fastPlan{send: true}
		}
		return fastPlan{}
	}
	ok, began, err := s.announcedAt(ctx, s.cfg.Layout.BucketOf(t.ID.Due()), readAfter(time.Now().Add(-s.cfg.AnnounceWait/4)))
	switch {
	case err != nil:
		return fastPlan{} // decided after the write, by a read then
	case ok:
		t.FastPath = true
		return fastPlan{send: true}
	}
	return fastPlan{read: began}
}

// settled reports whether plan p decides t's fast path without a read
// after its write, which returned at written, and how.
func (s *Server) settled(p fastPlan, written time.Time) (send, ok bool) {
	switch {
	case p.send:
		return true, true
	case p.certain:
		return false, true
	case !p.read.IsZero() && written.Sub(p.read) < s.cfg.AnnounceWait:
		return false, true
	}
	return false, false
}

// sendFast finishes a create's fast path: t was written (the write
// returned at written) under plan p; it is sent if p says so, or if p
// leaves it to a read begun after the write that shows its bucket
// announced.
func (s *Server) sendFast(ctx context.Context, t *task.Task, p fastPlan, written time.Time) error {
	send, ok := s.settled(p, written)
	if !ok {
		var err error
		if send, err = s.announced(ctx, s.cfg.Layout.BucketOf(t.ID.Due()), readAfter(written)); err != nil {
			return err
		}
	}
	if !send {
		return nil
	}
	return s.q.Send(ctx, s.cfg.TaskQueue, s.fastPathMessage(t))
}

// pastHorizon reports whether t's bucket cannot have been announced yet:
// the scanner announces the buckets that start by its now + look-ahead, so
// a bucket starting later than this process's now + look-ahead + skewMargin
// is not announced unless the scanner's clock runs ahead by more than
// skewMargin — and even then the task is only late (the sweep sends it),
// never lost. Such tasks need no cursor read.
func (s *Server) pastHorizon(t *task.Task) bool {
	start := time.Unix(s.cfg.Layout.BucketOf(t.ID.Due()), 0)
	return start.After(s.clock.Now().Add(s.cfg.Lookahead + skewMargin))
}

// skewMargin bounds the clock skew between the API and the scanner that
// pastHorizon allows for.
const skewMargin = 10 * time.Second

// fastPathMessage is t's task-queue message, delayed until its due time
// (less EarlyBy) from now.
func (s *Server) fastPathMessage(t *task.Task) task.OutMessage {
	return task.OutMessage{Body: task.NewTaskMessage(t, task.OriginFastPath).Encode(), Delay: t.DueAt.Sub(s.clock.Now()) - s.cfg.EarlyBy}
}

// view renders a task, showing a SCHEDULED task whose bucket the scanner
// has announced as DISPATCHED (the state is derived, never stored). The
// cursor comes from the cache: a value that covers the bucket, else a read
// at most a second old, so that showing many tasks costs one cursor read.
func (s *Server) view(ctx context.Context, t *task.Task) TaskView {
	v := View(t)
	if t.State != task.Scheduled {
		return v
	}
	if ok, err := s.announced(ctx, s.cfg.Layout.BucketOf(t.ID.Due()), s.readWithin()); err == nil && ok {
		v.State = task.Dispatched
	}
	return v
}
