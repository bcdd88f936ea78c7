package devhost_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
	"github.com/hourglass-sched/hourglass/pkg/usage"
)

// TestLocalHostRunsATaskEndToEnd starts the whole local host (provisioning,
// API, scanner ticker, pollers) on an isolated emulator account and checks
// that a task created over HTTP reaches its webhook on time, that usage is
// counted, and that cancelling the context stops everything.
func TestLocalHostRunsATaskEndToEnd(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration test")
	}
	env := awstest.New(t)
	var hits atomic.Int64
	var firstAt atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			firstAt.Store(time.Now().UnixMilli())
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sink.Close()

	// The product's default claim mode (none): one recorded outcome rests
	// on a version-conditioned write, atomic on the serialised emulator.
	base, stop := startHost(t, env, testConfig(), "devhost")
	resp, err := http.Get(base + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	checkRouting(t, base)

	due := time.Now().Add(3 * time.Second).UTC().Truncate(time.Millisecond)
	body := fmt.Sprintf(`{"due_at":%q,"target":{"kind":"webhook","url":%q}}`, due.Format(time.RFC3339Nano), sink.URL+"/hook")
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/tasks", bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "Bearer dev-acme")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	var created struct{ ID string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&created))
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)

	deadline := time.Now().Add(30 * time.Second)
	for hits.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	// At least once: moto's SQS may hand one message to two pollers at once
	// (it is not concurrency-safe), so a second call is possible here; the
	// recorded outcome below must still be single.
	require.GreaterOrEqual(t, hits.Load(), int64(1), "the webhook was called")
	assert.GreaterOrEqual(t, firstAt.Load(), due.UnixMilli(), "not early")

	// State reaches SUCCEEDED (the outcome write follows the call).
	var state string
	for time.Now().Before(deadline) && state != "SUCCEEDED" {
		req, _ = http.NewRequest(http.MethodGet, base+"/v1/tasks/"+created.ID, nil)
		req.Header.Set("Authorization", "Bearer dev-acme")
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		var v struct {
			State    string
			Attempts []json.RawMessage
		}
		_ = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		state = v.State
		if state == "SUCCEEDED" {
			require.Len(t, v.Attempts, 1, "one recorded outcome")
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, "SUCCEEDED", state)

	// The poller counts the worker's invocation when its batch handler
	// returns, a moment after the outcome write that made the task
	// SUCCEEDED: read the counters until it is in.
	var u usage.Snapshot
	for {
		resp, err = http.Get(base + "/debug/usage")
		require.NoError(t, err)
		u = usage.Snapshot{}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&u))
		resp.Body.Close()
		if u.LambdaInvocations["worker"] > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	assert.Positive(t, u.DynamoDBWRU)
	assert.Positive(t, u.SQSRequests)
	assert.Positive(t, u.LambdaInvocations["worker"])
	assert.Positive(t, u.LambdaInvocations["api"])
	assert.Positive(t, u.APIRequests)

	stop() // fails the test unless the host stops cleanly
}
