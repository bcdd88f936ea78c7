// Package api is Hourglass's HTTP API as one http.Handler: served directly by
// the local host, and in Lambda through API Gateway's HTTP API adapter.
// Errors are RFC 9457 problem documents naming each bad field.
//
// It is transport only: each route decodes its request, calls the task
// service (app.Tasks), maps the service's typed errors to problem+json
// (Problem, the one mapping every HTTP door uses) and encodes the answer.
// The rules live in package app.
//
// Routes: POST /v1/tasks, POST /v1/tasks:batch, GET /v1/tasks,
// GET|PATCH|DELETE /v1/tasks/{id}, POST /v1/tasks/{id}:retry,
// GET /v1/openapi.json, GET /healthz; and, mounted beside them
// (MountSigning), GET /v1/signing-secret and POST
// /v1/signing-secret:rotate (signing.go), and (MountAccessKeys)
// POST|GET /v1/access-keys and DELETE /v1/access-keys/{id}
// (accesskeys.go). The
// OpenAPI 3.1 document (openapi.json, embedded) is the contract; the tests
// validate every response against it.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/problem"
)

// Store is what the API's task service needs of the task store.
type Store = app.Store

// Queue is what the API's task service needs of the queue.
type Queue = app.Queue

// Config configures what only the HTTP door needs; the task service it
// calls is configured where it is built (app.TasksConfig, in package wire).
type Config struct {
	// Ready, when set, gates /healthz (the local host reports readiness).
	Ready func() bool
}

// DefaultCreateRate is the per-tenant create rate when Config.CreateRate
// is zero.
const DefaultCreateRate = app.DefaultCreateRate

// Server serves the API.
type Server struct {
	cfg   Config
	tasks *app.Tasks
	auth  Authenticator
	log   zerolog.Logger
	mux   *http.ServeMux
}

// New returns the API server over the task service tasks, which the
// composition root (package wire) builds and other doors share.
func New(cfg Config, tasks *app.Tasks, auth Authenticator, log zerolog.Logger) *Server {
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
	s.mux.HandleFunc("POST /v1/tasks/{id}", s.authed(s.taskAction)) // {id}:retry (deadletters.go)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.NotFound("route " + r.Method + " " + r.URL.Path).Write(w)
	})
	return s
}

// Tasks is the task service the server calls.
func (s *Server) Tasks() *app.Tasks { return s.tasks }

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

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil && !s.cfg.Ready() {
		problem.Unavailable("starting", time.Second).Write(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
