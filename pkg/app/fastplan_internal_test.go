package app

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/scan"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// orderStore is a linearizable in-memory task store and scanner cursor:
// every call takes effect at one instant under mu, so the tests below see
// exactly the orderings DynamoDB allows. onCreate, when set, runs at the
// start of each Create (before the write takes effect): a scanner that
// announces the task's bucket while the write is in flight.
type orderStore struct {
	Store // unused methods

	mu       sync.Mutex
	layout   task.Layout
	tasks    map[task.ID]*task.Task
	cur      task.Cursor
	onCreate func(t *task.Task)
	// lostAnswer makes Create apply the write and then fail, as a write
	// whose answer was lost does.
	lostAnswer bool
}

func newOrderStore(layout task.Layout) *orderStore {
	return &orderStore{layout: layout, tasks: map[task.ID]*task.Task{}}
}

func (m *orderStore) Create(_ context.Context, t *task.Task, _, _ string) (*task.Task, bool, error) {
	if m.onCreate != nil {
		m.onCreate(t)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *t
	m.tasks[t.ID] = &c
	if m.lostAnswer {
		return nil, false, errors.New("connection reset")
	}
	return t, true, nil
}

func (m *orderStore) get(id task.ID) task.Task {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.tasks[id]
}

func (m *orderStore) GetCursor(context.Context) (task.Cursor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur, nil
}

func (m *orderStore) announce(bucket int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cur.Dispatching = max(m.cur.Dispatching, bucket)
}

func (m *orderStore) EnsureCursor(_ context.Context, shards int, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.cur.Exists {
		b := m.layout.BucketOf(now) - int64(m.layout.Bucket/time.Second)
		m.cur = task.Cursor{Dispatching: b, Fanned: b, Swept: b, Exists: true}
	}
	m.cur.Shards = max(m.cur.Shards, shards)
	return nil
}

func (m *orderStore) SetCursorField(_ context.Context, field string, v int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch field {
	case "dispatching":
		m.cur.Dispatching = max(m.cur.Dispatching, v)
	case "fanned":
		m.cur.Fanned = max(m.cur.Fanned, v)
	case "swept":
		m.cur.Swept = max(m.cur.Swept, v)
	}
	return nil
}

// QueryScheduled answers one page: every SCHEDULED task of the partition.
func (m *orderStore) QueryScheduled(_ context.Context, bucket int64, shard uint16, _ string, _ int32) ([]*task.Task, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*task.Task
	for _, t := range m.tasks {
		if m.layout.BucketOf(t.ID.Due()) == bucket && t.ID.Shard == shard && t.State == task.Scheduled {
			c := *t
			out = append(out, &c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID.String() < out[j].ID.String() })
	return out, "", nil
}

// sendLog records every task message sent, by task, with its origin.
type sendLog struct {
	mu   sync.Mutex
	sent map[string][]task.Origin
}

func (l *sendLog) Send(_ context.Context, _ string, m task.OutMessage) error {
	return l.SendBatch(context.Background(), "", []task.OutMessage{m})
}

func (l *sendLog) SendBatch(_ context.Context, _ string, msgs []task.OutMessage) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sent == nil {
		l.sent = map[string][]task.Origin{}
	}
	for _, m := range msgs {
		tm, _, err := task.DecodeTaskMessage(m.Body)
		if err != nil {
			return err
		}
		l.sent[tm.ID] = append(l.sent[tm.ID], tm.Origin)
	}
	return nil
}

func (l *sendLog) of(id task.ID) []task.Origin {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]task.Origin(nil), l.sent[id.String()]...)
}

// orderSetup builds an API over an orderStore with the given AnnounceWait,
// and a dispatcher over the same store; both send to one sendLog.
func orderSetup(t *testing.T, wait time.Duration) (*Tasks, *orderStore, *dispatch.Dispatcher, *sendLog) {
	t.Helper()
	layout := task.Layout{Bucket: time.Second}
	st := newOrderStore(layout)
	q := &sendLog{}
	s := NewTasks(TasksConfig{Layout: layout, Shards: 1, Lookahead: time.Minute, TaskQueue: "tasks", AnnounceWait: wait, Limits: task.DefaultLimits()},
		st, q, clock.System{}, zerolog.Nop())
	d := dispatch.New(dispatch.Config{TaskQueue: "tasks"}, st, q, clock.System{}, zerolog.Nop())
	require.NoError(t, st.EnsureCursor(context.Background(), 1, time.Now()))
	return s, st, d, q
}

func createReq(due time.Time) task.CreateRequest {
	return task.CreateRequest{DueAt: due.UTC().Truncate(time.Millisecond), Target: task.Target{Kind: "webhook", Spec: json.RawMessage(`{"url":"https://example.com/h"}`)},
		Payload: json.RawMessage(`{}`), Retry: task.Retry{MaxAttempts: 1}}
}

// createAt creates one task due at due through Tasks.create.
func createAt(t *testing.T, s *Tasks, due time.Time) task.ID {
	t.Helper()
	c, err := s.create(context.Background(), zerolog.Nop(), "acme", createReq(due), "", "h", time.Now().UTC().Truncate(time.Millisecond))
	require.NoError(t, err)
	require.True(t, c.New)
	return c.Task.ID
}

func dispatchUnit(t *testing.T, d *dispatch.Dispatcher, layout task.Layout, id task.ID, sweep bool) {
	t.Helper()
	_, err := d.Dispatch(context.Background(), task.ScanUnit{Bucket: layout.BucketOf(id.Due()), Shard: id.Shard, Sweep: sweep})
	require.NoError(t, err)
}

// A bucket announced before the write: the item is marked, the create
// sends it, the dispatcher skips it; a sweep still sends it (a create that
// crashed after its write must still run).
func TestFastPathAnnouncedBeforeWriteIsMarkedAndSentOnce(t *testing.T) {
	t.Parallel()
	s, st, d, q := orderSetup(t, time.Hour)
	due := time.Now().Add(3 * time.Second)
	st.announce(st.layout.BucketOf(due))

	id := createAt(t, s, due)

	assert.True(t, st.get(id).FastPath, "the item says the create sends it")
	assert.Equal(t, []task.Origin{task.OriginFastPath}, q.of(id))
	dispatchUnit(t, d, st.layout, id, false)
	assert.Equal(t, []task.Origin{task.OriginFastPath}, q.of(id), "the dispatcher skips a marked task")
	dispatchUnit(t, d, st.layout, id, true)
	assert.Equal(t, []task.Origin{task.OriginFastPath, task.OriginSweep}, q.of(id), "the sweep does not")
}

// A marked write that fails may still have been applied, and no dispatcher
// would send its item: the create sends it anyway (the client gets a 503;
// the task runs on time rather than at the sweep).
func TestFastPathMarkedWriteWithLostAnswerIsStillSent(t *testing.T) {
	t.Parallel()
	s, st, _, q := orderSetup(t, time.Hour)
	due := time.Now().Add(3 * time.Second)
	st.announce(st.layout.BucketOf(due))
	st.lostAnswer = true

	_, err := s.create(context.Background(), zerolog.Nop(), "acme", createReq(due), "", "h", time.Now().UTC().Truncate(time.Millisecond))
	require.Error(t, err)
	require.Len(t, st.tasks, 1, "the write was applied")
	for id, tk := range st.tasks {
		assert.True(t, tk.FastPath)
		assert.Equal(t, []task.Origin{task.OriginFastPath}, q.of(id))
	}
}

// Announced while the write is in flight, and the write returned within
// AnnounceWait of the read that showed it unannounced: the scanner's wait
// puts the dispatcher's query after the write, so the create leaves the
// task to it — sent once, by the dispatcher. (The old rule read the cursor
// after the write, saw the bucket announced and sent it too.)
func TestFastPathAnnouncedDuringQuickWriteIsLeftToTheDispatcher(t *testing.T) {
	t.Parallel()
	s, st, d, q := orderSetup(t, time.Hour) // every write is "quick"
	due := time.Now().Add(3 * time.Second)
	st.onCreate = func(*task.Task) { st.announce(st.layout.BucketOf(due)) }

	id := createAt(t, s, due)

	assert.False(t, st.get(id).FastPath)
	assert.Empty(t, q.of(id), "not sent by the create")
	dispatchUnit(t, d, st.layout, id, false)
	assert.Equal(t, []task.Origin{task.OriginDispatch}, q.of(id), "sent once, by the dispatcher")
}

// A write slower than AnnounceWait falls back to the read after the write:
// announced by then, the create sends it (the dispatcher may too: the
// remaining overlap); not announced, the dispatcher does.
func TestFastPathSlowWriteFallsBackToReadAfterWrite(t *testing.T) {
	t.Parallel()
	s, st, d, q := orderSetup(t, time.Nanosecond) // every write is "slow"
	due := time.Now().Add(3 * time.Second)
	st.onCreate = func(*task.Task) { st.announce(st.layout.BucketOf(due)) }
	id := createAt(t, s, due)
	assert.False(t, st.get(id).FastPath)
	assert.Equal(t, []task.Origin{task.OriginFastPath}, q.of(id), "announced by the read after the write: sent")

	st.onCreate = nil
	later := time.Now().Add(10 * time.Second)
	id2 := createAt(t, s, later)
	assert.Empty(t, q.of(id2), "not announced: left to the dispatcher")
	dispatchUnit(t, d, st.layout, id2, false)
	assert.Equal(t, []task.Origin{task.OriginDispatch}, q.of(id2))
}

// A batch plans each task before its own write: an announced bucket's task
// is marked and sent, one announced during its quick write is not.
func TestFastPathBatchPlansEachTask(t *testing.T) {
	t.Parallel()
	s, st, d, q := orderSetup(t, time.Hour)
	early, late := time.Now().Add(2*time.Second), time.Now().Add(5*time.Second)
	st.announce(st.layout.BucketOf(early))
	st.onCreate = func(tk *task.Task) {
		if st.layout.BucketOf(tk.ID.Due()) == st.layout.BucketOf(late) {
			st.announce(st.layout.BucketOf(late))
		}
	}
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var (
		saved   []*task.Task
		created []bool
		plans   []fastPlan
		written []time.Time
	)
	for _, due := range []time.Time{early, late} {
		tk, c, plan, at, err := s.write(ctx, zerolog.Nop(), "acme", createReq(due), "", "h", now)
		require.NoError(t, err)
		saved, created, plans, written = append(saved, tk), append(created, c), append(plans, plan), append(written, at)
	}
	s.fastPathBatch(ctx, zerolog.Nop(), saved, created, plans, written, nil)

	a, b := saved[0].ID, saved[1].ID
	assert.True(t, st.get(a).FastPath)
	assert.False(t, st.get(b).FastPath)
	assert.Equal(t, []task.Origin{task.OriginFastPath}, q.of(a))
	assert.Empty(t, q.of(b))
	dispatchUnit(t, d, st.layout, a, false)
	dispatchUnit(t, d, st.layout, b, false)
	assert.Equal(t, []task.Origin{task.OriginFastPath}, q.of(a))
	assert.Equal(t, []task.Origin{task.OriginDispatch}, q.of(b))
}

// TestFastPathWithRealScannerNeitherLosesNorDoubles runs creates against a
// real scanner (announcing, waiting AnnounceWait, fanning) whose units a
// real dispatcher handles at once, over the in-memory store: creates land
// before, during and after their bucket's announcement. Writes here take
// microseconds, far under AnnounceWait (2 s: a create would have to stall
// for 1.5 s to fall back to the rule that may double), so every task must
// be sent exactly once — by the create or by the dispatcher, never both,
// never neither.
func TestFastPathWithRealScannerNeitherLosesNorDoubles(t *testing.T) {
	t.Parallel()
	const wait, lookahead = 2 * time.Second, 5 * time.Second
	layout := task.Layout{Bucket: time.Second}
	st := newOrderStore(layout)
	q := &sendLog{}
	s := NewTasks(TasksConfig{Layout: layout, Shards: 2, Lookahead: lookahead, TaskQueue: "tasks", AnnounceWait: wait, Limits: task.DefaultLimits()},
		st, q, clock.System{}, zerolog.Nop())
	d := dispatch.New(dispatch.Config{TaskQueue: "tasks"}, st, q, clock.System{}, zerolog.Nop())
	units := unitSender(func(u task.ScanUnit) {
		if !u.Sweep { // sweeps would resend marked tasks by design; not what this test counts
			_, _ = d.Dispatch(context.Background(), u)
		}
	})
	sc := scan.New(scan.Config{Layout: layout, Shards: 2, Lookahead: lookahead, ScanQueue: "scan", AnnounceWait: wait, SweepDelay: time.Hour},
		st, units, clock.System{}, zerolog.Nop())

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var scanning sync.WaitGroup
	scanning.Add(1)
	go func() {
		defer scanning.Done()
		for ctx.Err() == nil {
			_, _ = sc.Tick(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	var ids []task.ID
	var last time.Time
	pace := time.NewTicker(5 * time.Millisecond) // a create every 5 ms for 3 s
	defer pace.Stop()
	for start := time.Now(); time.Since(start) < 3*time.Second; <-pace.C {
		due := time.Now().Add(500*time.Millisecond + time.Duration(len(ids)%55)*100*time.Millisecond)
		ids = append(ids, createAt(t, s, due))
		if due.After(last) {
			last = due
		}
	}
	// Every bucket holding a task is fanned once the scanner's window has
	// passed it.
	require.Eventually(t, func() bool {
		c, _ := st.GetCursor(context.Background())
		return c.Fanned >= layout.BucketOf(last)
	}, 15*time.Second, 20*time.Millisecond)
	stop()
	scanning.Wait()

	fast, doubled := 0, 0
	for _, id := range ids {
		got := q.of(id)
		require.NotEmpty(t, got, "task %s was never sent", id)
		if len(got) > 1 {
			doubled++
			t.Errorf("task %s sent %d times: %v", id, len(got), got)
		}
		if got[0] == task.OriginFastPath {
			fast++
		}
	}
	t.Logf("%d tasks: %d sent by their create, %d by the dispatcher, %d twice", len(ids), fast, len(ids)-fast, doubled)
	assert.Positive(t, fast, "some creates landed in announced buckets")
	assert.Less(t, fast, len(ids), "some were left to the dispatcher")
}

// unitSender hands each scan unit to a function at once (a dispatcher
// receiving it immediately: the earliest its query could come).
type unitSender func(task.ScanUnit)

func (f unitSender) SendBatch(_ context.Context, _ string, msgs []task.OutMessage) error {
	for _, m := range msgs {
		u, err := task.DecodeScanUnit(m.Body)
		if err != nil {
			return err
		}
		f(u)
	}
	return nil
}

// countingCursor counts the cursor reads of an orderStore.
type countingCursor struct {
	*orderStore
	reads atomicCount
}

type atomicCount struct {
	mu sync.Mutex
	n  int
}

func (c *atomicCount) add() {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
}

func (c *atomicCount) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *countingCursor) GetCursor(ctx context.Context) (task.Cursor, error) {
	c.reads.add()
	return c.orderStore.GetCursor(ctx)
}

// A create of a task due past the horizon (its bucket cannot be announced
// yet) does its write and nothing else: no cursor read to plan its fast
// path, none to show it — single creates and batches alike (issue 18: no
// avoidable round trip). Within the horizon the reads stay.
func TestCreatePastHorizonReadsNoCursor(t *testing.T) {
	t.Parallel()
	layout := task.Layout{Bucket: time.Second}
	st := &countingCursor{orderStore: newOrderStore(layout)}
	require.NoError(t, st.EnsureCursor(context.Background(), 1, time.Now()))
	s := NewTasks(TasksConfig{Layout: layout, Shards: 1, Lookahead: 5 * time.Second, TaskQueue: "tasks", AnnounceWait: time.Second, Limits: task.DefaultLimits(), CreateRate: -1},
		st, &sendLog{}, clock.System{}, zerolog.Nop())

	far := time.Now().Add(time.Hour)
	id := createAt(t, s, far)
	assert.Equal(t, task.Scheduled, st.get(id).State)
	body, err := json.Marshal(map[string]any{"tasks": []map[string]any{
		{"due_at": far, "target": map[string]any{"kind": "webhook", "url": "https://example.com/h"}},
		{"due_at": far.Add(time.Minute), "target": map[string]any{"kind": "webhook", "url": "https://example.com/h"}},
	}})
	require.NoError(t, err)
	items, err := s.CreateBatch(context.Background(), zerolog.Nop(), "acme", CreateBatch{Body: body})
	require.NoError(t, err)
	for _, it := range items {
		require.NoError(t, it.Err)
		assert.Equal(t, task.Scheduled, it.Task.State)
	}
	assert.Zero(t, st.reads.get(), "no cursor read for tasks past the horizon")

	createAt(t, s, time.Now().Add(3*time.Second))
	assert.Positive(t, st.reads.get(), "a task within the horizon still plans its fast path with a read")
}
