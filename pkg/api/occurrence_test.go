package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// An occurrence of a schedule carries the schedule's chain; the task routes
// refuse to cancel or reschedule it alone.
func TestOccurrenceTasksAreChangedThroughTheirSchedule(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	due := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	id, err := task.NewID(due, s.Cfg.Shards)
	require.NoError(t, err)
	tk := &task.Task{ID: id, Tenant: "acme", DueAt: due, Target: task.Target{Kind: "webhook", Spec: []byte(`{"kind":"webhook","url":"` + s.Sink.URL + `/hook"}`)},
		Payload: []byte(`null`), Retry: task.Retry{MaxAttempts: 1, InitialBackoff: time.Second, MaxBackoff: time.Second},
		State: task.Scheduled, Version: 1, CreatedAt: due.Add(-time.Hour), UpdatedAt: due.Add(-time.Hour),
		Occurrence: &task.Occurrence{Schedule: "sch-1", Generation: 1, At: due}}
	tk.PayloadHash = task.PayloadHash(tk.Target, tk.Payload)
	_, _, err = s.Comps.Store.Create(ctx, tk, "", "")
	require.NoError(t, err)

	code, out := s.Do(http.MethodDelete, "/v1/tasks/"+id.String(), "acme", nil)
	assert.Equal(t, http.StatusConflict, code, out)
	assert.Contains(t, out["detail"], "sch-1")
	code, out = s.Do(http.MethodPatch, "/v1/tasks/"+id.String(), "acme", map[string]any{"payload": 1})
	assert.Equal(t, http.StatusConflict, code, out)
	// Another tenant still learns nothing.
	code, _ = s.Do(http.MethodDelete, "/v1/tasks/"+id.String(), "other", nil)
	assert.Equal(t, http.StatusNotFound, code)

	got, err := s.Comps.Store.Get(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, task.Scheduled, got.State, "nothing changed")
}
