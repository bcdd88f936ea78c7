package api_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/problem"
)

// uncleanPaths spell a route in a form ServeMux would redirect.
var uncleanPaths = []string{
	"//v1/tasks", "/v1//tasks", "/v1/./tasks", "/v1/tasks/../tasks", "/./v1/tasks", "/v1/tasks/.",
	"//v1/schedules", "/v1/./schedules", "/v1/schedules/x/../y", "/v1/schedules//", "//healthz",
}

// serve sends method and path (kept as sent, not resolved) to h.
func serve(h http.Handler, method, path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/", nil)
	u, _ := url.ParseRequestURI(path) // as a server reads it: "//v1" is a path, not a host
	req.URL, req.RequestURI = u, path
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestCleanPathsAnswersProblems: a mux in front of the routes (the one
// wire.HTTP mounts the task and schedule APIs on, the dev host's) would
// redirect an unclean path with a text/html 301/307; behind CleanPaths it
// is a 404 problem.
func TestCleanPathsAnswersProblems(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	mux.HandleFunc("/v1/schedules/", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := api.CleanPaths(mux)
	for _, p := range uncleanPaths {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch} {
			rec := serve(h, m, p)
			assert.Equal(t, http.StatusNotFound, rec.Code, "%s %s", m, p)
			assert.Equal(t, problem.ContentType, rec.Header().Get("Content-Type"), "%s %s", m, p)
			assert.Empty(t, rec.Header().Get("Location"), "%s %s", m, p)
		}
	}
	for _, p := range []string{"/", "/v1/tasks", "/v1/schedules/x", "/v1/tasks:batch"} {
		assert.Equal(t, http.StatusTeapot, serve(h, http.MethodGet, p).Code, p)
	}
}
