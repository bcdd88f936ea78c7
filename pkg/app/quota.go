package app

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// CreateQuota is the shared counter behind each tenant's create rate when
// it holds across API instances (HOURGLASS_TENANT_CREATE_RATE): the
// DynamoDB store implements it. ReserveCreates adds n to the tenant's
// counter for one second (window, Unix seconds) on one shard and returns
// the total after the addition.
type CreateQuota interface {
	ReserveCreates(ctx context.Context, tenant string, window int64, shard, n int) (int64, error)
}

// createLimiter decides whether a tenant may create n tasks now; when not,
// it says how long until it may.
type createLimiter interface {
	take(ctx context.Context, tenant string, n int, now time.Time) (bool, time.Duration)
}

// localLimiter is the in-process token bucket as a createLimiter: the
// rate per API instance, used when the store offers no CreateQuota.
type localLimiter struct{ *limiter }

func (l localLimiter) take(_ context.Context, tenant string, n int, now time.Time) (bool, time.Duration) {
	return l.limiter.take(tenant, n, now)
}

// QuotaPlan sizes a shared create quota of Rate tasks per second per
// tenant. Counting is per calendar second: within any one second a tenant
// is granted at most Rate creates, summed over every API instance.
//
// An instance reserves up to Chunk tasks at a time (one write) and spends
// them locally until the second ends, so a tenant at its rate costs about
// Rate/Chunk ≈ 100 counter writes a second in all, 1/Chunk of a write per
// create, and a tenant far under its rate at most one write per create.
// Reservations start each second at what the instance spent the second
// before and double up to Chunk (startChunk). What an instance reserved
// and did not spend is lost to the second: under Chunk, and under the
// larger of twice what it spent in that second and what it spent in the
// one before. The quota errs on the side of granting less, never more.
//
// Shards split one second's counter so that no item takes more than
// MaxItemWrites writes a second, half of DynamoDB's 1,000 WCU per
// partition (a write of this small item is 1 WCU), leaving room for the
// probes of instances that find a shard spent (at most Shards writes per
// instance per second, after which the instance answers 429 locally until
// the second ends). Chunk = ceil(Rate/100) capped at 100, so reservation
// writes per second = ceil(Rate/Chunk) ≤ 100 up to Rate 10,000, and
// Shards = ceil(ceil(Rate/Chunk)/500): one shard up to Rate 50,000; at the
// largest rate the config allows, 1,000,000/s, Chunk 100 gives 10,000
// writes a second over 20 shards, 500 each. Shard s holds Rate/Shards
// tasks, the first Rate mod Shards shards one more.
type QuotaPlan struct {
	Rate, Chunk, Shards int
}

// MaxItemWrites is the most reservation writes a second a QuotaPlan puts
// on one counter item.
const MaxItemWrites = 500

// maxQuotaChunk bounds a reservation, and so what an instance may strand.
const maxQuotaChunk = 100

// NewQuotaPlan sizes the shared quota for rate tasks per second (rate ≥ 1).
func NewQuotaPlan(rate int) QuotaPlan {
	rate = max(rate, 1)
	chunk := min(max((rate+99)/100, 1), maxQuotaChunk)
	writes := (rate + chunk - 1) / chunk
	shards := max((writes+MaxItemWrites-1)/MaxItemWrites, 1)
	return QuotaPlan{Rate: rate, Chunk: chunk, Shards: shards}
}

// ShardCap is how many creates a second shard s grants.
func (p QuotaPlan) ShardCap(s int) int {
	c := p.Rate / p.Shards
	if s < p.Rate%p.Shards {
		c++
	}
	return c
}

// Granted is how many of the want tasks a reservation that brought a
// shard's counter to total may spend, given the shard's cap: those that
// fell within the cap. Counters keep growing past the cap (the addition
// is unconditional); what lies beyond it is simply not granted.
func Granted(total int64, want, shardCap int) int {
	before := total - int64(want)
	g := int64(shardCap) - before
	return int(max(0, min(g, int64(want))))
}

// sharedLimiter is the create rate held across instances: a local
// pre-check on tokens this instance reserved for the current second, and
// a reservation on the shared counter when they run short.
type sharedLimiter struct {
	plan  QuotaPlan
	quota CreateQuota
	log   zerolog.Logger

	mu      sync.Mutex
	tenants map[string]*tenantWindow
}

// tenantWindow is one tenant's reservations on this instance for one second.
type tenantWindow struct {
	mu     sync.Mutex // held across a reservation: one write in flight per tenant per instance
	window int64
	tokens int    // reserved and not yet spent
	used   int    // spent this second
	chunk  int    // the next reservation's size
	spent  []bool // shards found spent this second
	nSpent int
}

// startChunk is a second's first reservation size: what this instance
// spent in the second before, if that was the last one, up to the plan's
// chunk; else 1. Reservations then double up to the chunk. So an instance
// reserves little more than it spends, and many instances each creating a
// little (Lambda) do not strand the rate between them.
func startChunk(prevWindow, w int64, prevUsed, chunk int) int {
	if prevWindow == w-1 {
		return min(max(prevUsed, 1), chunk)
	}
	return 1
}

func newSharedLimiter(rate int, quota CreateQuota, log zerolog.Logger) *sharedLimiter {
	return &sharedLimiter{plan: NewQuotaPlan(rate), quota: quota, log: log, tenants: make(map[string]*tenantWindow)}
}

func (l *sharedLimiter) window(tenant string, w int64) *tenantWindow {
	l.mu.Lock()
	defer l.mu.Unlock()
	tw, ok := l.tenants[tenant]
	if !ok {
		if len(l.tenants) >= maxTenantBuckets {
			// Windows of past seconds hold nothing: forget them.
			for k, o := range l.tenants {
				if o.mu.TryLock() {
					if o.window < w {
						delete(l.tenants, k)
					}
					o.mu.Unlock()
				}
			}
		}
		tw = &tenantWindow{}
		l.tenants[tenant] = tw
	}
	return tw
}

// take spends n of the tenant's creates for the second now falls in (a
// batch larger than the rate asks for the whole second). It reserves from
// the shared counter, shard by shard from a random one, only when this
// instance's reserved tokens run short. A failed reservation lets the
// create through (logged): the counter guards fairness, and turning a
// failing counter write into refused creates would make it an outage.
func (l *sharedLimiter) take(ctx context.Context, tenant string, n int, now time.Time) (bool, time.Duration) {
	if n <= 0 {
		return true, 0
	}
	need := min(n, l.plan.Rate)
	w := now.Unix()
	tw := l.window(tenant, w)
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.window != w {
		tw.chunk = startChunk(tw.window, w, tw.used, l.plan.Chunk)
		tw.window, tw.tokens, tw.used, tw.nSpent = w, 0, 0, 0
		tw.spent = make([]bool, l.plan.Shards)
	}
	start := rand.IntN(l.plan.Shards) //nolint:gosec // load spreading, not a secret
	for i := 0; i < l.plan.Shards && tw.tokens < need && tw.nSpent < l.plan.Shards; i++ {
		s := (start + i) % l.plan.Shards
		if tw.spent[s] {
			continue
		}
		want := max(need-tw.tokens, tw.chunk)
		tw.chunk = min(2*tw.chunk, l.plan.Chunk)
		total, err := l.quota.ReserveCreates(ctx, tenant, w, s, want)
		if err != nil {
			l.log.Warn().Err(err).Str("tenant", tenant).Msg("create quota reservation failed; letting the create through")
			return true, 0
		}
		g := Granted(total, want, l.plan.ShardCap(s))
		tw.tokens += g
		if g < want {
			tw.spent[s] = true
			tw.nSpent++
		}
	}
	if tw.tokens >= need {
		tw.tokens -= need
		tw.used += need
		return true, 0
	}
	return false, retryAfterWindow(now)
}

// retryAfterWindow is the wait until the next second's window, at least a
// second (Retry-After counts whole seconds).
func retryAfterWindow(now time.Time) time.Duration {
	next := now.Truncate(time.Second).Add(time.Second)
	return max(next.Sub(now), time.Second)
}
