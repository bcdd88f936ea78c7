package e2e_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
)

// TestRescheduledTaskRunsOnlyAtItsNewTime: PATCH of due_at replaces the
// task; the replacement runs once, at the new time, with the new payload
// and the old task's idempotency key; the old task never runs.
func TestRescheduledTaskRunsOnlyAtItsNewTime(t *testing.T) {
	s := setup(t, stacktest.Options{})
	old := s.Create("acme", time.Now().Add(30*time.Minute), nil)
	newDue := time.Now().Add(3 * time.Second).UTC()
	code, out := s.Do(http.MethodPatch, "/v1/tasks/"+old, "acme", map[string]any{
		"due_at": newDue.Format(time.RFC3339Nano), "payload": map[string]any{"v": 2},
	})
	require.Equal(t, http.StatusOK, code, "%v", out)
	nid := out["id"].(string)
	require.NotEqual(t, old, nid)

	runAll(t, s, 20*time.Second, nid)
	requireRanOnce(t, s, nid)
	calls := s.Sink.Calls(nid)
	require.Len(t, calls, 1)
	assert.JSONEq(t, `{"v":2}`, string(calls[0].Body))
	assert.Equal(t, old, calls[0].Key, "the replacement keeps the task's idempotency key")
	assert.Empty(t, s.Sink.Calls(old))
	assert.Equal(t, task.Cancelled, s.Get(old).State)
}

// TestRescheduleIntoDispatchedWindowTakesFastPath: a task rescheduled into
// a window the scanner already announced is sent by the API itself.
func TestRescheduleIntoDispatchedWindowTakesFastPath(t *testing.T) {
	s := setup(t, stacktest.Options{})
	s.Tick() // buckets up to now + look-ahead are announced
	old := s.Create("acme", time.Now().Add(30*time.Minute), nil)
	code, out := s.Do(http.MethodPatch, "/v1/tasks/"+old, "acme", map[string]any{
		"due_at": time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339Nano),
	})
	require.Equal(t, http.StatusOK, code, "%v", out)
	nid := out["id"].(string)
	// Only the worker runs: no tick, no dispatch.
	s.Until(15*time.Second, "the rescheduled task", func() bool { return s.Get(nid).State.Terminal() }, func() { s.Work(nil) })
	requireRanOnce(t, s, nid)
}

// TestPatchedPayloadRunsOnceDespiteStaleMessage: with a message carrying
// the payload hash from before a PATCH on the queue, the task still runs
// exactly once, with the new payload.
func TestPatchedPayloadRunsOnceDespiteStaleMessage(t *testing.T) {
	s := setup(t, stacktest.Options{})
	id := s.Create("acme", time.Now().Add(3*time.Second), nil)
	s.Send(stacktest.TaskMessage(s.Get(id)), 0) // e.g. a duplicate from an earlier version
	code, out := s.Do(http.MethodPatch, "/v1/tasks/"+id, "acme", map[string]any{"payload": map[string]any{"v": 3}})
	require.Equal(t, http.StatusOK, code, "%v", out)
	runAll(t, s, 20*time.Second, id)
	requireRanOnce(t, s, id)
	calls := s.Sink.Calls(id)
	require.Len(t, calls, 1)
	assert.JSONEq(t, `{"v":3}`, string(calls[0].Body))
}
