package task_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

var limitT0 = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

func emptyState() task.LimitState {
	return task.LimitState{Holders: map[string]time.Time{}, Slots: map[int64]int{}}
}

func TestValidLimitKey(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"a", "api.example.com", "stripe:charges", "A_b-9", string(make([]byte, 0)) + "x"} {
		assert.True(t, task.ValidLimitKey(k), k)
	}
	long := make([]byte, task.MaxLimitKeyLen+1)
	for i := range long {
		long[i] = 'a'
	}
	for _, k := range []string{"", "a b", "a/b", "é", "a#b", "a%2F", string(long)} {
		assert.False(t, task.ValidLimitKey(k), k)
	}
	assert.True(t, task.ValidLimitKey(string(long[:task.MaxLimitKeyLen])))
}

// TestLimitConcurrency: max_concurrency holders at once; an expired
// holder's slot is reclaimed; a holder already in asks again for free.
func TestLimitConcurrency(t *testing.T) {
	t.Parallel()
	l := task.Limit{MaxConcurrency: 2}
	s := emptyState()
	lease := limitT0.Add(time.Minute)
	s, g := l.Acquire(s, "a", limitT0, lease)
	require.True(t, g.OK)
	assert.Equal(t, int64(1), s.Version)
	s, g = l.Acquire(s, "b", limitT0, lease)
	require.True(t, g.OK)
	same, g := l.Acquire(s, "c", limitT0, lease)
	require.False(t, g.OK)
	assert.True(t, g.Limited)
	assert.Equal(t, "max_concurrency", g.Reason)
	assert.Equal(t, task.ConcurrencyRetry, g.RetryAfter)
	assert.Equal(t, s.Version, same.Version, "a refusal writes nothing")

	// A holder retrying its own acquire is granted without a second slot.
	s2, g := l.Acquire(s, "a", limitT0.Add(time.Second), lease.Add(time.Second))
	require.True(t, g.OK)
	assert.Len(t, s2.Holders, 2)

	// After a's and b's leases end, their slots are reclaimed.
	s3, g := l.Acquire(s, "c", lease, lease.Add(time.Minute))
	require.True(t, g.OK)
	assert.Equal(t, map[string]time.Time{"c": lease.Add(time.Minute)}, s3.Holders)
}

// TestLimitRate: per_second starts in any one-second window, counted over
// 1.2 s of 50 ms slots; the retry hint is when the oldest start leaves.
func TestLimitRate(t *testing.T) {
	t.Parallel()
	l := task.Limit{PerSecond: 3}
	s := emptyState()
	lease := limitT0.Add(time.Hour)
	for i := range 3 {
		var g task.LimitGrant
		s, g = l.Acquire(s, fmt.Sprint("h", i), limitT0.Add(time.Duration(i)*10*time.Millisecond), lease)
		require.True(t, g.OK, i)
	}
	_, g := l.Acquire(s, "h3", limitT0.Add(50*time.Millisecond), lease)
	require.False(t, g.OK)
	assert.Equal(t, "per_second", g.Reason)
	// limitT0 is at a slot boundary: its slot leaves the window 1.2 s later.
	assert.Equal(t, 1200*time.Millisecond-50*time.Millisecond, g.RetryAfter)
	_, g = l.Acquire(s, "h3", limitT0.Add(1199*time.Millisecond), lease)
	require.False(t, g.OK)
	s, g = l.Acquire(s, "h3", limitT0.Add(1200*time.Millisecond), lease)
	require.True(t, g.OK)
	assert.Len(t, s.Slots, 1, "slots older than the window are dropped")
}

// TestLimitUnlimitedFields: a zero field does not limit.
func TestLimitUnlimitedFields(t *testing.T) {
	t.Parallel()
	l := task.Limit{MaxConcurrency: 1}
	s := emptyState()
	var g task.LimitGrant
	s, g = l.Acquire(s, "a", limitT0, limitT0.Add(time.Minute))
	require.True(t, g.OK)
	_, g = l.Acquire(s, "b", limitT0, limitT0.Add(time.Minute))
	require.False(t, g.OK)
	l = task.Limit{PerSecond: 1}
	s = emptyState()
	s, g = l.Acquire(s, "a", limitT0, limitT0.Add(time.Minute))
	require.True(t, g.OK)
	_, g = l.Acquire(s, "b", limitT0.Add(2*time.Second), limitT0.Add(time.Minute))
	require.True(t, g.OK, "holders do not count without max_concurrency")
}

// FuzzLimitAcquire plays a sequence of acquires and releases at
// non-decreasing times and checks the invariants: never more unexpired
// holders than max_concurrency, never more than per_second grants in any
// one-second window, and a refusal changes nothing and names a positive
// wait.
func FuzzLimitAcquire(f *testing.F) {
	f.Add(uint8(3), uint8(5), []byte{1, 2, 3, 200, 4, 5, 6, 7, 8, 9, 10, 250, 1, 1, 1})
	f.Add(uint8(0), uint8(2), []byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint8(1), uint8(0), []byte{5, 128, 5, 128, 5})
	f.Fuzz(func(t *testing.T, conc, rate uint8, ops []byte) {
		l := task.Limit{MaxConcurrency: int(conc % 8), PerSecond: int(rate % 12)}
		s := emptyState()
		now := limitT0
		var grants []time.Time
		next := 0
		for i, op := range ops {
			now = now.Add(time.Duration(op&0x3f) * 17 * time.Millisecond)
			if op&0x80 != 0 && len(s.Holders) > 0 {
				// Release the oldest-named holder.
				for h := range s.Holders {
					delete(s.Holders, h)
					break
				}
				continue
			}
			lease := now.Add(time.Duration(1+op%7) * 300 * time.Millisecond)
			next++
			got, g := l.Acquire(s, fmt.Sprint("h", next), now, lease)
			if !g.OK {
				require.Equal(t, s.Version, got.Version, "op %d: a refusal is not written", i)
				require.True(t, g.Limited)
				require.Positive(t, g.RetryAfter)
				continue
			}
			s = got
			if l.MaxConcurrency == 0 && l.PerSecond == 0 {
				continue
			}
			grants = append(grants, now)
			live := 0
			for _, exp := range s.Holders {
				if exp.After(now) {
					live++
				}
			}
			if l.MaxConcurrency > 0 {
				require.LessOrEqual(t, live, l.MaxConcurrency, "op %d: holders", i)
			}
			if l.PerSecond > 0 {
				inWindow := 0
				for _, at := range grants {
					// The window's slack: no 1.15 s holds more.
					if now.Sub(at) < 1150*time.Millisecond {
						inWindow++
					}
				}
				require.LessOrEqual(t, inWindow, l.PerSecond, "op %d: grants in the last second", i)
			}
		}
	})
}
