package api

import (
	"net/http"
	"strconv"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// SchedulePatterns are the ServeMux patterns the ScheduleHandler serves; MountSchedules registers
// them on a mux in front of the task API.
var SchedulePatterns = []string{"/v1/schedules", "/v1/schedules/", "/v1/schedules:preview"}

// MountSchedules routes the schedule API's paths on mux to h.
func MountSchedules(mux *http.ServeMux, h http.Handler) {
	for _, p := range SchedulePatterns {
		mux.Handle(p, h)
	}
}

// ScheduleHandler serves the schedule API, calling the schedule service
// (app.Schedules) for every rule:
//
//	POST   /v1/schedules                      create
//	GET    /v1/schedules                      list (page_size, page_token)
//	GET    /v1/schedules:preview              next fire times of an expression
//	GET    /v1/schedules/{id}                 read
//	PATCH  /v1/schedules/{id}                 change, pause (state DISABLED), resume
//	DELETE /v1/schedules/{id}                 delete
//	GET    /v1/schedules/{id}/occurrences     past and pending occurrences with task IDs, and upcoming fire times
type ScheduleHandler struct {
	svc   *app.Schedules
	clock clock.Clock
	log   zerolog.Logger
	mux   *http.ServeMux
	serve http.Handler // mux behind CleanPaths
}

// NewScheduleHandler returns the schedule API over the schedule service svc, which
// the composition root (package wire) builds over a Chain and shares with
// the other doors. auth names each request's tenant, as for the task API.
func NewScheduleHandler(svc *app.Schedules, auth Authenticator, clk clock.Clock, log zerolog.Logger) *ScheduleHandler {
	h := &ScheduleHandler{svc: svc, clock: clk, log: log.With().Str("component", "schedules-api").Logger(), mux: http.NewServeMux()}
	authed := func(f http.HandlerFunc) http.HandlerFunc { return Authed(auth, f) }
	h.mux.HandleFunc("POST /v1/schedules", authed(h.create))
	h.mux.HandleFunc("GET /v1/schedules", authed(h.list))
	h.mux.HandleFunc("GET /v1/schedules:preview", authed(h.preview))
	h.mux.HandleFunc("GET /v1/schedules/{id}", authed(h.get))
	h.mux.HandleFunc("PATCH /v1/schedules/{id}", authed(h.patch))
	h.mux.HandleFunc("DELETE /v1/schedules/{id}", authed(h.delete))
	h.mux.HandleFunc("GET /v1/schedules/{id}/occurrences", authed(h.occurrences))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.NotFound("route " + r.Method + " " + r.URL.Path).Write(w)
	})
	h.serve = CleanPaths(h.mux)
	return h
}

// Service is the schedule service the handler calls.
func (h *ScheduleHandler) Service() *app.Schedules { return h.svc }

// ServeHTTP routes a request; a path not in its clean form is a 404
// problem, never a redirect.
func (h *ScheduleHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.serve.ServeHTTP(w, r) }

// problemOf maps a schedule service error to the answer.
func (h *ScheduleHandler) problemOf(r *http.Request, err error) *problem.Problem {
	return Problem(err, h.log.With().Str("tenant", TenantOf(r)).Logger(), "storage is unavailable; retry the request")
}

// readBody reads a schedule document.
func (h *ScheduleHandler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	return ReadBody(w, r, int64(h.svc.MaxBody()), "the body exceeds the payload limit plus 64 KiB")
}

// intParam reads an optional integer query parameter from lo to hi.
func intParam(r *http.Request, name string, def, lo, hi int) (int, *task.FieldError) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, &task.FieldError{Field: name, Reason: "must be an integer from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi)}
	}
	return n, nil
}
