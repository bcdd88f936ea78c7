package task

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestStatePredicates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s                                State
		terminal, cancellable, claimable bool
	}{
		{Scheduled, false, true, true},
		{Dispatched, false, true, true},
		{Running, false, false, false},
		{Retrying, false, true, true},
		{Succeeded, true, false, false},
		{Failed, true, false, false},
		{Cancelled, true, false, false},
		{State("bogus"), false, false, false},
	} {
		assert.Equal(t, tc.terminal, tc.s.Terminal(), "%s terminal", tc.s)
		assert.Equal(t, tc.cancellable, tc.s.Cancellable(), "%s cancellable", tc.s)
		assert.Equal(t, tc.claimable, tc.s.Claimable(), "%s claimable", tc.s)
		assert.False(t, tc.s.Terminal() && (tc.s.Cancellable() || tc.s.Claimable()), "%s: terminal states go nowhere", tc.s)
	}
}

func TestTaskKey(t *testing.T) {
	t.Parallel()
	id := ID{DueMs: 1_893_456_000_000, Shard: 3, Random: 42}
	assert.Equal(t, id.String(), (&Task{ID: id}).Key())
	assert.Equal(t, "order-42", (&Task{ID: id, IdempotencyKey: "order-42"}).Key())
}

func TestTaskRunAt(t *testing.T) {
	t.Parallel()
	due := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	assert.Equal(t, due, (&Task{DueAt: due}).RunAt())
	assert.Equal(t, due, (&Task{DueAt: due, NextAt: due.Add(-time.Second)}).RunAt())
	assert.Equal(t, due.Add(time.Minute), (&Task{DueAt: due, NextAt: due.Add(time.Minute)}).RunAt())
}
