package app

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingQuota is the CreateQuota port in memory, counting its writes:
// the pure part of the shared limiter is tested on it; the DynamoDB
// counter itself in TestCreateRateAcrossInstances.
type countingQuota struct {
	mu     sync.Mutex
	totals map[string]int64
	writes int
}

func (q *countingQuota) ReserveCreates(_ context.Context, tenant string, window int64, shard, n int) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.totals == nil {
		q.totals = map[string]int64{}
	}
	k := fmt.Sprintf("%s#%d#%d", tenant, window, shard)
	q.totals[k] += int64(n)
	q.writes++
	return q.totals[k], nil
}

func (q *countingQuota) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.writes
}

// TestSharedLimiterWrites: what the shared create quota costs in counter
// writes, and that many instances creating a little each do not strand
// the rate between them.
func TestSharedLimiterWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

	t.Run("far under the rate: at most one write per create", func(t *testing.T) {
		t.Parallel()
		q := &countingQuota{}
		l := newSharedLimiter(500, q, zerolog.Nop())
		for i := range 10 {
			ok, _ := l.take(ctx, "acme", 1, t0.Add(time.Duration(i)*time.Second))
			require.True(t, ok)
		}
		assert.Equal(t, 10, q.count())
	})

	t.Run("at the rate: about rate/chunk writes a second", func(t *testing.T) {
		t.Parallel()
		q := &countingQuota{}
		l := newSharedLimiter(500, q, zerolog.Nop())
		for sec := range 2 {
			before := q.count()
			granted := 0
			for i := range 600 {
				if ok, _ := l.take(ctx, "acme", 1, t0.Add(time.Duration(sec)*time.Second+time.Duration(i)*time.Millisecond)); ok {
					granted++
				}
			}
			assert.Equal(t, 500, granted, "second %d", sec)
			// 100 reservations of 5, plus the doubling from 1 in the first
			// second and one write finding the shard spent.
			assert.LessOrEqual(t, q.count()-before, 104, "second %d", sec)
			assert.GreaterOrEqual(t, q.count()-before, 101, "second %d", sec)
		}
		// Spent: refused from memory, no write, retry at the next second.
		before := q.count()
		ok, wait := l.take(ctx, "acme", 1, t0.Add(time.Second+900*time.Millisecond))
		assert.False(t, ok)
		assert.Equal(t, time.Second, wait)
		assert.Equal(t, before, q.count())
	})

	t.Run("many instances, one create each, strand nothing", func(t *testing.T) {
		t.Parallel()
		q := &countingQuota{}
		granted := 0
		for range 100 {
			l := newSharedLimiter(500, q, zerolog.Nop())
			if ok, _ := l.take(ctx, "acme", 1, t0); ok {
				granted++
			}
		}
		big := newSharedLimiter(500, q, zerolog.Nop())
		for range 450 {
			if ok, _ := big.take(ctx, "acme", 1, t0); ok {
				granted++
			}
		}
		assert.Equal(t, 500, granted, "the rate, whole, over 101 instances")
	})

	t.Run("a batch beyond the rate asks for the whole second", func(t *testing.T) {
		t.Parallel()
		q := &countingQuota{}
		l := newSharedLimiter(50, q, zerolog.Nop())
		ok, _ := l.take(ctx, "acme", 100, t0)
		assert.True(t, ok)
		ok, _ = l.take(ctx, "acme", 1, t0)
		assert.False(t, ok)
	})
}
