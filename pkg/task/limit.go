package task

import (
	"sort"
	"time"
)

// Limit keys. A task may name a limit key (limit_key); a tenant may give
// the key a concurrency limit and a rate limit, which every worker holds
// across the deployment (see Limit.Acquire). The key is the tenant's own
// name, e.g. the API its tasks call.
const (
	// MaxLimitKeyLen is the longest limit key, in bytes.
	MaxLimitKeyLen = 64
	// MaxLimitConcurrency caps max_concurrency: the limit's item holds one
	// entry per holder, and a larger item costs more per write.
	MaxLimitConcurrency = 1000
	// MaxLimitPerSecond caps per_second.
	MaxLimitPerSecond = 10000
)

// ValidLimitKey reports whether k is 1 to MaxLimitKeyLen bytes of
// [A-Za-z0-9._:-]: safe in a URL path segment and in a storage key as it is.
func ValidLimitKey(k string) bool {
	if k == "" || len(k) > MaxLimitKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// LimitKeyRule is the rule ValidLimitKey checks, as a field error's reason.
const LimitKeyRule = "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'"

// Limit is a tenant's limits on one key: at most MaxConcurrency of its
// tasks' target calls at once and at most PerSecond started in any one
// second, across every worker. Zero means unlimited.
type Limit struct {
	Tenant         string
	Key            string
	MaxConcurrency int
	PerSecond      int
	UpdatedAt      time.Time
}

// LimitState is the shared state behind a limit, kept with it in one
// stored item and changed only by conditional writes fenced on Version.
type LimitState struct {
	// Holders maps each holder (one delivery's attempt) to its lease
	// expiry. An expired holder is reclaimed by the next acquire, so a
	// worker that crashes while holding a slot leaks it only until then.
	Holders map[string]time.Time
	// Slots counts the starts in each recent LimitSlot-wide slot, keyed by
	// slot number (Unix time / LimitSlot): the rate window.
	Slots map[int64]int
	// Version fences writes.
	Version int64
}

// LimitSlot is the rate window's granularity, and LimitWindowSlots its
// width: 24 slots of 50 ms, so an acquire counts the starts of the last
// 1.15 to 1.2 s (by the phase of the current slot). The 150 ms beyond one
// second are the slack for the time between a grant and its call reaching
// the target (the grant's write, the claim, the connection): two calls
// whose grants were up to 150 ms apart in lateness still fall in no
// one-second window at the target with more than PerSecond others. The
// price: a saturated key runs at PerSecond per 1.15 to 1.2 s.
const (
	LimitSlot        = 50 * time.Millisecond
	LimitWindowSlots = 24
)

// LimitGrant is an acquire's answer.
type LimitGrant struct {
	// Limited is false when the key has no limit: nothing was acquired
	// and nothing needs releasing.
	Limited bool
	// OK: a slot is held (release it after the target call).
	OK bool
	// RetryAfter, when !OK, is when a slot may be free: exact for the
	// rate, a guess for the concurrency (a holder's end is unknown).
	RetryAfter time.Duration
	// Reason, when !OK: "max_concurrency" or "per_second".
	Reason string
}

// ConcurrencyRetry is the wait suggested when every concurrent slot is
// held: a holder may finish at any moment.
const ConcurrencyRetry = 500 * time.Millisecond

// Acquire decides whether holder may start now under l, returning the
// state to write (with Version+1) when it may. It reclaims expired
// holders and drops slots older than the window. A holder already present
// (a retried acquire whose write was applied) is granted again without
// counting twice. Pure: the store applies the result with one conditional
// write.
func (l Limit) Acquire(s LimitState, holder string, now, leaseUntil time.Time) (LimitState, LimitGrant) {
	next := LimitState{Holders: make(map[string]time.Time, len(s.Holders)+1), Slots: make(map[int64]int, LimitWindowSlots), Version: s.Version + 1}
	for h, exp := range s.Holders {
		if exp.After(now) {
			next.Holders[h] = exp
		}
	}
	cur := now.UnixNano() / int64(LimitSlot)
	first := cur - LimitWindowSlots + 1
	inWindow := 0
	for slot, n := range s.Slots {
		if slot >= first && slot <= cur && n > 0 {
			next.Slots[slot] = n
			inWindow += n
		}
	}
	if _, ok := next.Holders[holder]; ok {
		next.Holders[holder] = leaseUntil
		return next, LimitGrant{Limited: true, OK: true}
	}
	if l.MaxConcurrency > 0 && len(next.Holders) >= l.MaxConcurrency {
		return s, LimitGrant{Limited: true, RetryAfter: ConcurrencyRetry, Reason: "max_concurrency"}
	}
	if l.PerSecond > 0 && inWindow >= l.PerSecond {
		return s, LimitGrant{Limited: true, RetryAfter: rateRetry(next.Slots, inWindow-l.PerSecond+1, first, now), Reason: "per_second"}
	}
	next.Holders[holder] = leaseUntil
	next.Slots[cur]++
	return next, LimitGrant{Limited: true, OK: true}
}

// rateRetry is how long until need starts have left the window: the
// window's oldest slots leave it first, each at the start of the slot
// LimitWindowSlots after it.
func rateRetry(slots map[int64]int, need int, first int64, now time.Time) time.Duration {
	keys := make([]int64, 0, len(slots))
	for k := range slots {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		need -= slots[k]
		if need <= 0 {
			leaves := time.Unix(0, (k+LimitWindowSlots)*int64(LimitSlot))
			if d := leaves.Sub(now); d > 0 {
				return d
			}
			return time.Millisecond
		}
	}
	return time.Unix(0, (first+LimitWindowSlots)*int64(LimitSlot)).Sub(now)
}
