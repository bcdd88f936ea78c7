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
	"unicode/utf8"

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

// Queue sends one message.
type Queue interface {
	Send(ctx context.Context, url string, m task.OutMessage) error
}

// Config configures the API.
type Config struct {
	Layout    task.Layout
	Shards    int
	Lookahead time.Duration
	TaskQueue string        // URL: the fast path sends here
	EarlyBy   time.Duration // as dispatch.Config.EarlyBy
	Limits    task.Limits
	Validate  task.TargetValidator
	// Ready, when set, gates /healthz (the local host reports readiness).
	Ready func() bool
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

	cursorMu  sync.Mutex
	cursorAt  time.Time
	cursorVal int64

	limiter  *limiter
	tokenKey []byte
}

// New returns the API server.
func New(cfg Config, store Store, q Queue, auth Authenticator, clk clock.Clock, log zerolog.Logger) *Server {
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
	// ServeMux would answer a path with "..", "//" or "." segments with a
	// redirect to its clean form: refuse it instead, so that no spelling of
	// a path reaches a route it does not name.
	if p := r.URL.Path; p == "" || p[0] != '/' || (p != "/" && path.Clean(p) != p) {
		problem.NotFound("route " + r.Method + " " + r.URL.Path).Write(w)
		return
	}
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), loggerKey, log)))
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
		ctx := context.WithValue(r.Context(), tenantKey, tenant)
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
	if len(token) > maxClientToken || hasControl(token) || !utf8.ValidString(token) {
		fieldErrs = append(fieldErrs, problem.FieldError{Field: "header:Idempotency-Key", Reason: "must be at most 255 printable UTF-8 characters"})
	}
	req, errs := task.DecodeCreate(body, "", now, s.cfg.Limits, s.cfg.Validate)
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
	log := logger(r)
	id, err := task.NewID(req.DueAt, s.cfg.Shards)
	if err != nil {
		return TaskView{}, false, problem.Invalid(problem.FieldError{Field: "due_at", Reason: err.Error()})
	}
	if err := s.ensureCursor(r.Context(), now); err != nil {
		return TaskView{}, false, storeProblem(r, err, "")
	}
	t := &task.Task{
		ID: id, Tenant: tenantOf(r), DueAt: req.DueAt, Target: req.Target, Payload: req.Payload, Retry: req.Retry,
		IdempotencyKey: req.IdempotencyKey, Labels: req.Labels, State: task.Scheduled, Version: 1,
		PayloadHash: task.PayloadHash(req.Target, req.Payload), CreatedAt: now, UpdatedAt: now,
	}
	saved, created, err := s.store.Create(r.Context(), t, token, reqHash)
	if err != nil {
		return TaskView{}, false, storeProblem(r, err, "")
	}
	log = log.With().Str("task_id", saved.ID.String()).Logger()
	if !created {
		log.Info().Msg("create replayed by Idempotency-Key")
		return s.view(r.Context(), saved), false, nil
	}
	if s.cfg.Crash != nil {
		if err := s.cfg.Crash("after-create-write"); err != nil {
			return TaskView{}, false, problem.Internal()
		}
	}
	if err := s.fastPath(r.Context(), saved, now); err != nil {
		// The task is stored: the scanner's sweep of its bucket will send
		// it (late). Tell the caller it is accepted, and log loudly.
		log.Error().Err(err).Msg("fast-path send failed; the sweep will dispatch the task late")
	}
	log.Info().Time("due_at", saved.DueAt).Msg("task created")
	return s.view(r.Context(), saved), true, nil
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

// fastPath sends a task whose bucket the scanner has already announced.
// The cursor is read AFTER the task was written: if the announcement came
// later, the dispatcher's query (which follows the announcement) sees the
// task; if earlier, we see it here and send. Either way it is sent (perhaps
// twice, which the worker absorbs). Tasks due well beyond the look-ahead
// window skip the read: the scanner cannot have reached them.
func (s *Server) fastPath(ctx context.Context, t *task.Task, now time.Time) error {
	horizon := now.Add(s.cfg.Lookahead + s.cfg.Layout.Bucket + 5*time.Minute)
	if t.DueAt.After(horizon) {
		return nil
	}
	cur, err := s.store.GetCursor(ctx)
	if err != nil {
		return err
	}
	if s.cfg.Layout.BucketOf(t.ID.Due()) > cur.Dispatching {
		return nil
	}
	body, _ := json.Marshal(task.TaskMessage{ID: t.ID.String(), PH: t.PayloadHash})
	return s.q.Send(ctx, s.cfg.TaskQueue, task.OutMessage{Body: string(body), Delay: t.DueAt.Sub(s.clock.Now()) - s.cfg.EarlyBy})
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// view renders a task, showing a SCHEDULED task whose bucket the scanner
// has announced as DISPATCHED (the state is derived, never stored).
func (s *Server) view(ctx context.Context, t *task.Task) TaskView {
	v := View(t)
	if t.State != task.Scheduled {
		return v
	}
	if through, ok := s.dispatchedThrough(ctx); ok && s.cfg.Layout.BucketOf(t.ID.Due()) <= through {
		v.State = task.Dispatched
	}
	return v
}

// dispatchedThrough returns the announced-bucket cursor, cached for a
// second so that reads of many tasks cost one cursor read.
func (s *Server) dispatchedThrough(ctx context.Context) (int64, bool) {
	s.cursorMu.Lock()
	defer s.cursorMu.Unlock()
	now := s.clock.Now()
	if now.Sub(s.cursorAt) < time.Second && !s.cursorAt.IsZero() {
		return s.cursorVal, true
	}
	cur, err := s.store.GetCursor(ctx)
	if err != nil {
		return 0, false
	}
	s.cursorVal, s.cursorAt = cur.Dispatching, now
	return cur.Dispatching, true
}
