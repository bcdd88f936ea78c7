package task

import "time"

// Backoff returns the wait before attempt n+1 after attempt n (1-based)
// failed: capped exponential growth with "equal jitter" — half fixed, half
// random — so retries of many tasks that failed together spread out but never
// come back sooner than half the nominal wait. rnd must return a value in
// [0, 1); it is injected so tests are deterministic.
func Backoff(r Retry, n int, rnd func() float64) time.Duration {
	if n < 1 {
		n = 1
	}
	base := r.InitialBackoff
	if base <= 0 {
		base = DefaultInitialBackoff
	}
	maxB := r.MaxBackoff
	if maxB < base {
		maxB = base
	}
	d := base
	for i := 1; i < n && d < maxB; i++ {
		if d > maxB/2 { // doubling would pass the cap (or overflow)
			d = maxB
			break
		}
		d *= 2
	}
	half := d / 2
	j := rnd()
	if !(j >= 0 && j < 1) { // also catches NaN, which converts to a huge negative Duration
		j = 0
	}
	return half + time.Duration(float64(d-half)*j)
}

// RedeliveryDelay is how long a message that could not be handled because a
// dependency failed (a store read, a send) waits before its next delivery,
// given how many times it has been received (SQS's
// ApproximateReceiveCount; 0 when unknown): base for the first receive,
// doubling with each receive up to 15 minutes. A queue's maxReceiveCount
// then bounds the outage a message survives rather than the number of
// polls during it: with base 3 s, ten receives span about 25 minutes, with
// 5 s about 36 (locally a fixed 3 s visibility spanned 30 s, so a 60 s
// DynamoDB outage sent scan units to their dead-letter queue).
func RedeliveryDelay(base time.Duration, receiveCount int) time.Duration {
	d := base
	for i := 1; i < receiveCount && d < 15*time.Minute; i++ {
		d *= 2
	}
	return min(d, 15*time.Minute)
}
