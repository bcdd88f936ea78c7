package app

import (
	"context"
	"sync"
	"time"
)

// cursorCache remembers what this process has read of the scanner cursor's
// "dispatching" field (the last announced bucket), so that creates and
// reads need not read it each time.
//
// The field only ever rises: ddbstore.SetCursorField raises it under the
// condition "absent or lower" and EnsureCursor sets it only when absent. So
// the highest value ever read is a lower bound of the cursor at every later
// moment: a bucket it covers is announced, now and forever, and no read is
// needed to know it. A bucket it does not cover needs a read, and how fresh
// that read must be is the caller's rule (see announced).
type cursorCache struct {
	mu     sync.Mutex
	max    int64       // highest "dispatching" read so far
	last   *cursorRead // the latest-begun successful read
	flight *cursorRead // the latest-begun read still in progress
}

// cursorRead is one GetCursor call.
type cursorRead struct {
	began time.Time // time.Now() (monotonic) just before the call was sent
	at    time.Time // the server clock then (the view's freshness rule)
	done  chan struct{}
	err   error
}

// announced reports whether bucket has been announced by the scanner. The
// answer comes without a read when the highest value read so far covers
// bucket. Otherwise it comes from a read accepted by fresh: the latest
// successful read if fresh accepts it, else a read in flight that fresh
// accepts (one read serves every caller waiting on it), else a new read.
func (s *Tasks) announced(ctx context.Context, bucket int64, fresh func(r *cursorRead) bool) (bool, error) {
	ok, _, err := s.announcedAt(ctx, bucket, fresh)
	return ok, err
}

// announcedAt is announced, also returning, when the answer is "not
// announced", when the read that showed it began (time.Now, monotonic):
// the bucket was not announced at that moment.
func (s *Tasks) announcedAt(ctx context.Context, bucket int64, fresh func(r *cursorRead) bool) (bool, time.Time, error) {
	c := &s.cursor
	for joined := false; ; joined = true {
		c.mu.Lock()
		if bucket <= c.max {
			c.mu.Unlock()
			return true, time.Time{}, nil
		}
		if c.last != nil && fresh(c.last) {
			// An accepted read saw at most max, which is below bucket.
			began := c.last.began
			c.mu.Unlock()
			return false, began, nil
		}
		if f := c.flight; f != nil && fresh(f) && !joined {
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return false, time.Time{}, ctx.Err()
			}
			// Its answer is now max or last (or, if it failed — perhaps
			// its own caller gave up — this caller reads for itself).
			continue
		}
		f := &cursorRead{began: time.Now(), at: s.clock.Now(), done: make(chan struct{})}
		c.flight = f
		c.mu.Unlock()

		cur, err := s.store.GetCursor(ctx)

		c.mu.Lock()
		f.err = err
		if err == nil {
			c.max = max(c.max, cur.Dispatching)
			if c.last == nil || f.began.After(c.last.began) {
				c.last = f
			}
		}
		if c.flight == f {
			c.flight = nil
		}
		close(f.done)
		covered := bucket <= c.max
		c.mu.Unlock()
		if err != nil {
			return false, time.Time{}, err
		}
		if covered {
			return true, time.Time{}, nil
		}
		return false, f.began, nil
	}
}

// covers reports whether the highest value read so far covers bucket (it
// is announced, now and forever), without a read.
func (c *cursorCache) covers(bucket int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bucket <= c.max
}

// readAfter accepts only a read that began after t (the fast path: a read
// begun after the task's write).
func readAfter(t time.Time) func(r *cursorRead) bool {
	return func(r *cursorRead) bool { return r.began.After(t) }
}

// viewFreshness is how stale a task's shown state may be: a read of the
// cursor serves views for this long.
const viewFreshness = time.Second

// readWithin accepts a read that began less than viewFreshness ago by the
// server clock (views: many tasks shown for one read).
func (s *Tasks) readWithin() func(r *cursorRead) bool {
	now := s.clock.Now()
	return func(r *cursorRead) bool { return now.Sub(r.at) < viewFreshness }
}
