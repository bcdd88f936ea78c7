package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/signing"
	"github.com/hourglass-sched/hourglass/pkg/target/webhook"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// SigningSecrets is what the signing-secret routes need: the tenant's
// webhook signing secrets, created on first read, and their rotation
// (signing.Service).
type SigningSecrets interface {
	Get(ctx context.Context, tenant string) (signing.Secrets, error)
	Rotate(ctx context.Context, tenant string) (signing.Secrets, error)
}

// SigningPatterns are the ServeMux patterns SigningHandler serves;
// MountSigning registers them on a mux in front of the task API.
var SigningPatterns = []string{"/v1/signing-secret", "/v1/signing-secret:rotate"}

// MountSigning routes the signing-secret paths on mux to h.
func MountSigning(mux *http.ServeMux, h http.Handler) {
	for _, p := range SigningPatterns {
		mux.Handle(p, h)
	}
}

// SigningSecret is the body of both routes' answers. Previous and
// PreviousExpiresAt are present only while a rotated secret still signs.
type SigningSecret struct {
	Secret            string     `json:"secret"`
	Previous          string     `json:"previous,omitempty"`
	PreviousExpiresAt *time.Time `json:"previous_expires_at,omitempty"`
}

// SigningHandler serves a tenant's webhook signing secret:
//
//	GET  /v1/signing-secret          read it (created on first use)
//	POST /v1/signing-secret:rotate   replace it; the old one signs too for the grace period
type SigningHandler struct {
	secrets  SigningSecrets
	auth     Authenticator
	log      zerolog.Logger
	mux      *http.ServeMux
	serveMux http.Handler // mux behind CleanPaths
}

// NewSigningHandler returns the signing-secret routes.
func NewSigningHandler(secrets SigningSecrets, auth Authenticator, log zerolog.Logger) *SigningHandler {
	h := &SigningHandler{secrets: secrets, auth: auth, log: log.With().Str("component", "api").Logger(), mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /v1/signing-secret", h.serve(h.secrets.Get))
	// A literal ":rotate" suffix, as POST /v1/tasks:batch.
	h.mux.HandleFunc("POST /v1/signing-secret:rotate", h.serve(h.secrets.Rotate))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.NotFound("route " + r.Method + " " + r.URL.Path).Write(w)
	})
	h.serveMux = CleanPaths(h.mux)
	return h
}

// ServeHTTP routes a request; an unclean path is a 404 problem.
func (h *SigningHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.serveMux.ServeHTTP(w, r)
}

func (h *SigningHandler) serve(op func(context.Context, string) (signing.Secrets, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tenant, err := h.auth.Tenant(r)
		if err != nil {
			problem.Unauthorized(err.Error()).Write(w)
			return
		}
		sec, err := op(r.Context(), tenant)
		switch {
		case err == nil:
		case errors.Is(err, task.ErrConflict):
			problem.Conflict("the signing secret was rotated concurrently; read it with GET /v1/signing-secret").Write(w)
			return
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			problem.Unavailable("request timed out", time.Second).Write(w)
			return
		default:
			h.log.Error().Err(err).Str("tenant", tenant).Msg("signing secret")
			problem.Unavailable("signing secrets are unavailable; retry the request", 2*time.Second).Write(w)
			return
		}
		out := SigningSecret{Secret: webhook.FormatSecret(sec.Current)}
		if sec.Previous != nil {
			out.Previous = webhook.FormatSecret(sec.Previous)
			at := sec.PreviousExpiresAt.UTC()
			out.PreviousExpiresAt = &at
		}
		// A secret must not sit in a shared cache.
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, out)
	}
}
