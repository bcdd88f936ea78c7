package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/problem"
)

type ctxKey int

const (
	tenantKey ctxKey = iota
	loggerKey
)

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

// RequestTimeout bounds each authenticated request of every HTTP door,
// under API Gateway's 29 s integration timeout.
const RequestTimeout = 10 * time.Second

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
		// Bounded (RequestTimeout): a store that does not answer in time
		// makes a 503 with Retry-After, never a hung request or a
		// gateway's 504. The outage run found creates hanging past 30 s on
		// an overloaded store.
		ctx, cancel := context.WithTimeout(r.Context(), RequestTimeout)
		defer cancel()
		ctx = context.WithValue(ctx, tenantKey, tenant)
		ctx = context.WithValue(ctx, loggerKey, logger(r).With().Str("tenant", tenant).Logger())
		h(w, r.WithContext(ctx))
	}
}

// WriteJSON answers status with v as JSON: every HTTP door's encoding.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
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
