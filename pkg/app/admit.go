package app

import (
	"context"
	"time"
)

// Admission of a batch create's writes. Each batch writes up to
// batchWriters tasks at once; without a bound across requests, a burst of
// concurrent batches (a load run's 16 × 100) queues 16 × 8 conditional
// PutItems at once, in front of the workers' reads and outcome writes (a
// serialised store such as the local emulator's DynamoDB answers them one
// at a time): creates then time out (the API's 10 s request timeout) and
// execution starves. createWriters bounds the writes in flight across
// every request of one instance (TasksConfig.CreateWriters); a task that
// cannot get a writer in time is refused before anything of it is
// written, and the caller sends it again after Retry-After.
const (
	// DefaultCreateWriters is the process-wide bound when
	// TasksConfig.CreateWriters is zero (HOURGLASS_CREATE_WRITERS). A
	// Lambda instance serves one request at a time (at most batchWriters
	// writes), so it binds only where one process serves many requests.
	DefaultCreateWriters = 64
	// writerWait is the longest one task of a batch waits for a writer.
	writerWait = time.Second
	// batchAdmitFor is how long after its start a batch may still begin
	// a store call; writeReserve is how long before its request's
	// deadline (the API's 10 s timeout) it stops beginning them, so that
	// the calls it began, its fast path and its answer fit before it.
	batchAdmitFor = 5 * time.Second
	writeReserve  = 5 * time.Second
	// busyRetryAfter is the Retry-After of a task refused for want of a
	// writer.
	busyRetryAfter = time.Second
)

// createWriters is a counting semaphore: a slot per store write in flight.
type createWriters struct {
	slots chan struct{}
}

func newCreateWriters(n int) *createWriters {
	if n <= 0 {
		n = DefaultCreateWriters
	}
	return &createWriters{slots: make(chan struct{}, n)}
}

// acquire takes a slot, waiting at most wait (and not past ctx); false
// when none came free. A true must be followed by release.
func (w *createWriters) acquire(ctx context.Context, wait time.Duration) bool {
	select {
	case w.slots <- struct{}{}:
		return true
	default:
	}
	if wait <= 0 {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case w.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

func (w *createWriters) release() { <-w.slots }

// admitDeadline is when a batch starting now stops beginning store calls:
// batchAdmitFor from now, or writeReserve before ctx's deadline if that is
// sooner. Wall-clock time, as ctx's deadline is: it bounds real waiting.
func admitDeadline(ctx context.Context, now time.Time) time.Time {
	until := now.Add(batchAdmitFor)
	if d, ok := ctx.Deadline(); ok && d.Add(-writeReserve).Before(until) {
		until = d.Add(-writeReserve)
	}
	return until
}

// admitWait is how long a batch may wait for a writer now: writerWait,
// less as it nears until, and nothing past it.
func admitWait(until, now time.Time) time.Duration {
	return min(writerWait, until.Sub(now))
}

// admit takes a create writer for a batch that stops beginning store
// calls at until: none once until has passed, even if one is free.
func (w *createWriters) admit(ctx context.Context, until time.Time) bool {
	wait := admitWait(until, time.Now())
	return wait > 0 && w.acquire(ctx, wait)
}

// errWritersBusy refuses what (one task of a batch, or the batch when
// none of it could be written), of which nothing was written.
func errWritersBusy(what string) *LimitExceeded {
	return &LimitExceeded{Detail: "this API instance's create writers are all busy (HOURGLASS_CREATE_WRITERS); nothing of this " + what + " was written", RetryAfter: busyRetryAfter}
}
