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
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/problem"
)

// Store is what the API's task service needs of the task store.
type Store = app.Store

// Queue is what the API's task service needs of the queue.
type Queue = app.Queue

// Config configures the API: its task service's configuration (see
// app.TasksConfig), and what only the HTTP door needs.
type Config struct {
	app.TasksConfig
	// Ready, when set, gates /healthz (the local host reports readiness).
	Ready func() bool
}

// DefaultCreateRate is the per-tenant, per-instance create rate when
// Config.CreateRate is zero.
const DefaultCreateRate = app.DefaultCreateRate

// Server serves the API.
type Server struct {
	cfg   Config
	tasks *app.Tasks
	auth  Authenticator
	log   zerolog.Logger
	mux   *http.ServeMux
}

// New returns the API server, with the task service it serves built from
// cfg over store and q.
func New(cfg Config, store Store, q Queue, auth Authenticator, clk clock.Clock, log zerolog.Logger) *Server {
	tasks := app.NewTasks(cfg.TasksConfig, store, q, clk, log)
	s := &Server{cfg: cfg, tasks: tasks, auth: auth, log: log.With().Str("component", "api").Logger(), mux: http.NewServeMux()}
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

// Tasks is the task service the server calls: other doors (ingest) call it
// too, so that one rate limiter and one cursor cache serve them all.
func (s *Server) Tasks() *app.Tasks { return s.tasks }

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

// TenantOf is the tenant Authed found for r.
func TenantOf(r *http.Request) string { return tenantOf(r) }

// Logger is r's request-scoped logger (naming the tenant after Authed).
func Logger(r *http.Request) zerolog.Logger { return logger(r) }

func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc { return Authed(s.auth, h) }

// Authed wraps h so that it runs only for a request auth names a tenant
// for (else 401), with the tenant (TenantOf) and a logger that names it in
// the request's context: every HTTP door's authentication.
func Authed(auth Authenticator, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tenant, err := auth.Tenant(r)
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

// WriteJSON answers status with v as JSON: every HTTP door's encoding.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request) {
	t, err := s.tasks.Get(r.Context(), tenantOf(r), r.PathValue("id"))
	if err != nil {
		problemOf(r, err).Write(w)
		return
	}
	writeJSON(w, http.StatusOK, View(t))
}

func (s *Server) cancelTask(w http.ResponseWriter, r *http.Request) {
	t, err := s.tasks.Cancel(r.Context(), logger(r), tenantOf(r), r.PathValue("id"))
	if err != nil {
		problemOf(r, err).Write(w)
		return
	}
	writeJSON(w, http.StatusOK, View(t))
	// After the answer: the cancel is durable already.
	s.tasks.PublishCancelled(r.Context(), logger(r), t)
}

// ReadBody reads a request body of at most limit bytes, answering 413
// (with tooLarge as the detail) or 400 itself when it cannot: every HTTP
// door's body reading.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64, tooLarge string) ([]byte, bool) {
	return readBody(w, r, limit, tooLarge)
}

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

// idempotencyKeyField names the Idempotency-Key header in field errors.
const idempotencyKeyField = "header:Idempotency-Key"

func (s *Server) createTask(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, int64(s.tasks.MaxCreateBody()), "the body exceeds the payload limit plus 64 KiB")
	if !ok {
		return
	}
	c, err := s.tasks.Create(r.Context(), logger(r), tenantOf(r), app.CreateTask{Body: body, Token: r.Header.Get("Idempotency-Key"), TokenField: idempotencyKeyField})
	if err != nil {
		problemOf(r, err).Write(w)
		return
	}
	if !c.New {
		writeJSON(w, http.StatusOK, View(c.Task))
		return
	}
	w.Header().Set("Location", "/v1/tasks/"+c.Task.ID.String())
	writeJSON(w, http.StatusCreated, View(c.Task))
}
