package poll

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/sqsq"
)

// fakeQueue records visibility changes; Receive hands out what was put in
// pending once, then waits for ctx or the wait; it never touches a network.
type fakeQueue struct {
	mu       sync.Mutex
	pending  []sqsq.Received
	extended [][]string               // handles of each ChangeVisibilityBatch call
	extendTo time.Duration            // the visibility they asked for
	changed  map[string]time.Duration // ChangeVisibility calls
	deleted  []string
	refuse   map[string]bool // handles ChangeVisibilityBatch reports failed
	fail     error           // ChangeVisibilityBatch fails as a whole
	receives []time.Duration // the visibility each Receive asked for
}

func (f *fakeQueue) Receive(ctx context.Context, _ string, max int32, wait, visibility time.Duration) ([]sqsq.Received, error) {
	f.mu.Lock()
	f.receives = append(f.receives, visibility)
	n := min(int(max), len(f.pending))
	got := f.pending[:n]
	f.pending = f.pending[n:]
	f.mu.Unlock()
	if len(got) > 0 {
		return got, nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, nil
	}
}

func (f *fakeQueue) DeleteBatch(_ context.Context, _ string, handles []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, handles...)
	return nil
}

func (f *fakeQueue) ChangeVisibility(_ context.Context, _ string, handle string, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.changed == nil {
		f.changed = map[string]time.Duration{}
	}
	f.changed[handle] = d
	return nil
}

func (f *fakeQueue) ChangeVisibilityBatch(_ context.Context, _ string, handles []string, d time.Duration) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.extended = append(f.extended, slices.Clone(handles))
	f.extendTo = d
	if f.fail != nil {
		return slices.Clone(handles), f.fail
	}
	var failed []string
	for _, h := range handles {
		if f.refuse[h] {
			failed = append(failed, h)
		}
	}
	if len(failed) > 0 {
		return failed, errors.New("refused")
	}
	return nil, nil
}

// calls returns a copy of the ChangeVisibilityBatch calls so far.
func (f *fakeQueue) calls() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.extended)
}

// handlesN names n receipt handles h00, h01, …
func handlesN(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("h%02d", i)
	}
	return out
}

func setupHolds(t *testing.T, vis time.Duration) (*holds, *fakeQueue, *clock.Manual) {
	t.Helper()
	q := &fakeQueue{}
	clk := clock.NewManual(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	return newHolds(q, "url", vis, clk, zerolog.Nop()), q, clk
}

// Only messages held for three quarters of the visibility are extended,
// and to a full visibility again.
func TestHeartbeatExtendsOnlyMessagesHeldLong(t *testing.T) {
	t.Parallel()
	h, q, clk := setupHolds(t, 6*time.Second)
	ctx := context.Background()

	h.add(clk.Now(), "old")
	clk.Advance(3 * time.Second)
	h.add(clk.Now(), "young")

	h.extend(ctx)
	require.Empty(t, q.calls(), "nothing held for 4.5 s yet")

	clk.Advance(time.Second) // old: 4 s held, 2 s left
	h.extend(ctx)
	require.Empty(t, q.calls(), "2 s left is more than the 1.5 s margin")

	clk.Advance(500 * time.Millisecond) // old: 4.5 s held, 1.5 s left; young: 1.5 s
	h.extend(ctx)
	require.Equal(t, [][]string{{"old"}}, q.calls())
	assert.Equal(t, 6*time.Second, q.extendTo)

	// old now has a full visibility from the call; young is due next.
	clk.Advance(3 * time.Second) // young: 4.5 s held; old: 3 s
	h.extend(ctx)
	require.Equal(t, [][]string{{"old"}, {"young"}}, q.calls())
}

// Due messages are extended 10 to a call, all of them.
func TestHeartbeatBatchesByTen(t *testing.T) {
	t.Parallel()
	h, q, clk := setupHolds(t, 6*time.Second)
	all := handlesN(23)
	h.add(clk.Now(), all...)
	clk.Advance(5 * time.Second)
	h.extend(context.Background())

	calls := q.calls()
	require.Len(t, calls, 3)
	var got []string
	for _, c := range calls {
		assert.LessOrEqual(t, len(c), 10)
		got = append(got, c...)
	}
	slices.Sort(got)
	assert.Equal(t, all, got)
}

// A failed extension is retried on the next round while the visibility
// lasts; a message whose visibility ran out is dropped (another consumer
// may hold it now).
func TestHeartbeatRetriesFailuresUntilTheVisibilityRunsOut(t *testing.T) {
	t.Parallel()
	h, q, clk := setupHolds(t, 6*time.Second)
	h.add(clk.Now(), "a", "b")
	q.refuse = map[string]bool{"b": true}
	clk.Advance(4500 * time.Millisecond)
	h.extend(context.Background())
	require.Len(t, q.calls(), 1)

	clk.Advance(time.Second) // a was extended (5 s left); b has 0.5 s left
	h.extend(context.Background())
	require.Equal(t, []string{"b"}, q.calls()[1], "the refused one is tried again")

	clk.Advance(time.Second) // b's visibility ran out
	h.extend(context.Background())
	assert.Len(t, q.calls(), 2, "no extension once the visibility ran out")
	assert.False(t, h.held("b"))
	assert.True(t, h.held("a"))

	q.fail = errors.New("throttled")
	clk.Advance(2500 * time.Millisecond) // a: 1.5 s left, the margin
	h.extend(context.Background())
	require.Len(t, q.calls(), 3)
	h.extend(context.Background())
	assert.True(t, h.held("a"), "a failed call leaves the message held for the next round")
}

// done ends the heartbeat of a message; release does too and then sets
// the redelivery delay the handler asked for.
func TestHeartbeatStopsOnDoneAndRelease(t *testing.T) {
	t.Parallel()
	h, q, clk := setupHolds(t, 6*time.Second)
	h.add(clk.Now(), "finished", "redeliver", "held")
	h.done("finished")
	require.NoError(t, h.release(context.Background(), "redeliver", 30*time.Second))
	clk.Advance(5 * time.Second)
	h.extend(context.Background())
	assert.Equal(t, [][]string{{"held"}}, q.calls())
	assert.Equal(t, map[string]time.Duration{"redeliver": 30 * time.Second}, q.changed)
}

// A running Poller receives with its visibility, heartbeats a batch its
// handler holds past three quarters of it, stops once the handler returns,
// deletes what succeeded, and routes a handler's delayed redelivery
// through ChangeVisibility so that no heartbeat overrides it.
func TestPollerHeartbeatsWhileTheHandlerRuns(t *testing.T) {
	t.Parallel()
	q := &fakeQueue{}
	for _, h := range handlesN(12) {
		q.pending = append(q.pending, sqsq.Received{MessageID: "id-" + h, ReceiptHandle: h, Body: h})
	}
	clk := clock.NewManual(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	release := make(chan struct{})
	p := &Poller{Name: "worker", Queue: q, URL: "url", Concurrency: 1, Wait: 50 * time.Millisecond,
		Visibility: 3 * time.Second, Clock: clk, MaxBatch: 12, Window: 10 * time.Millisecond, Log: zerolog.Nop()}
	entered := make(chan struct{})
	p.Handler = func(ctx context.Context, _ events.SQSEvent) (events.SQSEventResponse, error) {
		close(entered)
		<-release
		// h00 is redelivered after 40 s; h01 is failed plainly.
		require.NoError(t, p.ChangeVisibility(ctx, "url", "h00", 40*time.Second))
		return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "id-h00"}, {ItemIdentifier: "id-h01"}}}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	waitUntil(t, "the handler holds the batch", func() bool {
		select {
		case <-entered:
			return true
		default:
			return false
		}
	})
	clk.Advance(2500 * time.Millisecond) // past three quarters of 3 s
	waitUntil(t, "all 12 extended, 10 and 2", func() bool {
		n := 0
		for _, c := range q.calls() {
			n += len(c)
		}
		return n >= 12
	})
	for _, c := range q.calls() {
		assert.LessOrEqual(t, len(c), 10)
	}
	close(release)
	waitUntil(t, "10 deleted", func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return len(q.deleted) == 10
	})
	h := p.holds.Load()
	require.NotNil(t, h)
	for _, hd := range handlesN(12) {
		assert.False(t, h.held(hd), "%s still heartbeated after its handler returned", hd)
	}
	before := len(q.calls())
	clk.Advance(2500 * time.Millisecond)
	h.extend(context.Background())
	assert.Len(t, q.calls(), before, "no heartbeat after the handler returned")

	q.mu.Lock()
	assert.Equal(t, map[string]time.Duration{"h00": 40 * time.Second}, q.changed, "the redelivery delay is set")
	assert.NotContains(t, q.deleted, "h00")
	assert.NotContains(t, q.deleted, "h01")
	require.NotEmpty(t, q.receives)
	assert.Equal(t, 3*time.Second, q.receives[0], "receives ask for the poller's visibility")
	q.mu.Unlock()
}

// waitUntil polls cond every 10 ms for up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
