package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// admitSetup builds a task service with writers create writers over an
// orderStore whose every write takes writeFor, and counts the writes in
// flight at once (the most in *peak).
func admitSetup(t *testing.T, writers int, writeFor time.Duration) (s *Tasks, st *orderStore, peak *atomic.Int64) {
	t.Helper()
	layout := task.Layout{Bucket: time.Second}
	st = newOrderStore(layout)
	var inFlight atomic.Int64
	peak = &atomic.Int64{}
	st.onCreate = func(*task.Task) {
		n := inFlight.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(writeFor)
		inFlight.Add(-1)
	}
	s = NewTasks(TasksConfig{Layout: layout, Shards: 1, Lookahead: time.Minute, TaskQueue: "tasks", Limits: task.DefaultLimits(), CreateRate: -1, CreateWriters: writers},
		st, &sendLog{}, clock.System{}, zerolog.Nop())
	require.NoError(t, st.EnsureCursor(context.Background(), 1, time.Now()))
	return s, st, peak
}

func batchBody(n int) []byte {
	due := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	docs := make([]string, n)
	for i := range docs {
		docs[i] = fmt.Sprintf(`{"due_at": %q, "target": {"kind": "webhook", "url": "https://example.com/hook"}}`, due)
	}
	return []byte(`{"tasks": [` + strings.Join(docs, ",") + `]}`)
}

func (m *orderStore) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.tasks)
}

// TestCreateWritersBoundAcrossRequests: concurrent batches (each would
// write batchWriters tasks at once) never have more writes in flight
// between them than the instance's create writers, and, the writes being
// quick, every task is still created.
func TestCreateWritersBoundAcrossRequests(t *testing.T) {
	t.Parallel()
	const writers, batches, size = 3, 4, 12
	s, st, peak := admitSetup(t, writers, 10*time.Millisecond)
	var wg sync.WaitGroup
	errs := make([]error, batches)
	created := make([]int, batches)
	for b := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			items, err := s.CreateBatch(context.Background(), zerolog.Nop(), "acme", CreateBatch{Body: batchBody(size)})
			errs[b] = err
			for _, it := range items {
				if it.Err == nil && it.New {
					created[b]++
				}
			}
		}()
	}
	wg.Wait()
	for b := range batches {
		require.NoError(t, errs[b])
		assert.Equal(t, size, created[b], "batch %d", b)
	}
	assert.Equal(t, batches*size, st.count())
	assert.LessOrEqual(t, peak.Load(), int64(writers), "writes in flight across requests")
	assert.Equal(t, int64(writers), peak.Load(), "the writers were all used")
}

// TestCreateWritersRefuseUnwritten: a batch that cannot get a writer
// within writerWait is refused as a whole (429 with Retry-After), at once
// rather than at the request timeout, having written nothing.
func TestCreateWritersRefuseUnwritten(t *testing.T) {
	t.Parallel()
	s, st, _ := admitSetup(t, 1, 0)
	require.True(t, s.writers.acquire(context.Background(), 0)) // another request's write
	begin := time.Now()
	items, err := s.CreateBatch(context.Background(), zerolog.Nop(), "acme", CreateBatch{Body: batchBody(5)})
	took := time.Since(begin)
	var le *LimitExceeded
	require.True(t, errors.As(err, &le), "err %v", err)
	assert.Nil(t, items)
	assert.Equal(t, busyRetryAfter, le.RetryAfter)
	assert.Contains(t, le.Detail, "HOURGLASS_CREATE_WRITERS")
	assert.GreaterOrEqual(t, took, writerWait, "waited for a writer first")
	assert.Less(t, took, writerWait+2*time.Second, "refused promptly")
	assert.Zero(t, st.count(), "nothing written")

	s.writers.release()
	items, err = s.CreateBatch(context.Background(), zerolog.Nop(), "acme", CreateBatch{Body: batchBody(5)})
	require.NoError(t, err)
	for i, it := range items {
		assert.NoError(t, it.Err, "item %d once the writer is free", i)
	}
	assert.Equal(t, 5, st.count())
}

// TestCreateWritersRefuseRestOfBatch: with one writer held by a slow write
// (longer than writerWait), the batch's first task is written and every
// later one is refused on its own item, unwritten; the batch answers.
func TestCreateWritersRefuseRestOfBatch(t *testing.T) {
	t.Parallel()
	s, st, _ := admitSetup(t, 1, writerWait+300*time.Millisecond)
	items, err := s.CreateBatch(context.Background(), zerolog.Nop(), "acme", CreateBatch{Body: batchBody(4)})
	require.NoError(t, err)
	require.Len(t, items, 4)
	require.NoError(t, items[0].Err)
	assert.True(t, items[0].New)
	for i, it := range items[1:] {
		var le *LimitExceeded
		assert.True(t, errors.As(it.Err, &le), "item %d: %v", i+1, it.Err)
		assert.Nil(t, it.Task)
	}
	assert.Equal(t, 1, st.count(), "only the first task written")
}

// TestAdmitWait: a batch waits writerWait for each writer until it nears
// batchAdmitFor after its start, or writeReserve before its request's
// deadline, then less, then not at all.
func TestAdmitWait(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	until := admitDeadline(context.Background(), t0)
	assert.Equal(t, t0.Add(batchAdmitFor), until)
	assert.Equal(t, writerWait, admitWait(until, t0))
	assert.Equal(t, 300*time.Millisecond, admitWait(until, until.Add(-300*time.Millisecond)))
	assert.LessOrEqual(t, admitWait(until, until), time.Duration(0))
	// A request already 7 s into its 10 s has 2 s less than writeReserve
	// left: it begins no store call.
	ctx, cancelD := context.WithDeadline(context.Background(), t0.Add(3*time.Second))
	defer cancelD()
	assert.Equal(t, t0.Add(3*time.Second-writeReserve), admitDeadline(ctx, t0))
	assert.LessOrEqual(t, admitWait(admitDeadline(ctx, t0), t0), time.Duration(0))
	w := newCreateWriters(2)
	require.True(t, w.acquire(context.Background(), 0))
	require.True(t, w.acquire(context.Background(), 0))
	assert.False(t, w.acquire(context.Background(), 0), "a third, without waiting")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.False(t, w.acquire(ctx, time.Hour), "a cancelled request stops waiting")
	go func() { time.Sleep(20 * time.Millisecond); w.release() }()
	assert.True(t, w.acquire(context.Background(), 5*time.Second), "a waiter gets the freed writer")
	assert.Equal(t, DefaultCreateWriters, cap(newCreateWriters(0).slots))
}

// TestCreateWritersRefuseLateRequest: a batch whose request has less than
// writeReserve left (its time went in waiting before it) begins no store
// call: refused at once, nothing written.
func TestCreateWritersRefuseLateRequest(t *testing.T) {
	t.Parallel()
	s, st, _ := admitSetup(t, 4, 0)
	ctx, cancel := context.WithTimeout(context.Background(), writeReserve-time.Second)
	defer cancel()
	begin := time.Now()
	_, err := s.CreateBatch(ctx, zerolog.Nop(), "acme", CreateBatch{Body: batchBody(3)})
	var le *LimitExceeded
	require.True(t, errors.As(err, &le), "err %v", err)
	assert.Less(t, time.Since(begin), 500*time.Millisecond, "refused without waiting")
	assert.Zero(t, st.count())
}
