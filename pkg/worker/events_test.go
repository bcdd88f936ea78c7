package worker_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/lifecycle"
	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

// bus is an EventBridge PutEvents that is down while down is set.
type bus struct {
	down atomic.Bool
	mu   sync.Mutex
	got  []string // detail-types accepted
}

func (b *bus) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	if b.down.Load() {
		return nil, errors.New("503 ServiceUnavailable")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := &eventbridge.PutEventsOutput{}
	for _, e := range in.Entries {
		b.got = append(b.got, aws.ToString(e.DetailType))
		out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{EventId: aws.String("e")})
	}
	return out, nil
}

func (b *bus) received() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.got...)
}

// An EventBridge outage delays a finished task's TaskSucceeded and loses
// nothing: the batch keeps the task's message (a batch item failure,
// delayed by EventRetryDelay), and its redelivery, finding the task
// finished, publishes the event without calling the target again.
func TestUnsentEventKeepsTheTaskMessageUntilPublished(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	ms, id, body := unclaimedTask(t, now)
	eb := &bus{}
	eb.down.Store(true)
	pub := lifecycle.New(lifecycle.Config{Bus: "hourglass", Level: lifecycle.LevelAll, FlushTimeout: time.Second, Rounds: 2, BusBackoff: time.Nanosecond}, eb, zerolog.Nop())
	vis := &recordingVisibility{}
	exec := &countingExec{}
	w := worker.New(worker.Config{TaskQueue: "q", DLQ: "dlq", Events: pub, Visibility: vis}, ms, &sentQueue{},
		[]target.Executor{exec}, clock.NewManual(now), zerolog.Nop())
	rec := events.SQSMessage{MessageId: "m", ReceiptHandle: "rh", Body: body, Attributes: map[string]string{"ApproximateReceiveCount": "1"}}

	resp, err := w.HandleSQS(context.Background(), events.SQSEvent{Records: []events.SQSMessage{rec}})
	require.NoError(t, err)
	require.Equal(t, []events.SQSBatchItemFailure{{ItemIdentifier: "m"}}, resp.BatchItemFailures, "the message stays while its event is unsent")
	assert.Equal(t, worker.EventRetryDelay(1), vis.d)
	assert.Equal(t, 15*time.Second, vis.d)
	got, _ := ms.Get(context.Background(), id)
	assert.Equal(t, task.Succeeded, got.State, "the outcome is recorded regardless")
	assert.Zero(t, pub.Pending(), "nothing kept in memory: the message is the record")

	// Still down at the redelivery: kept again, for longer.
	rec.Attributes["ApproximateReceiveCount"] = "2"
	resp, err = w.HandleSQS(context.Background(), events.SQSEvent{Records: []events.SQSMessage{rec}})
	require.NoError(t, err)
	require.Len(t, resp.BatchItemFailures, 1)
	assert.Equal(t, 30*time.Second, vis.d)

	// Back up: the redelivery publishes and lets the message go.
	eb.down.Store(false)
	rec.Attributes["ApproximateReceiveCount"] = "3"
	resp, err = w.HandleSQS(context.Background(), events.SQSEvent{Records: []events.SQSMessage{rec}})
	require.NoError(t, err)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Equal(t, []string{"TaskSucceeded"}, eb.received())
	assert.EqualValues(t, 1, exec.n.Load(), "the target ran once")

	// A first delivery of a finished task (a duplicate send, not a kept
	// message) publishes nothing more.
	rec.Attributes["ApproximateReceiveCount"] = "1"
	resp, err = w.HandleSQS(context.Background(), events.SQSEvent{Records: []events.SQSMessage{rec}})
	require.NoError(t, err)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Len(t, eb.received(), 1)
}

func TestEventRetryDelay(t *testing.T) {
	t.Parallel()
	var total time.Duration
	for n := 1; n <= 10; n++ {
		total += worker.EventRetryDelay(n)
	}
	assert.Equal(t, 15*time.Second, worker.EventRetryDelay(0))
	assert.Equal(t, 4*time.Minute, worker.EventRetryDelay(5))
	assert.Equal(t, time.Hour, worker.EventRetryDelay(20))
	assert.Greater(t, total, 3*time.Hour, "ten receives outlast a three-hour outage")
}
