package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/memstore"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

// These tests run the worker against the in-memory store (which passes the
// store conformance suite), in both claim modes where the mode matters.

// outbox keeps what the worker sends, per queue URL.
type outbox struct {
	mu   sync.Mutex
	msgs map[string][]task.OutMessage
}

func (o *outbox) Send(_ context.Context, url string, m task.OutMessage) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.msgs == nil {
		o.msgs = map[string][]task.OutMessage{}
	}
	o.msgs[url] = append(o.msgs[url], m)
	return nil
}

func (o *outbox) on(url string) []task.OutMessage {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]task.OutMessage(nil), o.msgs[url]...)
}

// stored creates a SCHEDULED task due at due in a fresh memstore, and its
// dispatch message.
func stored(t *testing.T, due time.Time, retry task.Retry) (*memstore.Store, *task.Task, string) {
	t.Helper()
	id, err := task.NewID(due, 1)
	require.NoError(t, err)
	tg := task.Target{Kind: "webhook", Spec: json.RawMessage(`{"kind":"webhook","url":"https://hooks.example.com/x"}`)}
	tk := &task.Task{ID: id, Tenant: "acme", DueAt: id.Due(), Target: tg, Payload: json.RawMessage(`{}`), Retry: retry,
		State: task.Scheduled, Version: 1, PayloadHash: task.PayloadHash(tg, json.RawMessage(`{}`)), CreatedAt: due.Add(-time.Hour)}
	st := newStore()
	_, _, err = st.Create(context.Background(), tk, "", "")
	require.NoError(t, err)
	return st, tk, task.NewTaskMessage(tk, task.OriginDispatch).Encode()
}

// A failing target is retried with backoff until the budget is spent: each
// failure records an attempt and queues the retry message with the backoff
// as its delay; the last one makes the task FAILED, dead-letters it with
// its error, and puts it in the by_failed listing.
func TestRetriesThenDeadLetters(t *testing.T) {
	t.Parallel()
	for _, claim := range []bool{false, true} {
		t.Run(map[bool]string{false: "claim=none", true: "claim=lease"}[claim], func(t *testing.T) {
			t.Parallel()
			now := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
			clk := clock.NewManual(now)
			retry := task.Retry{MaxAttempts: 2, InitialBackoff: 4 * time.Second, MaxBackoff: time.Minute}
			st, tk, body := stored(t, now.Add(-time.Second), retry)
			out := &outbox{}
			w := worker.New(worker.Config{TaskQueue: "tasks", DLQ: "dlq", ID: "w1", Claim: claim}, st, out,
				[]target.Executor{failingExec{}}, clk, zerolog.Nop())
			ctx := context.Background()

			require.NoError(t, w.Handle(ctx, worker.Delivery{MessageID: "m1", Body: body}))
			got, err := st.Get(ctx, tk.ID)
			require.NoError(t, err)
			assert.Equal(t, task.Retrying, got.State)
			assert.Equal(t, 1, got.AttemptN)
			require.Len(t, got.Attempts, 1)
			assert.Equal(t, "retrying", got.Attempts[0].Outcome)
			assert.Equal(t, 503, got.Attempts[0].StatusCode)
			assert.Contains(t, got.LastError, "503")
			retries := out.on("tasks")
			require.Len(t, retries, 1, "the retry is queued")
			assert.WithinDuration(t, got.NextAt, now.Add(retries[0].Delay), time.Millisecond, "delayed until the next attempt (stored to the ms)")
			assert.Positive(t, retries[0].Delay)
			assert.LessOrEqual(t, retries[0].Delay, retry.MaxBackoff)
			m, _, err := task.DecodeTaskMessage(retries[0].Body)
			require.NoError(t, err)
			assert.Equal(t, task.OriginRetry, m.Origin)

			clk.Set(got.NextAt)
			require.NoError(t, w.Handle(ctx, worker.Delivery{MessageID: "m2", Body: retries[0].Body}))
			got, err = st.Get(ctx, tk.ID)
			require.NoError(t, err)
			assert.Equal(t, task.Failed, got.State, "the budget is spent")
			assert.Equal(t, 2, got.AttemptN)
			assert.Len(t, got.Attempts, 2)
			assert.Empty(t, got.LeaseOwner)
			dead := out.on("dlq")
			require.Len(t, dead, 1)
			assert.Equal(t, "acme", dead[0].Attributes["tenant"])
			assert.Equal(t, "2", dead[0].Attributes["attempts"])
			assert.Contains(t, dead[0].Attributes["error"], "503")
			assert.Len(t, out.on("tasks"), 1, "no third attempt is queued")
			failed, _, err := st.ListFailedIDs(ctx, task.ListQuery{Tenant: "acme", Limit: 10})
			require.NoError(t, err)
			require.Len(t, failed, 1)
			assert.Equal(t, tk.ID, failed[0].ID)

			// The dead-letter message's redelivery changes nothing.
			require.NoError(t, w.Handle(ctx, worker.Delivery{MessageID: "m3", Body: retries[0].Body, ReceiveCount: 2}))
			again, err := st.Get(ctx, tk.ID)
			require.NoError(t, err)
			assert.Equal(t, got, again)
		})
	}
}

type permanentExec struct{ n atomic.Int64 }

func (*permanentExec) Kind() string                                 { return "webhook" }
func (*permanentExec) Validate(json.RawMessage) []target.FieldError { return nil }
func (e *permanentExec) Execute(context.Context, target.Invocation) (target.Result, error) {
	e.n.Add(1)
	return target.Result{StatusCode: 410}, target.Permanent(errors.New("410 Gone"))
}

// A permanent failure spends no further attempts: FAILED on the first.
func TestPermanentFailureFailsAtOnce(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	st, tk, body := stored(t, now.Add(-time.Second), task.Retry{MaxAttempts: 5, InitialBackoff: time.Second, MaxBackoff: time.Minute})
	out := &outbox{}
	exec := &permanentExec{}
	w := worker.New(worker.Config{TaskQueue: "tasks", DLQ: "dlq", ID: "w1"}, st, out, []target.Executor{exec}, clock.NewManual(now), zerolog.Nop())

	require.NoError(t, w.Handle(context.Background(), worker.Delivery{MessageID: "m", Body: body}))
	got, err := st.Get(context.Background(), tk.ID)
	require.NoError(t, err)
	assert.Equal(t, task.Failed, got.State)
	assert.Equal(t, 1, got.AttemptN)
	assert.Equal(t, int64(1), exec.n.Load())
	assert.Len(t, out.on("dlq"), 1)
	assert.Empty(t, out.on("tasks"))
}

// cancellingExec cancels its task through the store while the target runs,
// as a user's DELETE racing the call would.
type cancellingExec struct{ st *memstore.Store }

func (*cancellingExec) Kind() string                                 { return "webhook" }
func (*cancellingExec) Validate(json.RawMessage) []target.FieldError { return nil }
func (e *cancellingExec) Execute(ctx context.Context, inv target.Invocation) (target.Result, error) {
	id, err := task.ParseID(inv.TaskID)
	if err != nil {
		return target.Result{}, err
	}
	if _, err := e.st.Withdraw(ctx, id, inv.Tenant, inv.DueAt); err != nil {
		return target.Result{}, err
	}
	return target.Result{StatusCode: 200}, nil
}

// Without a claim, a task cancelled while its target ran is fenced off
// (worker.ErrFencedOff inside): nothing is recorded over the cancel, no
// outcome is reported, and the message is done with.
func TestOutcomeAfterACancelIsFencedOff(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	st, tk, body := stored(t, now.Add(-time.Second), task.Retry{MaxAttempts: 3, InitialBackoff: time.Second, MaxBackoff: time.Minute})
	ev := &finishedEvents{}
	w := worker.New(worker.Config{TaskQueue: "tasks", DLQ: "dlq", ID: "w1", Events: ev}, st, &outbox{},
		[]target.Executor{&cancellingExec{st: st}}, clock.NewManual(now), zerolog.Nop())

	require.NoError(t, w.Handle(context.Background(), worker.Delivery{MessageID: "m", Body: body}), "done with: the cancel carries the task")
	got, err := st.Get(context.Background(), tk.ID)
	require.NoError(t, err)
	assert.Equal(t, task.Cancelled, got.State)
	assert.Empty(t, got.Attempts, "no outcome recorded over the cancel")
	assert.Zero(t, ev.n.Load(), "no outcome reported")
}

// Messages that cannot run are dropped without calling the target: one for
// a task that does not exist, one for an older version of the task (its
// payload hash no longer matches), one for a finished task, and a
// malformed one.
func TestMessagesThatCannotRunAreDropped(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	retry := task.Retry{MaxAttempts: 3, InitialBackoff: time.Second, MaxBackoff: time.Minute}
	st, tk, _ := stored(t, now.Add(-time.Second), retry)
	exec := &countingExec{}
	w := worker.New(worker.Config{TaskQueue: "tasks", DLQ: "dlq", ID: "w1"}, st, &outbox{}, []target.Executor{exec}, clock.NewManual(now), zerolog.Nop())
	ctx := context.Background()

	missing, err := task.NewID(now, 1)
	require.NoError(t, err)
	for name, body := range map[string]string{
		"missing task": task.TaskMessage{ID: missing.String(), PH: tk.PayloadHash}.Encode(),
		"stale hash":   task.TaskMessage{ID: tk.ID.String(), PH: "an-older-payload"}.Encode(),
		"malformed":    "{",
	} {
		assert.NoError(t, w.Handle(ctx, worker.Delivery{MessageID: name, Body: body}), name)
	}
	assert.Zero(t, exec.n.Load())

	_, err = st.Cancel(ctx, tk.ID, "acme", now)
	require.NoError(t, err)
	assert.NoError(t, w.Handle(ctx, worker.Delivery{MessageID: "cancelled", Body: task.NewTaskMessage(tk, task.OriginDispatch).Encode()}))
	assert.Zero(t, exec.n.Load(), "a cancelled task does not run")
}

// A message that comes more than MaxHold before its due time goes back to
// the queue delayed by the rest of the wait, marked as re-queued, and the
// task is untouched.
func TestEarlyMessageIsRequeued(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	st, tk, body := stored(t, now.Add(10*time.Second), task.Retry{MaxAttempts: 3, InitialBackoff: time.Second, MaxBackoff: time.Minute})
	out := &outbox{}
	exec := &countingExec{}
	w := worker.New(worker.Config{TaskQueue: "tasks", DLQ: "dlq", ID: "w1", MaxHold: 2 * time.Second}, st, out,
		[]target.Executor{exec}, clock.NewManual(now), zerolog.Nop())

	require.NoError(t, w.Handle(context.Background(), worker.Delivery{MessageID: "m", Body: body}))
	assert.Zero(t, exec.n.Load(), "never before its due time")
	sent := out.on("tasks")
	require.Len(t, sent, 1)
	assert.Equal(t, 10*time.Second, sent[0].Delay)
	m, _, err := task.DecodeTaskMessage(sent[0].Body)
	require.NoError(t, err)
	assert.Equal(t, task.OriginRequeue, m.Origin)
	assert.Equal(t, task.OriginDispatch, m.RequeuedFrom)
	got, err := st.Get(context.Background(), tk.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(1), got.Version, "nothing written")
}
