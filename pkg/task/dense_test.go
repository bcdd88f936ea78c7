package task_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

func TestDenseLeads(t *testing.T) {
	t.Parallel()
	base := time.Unix(1_800_000_000, 0)
	var dues []time.Time
	for i := range task.DenseAt {
		dues = append(dues, base.Add(time.Duration(i)*time.Millisecond)) // one dense second
	}
	for i := range task.DenseAt - 1 {
		dues = append(dues, base.Add(time.Second+time.Duration(i)*time.Millisecond)) // one short of dense
	}
	leads := task.DenseLeads(dues)
	for i, l := range leads {
		if i < task.DenseAt {
			assert.Equal(t, task.DenseLead, l, "dense second, message %d", i)
		} else {
			assert.Zero(t, l, "sparse second, message %d", i)
		}
	}
	assert.Empty(t, task.DenseLeads(nil))
}

func TestDenseCounterLeadsOnlyPastDenseAt(t *testing.T) {
	t.Parallel()
	var c task.DenseCounter
	now := time.Unix(1_800_000_000, 0)
	due := now.Add(3 * time.Second)
	for i := range task.DenseAt {
		assert.Zero(t, c.Lead(due, now), "message %d of the second", i+1)
	}
	assert.Equal(t, task.DenseLead, c.Lead(due, now), "past DenseAt")
	assert.Zero(t, c.Lead(due.Add(time.Second), now), "another second counts apart")
	// Many seconds later, past seconds are forgotten and counting starts again.
	later := now.Add(time.Hour)
	for i := range 100 {
		c.Lead(later.Add(time.Duration(i)*time.Second), later)
	}
	assert.Zero(t, c.Lead(due, later.Add(time.Minute)), "a forgotten second starts from zero")
}
