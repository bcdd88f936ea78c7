package task_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

func TestReserveInFlight(t *testing.T) {
	now := time.Date(2030, 1, 2, 15, 4, 0, 0, time.UTC)
	until := now.Add(5 * time.Minute)

	// Empty: reserves up to the cap, in order, and stops at the first over it.
	next, n, changed := task.ReserveInFlight(nil, 2, []string{"a", "b", "c"}, now, until)
	require.Equal(t, 2, n)
	require.True(t, changed)
	require.Equal(t, map[string]time.Time{"a": until, "b": until}, next)

	// Full: nothing granted, nothing to write.
	next, n, changed = task.ReserveInFlight(next, 2, []string{"c"}, now, until)
	require.Zero(t, n)
	require.False(t, changed)
	require.Len(t, next, 2)

	// A duplicate pass is granted its own reservation again (and extends it).
	later := until.Add(time.Minute)
	next, n, changed = task.ReserveInFlight(next, 2, []string{"a", "c"}, now, later)
	require.Equal(t, 1, n, "a again, then c is over the cap")
	require.True(t, changed)
	require.Equal(t, later, next["a"])

	// Expired reservations lapse and free their slots.
	next, n, changed = task.ReserveInFlight(next, 2, []string{"c", "d"}, until.Add(time.Second), later)
	require.Equal(t, 1, n, "b lapsed; a still holds one slot")
	require.True(t, changed)
	require.Equal(t, map[string]time.Time{"a": later, "c": later}, next)
}
