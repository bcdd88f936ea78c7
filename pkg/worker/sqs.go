package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// HandleSQS is the Lambda entry point: records run concurrently; failures
// are reported per record (ReportBatchItemFailures) and, where the worker
// asked for a delay, the record's visibility is changed accordingly.
func (w *Worker) HandleSQS(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	received := time.Now()
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		resp events.SQSEventResponse
	)
	tasks := w.prefetch(ctx, ev.Records)
	be, durable := w.cfg.Events.(BatchEvents)
	reports := make([]finishedReport, len(ev.Records))
	for i, rec := range ev.Records {
		wg.Add(1)
		go func(rec events.SQSMessage) {
			defer wg.Done()
			ctx := ctx
			if durable {
				ctx = context.WithValue(ctx, reportKey{}, &reports[i])
			}
			d := Delivery{MessageID: rec.MessageId, Body: rec.Body, ServerTime: ServerTime(rec.Attributes), ReceivedAt: received}
			d.ReceiveCount, _ = strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
			if ns, err := strconv.ParseInt(rec.Attributes[ReceivedAtAttribute], 10, 64); err == nil {
				// A poller's batching window held it since then: anchor
				// the skew guard's server clock at the receive, not at
				// this start.
				d.ReceivedAt = time.Unix(0, ns)
			}
			if ns, err := strconv.ParseInt(rec.Attributes[VisibleUntilAttribute], 10, 64); err == nil {
				d.VisibleUntil = time.Unix(0, ns)
			}
			if _, id, err := task.DecodeTaskMessage(rec.Body); err == nil {
				d.Task = tasks[id]
			}
			err := w.safeHandle(ctx, d)
			if err == nil {
				return
			}
			var r *Redeliver
			if errors.As(err, &r) && r.After > 0 && w.vis != nil && rec.ReceiptHandle != "" {
				if verr := w.vis.ChangeVisibility(ctx, w.cfg.TaskQueue, rec.ReceiptHandle, r.After); verr != nil {
					w.log.Warn().Err(verr).Msg("could not delay redelivery")
				}
			}
			mu.Lock()
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
			mu.Unlock()
		}(rec)
	}
	wg.Wait()
	if durable {
		resp.BatchItemFailures = append(resp.BatchItemFailures, w.publishBatch(ctx, be, ev.Records, reports, resp.BatchItemFailures)...)
	}
	// Send what else is buffered before returning: in Lambda the
	// environment may freeze right after. Bounded; never fails the batch.
	if w.cfg.Events != nil {
		if err := w.cfg.Events.Flush(ctx); err != nil {
			w.log.Warn().Err(err).Msg("lifecycle events not all sent; the next batch retries them")
		}
	}
	return resp, nil
}

// EventRetryDelay is how long a message whose task's events were not sent
// waits before its next delivery: 15 s for its first receive, doubling
// with each receive up to an hour, so that the task queue's maxReceiveCount
// (10 by default) covers an EventBridge outage of about three hours before
// the message goes to the task DLQ.
func EventRetryDelay(receiveCount int) time.Duration {
	d := 15 * time.Second
	for i := 1; i < receiveCount && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// finishedReport collects, for one delivery handled by HandleSQS, the task
// whose outcome it recorded (or, redelivered, found recorded), for the
// batch's durable publish.
type finishedReport struct {
	task         *task.Task
	deadLettered bool
}

type reportKey struct{}

// publishBatch publishes the lifecycle events of the tasks a batch
// finished and returns the batch item failures that keep the messages of
// the tasks whose events were not sent, each visible again after
// EventRetryDelay (see BatchEvents). Records already failing are left
// alone.
func (w *Worker) publishBatch(ctx context.Context, be BatchEvents, recs []events.SQSMessage, reports []finishedReport, failing []events.SQSBatchItemFailure) []events.SQSBatchItemFailure {
	failed := make(map[string]bool, len(failing))
	for _, f := range failing {
		failed[f.ItemIdentifier] = true
	}
	var done []*task.Task
	var dead []bool
	for i, r := range reports {
		if r.task != nil && !failed[recs[i].MessageId] {
			done = append(done, r.task)
			dead = append(dead, r.deadLettered)
		}
	}
	if len(done) == 0 {
		return nil
	}
	unsent, err := be.PublishFinished(ctx, done, dead)
	if len(unsent) == 0 {
		return nil
	}
	keep := make(map[task.ID]bool, len(unsent))
	for _, id := range unsent {
		keep[id] = true
	}
	var out []events.SQSBatchItemFailure
	for i, r := range reports {
		rec := recs[i]
		if r.task == nil || failed[rec.MessageId] || !keep[r.task.ID] {
			continue
		}
		n, _ := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
		if w.vis != nil && rec.ReceiptHandle != "" {
			if verr := w.vis.ChangeVisibility(ctx, w.cfg.TaskQueue, rec.ReceiptHandle, EventRetryDelay(n)); verr != nil {
				w.log.Warn().Err(verr).Msg("could not delay redelivery")
			}
		}
		out = append(out, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
	}
	w.log.Warn().Err(err).Int("tasks", len(unsent)).Msg("lifecycle events not sent; their task messages stay queued and publish them on redelivery")
	return out
}

// prefetch reads the tasks of a batch's messages with one BatchGetItem per
// 100 (when the store can), so that a batch of many costs a request, not
// one per message. A failed read only loses the saving: each Handle then
// reads its task itself.
func (w *Worker) prefetch(ctx context.Context, recs []events.SQSMessage) map[task.ID]*task.Task {
	bg, ok := w.store.(BatchGetter)
	if !ok || len(recs) < 2 {
		return nil
	}
	ids := make([]task.ID, 0, len(recs))
	for _, rec := range recs {
		if _, id, err := task.DecodeTaskMessage(rec.Body); err == nil {
			ids = append(ids, id)
		}
	}
	all := make(map[task.ID]*task.Task, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 100)
		start := time.Now()
		got, err := bg.GetMany(ctx, ids[:n])
		w.handOver.Observe(time.Since(start))
		if err != nil {
			w.log.Warn().Err(err).Msg("batch read failed; reading tasks one by one")
			return all
		}
		for id, t := range got {
			all[id] = t
		}
		ids = ids[n:]
	}
	return all
}

// safeHandle is Handle with a panic turned into a redelivery, so one bad
// task cannot take down the other records of its batch; a task that panics
// every time reaches the DLQ through the queue's redrive policy.
func (w *Worker) safeHandle(ctx context.Context, d Delivery) (err error) {
	defer func() {
		if p := recover(); p != nil {
			w.log.Error().Str("message_id", d.MessageID).Interface("panic", p).Msg("task handler panicked; message will be redelivered")
			err = &Redeliver{Reason: fmt.Sprintf("panic: %v", p)}
		}
	}()
	return w.Handle(ctx, d)
}

// Batching is how the long-polling worker (and the local host) batch task
// messages, as the stack's event source mapping does: up to BatchMax
// messages gathered for up to BatchWindow. Messages become visible a little
// before due (the early delivery), so the wait happens while gathering —
// free in an event source mapping — and one invocation holds many tasks
// for the rest of their sub-second remainder.
const (
	BatchMax    = 100
	BatchWindow = time.Second
	// handOverMargin and ReadLeadPerTask leave a batch time for its one
	// read of its tasks before the first is due: 150 ms, plus 3.5 ms for
	// each task after the first (500 ms for 100), or twice the slowest of
	// the last reads (HandOver) when that is longer. AWS answers in
	// milliseconds; moto takes tens for a read of 10 and hundreds under
	// load. A flat 500 ms held every batch, most of them about 10 tasks at
	// 20 tasks/s, 0.3 s longer than its read needed: with 250 ms the
	// bench's volume run measured 0.011–0.014 worker GB-s a task against
	// 0.015–0.017 (side by side, 2026-12-04). Without the slowest reads'
	// term, a quiet tenant's tasks beside a noisy one's backlog ran
	// 30–40 ms later at p99 (their reads queued behind the backlog's
	// writes on moto).
	handOverMargin = 150 * time.Millisecond
	// maxHandOverMargin bounds what slow reads make the margin: the
	// worker holds a message for at most MaxHold.
	maxHandOverMargin = time.Second
	// ReadLeadPerTask is the poller's LeadPerMessage for task batches.
	ReadLeadPerTask = 3500 * time.Microsecond
)

// HandOver gives a long-polling worker's batches their hand-over deadline
// (poll.Poller.Deadline) from how long the worker's batch reads have been
// taking: each message's due time less the larger of handOverMargin and
// twice the slowest of the last 16 reads (at most maxHandOverMargin). Each
// Worker keeps one and records its batch reads in it (see
// Worker.HandOverBy). A nil HandOver uses handOverMargin alone. Safe for
// concurrent use.
type HandOver struct {
	mu     sync.Mutex
	recent [16]time.Duration
	next   int
}

// HandOverBy is a task message's batching deadline for a long-polling
// host's poller (poll.Poller.Deadline), from this worker's batch reads
// (see HandOver).
func (w *Worker) HandOverBy(body string) (time.Time, bool) { return w.handOver.Deadline(body) }

// HandOver is the worker's record of its batch reads.
func (w *Worker) HandOver() *HandOver { return &w.handOver }

// Deadline is a task message's batching deadline (see poll.Poller);
// retries, due later than the ID says, are handed over at once.
func (h *HandOver) Deadline(body string) (time.Time, bool) {
	_, id, err := task.DecodeTaskMessage(body)
	if err != nil {
		return time.Time{}, false
	}
	return id.Due().Add(-h.Margin()), true
}

// Margin is how long before a batch's first due time it is handed over
// (before the poller's per-message lead).
func (h *HandOver) Margin() time.Duration {
	if h == nil {
		return handOverMargin
	}
	h.mu.Lock()
	slowest := time.Duration(0)
	for _, d := range h.recent {
		slowest = max(slowest, d)
	}
	h.mu.Unlock()
	return min(max(handOverMargin, 2*slowest), maxHandOverMargin)
}

// Observe records one batch read's duration.
func (h *HandOver) Observe(d time.Duration) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.recent[h.next] = d
	h.next = (h.next + 1) % len(h.recent)
	h.mu.Unlock()
}

// ReceivedAtAttribute is the record attribute in which a poller (see
// poll.Poller.ReceivedAttr) says when it received a message. Lambda's
// event source mapping sets none: its batches are not windowed (the
// stack's mapping has no batching window), so the handler's start is a
// fresh enough anchor.
const ReceivedAtAttribute = "HourglassReceivedAt"

// VisibleUntilAttribute is the record attribute in which a poller (see
// poll.Poller.VisibleUntilAttr) says when the message's visibility ends
// (Unix nanoseconds). The worker passes it on to the target (the webhook's
// Hourglass-Visible-Until) so that a receiver can tell a redelivery within
// the visibility (the queue's own duplicate) from one after it.
const VisibleUntilAttribute = "HourglassVisibleUntil"

// ServerTime extracts the clock-skew guard's server time from SQS system
// attributes: the later of SentTimestamp and ApproximateFirstReceiveTimestamp.
func ServerTime(attrs map[string]string) time.Time {
	var best int64
	for _, k := range []string{"SentTimestamp", "ApproximateFirstReceiveTimestamp"} {
		if v, err := strconv.ParseInt(attrs[k], 10, 64); err == nil && v > best {
			best = v
		}
	}
	if best == 0 {
		return time.Time{}
	}
	return time.UnixMilli(best)
}
