package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/memstore"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

// lostAnswerStore applies a claim but answers ErrConflict, as DynamoDB does
// when the SDK retries a conditional update whose first attempt was applied
// and whose answer was lost.
type lostAnswerStore struct{ *memstore.Store }

func (s lostAnswerStore) Claim(ctx context.Context, id task.ID, ph, owner string, now, leaseUntil time.Time) (*task.Task, error) {
	if _, err := s.Store.Claim(ctx, id, ph, owner, now, leaseUntil); err != nil {
		return nil, err
	}
	return nil, task.ErrConflict
}

type countingExec struct{ n atomic.Int64 }

func (*countingExec) Kind() string                                 { return "webhook" }
func (*countingExec) Validate(json.RawMessage) []target.FieldError { return nil }
func (e *countingExec) Execute(context.Context, target.Invocation) (target.Result, error) {
	e.n.Add(1)
	return target.Result{StatusCode: 204}, nil
}

func TestClaimWhoseAnswerWasLostStillRuns(t *testing.T) {
	t.Parallel()
	now, tgt, payload, ph := webhookFixture()
	id, err := task.NewID(now.Add(-time.Second), 4)
	require.NoError(t, err)
	ms := newStore(task.Task{ID: id, Tenant: "t", DueAt: id.Due(), Target: tgt, Payload: payload,
		State: task.Scheduled, PayloadHash: ph, Retry: task.Retry{MaxAttempts: 3}})
	exec := &countingExec{}
	w := worker.New(worker.Config{TaskQueue: "q", DLQ: "dlq", Lease: 20 * time.Second, Claim: true}, lostAnswerStore{ms}, nopQueue{},
		[]target.Executor{exec}, clock.NewManual(now), zerolog.Nop())
	body, _ := json.Marshal(task.TaskMessage{ID: id.String(), PH: ph})

	err = w.Handle(context.Background(), worker.Delivery{MessageID: "m", Body: string(body)})

	require.NoError(t, err, "the worker holds the lease and must run the task now, not wait it out")
	assert.Equal(t, int64(1), exec.n.Load())
	got, _ := ms.Get(context.Background(), id)
	assert.Equal(t, task.Succeeded, got.State)
}

// lostSettleStore applies a Settle but answers ErrConflict (the SDK retried
// a conditional update whose first attempt was applied).
type lostSettleStore struct{ *memstore.Store }

func (s lostSettleStore) Settle(ctx context.Context, prev *task.Task, o task.Outcome) (*task.Task, error) {
	if _, err := s.Store.Settle(ctx, prev, o); err != nil {
		return nil, err
	}
	return nil, task.ErrConflict
}

// racedStore lets another delivery record an outcome while this one's
// target call runs.
type racedStore struct{ *memstore.Store }

func (s racedStore) Settle(ctx context.Context, prev *task.Task, o task.Outcome) (*task.Task, error) {
	a := o.Attempt
	other := a
	other.Worker = "other"
	if _, err := s.Store.Settle(ctx, prev, task.Outcome{State: task.Succeeded, Attempt: other}); err != nil {
		return nil, err
	}
	return s.Store.Settle(ctx, prev, o)
}

type sentQueue struct{ sent atomic.Int64 }

func (q *sentQueue) Send(context.Context, string, task.OutMessage) error { q.sent.Add(1); return nil }

type failingExec struct{}

func (failingExec) Kind() string                                 { return "webhook" }
func (failingExec) Validate(json.RawMessage) []target.FieldError { return nil }
func (failingExec) Execute(context.Context, target.Invocation) (target.Result, error) {
	return target.Result{StatusCode: 503}, errors.New("503 from target")
}

func unclaimedTask(t *testing.T, now time.Time) (*memstore.Store, task.ID, string) {
	t.Helper()
	tgt := task.Target{Kind: "webhook", Spec: json.RawMessage(`{"kind":"webhook","url":"https://hooks.example.com/x"}`)}
	payload := json.RawMessage(`{}`)
	ph := task.PayloadHash(tgt, payload)
	id, err := task.NewID(now.Add(-time.Second), 4)
	require.NoError(t, err)
	ms := newStore(task.Task{ID: id, Tenant: "t", DueAt: id.Due(), Target: tgt, Payload: payload,
		State: task.Scheduled, PayloadHash: ph, Version: 1, Retry: task.Retry{MaxAttempts: 3, InitialBackoff: time.Second, MaxBackoff: time.Minute}})
	body, _ := json.Marshal(task.TaskMessage{ID: id.String(), PH: ph})
	return ms, id, string(body)
}

// Without a claim, a retry outcome whose write was applied but whose answer
// was lost still counts: the retry message goes out, or the task would sit
// in RETRYING with no message to run it.
func TestUnclaimedRetryWhoseAnswerWasLostStillQueuesTheRetry(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	ms, id, body := unclaimedTask(t, now)
	q := &sentQueue{}
	w := worker.New(worker.Config{TaskQueue: "q", DLQ: "dlq", ID: "w1"}, lostSettleStore{ms}, q,
		[]target.Executor{failingExec{}}, clock.NewManual(now), zerolog.Nop())

	require.NoError(t, w.Handle(context.Background(), worker.Delivery{MessageID: "m", Body: body}))

	got, _ := ms.Get(context.Background(), id)
	assert.Equal(t, task.Retrying, got.State)
	assert.Equal(t, 1, got.AttemptN)
	assert.Equal(t, int64(1), q.sent.Load(), "the retry message was sent")
}

// Without a claim, a delivery whose target call raced another delivery's
// recorded outcome is fenced off: one outcome stays, and the message is
// dropped (the other delivery carries the task).
func TestUnclaimedOutcomeIsFencedByAConcurrentOne(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	ms, id, body := unclaimedTask(t, now)
	q := &sentQueue{}
	exec := &countingExec{}
	w := worker.New(worker.Config{TaskQueue: "q", DLQ: "dlq", ID: "w1"}, racedStore{ms}, q,
		[]target.Executor{exec}, clock.NewManual(now), zerolog.Nop())

	require.NoError(t, w.Handle(context.Background(), worker.Delivery{MessageID: "m", Body: body}))

	got, _ := ms.Get(context.Background(), id)
	assert.Equal(t, task.Succeeded, got.State)
	require.Len(t, got.Attempts, 1, "one recorded outcome")
	assert.Equal(t, "other", got.Attempts[0].Worker)
	assert.Equal(t, int64(1), exec.n.Load())
	assert.Zero(t, q.sent.Load())
	// A later duplicate finds the task finished and calls nothing.
	require.NoError(t, w.Handle(context.Background(), worker.Delivery{MessageID: "m2", Body: body}))
	assert.Equal(t, int64(1), exec.n.Load())
}

// recordingVisibility records ChangeVisibility calls.
type recordingVisibility struct {
	url, handle string
	d           time.Duration
	calls       atomic.Int64
}

func (v *recordingVisibility) ChangeVisibility(_ context.Context, url, handle string, d time.Duration) error {
	v.url, v.handle, v.d = url, handle, d
	v.calls.Add(1)
	return nil
}

// visQueue is a queue that can change visibility itself; Config.Visibility
// must win over it.
type visQueue struct {
	nopQueue
	recordingVisibility
}

// A task running under another worker's lease is sent back for the rest of
// the lease plus a second, through Config.Visibility when set (a poller,
// which stops its heartbeat first), not through the queue.
func TestRedeliveryDelayGoesThroughConfigVisibility(t *testing.T) {
	t.Parallel()
	now, tgt, payload, ph := webhookFixture()
	id, err := task.NewID(now.Add(-time.Second), 4)
	require.NoError(t, err)
	ms := newStore(task.Task{ID: id, Tenant: "t", DueAt: id.Due(), Target: tgt, Payload: payload,
		State: task.Running, LeaseOwner: "other", LeaseUntil: now.Add(10 * time.Second), PayloadHash: ph, Retry: task.Retry{MaxAttempts: 3}})
	q := &visQueue{}
	poller := &recordingVisibility{}
	exec := &countingExec{}
	w := worker.New(worker.Config{TaskQueue: "q", DLQ: "dlq", Lease: 20 * time.Second, Claim: true, Visibility: poller}, ms, q,
		[]target.Executor{exec}, clock.NewManual(now), zerolog.Nop())
	body, _ := json.Marshal(task.TaskMessage{ID: id.String(), PH: ph})

	resp, err := w.HandleSQS(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m", ReceiptHandle: "rh", Body: string(body)}}})

	require.NoError(t, err)
	require.Len(t, resp.BatchItemFailures, 1, "the message stays on the queue")
	assert.Zero(t, exec.n.Load())
	assert.EqualValues(t, 1, poller.calls.Load())
	assert.Equal(t, "q", poller.url)
	assert.Equal(t, "rh", poller.handle)
	assert.Equal(t, 11*time.Second, poller.d, "the rest of the lease and a second")
	assert.Zero(t, q.calls.Load(), "the queue's own ChangeVisibility is not used")
}

// sameWorkerRacedStore is racedStore where the concurrent winner is another
// delivery of the same batch: same worker ID, same millisecond.
type sameWorkerRacedStore struct{ *memstore.Store }

func (s sameWorkerRacedStore) Settle(ctx context.Context, prev *task.Task, o task.Outcome) (*task.Task, error) {
	a := o.Attempt
	other := a
	other.Run = "another-delivery"
	if _, err := s.Store.Settle(ctx, prev, task.Outcome{State: task.Succeeded, Attempt: other}); err != nil {
		return nil, err
	}
	return s.Store.Settle(ctx, prev, o)
}

// finishedEvents counts the outcomes a worker reports for lifecycle events.
type finishedEvents struct{ n atomic.Int64 }

func (e *finishedEvents) TaskFinished(*task.Task, bool) { e.n.Add(1) }
func (e *finishedEvents) Flush(context.Context) error   { return nil }

// Two deliveries of one task in one batch run in one process and may start
// in the same millisecond: the loser of the outcome write must not take the
// winner's attempt for its own applied write (and report a second outcome,
// a second TaskSucceeded event, as a CI run once saw).
func TestUnclaimedLoserInTheSameMillisecondIsFencedOff(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	ms, id, body := unclaimedTask(t, now)
	ev := &finishedEvents{}
	w := worker.New(worker.Config{TaskQueue: "q", DLQ: "dlq", ID: "w1", Events: ev}, sameWorkerRacedStore{ms}, &sentQueue{},
		[]target.Executor{&countingExec{}}, clock.NewManual(now), zerolog.Nop())

	require.NoError(t, w.Handle(context.Background(), worker.Delivery{MessageID: "m", Body: body}))

	got, _ := ms.Get(context.Background(), id)
	require.Len(t, got.Attempts, 1, "one recorded outcome")
	assert.Equal(t, "another-delivery", got.Attempts[0].Run)
	assert.Zero(t, ev.n.Load(), "the fenced-off delivery reports no outcome of its own")
}

type notAttemptedExec struct{ n atomic.Int64 }

func (*notAttemptedExec) Kind() string                                 { return "webhook" }
func (*notAttemptedExec) Validate(json.RawMessage) []target.FieldError { return nil }
func (e *notAttemptedExec) Execute(context.Context, target.Invocation) (target.Result, error) {
	e.n.Add(1)
	return target.Result{}, target.NotAttempted(errors.New("signing secret: GetItem timed out"))
}

// A failure of ours before the target is called (the signing secret could
// not be read) charges no attempt and records no outcome: the message is
// redelivered, as after a failed task read. A fresh-clone CI run under
// injected faults found the attempt charged and a second outcome recorded.
func TestNotAttemptedChargesNoAttempt(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	ms, id, body := unclaimedTask(t, now)
	exec := &notAttemptedExec{}
	w := worker.New(worker.Config{TaskQueue: "q", DLQ: "dlq", ID: "w1"}, ms, nopQueue{},
		[]target.Executor{exec}, clock.NewManual(now), zerolog.Nop())

	err := w.Handle(context.Background(), worker.Delivery{MessageID: "m", Body: body})

	var r *worker.Redeliver
	require.ErrorAs(t, err, &r)
	assert.Positive(t, r.After)
	assert.Equal(t, int64(1), exec.n.Load())
	got, _ := ms.Get(context.Background(), id)
	assert.Equal(t, task.Scheduled, got.State, "no outcome recorded")
	assert.Zero(t, got.AttemptN)
	assert.Empty(t, got.Attempts)
}

// webhookFixture is the claim tests' clock, target, payload and payload
// hash.
func webhookFixture() (now time.Time, tgt task.Target, payload json.RawMessage, ph string) {
	now = time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	tgt = task.Target{Kind: "webhook", Spec: json.RawMessage(`{"kind":"webhook","url":"https://hooks.example.com/x"}`)}
	payload = json.RawMessage(`{}`)
	return now, tgt, payload, task.PayloadHash(tgt, payload)
}

// slowReadStore's batch reads take 120 ms.
type slowReadStore struct{ *memstore.Store }

func (s slowReadStore) GetMany(ctx context.Context, ids []task.ID) (map[task.ID]*task.Task, error) {
	time.Sleep(120 * time.Millisecond)
	return s.Store.GetMany(ctx, ids)
}

// The worker tells its HandOver how long each batch read took: after one
// read of 120 ms the poller hands batches over twice that before due.
func TestBatchReadsSetTheHandOverMargin(t *testing.T) {
	t.Parallel()
	now, tgt, payload, ph := webhookFixture()
	var tasks []task.Task
	var recs []events.SQSMessage
	for i := range 2 {
		id, err := task.NewID(now.Add(time.Duration(i)*time.Millisecond-time.Second), 4)
		require.NoError(t, err)
		// Finished already: the read is all the batch does.
		tasks = append(tasks, task.Task{ID: id, Tenant: "t", DueAt: id.Due(), Target: tgt, Payload: payload, State: task.Succeeded, PayloadHash: ph})
		body, _ := json.Marshal(task.TaskMessage{ID: id.String(), PH: ph})
		recs = append(recs, events.SQSMessage{MessageId: id.String(), Body: string(body)})
	}
	exec := &countingExec{}
	w := worker.New(worker.Config{TaskQueue: "q", DLQ: "dlq"}, slowReadStore{newStore(tasks...)}, nopQueue{},
		[]target.Executor{exec}, clock.NewManual(now), zerolog.Nop())
	h := w.HandOver()
	require.Equal(t, 150*time.Millisecond, h.Margin())
	_, err := w.HandleSQS(context.Background(), events.SQSEvent{Records: recs})
	require.NoError(t, err)
	assert.Zero(t, exec.n.Load(), "finished tasks are not called")
	assert.GreaterOrEqual(t, h.Margin(), 240*time.Millisecond)
	assert.LessOrEqual(t, h.Margin(), time.Second)
}
