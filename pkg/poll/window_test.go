package poll_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/poll"
	"github.com/hourglass-sched/hourglass/pkg/sqsq"
	"github.com/hourglass-sched/hourglass/pkg/usage"
)

// longQueue is a fresh queue whose visibility timeout (30 s) outlasts any
// batching window here, as a task queue's does.
func longQueue(t *testing.T) (*sqsq.Queue, string) {
	t.Helper()
	return queueWith(t, 30*time.Second)
}

// batches records every batch the handler got.
type batches struct {
	mu    sync.Mutex
	sizes []int
	at    []time.Time
}

func (b *batches) handler(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sizes = append(b.sizes, len(ev.Records))
	b.at = append(b.at, time.Now())
	return events.SQSEventResponse{}, nil
}

func (b *batches) total() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, s := range b.sizes {
		n += s
	}
	return n
}

// With a batching window, the messages of several receives (10 at most
// each) reach the handler as one batch, as a Lambda mapping with a window
// and a batch size above 10 delivers them: one invocation, not three.
func TestWindowGathersReceivesIntoOneBatch(t *testing.T) {
	t.Parallel()
	q, url := longQueue(t)
	var bodies []string
	for i := range 25 {
		bodies = append(bodies, fmt.Sprintf("m-%02d", i))
	}
	send(t, q, url, bodies[:10]...)
	send(t, q, url, bodies[10:20]...)
	send(t, q, url, bodies[20:]...)

	var b batches
	counters := &usage.Counters{}
	p := &poll.Poller{Name: "worker", Queue: q, URL: url, Handler: b.handler, Concurrency: 2, Wait: time.Second,
		MaxBatch: 100, Window: 3 * time.Second, Usage: counters, MemoryMB: 128, Log: zerolog.Nop()}
	stop := start(t, p)
	waitFor(t, 20*time.Second, "all 25 handled", func() bool { return b.total() == 25 })
	stop()

	b.mu.Lock()
	defer b.mu.Unlock()
	assert.Equal(t, []int{25}, b.sizes, "one batch of 25")
	assert.EqualValues(t, 1, counters.Snapshot().LambdaInvocations["worker"])
	visible, inflight, delayed, err := q.Depth(context.Background(), url)
	require.NoError(t, err)
	assert.Zero(t, visible+inflight+delayed, "the batch was deleted")
}

// MaxBatch splits what a window gathered.
func TestMaxBatchSplitsTheWindow(t *testing.T) {
	t.Parallel()
	q, url := longQueue(t)
	var bodies []string
	for i := range 20 {
		bodies = append(bodies, fmt.Sprintf("m-%02d", i))
	}
	send(t, q, url, bodies[:10]...)
	send(t, q, url, bodies[10:]...)
	var b batches
	p := &poll.Poller{Name: "worker", Queue: q, URL: url, Handler: b.handler, Concurrency: 1, Wait: time.Second,
		MaxBatch: 7, Window: 3 * time.Second, Log: zerolog.Nop()}
	stop := start(t, p)
	waitFor(t, 20*time.Second, "all 20 handled", func() bool { return b.total() == 20 })
	stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, n := range b.sizes {
		assert.LessOrEqual(t, n, 7)
	}
	assert.GreaterOrEqual(t, len(b.sizes), 3)
}

// A message's deadline closes the window early: with a 30 s window, a
// message due 300 ms after it is received still reaches the handler at
// once rather than at the window's end.
func TestDeadlineClosesTheWindowEarly(t *testing.T) {
	t.Parallel()
	q, url := longQueue(t)
	var received atomic.Int64 // when the deadline function first saw the message (unix ns)
	var b batches
	p := &poll.Poller{Name: "worker", Queue: q, URL: url, Handler: b.handler, Concurrency: 1, Wait: time.Second,
		MaxBatch: 100, Window: 30 * time.Second, Log: zerolog.Nop(),
		Deadline: func(body string) (time.Time, bool) {
			now := time.Now()
			received.CompareAndSwap(0, now.UnixNano())
			if body == "urgent" {
				return now.Add(300 * time.Millisecond), true
			}
			return time.Time{}, false
		}}
	stop := start(t, p)
	send(t, q, url, "urgent")
	waitFor(t, 10*time.Second, "the urgent message handled", func() bool { return b.total() == 1 })
	stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	got := b.at[0].Sub(time.Unix(0, received.Load()))
	assert.Less(t, got, 2*time.Second, "handed over by its deadline, not after the 30 s window")
	assert.GreaterOrEqual(t, got, 250*time.Millisecond, "and not before: the window waited for more until the deadline")
}

// LeadPerMessage hands a larger batch over earlier than its earliest
// deadline: six messages, each due for the handler 3 s after it is seen,
// with 400 ms a message after the first, go at about 1 s, not at 3 s.
func TestLeadPerMessageHandsLargerBatchesOverEarlier(t *testing.T) {
	t.Parallel()
	q, url := longQueue(t)
	send(t, q, url, "a", "b", "c", "d", "e", "f")
	var seen atomic.Int64 // when the deadline function first saw a message (unix ns)
	var b batches
	p := &poll.Poller{Name: "worker", Queue: q, URL: url, Handler: b.handler, Concurrency: 1, Wait: time.Second,
		MaxBatch: 100, Window: 30 * time.Second, LeadPerMessage: 400 * time.Millisecond, Log: zerolog.Nop(),
		Deadline: func(string) (time.Time, bool) {
			now := time.Now()
			seen.CompareAndSwap(0, now.UnixNano())
			return now.Add(3 * time.Second), true
		}}
	stop := start(t, p)
	waitFor(t, 10*time.Second, "all six handled", func() bool { return b.total() == 6 })
	stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	require.Equal(t, []int{6}, b.sizes, "one batch")
	got := b.at[0].Sub(time.Unix(0, seen.Load()))
	assert.Less(t, got, 2200*time.Millisecond, "handed over 5 × 400 ms before the earliest deadline, not at it")
	assert.GreaterOrEqual(t, got, 600*time.Millisecond, "and not before: the window waited until then")
}

// Each batch's context is bounded from that batch's start (Grace plus a
// minute), not from Run's: a bound taken once in Run expired every later
// batch's context a minute into the run (found by the bench).
func TestEachBatchGetsItsOwnDeadline(t *testing.T) {
	t.Parallel()
	q, url := longQueue(t)
	var left atomic.Int64 // the handler's deadline minus its start, in ms
	p := &poll.Poller{Name: "worker", Queue: q, URL: url, Concurrency: 1, Wait: time.Second, Grace: time.Millisecond, Log: zerolog.Nop(),
		Handler: func(ctx context.Context, _ events.SQSEvent) (events.SQSEventResponse, error) {
			if d, ok := ctx.Deadline(); ok {
				left.Store(time.Until(d).Milliseconds())
			}
			return events.SQSEventResponse{}, nil
		}}
	stop := start(t, p)
	time.Sleep(3 * time.Second) // the run is 3 s old when the batch arrives
	send(t, q, url, "late")
	waitFor(t, 15*time.Second, "the batch handled", func() bool { return left.Load() != 0 })
	stop()
	assert.Greater(t, left.Load(), int64(59_500), "a minute (+ Grace) from the batch's start, not from Run's")
}

// Without a window, a receive loop takes a handler slot before it
// receives: with every slot busy, nothing more is received, so a process
// that dies strands only what it was handling (the rest of the queue stays
// visible to others rather than waiting out a visibility timeout).
func TestNoWindowReceivesOnlyWhatItCanHandle(t *testing.T) {
	t.Parallel()
	q, url := longQueue(t)
	entered := make(chan struct{}, 4)
	release := make(chan struct{})
	p := &poll.Poller{Name: "dispatcher", Queue: q, URL: url, Batch: 1, Concurrency: 2, MaxInFlight: 1, Wait: time.Second, Log: zerolog.Nop(),
		Handler: func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			entered <- struct{}{}
			<-release
			return events.SQSEventResponse{}, nil
		}}
	send(t, q, url, "first", "second")
	stop := start(t, p)
	select {
	case <-entered:
	case <-time.After(15 * time.Second):
		t.Fatal("the handler never got a message")
	}
	// Two loops, one slot: give a wrong poller time to take the second
	// message while the first is handled (an observation window).
	time.Sleep(2500 * time.Millisecond)
	visible, inflight, _, err := q.Depth(context.Background(), url)
	require.NoError(t, err)
	assert.Equal(t, 1, inflight, "only the message being handled is received")
	assert.Equal(t, 1, visible, "the other stays on the queue")
	close(release)
	waitFor(t, 15*time.Second, "both handled", func() bool { return len(entered) == 1 })
	stop()
}
