package sqsq_test

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/sqsq"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// TestMain fails the run on leaked goroutines (see awstest.VerifyTestMain).
func TestMain(m *testing.M) { awstest.VerifyTestMain(m) }

// setup returns a Queue and the URL of a fresh queue in its own account.
func setup(t *testing.T) (*sqsq.Queue, string) {
	t.Helper()
	env := awstest.New(t)
	c := sqs.NewFromConfig(env.Config)
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(env.Name("q"))})
	require.NoError(t, err)
	return sqsq.New(c), aws.ToString(out.QueueUrl)
}

func TestDelaySeconds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    time.Duration
		want int32
	}{
		{1900 * time.Millisecond, 1},
		{999 * time.Millisecond, 0},
		{time.Second, 1},
		{0, 0},
		{-time.Second, 0},
		{899*time.Second + 999*time.Millisecond, 899},
		{900 * time.Second, 900},
		{2000 * time.Second, 900},
	} {
		assert.Equal(t, tc.want, sqsq.DelaySeconds(tc.d), "DelaySeconds(%s)", tc.d)
	}
}

func TestSendBatchSendsAll(t *testing.T) {
	t.Parallel()
	q, url := setup(t)
	ctx := context.Background()

	const n = 25 // three batches: 10, 10, 5
	msgs := make([]task.OutMessage, n)
	want := make([]string, n)
	for i := range msgs {
		want[i] = "m" + strconv.Itoa(i)
		// A third go now, a third after 1 s (rounded down from 1.9 s), and
		// the rest after -1 s, which must be sent as 0, not refused.
		delay := []time.Duration{0, 1900 * time.Millisecond, -time.Second}[i%3]
		msgs[i] = task.OutMessage{Body: want[i], Delay: delay, Attributes: map[string]string{"i": strconv.Itoa(i)}}
	}
	require.NoError(t, q.SendBatch(ctx, url, msgs))

	got := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		// No long poll: moto answers a waiting receive only when the wait
		// ends, which would slow every other test sharing it.
		recv, err := q.Receive(ctx, url, 10, 0, 30*time.Second)
		require.NoError(t, err)
		if len(recv) == 0 {
			time.Sleep(100 * time.Millisecond) // poll interval; the deadline bounds the wait
			continue
		}
		var handles []string
		for _, m := range recv {
			assert.False(t, got[m.Body], "message %s received twice", m.Body)
			got[m.Body] = true
			assert.Equal(t, m.Body, "m"+m.MessageAttrs["i"], "attributes travel with their message")
			handles = append(handles, m.ReceiptHandle)
		}
		if len(handles) > 0 {
			require.NoError(t, q.DeleteBatch(ctx, url, handles))
		}
	}
	var bodies []string
	for b := range got {
		bodies = append(bodies, b)
	}
	sort.Strings(bodies)
	sort.Strings(want)
	assert.Equal(t, want, bodies)
}

func TestSendBatchReportsUnsent(t *testing.T) {
	t.Parallel()

	t.Run("every retry failing", func(t *testing.T) {
		t.Parallel()
		q, url := setup(t)
		msgs := []task.OutMessage{{Body: "a"}, {Body: "b"}, {Body: "c"}}
		err := q.SendBatch(context.Background(), url+"-missing", msgs)
		var be *sqsq.BatchError
		require.ErrorAs(t, err, &be)
		assert.Equal(t, []int{0, 1, 2}, be.Unsent())
		assert.Error(t, be.Last)
		var un dispatch.Unsent
		require.ErrorAs(t, err, &un, "the dispatcher finds the unsent indexes")
		assert.Equal(t, []int{0, 1, 2}, un.Unsent())
	})

	t.Run("cancelled context names every message not sent", func(t *testing.T) {
		t.Parallel()
		q, url := setup(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		msgs := make([]task.OutMessage, 25)
		for i := range msgs {
			msgs[i] = task.OutMessage{Body: strconv.Itoa(i)}
		}
		err := q.SendBatch(ctx, url, msgs)
		var be *sqsq.BatchError
		require.ErrorAs(t, err, &be)
		require.True(t, errors.Is(be.Last, context.Canceled), "last error %v", be.Last)
		all := make([]int, 25)
		for i := range all {
			all[i] = i
		}
		// Nothing was sent, so every index must be reported; an index left
		// out would be marked DISPATCHED by the dispatcher without a message.
		assert.Equal(t, all, be.Unsent())
	})
}

// ChangeVisibilityBatch keeps received messages hidden past the visibility
// they were received with (12 handles: two calls), and names the handles it
// could not change.
func TestChangeVisibilityBatchExtends(t *testing.T) {
	t.Parallel()
	q, url := setup(t)
	ctx := context.Background()
	msgs := make([]task.OutMessage, 12)
	for i := range msgs {
		msgs[i] = task.OutMessage{Body: strconv.Itoa(i)}
	}
	require.NoError(t, q.SendBatch(ctx, url, msgs))

	var handles []string
	deadline := time.Now().Add(10 * time.Second)
	for len(handles) < len(msgs) && time.Now().Before(deadline) {
		got, err := q.Receive(ctx, url, 10, time.Second, time.Second)
		require.NoError(t, err)
		for _, m := range got {
			handles = append(handles, m.ReceiptHandle)
		}
	}
	require.Len(t, handles, len(msgs))

	failed, err := q.ChangeVisibilityBatch(ctx, url, handles, time.Minute)
	require.NoError(t, err)
	assert.Empty(t, failed)

	// Received with a 1 s visibility, extended to a minute: 3 s on, none
	// is back (an observation window, not a wait for a condition).
	seenUntil := time.Now().Add(3 * time.Second)
	for time.Now().Before(seenUntil) {
		got, err := q.Receive(ctx, url, 10, time.Second, time.Minute)
		require.NoError(t, err)
		require.Empty(t, got, "an extended message came back")
	}

	failed, err = q.ChangeVisibilityBatch(ctx, url+"-missing", handles[:3], time.Minute)
	require.Error(t, err)
	assert.Equal(t, handles[:3], failed, "a failed call names all its handles")
}
