package dispatch_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// A page whose second holds task.DenseAt tasks or more is sent
// task.DenseLead earlier than a sparse one; neither is due to become
// visible before its due time less the early delivery, the dense lead and
// the second DelaySeconds' rounding may take, which the worker's MaxHold
// (2 s + the early delivery) covers.
func TestBuildMessagesHandsDenseSecondsOverEarlier(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0).UTC()
	due := now.Add(10 * time.Second)
	mk := func(n int) []*task.Task {
		ts := make([]*task.Task, n)
		for i := range ts {
			id, err := task.NewID(due.Add(time.Duration(i)*time.Millisecond), 1)
			require.NoError(t, err)
			ts[i] = &task.Task{ID: id, Tenant: "t", DueAt: id.Due(), State: task.Scheduled}
		}
		return ts
	}
	early := time.Second
	sparse := dispatch.BuildMessages(mk(task.DenseAt-1), now, early, task.OriginDispatch)
	dense := dispatch.BuildMessages(mk(task.DenseAt), now, early, task.OriginDispatch)
	for i, m := range sparse {
		assert.Equal(t, due.Add(time.Duration(i)*time.Millisecond).Sub(now)-early, m.Delay, "sparse message %d", i)
	}
	for i, m := range dense {
		want := due.Add(time.Duration(i)*time.Millisecond).Sub(now) - early - task.DenseLead
		assert.Equal(t, want, m.Delay, "dense message %d", i)
	}
	// Visible at the earliest a whole second (DelaySeconds' rounding)
	// before that: the worker must hold it, not re-queue it, so that bound
	// stays within MaxHold for any early delivery.
	for _, e := range []time.Duration{0, early, 3 * time.Second} {
		assert.LessOrEqual(t, e+task.DenseLead+time.Second, config.Config{EarlyDelivery: e}.MaxHold(), "early delivery %s", e)
	}
}
