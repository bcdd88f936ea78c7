package poll_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/poll"
	"github.com/hourglass-sched/hourglass/pkg/sqsq"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
	"github.com/hourglass-sched/hourglass/pkg/usage"
)

// TestMain fails the run on leaked goroutines (see awstest.VerifyTestMain).
// TestMain checks for leaked goroutines; the pollers' SDK clients keep pooled
// keep-alive connections (a fresh-clone run once failed on one idle
// connection without a caller), which are not leaks.
func TestMain(m *testing.M) { awstest.VerifyTestMainPooled(m) }

// visibility is the test queues' visibility timeout: how long a failed
// message stays hidden before it comes back.
const visibility = time.Second

// setup returns a Queue and the URL of a fresh queue with a short visibility
// timeout.
func setup(t *testing.T) (*sqsq.Queue, string) {
	t.Helper()
	return queueWith(t, visibility)
}

// queueWith returns a Queue and the URL of a fresh queue whose messages
// stay hidden for vis after a receive.
func queueWith(t *testing.T, vis time.Duration) (*sqsq.Queue, string) {
	t.Helper()
	env := awstest.New(t)
	c := sqs.NewFromConfig(env.Config)
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{
		QueueName:  aws.String(env.Name("poll")),
		Attributes: map[string]string{string(sqstypes.QueueAttributeNameVisibilityTimeout): strconv.Itoa(int(vis / time.Second))},
	})
	require.NoError(t, err)
	return sqsq.New(c), aws.ToString(out.QueueUrl)
}

// send puts bodies on the queue.
func send(t *testing.T, q *sqsq.Queue, url string, bodies ...string) {
	t.Helper()
	msgs := make([]task.OutMessage, len(bodies))
	for i, b := range bodies {
		msgs[i] = task.OutMessage{Body: b}
	}
	require.NoError(t, q.SendBatch(context.Background(), url, msgs))
}

// waitFor polls cond every 20ms until it holds, failing after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// start runs p until the returned stop is called; stop cancels the context
// and fails the test unless Run returns within a deadline.
func start(t *testing.T, p *poll.Poller) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Errorf("Run did not return within 15s of cancellation")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// seen counts, per body, how often the handler saw a message.
type seen struct {
	mu      sync.Mutex
	counts  map[string]int
	batches atomic.Int64
}

func (s *seen) add(body string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts == nil {
		s.counts = map[string]int{}
	}
	s.counts[body]++
	return s.counts[body]
}

func (s *seen) count(body string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[body]
}

// remaining receives everything on the queue (waiting out visibility), with
// a visibility long enough that nothing comes back during the sweep.
func remaining(t *testing.T, q *sqsq.Queue, url string, want int) map[string]int {
	t.Helper()
	got := map[string]int{}
	total := 0
	waitFor(t, 10*time.Second, fmt.Sprintf("%d messages back on the queue", want), func() bool {
		msgs, err := q.Receive(context.Background(), url, 10, 0, time.Minute)
		require.NoError(t, err)
		for _, m := range msgs {
			got[m.Body]++
			total++
		}
		return total >= want
	})
	return got
}

func TestPartialBatchFailuresStayOnTheQueue(t *testing.T) {
	t.Parallel()
	q, url := setup(t)

	const n = 24
	var bodies []string
	fails := map[string]bool{}
	for i := range n {
		b := fmt.Sprintf("msg-%02d", i)
		bodies = append(bodies, b)
		if i%4 == 0 {
			fails[b] = true
		}
	}
	send(t, q, url, bodies...)

	var s seen
	counters := &usage.Counters{}
	p := &poll.Poller{
		Name:  "worker",
		Queue: q,
		URL:   url,
		ARN:   "arn:aws:sqs:us-east-1:000000000000:poll",
		Handler: func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			s.batches.Add(1)
			var resp events.SQSEventResponse
			for _, r := range ev.Records {
				assert.Equal(t, "aws:sqs", r.EventSource)
				assert.Equal(t, "arn:aws:sqs:us-east-1:000000000000:poll", r.EventSourceARN)
				assert.NotEmpty(t, r.ReceiptHandle)
				assert.NotEmpty(t, r.Attributes["SentTimestamp"], "system attributes reach the handler")
				s.add(r.Body)
				if fails[r.Body] {
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				}
			}
			return resp, nil
		},
		Batch:       5,
		Concurrency: 2,
		Wait:        time.Second,
		Usage:       counters,
		MemoryMB:    512,
		Log:         zerolog.Nop(),
	}
	stop := start(t, p)

	// Every message is handled; each failed one comes back after the
	// visibility timeout and is handled again.
	waitFor(t, 30*time.Second, "every message handled, failures twice", func() bool {
		for _, b := range bodies {
			want := 1
			if fails[b] {
				want = 2
			}
			if s.count(b) < want {
				return false
			}
		}
		return true
	})
	stop()

	// Only the failed messages are left.
	left := remaining(t, q, url, len(fails))
	for b := range left {
		assert.True(t, fails[b], "successful message %s was not deleted", b)
	}
	assert.Len(t, left, len(fails))
	visible, inflight, delayed, err := q.Depth(context.Background(), url)
	require.NoError(t, err)
	assert.Equal(t, len(fails), visible+inflight+delayed, "queue holds exactly the failed messages")

	// Each batch was one invocation, priced at 512 MB.
	snap := counters.Snapshot()
	assert.Equal(t, s.batches.Load(), snap.LambdaInvocations["worker"])
	assert.Equal(t, s.batches.Load(), snap.TotalInvocations())
	assert.Greater(t, snap.LambdaGBSeconds, 0.0)
	// Each invocation bills at least 1 ms at 0.5 GB.
	assert.GreaterOrEqual(t, snap.LambdaGBSeconds, float64(snap.TotalInvocations())*0.001*0.5)
}

func TestHandlerErrorFailsTheWholeBatch(t *testing.T) {
	t.Parallel()
	q, url := setup(t)
	bodies := []string{"a", "b", "c"}
	send(t, q, url, bodies...)

	var s seen
	var failedOnce atomic.Bool
	p := &poll.Poller{
		Name: "dispatcher", Queue: q, URL: url, Concurrency: 1, Log: zerolog.Nop(),
		Handler: func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			for _, r := range ev.Records {
				s.add(r.Body)
			}
			if failedOnce.CompareAndSwap(false, true) {
				return events.SQSEventResponse{}, errors.New("boom")
			}
			return events.SQSEventResponse{}, nil
		},
	}
	stop := start(t, p)

	// The first batch's messages all come back and are handled again.
	waitFor(t, 30*time.Second, "every message handled successfully", func() bool {
		if !failedOnce.Load() {
			return false
		}
		visible, inflight, delayed, err := q.Depth(context.Background(), url)
		require.NoError(t, err)
		return visible+inflight+delayed == 0
	})
	stop()
	redelivered := 0
	for _, b := range bodies {
		require.GreaterOrEqual(t, s.count(b), 1)
		if s.count(b) >= 2 {
			redelivered++
		}
	}
	assert.Positive(t, redelivered, "the failed batch's messages were handled again")
}

func TestRunFinishesInFlightBatchAfterCancel(t *testing.T) {
	t.Parallel()
	q, url := setup(t)
	send(t, q, url, "slow")

	entered := make(chan struct{})
	release := make(chan struct{})
	var handlerCtxErr atomic.Value
	p := &poll.Poller{
		Name: "worker", Queue: q, URL: url, Concurrency: 2, Wait: time.Second, Grace: 5 * time.Second, Log: zerolog.Nop(),
		Handler: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			close(entered)
			<-release
			handlerCtxErr.Store(fmt.Sprint(ctx.Err()))
			return events.SQSEventResponse{}, nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	select {
	case <-entered:
	case <-time.After(15 * time.Second):
		t.Fatal("the handler never received the message")
	}
	cancel()
	// Run waits for the in-flight batch: give a wrong Run a moment to
	// return early (an observation window, not a wait for a condition).
	select {
	case <-done:
		t.Fatal("Run returned while a batch was still in flight")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}

	assert.Equal(t, "<nil>", handlerCtxErr.Load(), "the in-flight handler's context survives cancellation")
	visible, inflight, delayed, err := q.Depth(context.Background(), url)
	require.NoError(t, err)
	assert.Zero(t, visible+inflight+delayed, "the batch that finished after cancellation was deleted")
}

// A handler that holds its message for longer than the poller's
// visibility gets no duplicate meanwhile (the heartbeat extends it); the
// extensions are SQS requests the usage counters see; a message its
// handler sends back with a delay through the poller stays away for that
// delay, not for the visibility.
func TestHeartbeatHoldsSlowMessagesAgainstTheEmulator(t *testing.T) {
	t.Parallel()
	env := awstest.New(t)
	counters := &usage.Counters{}
	cfg := env.Config.Copy()
	cfg.APIOptions = append(cfg.APIOptions, counters.Middleware())
	c := sqs.NewFromConfig(cfg)
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(env.Name("hb"))})
	require.NoError(t, err)
	q, url := sqsq.New(c), aws.ToString(out.QueueUrl)
	send(t, q, url, "slow", "later")

	var s seen
	var p *poll.Poller
	slowDone := make(chan struct{})
	var laterMu sync.Mutex
	var laterAt []time.Time
	p = &poll.Poller{
		Name: "worker", Queue: q, URL: url, Concurrency: 2, Batch: 1, Wait: time.Second, Visibility: 2 * time.Second, Log: zerolog.Nop(),
		Handler: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			var resp events.SQSEventResponse
			for _, r := range ev.Records {
				if r.Body == "later" {
					laterMu.Lock()
					laterAt = append(laterAt, time.Now())
					laterMu.Unlock()
				}
				switch n := s.add(r.Body); {
				case r.Body == "slow":
					// Two and a half visibilities: without the heartbeat
					// the other loop would receive it again meanwhile.
					t := time.NewTimer(5 * time.Second)
					select {
					case <-ctx.Done():
					case <-t.C:
					}
					t.Stop()
					close(slowDone)
				case r.Body == "later" && n == 1:
					assert.NoError(t, p.ChangeVisibility(ctx, url, r.ReceiptHandle, 4*time.Second))
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				}
			}
			return resp, nil
		},
	}
	stop := start(t, p)
	waitFor(t, 20*time.Second, "the slow message handled and the delayed one back", func() bool {
		select {
		case <-slowDone:
		default:
			return false
		}
		return s.count("later") >= 2
	})
	stop()
	assert.Equal(t, 1, s.count("slow"), "the held message was not delivered twice")
	laterMu.Lock()
	require.GreaterOrEqual(t, len(laterAt), 2)
	assert.GreaterOrEqual(t, laterAt[1].Sub(laterAt[0]), 3500*time.Millisecond, "the delayed message stayed away for its delay, not the 2 s visibility")
	laterMu.Unlock()
	snap := counters.Snapshot()
	assert.Positive(t, snap.Calls["SQS.ChangeMessageVisibilityBatch"], "heartbeats are counted")
	assert.EqualValues(t, 1, snap.Calls["SQS.ChangeMessageVisibility"], "one delayed redelivery")
	visible, inflight, delayed, err := q.Depth(context.Background(), url)
	require.NoError(t, err)
	assert.Zero(t, visible+inflight+delayed)
}
