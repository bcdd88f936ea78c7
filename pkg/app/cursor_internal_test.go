package app

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// gatedCursor is a Store whose GetCursor announces itself on started with
// its own gate, blocks until that gate is closed, and answers the value
// dispatching had when it was sent.
type gatedCursor struct {
	Store
	reads       atomic.Int64
	started     chan chan struct{}
	dispatching atomic.Int64
}

func (g *gatedCursor) GetCursor(ctx context.Context) (task.Cursor, error) {
	g.reads.Add(1)
	v := g.dispatching.Load()
	gate := make(chan struct{})
	g.started <- gate
	select {
	case <-gate:
	case <-ctx.Done():
		return task.Cursor{}, ctx.Err()
	}
	return task.Cursor{Dispatching: v, Exists: true}, nil
}

func newGated() (*Tasks, *gatedCursor) {
	g := &gatedCursor{started: make(chan chan struct{}, 8)}
	return NewTasks(TasksConfig{}, g, nil, clock.System{}, zerolog.Nop()), g
}

// TestAnnouncedReadOrder: a caller needing a read begun after its write
// never takes the answer of a read that began before it, but callers whose
// rule accepts a read in flight share it; a cached value that covers the
// bucket needs no read at all.
func TestAnnouncedReadOrder(t *testing.T) {
	t.Parallel()
	s, g := newGated()
	ctx := context.Background()
	g.dispatching.Store(10)

	type answer struct {
		ok  bool
		err error
	}
	ask := func(bucket int64, fresh func(*cursorRead) bool) chan answer {
		ch := make(chan answer, 1)
		go func() { ok, err := s.announced(ctx, bucket, fresh); ch <- answer{ok, err} }()
		return ch
	}

	// A starts a read; B, whose write returned after A's read began, must
	// not use it; C, content with any read begun after an earlier instant,
	// joins B's.
	before := time.Now()
	a := ask(20, readAfter(before))
	gateA := <-g.started
	g.dispatching.Store(20) // the scanner announces bucket 20 …
	written := time.Now()   // … and then B's write returns
	b := ask(20, readAfter(written))
	gateB := <-g.started
	c := ask(20, readAfter(written))
	// A's read answers 10 (it was sent before the announcement).
	close(gateA)
	require.False(t, (<-a).ok, "A's read saw 10")
	// B's read answers 20, to B and to C.
	close(gateB)
	var wg sync.WaitGroup
	for _, ch := range []chan answer{b, c} {
		wg.Add(1)
		go func() { defer wg.Done(); r := <-ch; assert.NoError(t, r.err); assert.True(t, r.ok) }()
	}
	wg.Wait()
	assert.EqualValues(t, 2, g.reads.Load(), "C shared B's read; B did not take A's")

	// Covered by the cached maximum: no read, whatever the freshness rule.
	ok, err := s.announced(ctx, 15, readAfter(time.Now()))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.EqualValues(t, 2, g.reads.Load())

	// A view within a second of a read uses it for a bucket not covered.
	ok, err = s.announced(ctx, 30, s.readWithin())
	require.NoError(t, err)
	assert.False(t, ok)
	assert.EqualValues(t, 2, g.reads.Load())
}

// TestAnnouncedJoinerReadsAfterFailedRead: when the read a caller joined
// fails (its own caller gave up), the joiner reads for itself.
func TestAnnouncedJoinerReadsAfterFailedRead(t *testing.T) {
	t.Parallel()
	s, g := newGated()
	g.dispatching.Store(5)
	cctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	since := time.Now()
	go func() { _, err := s.announced(cctx, 5, readAfter(since)); first <- err }()
	<-g.started // never released: the first caller gives up
	second := make(chan bool, 1)
	go func() { ok, _ := s.announced(context.Background(), 5, readAfter(since)); second <- ok }()
	// Let the second caller find the read in flight, then fail it.
	require.Eventually(t, func() bool {
		s.cursor.mu.Lock()
		defer s.cursor.mu.Unlock()
		return s.cursor.flight != nil
	}, time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	cancel()
	require.ErrorIs(t, <-first, context.Canceled)
	close(<-g.started)
	assert.True(t, <-second)
	assert.EqualValues(t, 2, g.reads.Load())
}
