package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// AccessKeyService is what the access-key routes need (app.AccessKeys).
type AccessKeyService interface {
	Create(ctx context.Context, tenant string) (app.NewAccessKey, error)
	List(ctx context.Context, tenant string) ([]task.AccessKey, error)
	Delete(ctx context.Context, tenant, id string) error
}

// AccessKeyPatterns are the ServeMux patterns AccessKeyHandler serves;
// MountAccessKeys registers them on a mux in front of the task API.
var AccessKeyPatterns = []string{"/v1/access-keys", "/v1/access-keys/"}

// MountAccessKeys routes the access-key paths on mux to h.
func MountAccessKeys(mux *http.ServeMux, h http.Handler) {
	for _, p := range AccessKeyPatterns {
		mux.Handle(p, h)
	}
}

// CreatedAccessKey answers POST /v1/access-keys: the only answer that
// shows the secret.
type CreatedAccessKey struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	CreatedAt       time.Time `json:"created_at"`
}

// AccessKey is one key in a listing: never its secret.
type AccessKey struct {
	AccessKeyID string    `json:"access_key_id"`
	CreatedAt   time.Time `json:"created_at"`
}

// AccessKeyList answers GET /v1/access-keys, oldest key first.
type AccessKeyList struct {
	AccessKeys []AccessKey `json:"access_keys"`
}

// AccessKeyHandler serves a tenant's access keys (the credentials of the
// EventBridge Scheduler–compatible API's SigV4 signatures):
//
//	POST   /v1/access-keys       issue one (201; the secret is shown only here)
//	GET    /v1/access-keys       list IDs and creation times
//	DELETE /v1/access-keys/{id}  revoke one (204; 404 if unknown or another tenant's)
type AccessKeyHandler struct {
	keys     AccessKeyService
	auth     Authenticator
	log      zerolog.Logger
	serveMux http.Handler
}

// NewAccessKeyHandler returns the access-key routes.
func NewAccessKeyHandler(keys AccessKeyService, auth Authenticator, log zerolog.Logger) *AccessKeyHandler {
	h := &AccessKeyHandler{keys: keys, auth: auth, log: log.With().Str("component", "api").Logger()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/access-keys", h.create)
	mux.HandleFunc("GET /v1/access-keys", h.list)
	mux.HandleFunc("DELETE /v1/access-keys/{id}", h.delete)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.NotFound("route " + r.Method + " " + r.URL.Path).Write(w)
	})
	h.serveMux = CleanPaths(mux)
	return h
}

// ServeHTTP routes a request; an unclean path is a 404 problem.
func (h *AccessKeyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.serveMux.ServeHTTP(w, r)
}

func (h *AccessKeyHandler) tenant(w http.ResponseWriter, r *http.Request) (string, bool) {
	tenant, err := h.auth.Tenant(r)
	if err != nil {
		problem.Unauthorized(err.Error()).Write(w)
		return "", false
	}
	return tenant, true
}

func (h *AccessKeyHandler) create(w http.ResponseWriter, r *http.Request) {
	tenant, ok := h.tenant(w, r)
	if !ok {
		return
	}
	k, err := h.keys.Create(r.Context(), tenant)
	if err != nil {
		h.fail(w, tenant, err)
		return
	}
	// A secret must not sit in a shared cache.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", "/v1/access-keys/"+k.ID)
	writeJSON(w, http.StatusCreated, CreatedAccessKey{AccessKeyID: k.ID, SecretAccessKey: k.Secret, CreatedAt: k.CreatedAt.UTC()})
}

func (h *AccessKeyHandler) list(w http.ResponseWriter, r *http.Request) {
	tenant, ok := h.tenant(w, r)
	if !ok {
		return
	}
	keys, err := h.keys.List(r.Context(), tenant)
	if err != nil {
		h.fail(w, tenant, err)
		return
	}
	out := AccessKeyList{AccessKeys: make([]AccessKey, 0, len(keys))}
	for _, k := range keys {
		out.AccessKeys = append(out.AccessKeys, AccessKey{AccessKeyID: k.ID, CreatedAt: k.CreatedAt.UTC()})
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *AccessKeyHandler) delete(w http.ResponseWriter, r *http.Request) {
	tenant, ok := h.tenant(w, r)
	if !ok {
		return
	}
	if err := h.keys.Delete(r.Context(), tenant, r.PathValue("id")); err != nil {
		h.fail(w, tenant, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// fail maps the service's typed errors to problems.
func (h *AccessKeyHandler) fail(w http.ResponseWriter, tenant string, err error) {
	var nf *app.NotFound
	var c *app.Conflict
	switch {
	case errors.As(err, &nf):
		problem.NotFound(nf.What).Write(w)
	case errors.As(err, &c):
		problem.Conflict(c.Detail).Write(w)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		problem.Unavailable("request timed out", time.Second).Write(w)
	default:
		h.log.Error().Err(err).Str("tenant", tenant).Msg("access keys")
		problem.Unavailable("access keys are unavailable; retry the request", 2*time.Second).Write(w)
	}
}
