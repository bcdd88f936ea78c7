package scan_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/scan"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
)

// TestMain fails the run on leaked goroutines (see awstest.VerifyTestMain).
func TestMain(m *testing.M) { awstest.VerifyTestMain(m) }

const (
	bucket = 2 * time.Second
	w      = int64(bucket / time.Second)
)

// base is a bucket-aligned instant far from the wall clock, so only the
// manual clock decides what the scanner does.
var base = time.Date(2031, 3, 4, 5, 6, 0, 0, time.UTC)

// recorder passes every batch through to the real queue and remembers, in
// send order, the units it carried and what the cursor said at that moment.
type recorder struct {
	next  scan.Sender
	store scan.Store
	mu    sync.Mutex
	units []task.ScanUnit
	// dispatchingAtSend[i] is the cursor's Dispatching read just before
	// batch i was sent; maxInBatch[i] the highest bucket in it.
	dispatchingAtSend []int64
	maxInBatch        []int64
}

func (r *recorder) SendBatch(ctx context.Context, url string, msgs []task.OutMessage) error {
	cur, err := r.store.GetCursor(ctx)
	if err != nil {
		return err
	}
	var units []task.ScanUnit
	top := int64(-1 << 62)
	for _, m := range msgs {
		u, err := task.DecodeScanUnit(m.Body)
		if err != nil {
			return err
		}
		units = append(units, u)
		top = max(top, u.Bucket)
	}
	if err := r.next.SendBatch(ctx, url, msgs); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.units = append(r.units, units...)
	r.dispatchingAtSend = append(r.dispatchingAtSend, cur.Dispatching)
	r.maxInBatch = append(r.maxInBatch, top)
	return nil
}

// take returns the units recorded since the last take, split into fan and
// sweep units.
func (r *recorder) take() (fan, sweep []task.ScanUnit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range r.units {
		if u.Sweep {
			sweep = append(sweep, u)
		} else {
			fan = append(fan, u)
		}
	}
	r.units = nil
	return fan, sweep
}

type fixture struct {
	s     *stacktest.Stack
	clk   *clock.Manual
	rec   *recorder
	store scan.Store
}

// setup provisions a stack and a manual clock half a second into base's
// bucket.
func setup(t *testing.T) fixture {
	t.Helper()
	s := stacktest.New(t, stacktest.Options{Bucket: bucket})
	return fixture{
		s:     s,
		clk:   clock.NewManual(base.Add(500 * time.Millisecond)),
		rec:   &recorder{next: s.Comps.Queue, store: s.Comps.Store},
		store: s.Comps.Store,
	}
}

// scanner builds a scanner on the fixture's store, recorder and clock.
func (f fixture) scanner(shards int, lookahead, sweepDelay time.Duration, maxBuckets int) *scan.Scanner {
	return scan.New(scan.Config{
		Layout:     task.Layout{Bucket: bucket},
		Shards:     shards,
		Lookahead:  lookahead,
		SweepDelay: sweepDelay,
		MaxBuckets: maxBuckets,
		ScanQueue:  f.s.Res.ScanQueueURL,
	}, f.store, f.rec, f.clk, zerolog.Nop())
}

func tick(t *testing.T, sc *scan.Scanner) scan.Result {
	t.Helper()
	res, err := sc.Tick(context.Background())
	require.NoError(t, err)
	return res
}

// expectFan lists the units of buckets from..through (inclusive), every
// shard, in ascending bucket order.
func expectFan(from, through int64, shards int, sweep bool) []task.ScanUnit {
	var out []task.ScanUnit
	for b := from; b <= through; b += w {
		for sh := range shards {
			out = append(out, task.ScanUnit{Bucket: b, Shard: uint16(sh), Sweep: sweep})
		}
	}
	return out
}

// buckets lists the distinct buckets of units in the order they first appear.
func buckets(units []task.ScanUnit) []int64 {
	var out []int64
	for _, u := range units {
		if len(out) == 0 || out[len(out)-1] != u.Bucket {
			out = append(out, u.Bucket)
		}
	}
	return out
}

func TestFirstTickFansFromCurrentBucketThroughLookahead(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const shards = 3
	sc := f.scanner(shards, 5*time.Second, time.Hour, 0)

	res := tick(t, sc)

	// now = base+0.5s; now+5s = base+5.5s lies in bucket base+4.
	b0 := base.Unix()
	want := expectFan(b0, b0+2*w, shards, false)
	assert.Equal(t, b0, res.From)
	assert.Equal(t, b0+2*w, res.Through)
	assert.Equal(t, len(want), res.Units)
	assert.Zero(t, res.SweepUnits)
	assert.False(t, res.Behind)

	fan, sweep := f.rec.take()
	assert.Equal(t, want, fan, "units sent in ascending bucket order, every shard")
	assert.Empty(t, sweep)

	// What reached the scan queue is exactly those units.
	got := f.s.Units()
	assert.ElementsMatch(t, want, got)

	cur, err := f.store.GetCursor(context.Background())
	require.NoError(t, err)
	assert.True(t, cur.Exists)
	assert.Equal(t, shards, cur.Shards)
	assert.Equal(t, b0+2*w, cur.Fanned)
	assert.Equal(t, b0+2*w, cur.Dispatching)
	assert.Equal(t, b0-w, cur.Swept, "the cursor starts at the bucket before now's")
}

func TestTickAdvancesOnlyWithTheClock(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const shards = 2
	sc := f.scanner(shards, 4*time.Second, time.Hour, 0)

	first := tick(t, sc)
	require.Positive(t, first.Units)
	f.rec.take()

	again := tick(t, sc)
	assert.Zero(t, again.Units, "a second tick at the same time fans nothing")
	assert.Zero(t, again.SweepUnits)
	assert.Greater(t, again.From, again.Through, "From > Through when nothing was fanned")
	fan, _ := f.rec.take()
	assert.Empty(t, fan)

	// Half a bucket later the look-ahead edge has not crossed a bucket yet.
	f.clk.Advance(bucket / 4)
	res := tick(t, sc)
	assert.Zero(t, res.Units)

	f.clk.Advance(bucket)
	res = tick(t, sc)
	next := first.Through + w
	assert.Equal(t, next, res.From)
	assert.Equal(t, next, res.Through)
	assert.Equal(t, shards, res.Units, "one more bucket, every shard")
	fan, _ = f.rec.take()
	assert.Equal(t, expectFan(next, next, shards, false), fan)
}

func TestCatchUpAfterOutageDrainsOldestFirst(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const (
		shards     = 1
		maxBuckets = 8
		// buckets; 49 = 5×8 + 9, so one tick finds exactly MaxBuckets+1
		// buckets due and must still stop at MaxBuckets.
		outage = 49
	)
	// No sweeps in this test: SweepDelay is far longer than the outage.
	sc := f.scanner(shards, 4*time.Second, 24*time.Hour, maxBuckets)

	first := tick(t, sc)
	f.rec.take()
	f.clk.Advance(outage * bucket)
	target := (task.Layout{Bucket: bucket}).BucketOf(f.clk.Now().Add(4 * time.Second))

	var all []task.ScanUnit
	from := first.Through + w
	for i := 0; ; i++ {
		require.Less(t, i, outage, "the backlog never drained")
		res := tick(t, sc)
		fan, sweep := f.rec.take()
		require.Empty(t, sweep)
		require.Equal(t, from, res.From, "tick %d resumes after the last fanned bucket", i)
		if res.Behind {
			assert.Equal(t, from+int64(maxBuckets-1)*w, res.Through, "tick %d fans exactly MaxBuckets buckets", i)
			assert.Equal(t, maxBuckets*shards, res.Units)
		} else {
			assert.Equal(t, target, res.Through, "the last catch-up tick reaches now+lookahead")
			assert.LessOrEqual(t, (res.Through-res.From)/w+1, int64(maxBuckets))
		}
		assert.Equal(t, expectFan(res.From, res.Through, shards, false), fan, "tick %d: oldest first", i)
		all = append(all, fan...)
		from = res.Through + w
		if !res.Behind {
			break
		}
	}
	// Every bucket from the one after the first tick's through now+lookahead,
	// each exactly once, in order.
	assert.Equal(t, expectFan(first.Through+w, target, shards, false), all)

	res := tick(t, sc)
	assert.Zero(t, res.Units, "caught up: nothing left to fan")
	assert.False(t, res.Behind)
}

func TestDefaultMaxBucketsIsSixty(t *testing.T) {
	t.Parallel()
	f := setup(t)
	sc := f.scanner(1, 4*time.Second, 24*time.Hour, 0)
	first := tick(t, sc)
	// 61 buckets become due: one more than the default limit.
	f.clk.Advance(61 * bucket)

	res := tick(t, sc)
	assert.True(t, res.Behind)
	assert.Equal(t, 60, res.Units)
	assert.Equal(t, first.Through+w, res.From)
	assert.Equal(t, first.Through+60*w, res.Through)

	res = tick(t, sc)
	assert.False(t, res.Behind)
	assert.Equal(t, 1, res.Units)

	// Exactly the limit due: all of it in one tick, not behind.
	f.clk.Advance(60 * bucket)
	res = tick(t, sc)
	assert.False(t, res.Behind)
	assert.Equal(t, 60, res.Units)
}

func TestSweepEachPassedBucketOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const (
		shards     = 2
		sweepDelay = 3 * time.Second
	)
	sc := f.scanner(shards, 4*time.Second, sweepDelay, 6)
	b0 := base.Unix()

	var swept []task.ScanUnit
	check := func(when string) {
		t.Helper()
		// A bucket b is due its sweep once it ended (b+w) at least
		// sweepDelay ago; the first bucket the scanner owns is b0.
		now := f.clk.Now()
		var want []task.ScanUnit
		for b := b0; time.Unix(b+w, 0).Add(sweepDelay).Compare(now) <= 0; b += w {
			want = append(want, expectFan(b, b, shards, true)...)
		}
		assert.Equal(t, want, swept, "%s (now %s): swept buckets", when, now.Format(time.TimeOnly+".000"))
	}

	// Steady ticks every half second for 12s: every bucket is swept once,
	// when due and not before.
	for range 24 {
		res := tick(t, sc)
		_, sweep := f.rec.take()
		assert.Equal(t, len(sweep), res.SweepUnits)
		swept = append(swept, sweep...)
		check("steady")
		f.clk.Advance(bucket / 4)
	}
	require.NotEmpty(t, swept)

	// An outage of 20 buckets: sweeps catch up, at most MaxBuckets per
	// tick, without skipping or repeating a bucket.
	f.clk.Advance(20 * bucket)
	for i := 0; ; i++ {
		require.Less(t, i, 20, "sweeps never caught up")
		res := tick(t, sc)
		_, sweep := f.rec.take()
		assert.LessOrEqual(t, len(buckets(sweep)), 6, "sweep limited to MaxBuckets per tick")
		swept = append(swept, sweep...)
		if res.SweepUnits == 0 && !res.Behind {
			break
		}
	}
	check("after outage")

	cur, err := f.store.GetCursor(context.Background())
	require.NoError(t, err)
	assert.Equal(t, swept[len(swept)-1].Bucket, cur.Swept)
	assert.LessOrEqual(t, cur.Swept, cur.Fanned, "only fanned buckets are swept")
}

func TestShardGrowth(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	const look = 4 * time.Second

	res := tick(t, f.scanner(2, look, time.Hour, 0))
	assert.Equal(t, 3*2, res.Units)
	f.rec.take()

	// A scanner configured with more shards raises the count and fans it.
	f.clk.Advance(bucket)
	res = tick(t, f.scanner(4, look, time.Hour, 0))
	fan, _ := f.rec.take()
	assert.Equal(t, expectFan(res.From, res.Through, 4, false), fan)
	cur, err := f.store.GetCursor(ctx)
	require.NoError(t, err)
	assert.Equal(t, 4, cur.Shards)

	// A writer grows the count through EnsureCursor: an older scanner
	// configured for fewer shards fans the recorded count.
	require.NoError(t, f.store.EnsureCursor(ctx, 6, f.clk.Now()))
	f.clk.Advance(bucket)
	res = tick(t, f.scanner(2, look, time.Hour, 0))
	fan, _ = f.rec.take()
	assert.Equal(t, 6, res.Units)
	assert.Equal(t, expectFan(res.From, res.Through, 6, false), fan)

	// A scanner configured with FEWER shards never lowers the count.
	f.clk.Advance(bucket)
	res = tick(t, f.scanner(1, look, time.Hour, 0))
	fan, _ = f.rec.take()
	assert.Equal(t, expectFan(res.From, res.Through, 6, false), fan)
	cur, err = f.store.GetCursor(ctx)
	require.NoError(t, err)
	assert.Equal(t, 6, cur.Shards)
}

func TestDispatchingWrittenBeforeUnitsAreSent(t *testing.T) {
	t.Parallel()
	f := setup(t)
	sc := f.scanner(2, 4*time.Second, time.Second, 4)

	var last int64
	for range 6 {
		res := tick(t, sc)
		if res.Units > 0 {
			last = res.Through
		}
		cur, err := f.store.GetCursor(context.Background())
		require.NoError(t, err)
		assert.GreaterOrEqual(t, cur.Dispatching, last)
		assert.Equal(t, last, cur.Fanned)
		f.clk.Advance(3 * bucket)
	}

	// Every fan-out batch was sent only once the cursor announced its
	// buckets.
	f.rec.mu.Lock()
	defer f.rec.mu.Unlock()
	require.NotEmpty(t, f.rec.maxInBatch)
	for i, top := range f.rec.maxInBatch {
		assert.GreaterOrEqual(t, f.rec.dispatchingAtSend[i], top, "batch %d was sent before dispatching covered bucket %d", i, top)
	}
}
