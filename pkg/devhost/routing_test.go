package devhost_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/problem"
)

// checkRouting checks, on a running host at base, that every answer the
// host's muxes give is a problem document: a path not in its clean form,
// on the task and the schedule routes alike, is a 404 problem and never a
// redirect. The one exception, documented in docs/api.md, is net/http's
// own 431 (text/plain) for a header block beyond MaxHeaderBytes.
func checkRouting(t *testing.T, base string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"//v1/tasks", "/v1/./tasks", "/v1/tasks/../tasks", "//v1/schedules", "/v1/./schedules", "/v1/schedules/a/../b", "//debug/usage"} {
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			req, err := http.NewRequest(m, base+p, strings.NewReader(`{}`))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer dev-acme")
			resp, err := client.Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s %s", m, p)
			assert.Equal(t, problem.ContentType, resp.Header.Get("Content-Type"), "%s %s", m, p)
		}
	}
	req, err := http.NewRequest(http.MethodGet, base+"/v1/tasks", nil)
	require.NoError(t, err)
	req.Header.Set("X-Padding", strings.Repeat("p", http.DefaultMaxHeaderBytes+8<<10))
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/plain", "net/http's own answer, before any handler (docs/api.md)")
}
