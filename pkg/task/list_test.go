package task_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

func TestParsePosition(t *testing.T) {
	t.Parallel()
	id, err := task.NewID(time.Date(2031, 3, 4, 5, 6, 7, 8e6, time.UTC), 4)
	require.NoError(t, err)
	pos := task.SortKey(id.DueMs, id.String())
	got, err := task.ParsePosition(pos)
	require.NoError(t, err)
	assert.Equal(t, id, got)

	other, err := task.NewID(time.Date(2031, 3, 4, 5, 6, 8, 0, time.UTC), 4)
	require.NoError(t, err)
	for _, bad := range []string{"", "x", pos[:15] + "-" + pos[16:], task.SortKey(id.DueMs+1, id.String()), pos[:16] + other.String()} {
		_, err := task.ParsePosition(bad)
		assert.Error(t, err, bad)
	}
}

func TestListQueryBounds(t *testing.T) {
	t.Parallel()
	at := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	lo, hi, empty := task.ListQuery{}.Bounds()
	assert.Equal(t, "0", lo)
	assert.Equal(t, "~", hi)
	assert.False(t, empty)

	id, err := task.NewID(at, 1)
	require.NoError(t, err)
	pos := task.SortKey(id.DueMs, id.String())
	lo, hi, _ = task.ListQuery{DueAfter: at}.Bounds()
	assert.False(t, lo <= pos && pos <= hi, "DueAfter is exclusive")
	lo, hi, _ = task.ListQuery{DueBefore: at}.Bounds()
	assert.False(t, lo <= pos && pos <= hi, "DueBefore is exclusive")
	lo, hi, _ = task.ListQuery{DueBefore: at.Add(time.Microsecond)}.Bounds()
	assert.True(t, lo <= pos && pos <= hi, "a task due in the millisecond before the instant stays in")
	_, _, empty = task.ListQuery{DueAfter: at, DueBefore: at}.Bounds()
	assert.True(t, empty)
}
