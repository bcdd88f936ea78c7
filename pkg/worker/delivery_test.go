package worker_test

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

// recordingExec keeps every invocation it is given.
type recordingExec struct {
	mu   sync.Mutex
	seen []target.Invocation
}

func (*recordingExec) Kind() string                                 { return "webhook" }
func (*recordingExec) Validate(json.RawMessage) []target.FieldError { return nil }
func (e *recordingExec) Execute(_ context.Context, inv target.Invocation) (target.Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seen = append(e.seen, inv)
	return target.Result{StatusCode: 204}, nil
}

// keptQueue keeps every message sent.
type keptQueue struct {
	mu   sync.Mutex
	sent []task.OutMessage
}

func (q *keptQueue) Send(_ context.Context, _ string, m task.OutMessage) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sent = append(q.sent, m)
	return nil
}

func TestHandleSQSPassesDeliveryFactsToTheTarget(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	ms, id, _ := unclaimedTask(t, now)
	tk, _ := ms.Get(context.Background(), id)
	exec := &recordingExec{}
	w := worker.New(worker.Config{TaskQueue: "q", DLQ: "dlq"}, ms, nopQueue{}, []target.Executor{exec}, clock.NewManual(now), zerolog.Nop())
	received := time.UnixMilli(1_893_596_644_250)
	visible := received.Add(30 * time.Second)

	resp, err := w.HandleSQS(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{
		MessageId: "msg-7", Body: task.NewTaskMessage(tk, task.OriginDispatch).Encode(),
		Attributes: map[string]string{
			worker.ReceivedAtAttribute:   strconv.FormatInt(received.UnixNano(), 10),
			worker.VisibleUntilAttribute: strconv.FormatInt(visible.UnixNano(), 10),
		},
	}}})
	require.NoError(t, err)
	require.Empty(t, resp.BatchItemFailures)
	require.Len(t, exec.seen, 1)
	d := exec.seen[0].Delivery
	assert.Equal(t, "msg-7", d.MessageID)
	assert.Equal(t, "dispatch", d.Origin)
	assert.True(t, received.Equal(d.ReceivedAt), "received at %s", d.ReceivedAt)
	assert.True(t, visible.Equal(d.VisibleUntil), "visible until %s", d.VisibleUntil)
}

func TestRetryAndRequeueMessagesNameTheirOrigin(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)

	// A failed attempt's retry goes out as origin "retry".
	ms, id, _ := unclaimedTask(t, now)
	tk, _ := ms.Get(context.Background(), id)
	q := &keptQueue{}
	w := worker.New(worker.Config{TaskQueue: "q", DLQ: "dlq"}, ms, q, []target.Executor{failingExec{}}, clock.NewManual(now), zerolog.Nop())
	require.NoError(t, w.Handle(context.Background(), worker.Delivery{MessageID: "m", Body: task.NewTaskMessage(tk, task.OriginFastPath).Encode()}))
	require.Len(t, q.sent, 1)
	m, _, err := task.DecodeTaskMessage(q.sent[0].Body)
	require.NoError(t, err)
	assert.Equal(t, task.OriginRetry, m.Origin)

	// A message that came too early goes back as a re-queue of its origin.
	early, eid, _ := unclaimedTask(t, now.Add(time.Minute))
	etk, _ := early.Get(context.Background(), eid)
	q = &keptQueue{}
	w = worker.New(worker.Config{TaskQueue: "q", DLQ: "dlq"}, early, q, []target.Executor{failingExec{}}, clock.NewManual(now), zerolog.Nop())
	require.NoError(t, w.Handle(context.Background(), worker.Delivery{MessageID: "m", Body: task.NewTaskMessage(etk, task.OriginDispatch).Encode()}))
	require.Len(t, q.sent, 1)
	m, _, err = task.DecodeTaskMessage(q.sent[0].Body)
	require.NoError(t, err)
	assert.Equal(t, "requeue:dispatch", m.Describe())
}
