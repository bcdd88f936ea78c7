package app

import (
	"math"
	"sync"
	"time"
)

// limiter is a per-tenant token bucket, in process: one per API instance.
type limiter struct {
	rate, burst float64 // tokens per second; bucket size. rate < 0: off
	mu          sync.Mutex
	buckets     map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxTenantBuckets bounds the limiter's memory; past it, full (idle)
// buckets are forgotten, which loses nothing: a new bucket starts full.
const maxTenantBuckets = 10000

func newLimiter(rate float64, burst int) *limiter {
	if rate == 0 {
		rate = DefaultCreateRate
	}
	b := float64(burst)
	if burst <= 0 {
		b = math.Max(2*rate, 1)
	}
	return &limiter{rate: rate, burst: b, buckets: make(map[string]*bucket)}
}

// take removes n tokens from tenant's bucket. When there are too few it
// takes none and says how long until there will be enough. n beyond the
// bucket's size asks for a full bucket.
func (l *limiter) take(tenant string, n int, now time.Time) (bool, time.Duration) {
	if l.rate < 0 || n <= 0 {
		return true, 0
	}
	need := math.Min(float64(n), l.burst)
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[tenant]
	if !ok {
		if len(l.buckets) >= maxTenantBuckets {
			l.forgetFull(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[tenant] = b
	}
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.tokens = math.Min(l.burst, b.tokens+dt*l.rate)
		b.at = now
	}
	if b.tokens >= need {
		b.tokens -= need
		return true, 0
	}
	wait := time.Duration((need - b.tokens) / l.rate * float64(time.Second))
	return false, max(wait, time.Second)
}

func (l *limiter) forgetFull(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}
