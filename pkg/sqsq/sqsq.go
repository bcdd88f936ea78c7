// Package sqsq is Hourglass's SQS adapter: batched sends with per-entry retry,
// and the receive/delete/visibility calls the local poller needs.
package sqsq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// MaxDelay is the longest DelaySeconds SQS accepts.
const MaxDelay = 900 * time.Second

// Queue sends to SQS queues.
type Queue struct {
	c        *sqs.Client
	attempts int
}

// New returns a Queue. Failed batch entries are retried up to 5 times.
func New(c *sqs.Client) *Queue { return &Queue{c: c, attempts: 5} }

// DelaySeconds converts a wait into SQS's whole-second delay, rounding DOWN
// so a message never becomes visible after its due time; the worker holds
// the sub-second remainder.
func DelaySeconds(d time.Duration) int32 {
	if d <= 0 {
		return 0
	}
	if d > MaxDelay {
		return int32(MaxDelay / time.Second)
	}
	return int32(d / time.Second)
}

func attrs(m map[string]string) map[string]types.MessageAttributeValue {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]types.MessageAttributeValue, len(m))
	for k, v := range m {
		out[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	return out
}

// Send sends one message.
func (q *Queue) Send(ctx context.Context, url string, m task.OutMessage) error {
	in := &sqs.SendMessageInput{
		QueueUrl:          &url,
		MessageBody:       &m.Body,
		DelaySeconds:      DelaySeconds(m.Delay),
		MessageAttributes: attrs(m.Attributes),
	}
	if m.Group != "" {
		in.MessageGroupId = aws.String(m.Group)
	}
	_, err := q.c.SendMessage(ctx, in)
	if err != nil {
		return fmt.Errorf("send to %s: %w", queueName(url), err)
	}
	return nil
}

// BatchError reports the messages of a SendBatch that were not sent after
// every retry, by their index in the input.
type BatchError struct {
	Failed []int
	Last   error
}

// Unsent returns the indexes of the messages that were not sent.
func (e *BatchError) Unsent() []int { return e.Failed }

func (e *BatchError) Error() string {
	return fmt.Sprintf("%d messages not sent: %v", len(e.Failed), e.Last)
}

// SendBatch sends msgs in batches of 10, retrying failed entries with a short
// backoff. It returns nil when all were sent, or a *BatchError naming the
// ones that were not (the others were sent and must be treated as such).
//
// The batches go out concurrently, up to sendParallel at once: one call
// takes a round trip whatever its size (about 60 ms on the local emulator),
// so a create batch's 100 fast-path messages, or a partition's, cost one
// or two round trips of waiting instead of ten.
func (q *Queue) SendBatch(ctx context.Context, url string, msgs []task.OutMessage) error {
	n := (len(msgs) + 9) / 10
	failed := make([][]int, n)
	lasts := make([]error, n)
	if n == 1 {
		failed[0], lasts[0] = q.sendChunk(ctx, url, msgs, 0, len(msgs))
	} else {
		var wg sync.WaitGroup
		sem := make(chan struct{}, sendParallel)
		for c := 0; c < n; c++ {
			wg.Add(1)
			sem <- struct{}{}
			go func(c int) {
				defer wg.Done()
				defer func() { <-sem }()
				failed[c], lasts[c] = q.sendChunk(ctx, url, msgs, 10*c, min(10*c+10, len(msgs)))
			}(c)
		}
		wg.Wait()
	}
	var all []int
	var last error
	for c := range failed {
		all = append(all, failed[c]...)
		if lasts[c] != nil {
			last = lasts[c]
		}
	}
	if len(all) > 0 {
		slices.Sort(all)
		return &BatchError{Failed: all, Last: last}
	}
	return nil
}

// sendParallel bounds the SendMessageBatch calls one SendBatch has in
// flight: ten covers a create batch (100 messages) at once.
const sendParallel = 10

// sendChunk sends msgs[start:end] (at most 10) with one SendMessageBatch,
// retrying failed entries, and returns the indexes not sent and the last
// error seen.
func (q *Queue) sendChunk(ctx context.Context, url string, msgs []task.OutMessage, start, end int) ([]int, error) {
	var last error
	pending := make([]int, 0, end-start)
	for i := start; i < end; i++ {
		pending = append(pending, i)
	}
	for try := 0; len(pending) > 0 && try < q.attempts; try++ {
		if err := ctx.Err(); err != nil {
			return pending, err
		}
		if try > 0 {
			t := time.NewTimer(time.Duration(50<<try) * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return pending, ctx.Err()
			case <-t.C:
			}
		}
		entries := make([]types.SendMessageBatchRequestEntry, len(pending))
		for j, i := range pending {
			entries[j] = types.SendMessageBatchRequestEntry{
				Id:                aws.String(strconv.Itoa(i)),
				MessageBody:       aws.String(msgs[i].Body),
				DelaySeconds:      DelaySeconds(msgs[i].Delay),
				MessageAttributes: attrs(msgs[i].Attributes),
			}
			if g := msgs[i].Group; g != "" {
				entries[j].MessageGroupId = aws.String(g)
			}
		}
		out, err := q.c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries})
		if err != nil {
			// The whole call failed (it may still have been applied:
			// duplicates are harmless downstream, losses are not).
			last = fmt.Errorf("send batch to %s: %w", queueName(url), err)
			continue
		}
		next := pending[:0]
		for _, f := range out.Failed {
			i, _ := strconv.Atoi(aws.ToString(f.Id))
			next = append(next, i)
			last = fmt.Errorf("send batch to %s: entry %d: %s %s", queueName(url), i, aws.ToString(f.Code), aws.ToString(f.Message))
		}
		pending = next
	}
	return pending, last
}

// Received is a message taken from a queue.
type Received struct {
	MessageID     string
	ReceiptHandle string
	Body          string
	Attributes    map[string]string // system attributes (SentTimestamp, ApproximateReceiveCount…)
	MessageAttrs  map[string]string
	// ReceivedAt is this process's clock (with its monotonic reading) when
	// the receive returned.
	ReceivedAt time.Time
}

// Receive long-polls up to max messages (≤ 10).
func (q *Queue) Receive(ctx context.Context, url string, max int32, wait, visibility time.Duration) ([]Received, error) {
	out, err := q.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    &url,
		MaxNumberOfMessages:         max,
		WaitTimeSeconds:             int32(wait / time.Second),
		VisibilityTimeout:           int32(visibility / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", queueName(url), err)
	}
	now := time.Now()
	res := make([]Received, 0, len(out.Messages))
	for _, m := range out.Messages {
		r := Received{MessageID: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body), Attributes: m.Attributes, ReceivedAt: now}
		if len(m.MessageAttributes) > 0 {
			r.MessageAttrs = make(map[string]string, len(m.MessageAttributes))
			for k, v := range m.MessageAttributes {
				r.MessageAttrs[k] = aws.ToString(v.StringValue)
			}
		}
		res = append(res, r)
	}
	return res, nil
}

// DeleteBatch deletes received messages by receipt handle.
func (q *Queue) DeleteBatch(ctx context.Context, url string, handles []string) error {
	var errs []error
	for start := 0; start < len(handles); start += 10 {
		end := min(start+10, len(handles))
		entries := make([]types.DeleteMessageBatchRequestEntry, 0, end-start)
		for i := start; i < end; i++ {
			entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(handles[i])})
		}
		out, err := q.c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: entries})
		if err != nil {
			errs = append(errs, fmt.Errorf("delete from %s: %w", queueName(url), err))
			continue
		}
		for _, f := range out.Failed {
			errs = append(errs, fmt.Errorf("delete from %s: %s %s", queueName(url), aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	return errors.Join(errs...)
}

// ChangeVisibility makes a received message visible again after d.
func (q *Queue) ChangeVisibility(ctx context.Context, url, handle string, d time.Duration) error {
	_, err := q.c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: &handle, VisibilityTimeout: int32(d / time.Second)})
	if err != nil {
		return fmt.Errorf("change visibility in %s: %w", queueName(url), err)
	}
	return nil
}

// ChangeVisibilityBatch sets the visibility of received messages to d from
// now, up to 10 per ChangeMessageVisibilityBatch call (the long-polling
// consumers' heartbeat: see package poll). It returns the handles whose
// change did not apply — every handle of a call that failed as a whole, and
// the entries SQS refused (a handle whose message was deleted or received
// again) — with the errors joined.
func (q *Queue) ChangeVisibilityBatch(ctx context.Context, url string, handles []string, d time.Duration) (failed []string, err error) {
	var errs []error
	for start := 0; start < len(handles); start += 10 {
		end := min(start+10, len(handles))
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, 0, end-start)
		for i := start; i < end; i++ {
			entries = append(entries, types.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(handles[i]), VisibilityTimeout: int32(d / time.Second)})
		}
		out, err := q.c.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &url, Entries: entries})
		if err != nil {
			failed = append(failed, handles[start:end]...)
			errs = append(errs, fmt.Errorf("change visibility in %s: %w", queueName(url), err))
			continue
		}
		for _, f := range out.Failed {
			i, convErr := strconv.Atoi(aws.ToString(f.Id))
			if convErr != nil || i < start || i >= end {
				continue
			}
			failed = append(failed, handles[i])
			errs = append(errs, fmt.Errorf("change visibility in %s: %s %s", queueName(url), aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	return failed, errors.Join(errs...)
}

// Depth returns the approximate visible, in-flight and delayed counts.
func (q *Queue) Depth(ctx context.Context, url string) (visible, inflight, delayed int, err error) {
	out, err := q.c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil {
		return 0, 0, 0, fmt.Errorf("queue attributes of %s: %w", queueName(url), err)
	}
	visible, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	inflight, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	delayed, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesDelayed)])
	return visible, inflight, delayed, nil
}

func queueName(url string) string {
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		return url[i+1:]
	}
	return url
}
