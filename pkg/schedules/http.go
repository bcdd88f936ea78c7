package schedules

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/cronexpr"
	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Patterns are the ServeMux patterns the Handler serves; Mount registers
// them on a mux in front of the task API.
var Patterns = []string{"/v1/schedules", "/v1/schedules/", "/v1/schedules:preview"}

// Mount routes the schedule API's paths on mux to h.
func Mount(mux *http.ServeMux, h http.Handler) {
	for _, p := range Patterns {
		mux.Handle(p, h)
	}
}

// Handler serves the schedule API:
//
//	POST   /v1/schedules                      create
//	GET    /v1/schedules                      list (page_size, page_token)
//	GET    /v1/schedules:preview              next fire times of an expression
//	GET    /v1/schedules/{id}                 read
//	PATCH  /v1/schedules/{id}                 change, pause (state DISABLED), resume
//	DELETE /v1/schedules/{id}                 delete
//	GET    /v1/schedules/{id}/occurrences     past and pending occurrences with task IDs, and upcoming fire times
type Handler struct {
	cfg   Config
	store Store
	chain *Chain
	auth  api.Authenticator
	clock clock.Clock
	log   zerolog.Logger
	mux   *http.ServeMux
	serve http.Handler // mux behind api.CleanPaths

	cursorMu sync.Mutex
	cursorOK bool
}

// NewHandler returns the schedule API. auth names each request's tenant,
// as for the task API.
func NewHandler(cfg Config, store Store, q Sender, auth api.Authenticator, clk clock.Clock, log zerolog.Logger) *Handler {
	h := &Handler{store: store, auth: auth, clock: clk, log: log.With().Str("component", "schedules-api").Logger(), mux: http.NewServeMux()}
	h.chain = NewChain(cfg, store, q, clk, log)
	h.cfg = h.chain.cfg
	h.mux.HandleFunc("POST /v1/schedules", h.authed(h.create))
	h.mux.HandleFunc("GET /v1/schedules", h.authed(h.list))
	h.mux.HandleFunc("GET /v1/schedules:preview", h.authed(h.preview))
	h.mux.HandleFunc("GET /v1/schedules/{id}", h.authed(h.get))
	h.mux.HandleFunc("PATCH /v1/schedules/{id}", h.authed(h.patch))
	h.mux.HandleFunc("DELETE /v1/schedules/{id}", h.authed(h.delete))
	h.mux.HandleFunc("GET /v1/schedules/{id}/occurrences", h.authed(h.occurrences))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.NotFound("route " + r.Method + " " + r.URL.Path).Write(w)
	})
	h.serve = api.CleanPaths(h.mux)
	return h
}

// ServeHTTP routes a request; a path not in its clean form is a 404
// problem, never a redirect.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.serve.ServeHTTP(w, r) }

type tenantKey struct{}

func tenantOf(r *http.Request) string { s, _ := r.Context().Value(tenantKey{}).(string); return s }

func (h *Handler) authed(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tenant, err := h.auth.Tenant(r)
		if err != nil {
			problem.Unauthorized(err.Error()).Write(w)
			return
		}
		f(w, r.WithContext(context.WithValue(r.Context(), tenantKey{}, tenant)))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *Handler) storeProblem(r *http.Request, err error, what string) *problem.Problem {
	return h.tenantStoreProblem(tenantOf(r), err, what)
}

func (h *Handler) tenantStoreProblem(tenant string, err error, what string) *problem.Problem {
	switch {
	case errors.Is(err, task.ErrNotFound):
		return problem.NotFound(what)
	case errors.Is(err, task.ErrConflict):
		return problem.Conflict(what + " changed concurrently; read it and retry")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return problem.Unavailable("request timed out", time.Second)
	}
	h.log.Error().Err(err).Str("tenant", tenant).Msg("store call failed")
	return problem.Unavailable("storage is unavailable; retry the request", 2*time.Second)
}

// readObject reads a JSON object body.
func (h *Handler) readObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, bool) {
	lim := h.cfg.Limits.MaxPayloadBytes
	if lim <= 0 {
		lim = task.DefaultLimits().MaxPayloadBytes
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(lim)+64<<10))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			problem.TooLarge("the body exceeds the payload limit plus 64 KiB").Write(w)
			return nil, false
		}
		problem.Invalid(problem.FieldError{Field: "body", Reason: "could not be read"}).Write(w)
		return nil, false
	}
	raw, fe := schedule.DecodeBody(body)
	if fe != nil {
		problem.Invalid(*fe).Write(w)
		return nil, false
	}
	return raw, true
}

// ensureCursor makes sure, once per process, that the scanner cursor
// exists and knows the shard count before the first occurrence is written.
func (h *Handler) ensureCursor(ctx context.Context, now time.Time) error {
	h.cursorMu.Lock()
	defer h.cursorMu.Unlock()
	if h.cursorOK {
		return nil
	}
	if err := h.store.EnsureCursor(ctx, h.cfg.Shards, now); err != nil {
		return err
	}
	h.cursorOK = true
	return nil
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	raw, ok := h.readObject(w, r)
	if !ok {
		return
	}
	s, err := h.createSchedule(r.Context(), tenantOf(r), schedule.NewID(), raw)
	if err != nil {
		h.createProblem(tenantOf(r), err).Write(w)
		return
	}
	w.Header().Set("Location", "/v1/schedules/"+s.ID)
	writeJSON(w, http.StatusCreated, ViewOf(s))
}

// createSchedule validates raw (a create body) and stores it as schedule
// id of tenant with its first occurrence — the one path of both the route
// and Create. Errors: a *problem.Problem for an invalid body, or the
// store's (task.ErrConflict when id exists).
func (h *Handler) createSchedule(ctx context.Context, tenant, id string, raw map[string]json.RawMessage) (*schedule.Schedule, error) {
	now := h.clock.Now().UTC().Truncate(time.Millisecond)
	sp, errs := schedule.DecodeSpec(raw, now, h.cfg.Limits, h.cfg.Validate.For(tenant))
	if len(errs) > 0 {
		return nil, problem.Invalid(errs...)
	}
	s := &schedule.Schedule{ID: id, Tenant: tenant, Generation: 1, Version: 1, CreatedAt: now, UpdatedAt: now}
	s.Apply(sp)
	first, occ, err := h.first(s, now, false)
	if err != nil {
		return nil, problem.Invalid(problem.FieldError{Field: "expression", Reason: err.Error()})
	}
	if err := h.ensureCursor(ctx, now); err != nil {
		return nil, fmt.Errorf("ensure cursor: %w", err)
	}
	if err := h.store.CreateSchedule(ctx, s, first); err != nil {
		return nil, fmt.Errorf("create schedule %s: %w", s.ID, err)
	}
	h.kick(ctx, s, occ, first, now)
	h.log.Info().Str("tenant", s.Tenant).Str("schedule", s.ID).Str("expression", s.Expression).Msg("schedule created")
	return s, nil
}

// createProblem is the answer to a failed createSchedule.
func (h *Handler) createProblem(tenant string, err error) *problem.Problem {
	var p *problem.Problem
	if errors.As(err, &p) {
		return p
	}
	return h.tenantStoreProblem(tenant, err, "schedule")
}

// first builds the first occurrence task of s (nil when it is disabled or
// fires no more).
func (h *Handler) first(s *schedule.Schedule, now time.Time, resumed bool) (*task.Task, schedule.Occ, error) {
	if s.State != schedule.Enabled {
		return nil, schedule.Occ{}, nil
	}
	occ, ok := s.First(now, resumed)
	if !ok || !h.chain.withinHorizon(s, occ, now) {
		return nil, schedule.Occ{}, nil
	}
	t, err := s.Task(occ, h.cfg.Shards, now)
	return t, occ, err
}

// kick continues from a first occurrence just stored with its schedule:
// if its bucket is already announced it is sent now (after its successor
// is stored). A failure leaves it to the sweep.
func (h *Handler) kick(ctx context.Context, s *schedule.Schedule, occ schedule.Occ, first *task.Task, now time.Time) {
	if first == nil {
		return
	}
	if err := h.chain.advance(ctx, s, occ, first, now); err != nil {
		h.log.Error().Err(err).Str("schedule", s.ID).Msg("first occurrence stored; the sweep will dispatch it late")
	}
}

func (h *Handler) load(w http.ResponseWriter, r *http.Request) (*schedule.Schedule, bool) {
	id := r.PathValue("id")
	if !schedule.ValidID(id) {
		problem.NotFound("schedule " + id).Write(w)
		return nil, false
	}
	s, err := h.store.GetSchedule(r.Context(), tenantOf(r), id)
	if err != nil {
		h.storeProblem(r, err, "schedule "+id).Write(w)
		return nil, false
	}
	return s, true
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	if s, ok := h.load(w, r); ok {
		writeJSON(w, http.StatusOK, ViewOf(s))
	}
}

// patch changes a schedule. Every change starts a new generation: the
// pending occurrence of the old one is cancelled when it comes due, and
// the first occurrence of the new one is stored with the change. Setting
// state DISABLED pauses; setting it ENABLED again resumes, handling the
// fire times missed meanwhile by the misfire policy. An If-Match header
// with the schedule's version makes the change conditional (412 if it
// moved).
func (h *Handler) patch(w http.ResponseWriter, r *http.Request) {
	raw, ok := h.readObject(w, r)
	if !ok {
		return
	}
	for attempt := 0; ; attempt++ {
		prev, ok := h.load(w, r)
		if !ok {
			return
		}
		if m := r.Header.Get("If-Match"); m != "" && m != strconv.FormatInt(prev.Version, 10) && m != `"`+strconv.FormatInt(prev.Version, 10)+`"` {
			(&problem.Problem{
				Type: "https://hourglass.dev/problems/precondition-failed", Title: "Precondition failed", Status: http.StatusPreconditionFailed,
				Detail: "schedule " + prev.ID + " is at version " + strconv.FormatInt(prev.Version, 10) + ", not " + m,
			}).Write(w)
			return
		}
		now := h.clock.Now().UTC().Truncate(time.Millisecond)
		sp, errs := schedule.DecodeSpec(schedule.MergePatch(prev, raw), now, h.cfg.Limits, h.cfg.Validate.For(prev.Tenant))
		if len(errs) > 0 {
			problem.Invalid(errs...).Write(w)
			return
		}
		next := *prev
		next.Apply(sp)
		next.Version, next.Generation, next.UpdatedAt = prev.Version+1, prev.Generation+1, now
		resumed := prev.State != schedule.Enabled && next.State == schedule.Enabled
		if prev.State == schedule.Enabled && next.State != schedule.Enabled {
			next.PausedAt = now
		}
		first, occ, err := h.first(&next, now, resumed)
		if err != nil {
			problem.Invalid(problem.FieldError{Field: "expression", Reason: err.Error()}).Write(w)
			return
		}
		if err := h.ensureCursor(r.Context(), now); err != nil {
			h.storeProblem(r, err, "").Write(w)
			return
		}
		err = h.store.UpdateSchedule(r.Context(), &next, prev.Version, first)
		if errors.Is(err, task.ErrConflict) && attempt < 2 && r.Header.Get("If-Match") == "" {
			continue // a concurrent change: apply the patch to the new version
		}
		if err != nil {
			h.storeProblem(r, err, "schedule "+prev.ID).Write(w)
			return
		}
		h.kick(r.Context(), &next, occ, first, now)
		h.log.Info().Str("tenant", next.Tenant).Str("schedule", next.ID).Str("state", string(next.State)).Bool("resumed", resumed).Msg("schedule changed")
		writeJSON(w, http.StatusOK, ViewOf(&next))
		return
	}
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !schedule.ValidID(id) {
		problem.NotFound("schedule " + id).Write(w)
		return
	}
	if err := h.store.DeleteSchedule(r.Context(), tenantOf(r), id); err != nil {
		h.storeProblem(r, err, "schedule "+id).Write(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func intParam(r *http.Request, name string, def, lo, hi int) (int, *problem.FieldError) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, &problem.FieldError{Field: name, Reason: "must be an integer from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi)}
	}
	return n, nil
}

// ListView is a page of schedules.
type ListView struct {
	Schedules     []View `json:"schedules"`
	NextPageToken string `json:"next_page_token,omitempty"`
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	size, fe := intParam(r, "page_size", 50, 1, 100)
	if fe != nil {
		problem.Invalid(*fe).Write(w)
		return
	}
	after := ""
	if tok := r.URL.Query().Get("page_token"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || !schedule.ValidID(string(b)) {
			problem.Invalid(problem.FieldError{Field: "page_token", Reason: "is not a token this API returned"}).Write(w)
			return
		}
		after = string(b)
	}
	list, next, err := h.store.ListSchedules(r.Context(), tenantOf(r), after, int32(size))
	if err != nil {
		h.storeProblem(r, err, "").Write(w)
		return
	}
	out := ListView{Schedules: make([]View, 0, len(list))}
	for _, s := range list {
		out.Schedules = append(out.Schedules, ViewOf(s))
	}
	if next != "" {
		// The token is the last key read, inside the caller's own
		// partition: a forged one can only skip within its own schedules.
		out.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(next))
	}
	writeJSON(w, http.StatusOK, out)
}

// OccurrenceView is one occurrence a schedule created.
type OccurrenceView struct {
	At         time.Time  `json:"at"`     // nominal fire time
	DueAt      time.Time  `json:"due_at"` // when its task is due (flexible window, catch-up)
	TaskID     string     `json:"task_id"`
	State      task.State `json:"state,omitempty"` // absent once the task has expired
	Generation int64      `json:"generation"`
}

// UpcomingView is a future fire time with no task yet.
type UpcomingView struct {
	At    time.Time `json:"at"`
	DueAt time.Time `json:"due_at"`
}

// OccurrencesView lists a schedule's occurrences.
type OccurrencesView struct {
	Occurrences []OccurrenceView `json:"occurrences"` // newest first
	Upcoming    []UpcomingView   `json:"upcoming"`    // in order
}

func (h *Handler) occurrences(w http.ResponseWriter, r *http.Request) {
	size, fe := intParam(r, "limit", 20, 1, 100)
	if fe != nil {
		problem.Invalid(*fe).Write(w)
		return
	}
	s, ok := h.load(w, r)
	if !ok {
		return
	}
	recs, err := h.store.Occurrences(r.Context(), s.Tenant, s.ID, int32(size))
	if err != nil {
		h.storeProblem(r, err, "").Write(w)
		return
	}
	ids := make([]task.ID, 0, len(recs))
	for _, rec := range recs {
		ids = append(ids, rec.TaskID)
	}
	tasks := map[task.ID]*task.Task{}
	if len(ids) > 0 {
		if tasks, err = h.store.GetMany(r.Context(), ids); err != nil {
			h.storeProblem(r, err, "").Write(w)
			return
		}
	}
	out := OccurrencesView{Occurrences: make([]OccurrenceView, 0, len(recs)), Upcoming: []UpcomingView{}}
	for _, rec := range recs {
		v := OccurrenceView{At: rec.At.UTC(), DueAt: rec.Due.UTC(), TaskID: rec.TaskID.String(), Generation: rec.Generation}
		if t, ok := tasks[rec.TaskID]; ok && t.Tenant == s.Tenant {
			v.State = t.State
		}
		out.Occurrences = append(out.Occurrences, v)
	}
	if s.State == schedule.Enabled {
		now := h.clock.Now()
		from := now
		if len(recs) > 0 && recs[0].Generation == s.Generation && recs[0].At.After(from) {
			from = recs[0].At
		}
		for len(out.Upcoming) < 5 {
			occ, ok := s.After(from, now)
			if !ok {
				break
			}
			out.Upcoming = append(out.Upcoming, UpcomingView{At: occ.At, DueAt: occ.Due})
			from = occ.At
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// PreviewView is the answer of a preview.
type PreviewView struct {
	Times []time.Time `json:"times"`
}

// preview returns the next count fire times of an expression strictly
// after after (default now). A rate() is anchored at start_at when given,
// else at the Unix epoch (a created schedule without start_at is anchored
// at its creation instead).
func (h *Handler) preview(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var errs []problem.FieldError
	count, fe := intParam(r, "count", 10, 1, 100)
	if fe != nil {
		errs = append(errs, *fe)
	}
	after := h.clock.Now()
	if v := q.Get("after"); v != "" {
		t, err := task.ParseTime(v)
		if err != nil {
			errs = append(errs, problem.FieldError{Field: "after", Reason: strconv.Quote(v) + " is not an RFC 3339 time with an offset within ±23:59 (e.g. 2030-01-02T15:04:05Z)"})
		}
		after = t
	}
	var start time.Time
	if v := q.Get("start_at"); v != "" {
		t, err := task.ParseTime(v)
		if err != nil {
			errs = append(errs, problem.FieldError{Field: "start_at", Reason: strconv.Quote(v) + " is not an RFC 3339 time with an offset within ±23:59 (e.g. 2030-01-02T15:04:05Z)"})
		}
		start = t
	}
	var c cronexpr.Schedule
	if expr := q.Get("expression"); expr == "" {
		errs = append(errs, problem.FieldError{Field: "expression", Reason: "is required, e.g. cron(0 9 ? * MON-FRI *), rate(5 minutes) or at(2030-01-02T15:04:05)"})
	} else {
		var err error
		c, err = cronexpr.Parse(expr, q.Get("timezone"))
		var se *cronexpr.Error
		if errors.As(err, &se) {
			errs = append(errs, problem.FieldError{Field: se.Field, Reason: se.Message})
		} else if err != nil {
			errs = append(errs, problem.FieldError{Field: "expression", Reason: err.Error()})
		}
	}
	if len(errs) > 0 {
		problem.Invalid(errs...).Write(w)
		return
	}
	if !start.IsZero() {
		c = c.WithStart(start)
	}
	out := PreviewView{Times: c.NextN(after, count)}
	if out.Times == nil {
		out.Times = []time.Time{}
	}
	writeJSON(w, http.StatusOK, out)
}
