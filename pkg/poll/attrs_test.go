package poll_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/poll"
)

// The poller tells the handler when it received each message and, told the
// queue's visibility timeout, when that message's visibility ends: the
// worker passes both to the target, to classify duplicates.
func TestRecordsCarryReceiptAndVisibilityDeadline(t *testing.T) {
	t.Parallel()
	q, url := queueWith(t, 30*time.Second)
	send(t, q, url, "x")

	var mu sync.Mutex
	var got map[string]string
	p := &poll.Poller{
		Name: "worker", Queue: q, URL: url, Concurrency: 1, Wait: time.Second, Log: zerolog.Nop(),
		ReceivedAttr: "Recv", Visibility: 30 * time.Second, VisibleUntilAttr: "Until",
		Handler: func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			got = ev.Records[0].Attributes
			return events.SQSEventResponse{}, nil
		},
	}
	before := time.Now()
	stop := start(t, p)
	waitFor(t, 10*time.Second, "the message handled", func() bool { mu.Lock(); defer mu.Unlock(); return got != nil })
	stop()

	recv, err := strconv.ParseInt(got["Recv"], 10, 64)
	require.NoError(t, err)
	until, err := strconv.ParseInt(got["Until"], 10, 64)
	require.NoError(t, err)
	assert.Equal(t, (30 * time.Second).Nanoseconds(), until-recv, "the deadline is the receive plus the visibility timeout")
	assert.False(t, time.Unix(0, recv).Before(before.Truncate(time.Millisecond)))
	assert.NotEmpty(t, got["SentTimestamp"], "the system attributes stay")
}
