package devhost

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStatsSeriesAndTotals: rates per step, lateness quantiles per step,
// totals by outcome, and creates counted from the API's answers only.
func TestStatsSeriesAndTotals(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	s := newStatsCollector(func() time.Time { return now })
	s.depth = func(context.Context) (int, error) { return 3, nil }

	api := s.countCreates(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/tasks:batch":
			_, _ = w.Write([]byte(`{"results":[{"status":201},{"status":200},{"status":400},{"status":201}]}`))
		case r.Header.Get("X-Replay") != "":
			w.WriteHeader(http.StatusOK) // an idempotent replay created nothing
		default:
			w.WriteHeader(http.StatusCreated)
		}
	}))
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodPost, "/v1/tasks", strings.NewReader("{}")),
		httptest.NewRequest(http.MethodPost, "/v1/tasks:batch", strings.NewReader("{}")),
		httptest.NewRequest(http.MethodGet, "/v1/tasks", nil),
	} {
		api.ServeHTTP(httptest.NewRecorder(), req)
	}
	replay := httptest.NewRequest(http.MethodPost, "/v1/tasks", strings.NewReader("{}"))
	replay.Header.Set("X-Replay", "1")
	api.ServeHTTP(httptest.NewRecorder(), replay)

	for i := 1; i <= 100; i++ {
		s.Record("LatenessMs", float64(i), "Milliseconds")
	}
	s.Record("TasksSucceeded", 1, "Count")
	s.Record("TasksRetried", 1, "Count")
	s.Record("TasksFailed", 1, "Count")
	now = now.Add(5 * time.Second) // the step above is now full

	st := s.snapshot(context.Background())
	require.Len(t, st.Series, statsSteps)
	assert.Equal(t, StatsTotals{Created: 3, Executed: 3, Succeeded: 1, Retried: 1, Failed: 1}, st.Totals)
	require.NotNil(t, st.DLQDepth)
	assert.Equal(t, 3, *st.DLQDepth)
	full := st.Series[len(st.Series)-2]
	assert.Equal(t, time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC), full.T)
	assert.InDelta(t, 3.0/5, full.CreatedPerS, 1e-9)
	assert.InDelta(t, 3.0/5, full.ExecutedPerS, 1e-9)
	require.NotNil(t, full.LatenessP50Ms)
	assert.Equal(t, 50.0, *full.LatenessP50Ms)
	assert.Equal(t, 99.0, *full.LatenessP99Ms)
	assert.Nil(t, st.Series[len(st.Series)-1].LatenessP50Ms, "no attempt in the current step")

	// Five minutes on, the step has left the window.
	now = now.Add(statsSteps * statsStep)
	st = s.snapshot(context.Background())
	for _, p := range st.Series {
		assert.Zero(t, p.CreatedPerS)
		assert.Nil(t, p.LatenessP99Ms)
	}
	assert.Equal(t, int64(3), st.Totals.Created, "totals stay")
}
