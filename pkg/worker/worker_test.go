package worker_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

func TestServerTime(t *testing.T) {
	t.Parallel()
	const (
		sent  = "1893456000123" // 2030-01-01T00:00:00.123Z
		first = "1893456001500" // 1.377 s later
	)
	for _, tc := range []struct {
		name  string
		attrs map[string]string
		want  time.Time
	}{
		{"first receive after send", map[string]string{"SentTimestamp": sent, "ApproximateFirstReceiveTimestamp": first}, time.UnixMilli(1893456001500)},
		{"later of the two whichever it is", map[string]string{"SentTimestamp": first, "ApproximateFirstReceiveTimestamp": sent}, time.UnixMilli(1893456001500)},
		{"only SentTimestamp", map[string]string{"SentTimestamp": sent}, time.UnixMilli(1893456000123)},
		{"only first receive", map[string]string{"ApproximateFirstReceiveTimestamp": first}, time.UnixMilli(1893456001500)},
		{"garbage beside a good value", map[string]string{"SentTimestamp": "soon", "ApproximateFirstReceiveTimestamp": first}, time.UnixMilli(1893456001500)},
		{"other attributes ignored", map[string]string{"SentTimestamp": sent, "ApproximateReceiveCount": "9999999999999"}, time.UnixMilli(1893456000123)},
		{"absent", map[string]string{"ApproximateReceiveCount": "1"}, time.Time{}},
		{"nil map", nil, time.Time{}},
		{"garbage", map[string]string{"SentTimestamp": "yesterday", "ApproximateFirstReceiveTimestamp": "1.5e12"}, time.Time{}},
		{"empty strings", map[string]string{"SentTimestamp": "", "ApproximateFirstReceiveTimestamp": ""}, time.Time{}},
		{"zero", map[string]string{"SentTimestamp": "0"}, time.Time{}},
		{"negative", map[string]string{"SentTimestamp": "-5"}, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := worker.ServerTime(tc.attrs)
			if tc.want.IsZero() {
				assert.True(t, got.IsZero(), "want the zero time, got %s", got)
				return
			}
			assert.True(t, tc.want.Equal(got), "want %s, got %s", tc.want, got)
		})
	}
}

func TestHandOverDeadline(t *testing.T) {
	due := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	id, err := task.NewID(due, 16)
	require.NoError(t, err)
	body := `{"id":"` + id.String() + `","ph":"x"}`
	var h *worker.HandOver // nil: the base margin
	at, ok := h.Deadline(body)
	require.True(t, ok)
	assert.Equal(t, due.Add(-150*time.Millisecond), at)
	_, ok = h.Deadline(`not json`)
	assert.False(t, ok, "a malformed message has no deadline: it is handed over with its batch")

	h = &worker.HandOver{}
	assert.Equal(t, 150*time.Millisecond, h.Margin(), "no read seen yet")
	h.Observe(40 * time.Millisecond)
	assert.Equal(t, 150*time.Millisecond, h.Margin(), "fast reads keep the base margin")
	h.Observe(200 * time.Millisecond)
	assert.Equal(t, 400*time.Millisecond, h.Margin(), "twice the slowest recent read")
	at, _ = h.Deadline(body)
	assert.Equal(t, due.Add(-400*time.Millisecond), at)
	h.Observe(800 * time.Millisecond)
	assert.Equal(t, time.Second, h.Margin(), "at most a second")
	for range 16 {
		h.Observe(10 * time.Millisecond)
	}
	assert.Equal(t, 150*time.Millisecond, h.Margin(), "slow reads age out after 16 more")
}
