package devhost_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// TestLocalHostServesSchedules checks that the local host (what `make dev`
// runs) serves the schedule API beside the task API and runs a schedule's
// occurrences through its own scanner, dispatcher and worker loops.
func TestLocalHostServesSchedules(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration test")
	}
	env := awstest.New(t)
	var mu sync.Mutex
	ids := map[string]bool{}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids[r.Header.Get("Hourglass-Task-Id")] = true
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sink.Close()

	base, _ := startHost(t, env, testConfig(), "devsched")
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer dev-acme")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		out := map[string]any{}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}

	code, v := call(http.MethodGet, "/v1/schedules:preview?expression=cron(0+9+%3F+*+MON-FRI+*)&timezone=Europe/Paris&after=2030-01-04T00:00:00Z&count=2", "")
	require.Equal(t, http.StatusOK, code, "%v", v)
	assert.Equal(t, []any{"2030-01-04T08:00:00Z", "2030-01-07T08:00:00Z"}, v["times"])

	code, v = call(http.MethodPost, "/v1/schedules", fmt.Sprintf(`{"expression":"rate(2 seconds)","target":{"kind":"webhook","url":%q}}`, sink.URL+"/hook"))
	require.Equal(t, http.StatusCreated, code, "%v", v)
	id := v["id"].(string)

	deadline := time.Now().Add(45 * time.Second)
	for {
		mu.Lock()
		n := len(ids)
		mu.Unlock()
		if n >= 3 {
			break
		}
		require.False(t, time.Now().After(deadline), "only %d occurrences ran", n)
		time.Sleep(100 * time.Millisecond)
	}
	code, v = call(http.MethodGet, "/v1/schedules/"+id+"/occurrences", "")
	require.Equal(t, http.StatusOK, code, "%v", v)
	assert.GreaterOrEqual(t, len(v["occurrences"].([]any)), 3)
	code, _ = call(http.MethodDelete, "/v1/schedules/"+id, "")
	assert.Equal(t, http.StatusNoContent, code)
	// The task API still answers on the same host.
	code, _ = call(http.MethodGet, "/v1/tasks/not-an-id", "")
	assert.Equal(t, http.StatusNotFound, code)
}
