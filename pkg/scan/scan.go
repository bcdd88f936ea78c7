// Package scan is the scanner: on every tick (EventBridge rate(1 minute) in
// AWS, a ticker locally) it fans the (bucket, shard) partitions that become
// due within the look-ahead window into the scan queue, oldest first, and
// later fans each passed bucket once more as a "sweep" that picks up any task
// a crash left behind.
package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Store is what the scanner needs of the task store.
type Store interface {
	GetCursor(ctx context.Context) (task.Cursor, error)
	SetCursorField(ctx context.Context, field string, v int64) error
	EnsureCursor(ctx context.Context, shards int, now time.Time) error
}

// Sender sends batches of messages to a queue.
type Sender interface {
	SendBatch(ctx context.Context, url string, msgs []task.OutMessage) error
}

// Config sets the scanner's window.
type Config struct {
	Layout    task.Layout
	Shards    int           // shard count new tasks use
	Lookahead time.Duration // fan buckets starting up to now+Lookahead
	// SweepDelay: a bucket is swept once it ended this long ago (default
	// 30s; see config.Config.SweepDelay for the choice).
	SweepDelay time.Duration
	// MaxBuckets bounds the buckets fanned per tick, so that after an outage
	// the backlog drains oldest first at a bounded rate (default 60).
	MaxBuckets int
	ScanQueue  string // URL of the scan queue
	// AnnounceWait is how long a tick waits, once it has announced buckets
	// (raised "dispatching"), before it sends their units. A create whose
	// cursor read began at t0 and found its bucket unannounced, and whose
	// write returned less than AnnounceWait after t0 (both on its own
	// monotonic clock), is then certain to be seen by the dispatcher's
	// query: the announcement came after t0, the units at least
	// AnnounceWait later, so after the write. Such creates need not send
	// the task themselves (see package api). The API must use the same
	// value or a smaller one. Zero: no wait (every create then re-reads
	// the cursor after its write).
	AnnounceWait time.Duration
}

// Scanner fans partitions into the scan queue.
type Scanner struct {
	cfg   Config
	store Store
	q     Sender
	clock clock.Clock
	log   zerolog.Logger
}

// New returns a Scanner.
func New(cfg Config, store Store, q Sender, clk clock.Clock, log zerolog.Logger) *Scanner {
	if cfg.SweepDelay <= 0 {
		cfg.SweepDelay = 30 * time.Second
	}
	if cfg.MaxBuckets <= 0 {
		cfg.MaxBuckets = 60
	}
	return &Scanner{cfg: cfg, store: store, q: q, clock: clk, log: log.With().Str("component", "scanner").Logger()}
}

// Result says what one tick did.
type Result struct {
	From, Through int64 // buckets fanned (inclusive); From > Through when none
	Units         int
	SweepUnits    int
	Behind        bool // the bucket limit cut this tick short: more to catch up
}

// Tick runs one scan. It is safe to run concurrently with itself and to
// repeat after a crash at any point: the cursor only moves forward, and a unit
// sent twice makes the dispatcher send tasks twice at worst, which the worker
// deduplicates.
func (s *Scanner) Tick(ctx context.Context) (Result, error) {
	now := s.clock.Now()
	w := int64(s.cfg.Layout.Bucket / time.Second)
	cur, err := s.store.GetCursor(ctx)
	if err != nil {
		return Result{}, err
	}
	if !cur.Exists || cur.Shards < s.cfg.Shards {
		if err := s.store.EnsureCursor(ctx, s.cfg.Shards, now); err != nil {
			return Result{}, err
		}
		if cur, err = s.store.GetCursor(ctx); err != nil {
			return Result{}, err
		}
	}
	shards := max(cur.Shards, s.cfg.Shards)
	res := Result{From: cur.Fanned + w}
	through := s.cfg.Layout.BucketOf(now.Add(s.cfg.Lookahead))
	if lim := res.From + int64(s.cfg.MaxBuckets-1)*w; through > lim {
		through, res.Behind = lim, true
	}
	res.Through = through
	if res.From <= through {
		// Announce first, then send: a create that reads "dispatching" after
		// writing its task either sees the bucket announced (and sends the
		// task itself) or is certain the dispatcher's query comes later.
		if err := s.store.SetCursorField(ctx, "dispatching", through); err != nil {
			return res, err
		}
		// Measured from the raise's answer on this process's monotonic
		// clock: no clock is compared with another machine's.
		if err := wait(ctx, s.cfg.AnnounceWait); err != nil {
			return res, err
		}
		n, err := s.fan(ctx, res.From, through, shards, false)
		res.Units = n
		if err != nil {
			return res, err
		}
		if err := s.store.SetCursorField(ctx, "fanned", through); err != nil {
			return res, err
		}
	}
	// Sweep buckets that ended at least SweepDelay ago and were fanned.
	sweepFrom := cur.Swept + w
	sweepThrough := min(s.cfg.Layout.BucketOf(now.Add(-s.cfg.SweepDelay))-w, max(cur.Fanned, through))
	if lim := sweepFrom + int64(s.cfg.MaxBuckets-1)*w; sweepThrough > lim {
		sweepThrough = lim
	}
	if sweepFrom <= sweepThrough {
		n, err := s.fan(ctx, sweepFrom, sweepThrough, shards, true)
		res.SweepUnits = n
		if err != nil {
			return res, err
		}
		if err := s.store.SetCursorField(ctx, "swept", sweepThrough); err != nil {
			return res, err
		}
	}
	if res.Units > 0 || res.SweepUnits > 0 {
		s.log.Debug().Int64("from", res.From).Int64("through", res.Through).Int("units", res.Units).
			Int("sweep_units", res.SweepUnits).Bool("behind", res.Behind).Msg("fanned out")
	}
	return res, nil
}

func (s *Scanner) fan(ctx context.Context, from, through int64, shards int, sweep bool) (int, error) {
	w := int64(s.cfg.Layout.Bucket / time.Second)
	msgs := make([]task.OutMessage, 0, int((through-from)/w+1)*shards)
	for b := from; b <= through; b += w {
		for sh := 0; sh < shards; sh++ {
			body, _ := json.Marshal(task.ScanUnit{Bucket: b, Shard: uint16(sh), Sweep: sweep})
			msgs = append(msgs, task.OutMessage{Body: string(body)})
		}
	}
	if err := s.q.SendBatch(ctx, s.cfg.ScanQueue, msgs); err != nil {
		return 0, fmt.Errorf("fan out buckets %d-%d (sweep %v): %w", from, through, sweep, err)
	}
	return len(msgs), nil
}

// wait waits d, or until ctx ends (its error).
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
