package app

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// The fast path hands a dense second over task.DenseLead earlier once this
// process has sent task.DenseAt messages for it (a burst arrives a batch
// at a time); other seconds keep the usual delay.
func TestFastPathMessageLeadsDenseSeconds(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0).UTC()
	s := &Tasks{cfg: TasksConfig{EarlyBy: time.Second}, clock: clock.NewManual(now)}
	due := now.Add(4 * time.Second)
	mk := func(at time.Time) *task.Task {
		id, err := task.NewID(at, 4)
		require.NoError(t, err)
		return &task.Task{ID: id, Tenant: "acme", DueAt: id.Due()}
	}
	for i := range task.DenseAt + 10 {
		tk := mk(due)
		m := s.fastPathMessage(tk)
		want := tk.DueAt.Sub(now) - time.Second
		if i >= task.DenseAt {
			want -= task.DenseLead
		}
		assert.Equal(t, want, m.Delay, "message %d of the second", i+1)
		assert.Equal(t, "acme", m.Group)
	}
	other := mk(due.Add(time.Second))
	assert.Equal(t, other.DueAt.Sub(now)-time.Second, s.fastPathMessage(other).Delay, "another second is not dense")
}
