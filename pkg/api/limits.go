package api

import (
	"context"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// LimitService is what the limit routes need (app.Limits).
type LimitService interface {
	Put(ctx context.Context, tenant, key string, body []byte) (task.Limit, bool, error)
	Get(ctx context.Context, tenant, key string) (task.Limit, error)
	List(ctx context.Context, tenant string) ([]task.Limit, error)
	Delete(ctx context.Context, tenant, key string) error
}

// LimitPatterns are the ServeMux patterns LimitHandler serves; MountLimits
// registers them on a mux in front of the task API.
var LimitPatterns = []string{"/v1/limits", "/v1/limits/"}

// MountLimits routes the limit paths on mux to h.
func MountLimits(mux *http.ServeMux, h http.Handler) {
	for _, p := range LimitPatterns {
		mux.Handle(p, h)
	}
}

// LimitView is a limit as the API shows it. A field left out is unlimited.
type LimitView struct {
	Key            string    `json:"key"`
	MaxConcurrency *int      `json:"max_concurrency,omitempty"`
	PerSecond      *int      `json:"per_second,omitempty"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// LimitList is the answer of GET /v1/limits.
type LimitList struct {
	Limits []LimitView `json:"limits"`
}

func viewLimit(l task.Limit) LimitView {
	v := LimitView{Key: l.Key, UpdatedAt: l.UpdatedAt}
	if l.MaxConcurrency > 0 {
		n := l.MaxConcurrency
		v.MaxConcurrency = &n
	}
	if l.PerSecond > 0 {
		n := l.PerSecond
		v.PerSecond = &n
	}
	return v
}

// LimitHandler serves a tenant's limit keys:
//
//	GET    /v1/limits         list them
//	PUT    /v1/limits/{key}   set {"max_concurrency": n, "per_second": r} (201 when new, else 200)
//	GET    /v1/limits/{key}   read one
//	DELETE /v1/limits/{key}   remove it (204): its tasks then run unlimited
type LimitHandler struct {
	svc      LimitService
	auth     Authenticator
	log      zerolog.Logger
	serveMux http.Handler
}

// maxLimitBody bounds a PUT body: two small numbers.
const maxLimitBody = 4 << 10

// NewLimitHandler returns the limit routes.
func NewLimitHandler(svc LimitService, auth Authenticator, log zerolog.Logger) *LimitHandler {
	h := &LimitHandler{svc: svc, auth: auth, log: log.With().Str("component", "api").Logger()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/limits", h.withTenant(h.list))
	mux.HandleFunc("PUT /v1/limits/{key}", h.withTenant(h.put))
	mux.HandleFunc("GET /v1/limits/{key}", h.withTenant(h.get))
	mux.HandleFunc("DELETE /v1/limits/{key}", h.withTenant(h.del))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.NotFound("route " + r.Method + " " + r.URL.Path).Write(w)
	})
	h.serveMux = CleanPaths(mux)
	return h
}

// ServeHTTP routes a request; an unclean path is a 404 problem.
func (h *LimitHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.serveMux.ServeHTTP(w, r)
}

const limitsUnavailable = "limits are unavailable; retry the request"

func (h *LimitHandler) withTenant(f func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tenant, err := h.auth.Tenant(r)
		if err != nil {
			problem.Unauthorized(err.Error()).Write(w)
			return
		}
		f(w, r, tenant)
	}
}

func (h *LimitHandler) fail(w http.ResponseWriter, tenant string, err error) {
	Problem(err, h.log.With().Str("tenant", tenant).Logger(), limitsUnavailable).Write(w)
}

func (h *LimitHandler) list(w http.ResponseWriter, r *http.Request, tenant string) {
	ls, err := h.svc.List(r.Context(), tenant)
	if err != nil {
		h.fail(w, tenant, err)
		return
	}
	out := LimitList{Limits: make([]LimitView, 0, len(ls))}
	for _, l := range ls {
		out.Limits = append(out.Limits, viewLimit(l))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *LimitHandler) put(w http.ResponseWriter, r *http.Request, tenant string) {
	body, ok := readBody(w, r, maxLimitBody, "a limit body is at most 4 KiB")
	if !ok {
		return
	}
	l, created, err := h.svc.Put(r.Context(), tenant, r.PathValue("key"), body)
	if err != nil {
		h.fail(w, tenant, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, viewLimit(l))
}

func (h *LimitHandler) get(w http.ResponseWriter, r *http.Request, tenant string) {
	l, err := h.svc.Get(r.Context(), tenant, r.PathValue("key"))
	if err != nil {
		h.fail(w, tenant, err)
		return
	}
	writeJSON(w, http.StatusOK, viewLimit(l))
}

func (h *LimitHandler) del(w http.ResponseWriter, r *http.Request, tenant string) {
	if err := h.svc.Delete(r.Context(), tenant, r.PathValue("key")); err != nil {
		h.fail(w, tenant, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
