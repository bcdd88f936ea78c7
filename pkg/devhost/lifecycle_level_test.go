package devhost_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	hgevents "github.com/hourglass-sched/hourglass/events"
	"github.com/hourglass-sched/hourglass/pkg/usage"
)

// taskState reads a task's state through the API.
func (h *ebHarness) taskState(tenant, id string) string {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.base+"/v1/tasks/"+id, nil)
	require.NoError(h.t, err)
	req.Header.Set("Authorization", "Bearer dev-"+tenant)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	var v struct{ State string }
	_ = json.NewDecoder(resp.Body).Decode(&v)
	return v.State
}

// usage reads the host's usage counters.
func (h *ebHarness) usage() usage.Snapshot {
	h.t.Helper()
	resp, err := http.Get(h.base + "/debug/usage")
	require.NoError(h.t, err)
	defer resp.Body.Close()
	var u usage.Snapshot
	require.NoError(h.t, json.NewDecoder(resp.Body).Decode(&u))
	return u
}

// TestDefaultLifecycleEventsAreFailuresOnly is issue 6's default on the
// local host: with HOURGLASS_LIFECYCLE_EVENTS unset, a task that succeeds
// publishes no event (and costs no EventBridge entry), while one that
// fails publishes TaskFailed and TaskDeadLettered.
func TestDefaultLifecycleEventsAreFailuresOnly(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration test")
	}
	h := startEBHostAt(t, "")
	due := time.Now().Add(3 * time.Second).Truncate(time.Millisecond)
	withCase := func(c string) func(hgevents.TaskDetail) bool {
		return func(d hgevents.TaskDetail) bool { return d.Labels["case"] == c }
	}
	h.put("com.example.orders", h.detail("acme", "/good", due, map[string]any{"idempotency_key": "good", "labels": map[string]string{"case": "good"}}))
	h.put("com.example.orders", h.detail("globex", "/reject", due, map[string]any{"labels": map[string]string{"case": "reject"}}))

	// The failed task publishes its events.
	requireValid(t, h.lifecycle(hgevents.DetailTaskFailed, withCase("reject")))
	requireValid(t, h.lifecycle(hgevents.DetailTaskDeadLettered, withCase("reject")))

	// The good one ran and its outcome is recorded...
	h.waitHits("/good", 1)
	id := h.taskIDByKey("acme", "good")
	deadline := time.Now().Add(30 * time.Second)
	for h.taskState("acme", id) != "SUCCEEDED" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, "SUCCEEDED", h.taskState("acme", id))
	// ...but, after its worker batch has long flushed, no event of it
	// arrived, and the host paid only for the failed task's entries.
	h.drain(3 * time.Second)
	assert.Zero(t, h.count(hgevents.DetailTaskSucceeded, withCase("good")), "TaskSucceeded published at the default level")
	for _, raw := range h.received {
		var ev hgevents.Event[hgevents.TaskDetail]
		require.NoError(t, json.Unmarshal(raw, &ev))
		assert.Equal(t, "reject", ev.Detail.Labels["case"], "only the failed task publishes: got %s", ev.DetailType)
	}
	assert.EqualValues(t, len(h.received), h.usage().EventBridgeEvents, "EventBridge entries paid for: the failed task's events only")
}
