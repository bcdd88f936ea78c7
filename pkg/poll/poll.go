// Package poll consumes an SQS queue the way a Lambda event source mapping
// does — batches of up to 10, the handler's partial batch response deciding
// which messages are deleted — for the ECS long-polling worker and the local
// host.
package poll

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/sqsq"
	"github.com/hourglass-sched/hourglass/pkg/usage"
)

// Handler is a Lambda SQS handler with partial batch responses.
type Handler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// Poller runs Handler over a queue.
type Poller struct {
	Name        string // function name, for usage accounting and logs
	Queue       *sqsq.Queue
	URL         string
	ARN         string // event source ARN put on records (informational)
	Handler     Handler
	Batch       int32         // messages per receive, ≤ 10 (default 10)
	Wait        time.Duration // long-poll wait (default 1s)
	Concurrency int           // concurrent receive loops (default 2)
	// Grace bounds how long in-flight batches may run after ctx is
	// cancelled (SIGTERM): they finish, then the poller returns. Default 20s.
	Grace    time.Duration
	Usage    *usage.Counters // optional: counts each batch as one invocation
	MemoryMB int             // for GB-seconds (default 256)
	Log      zerolog.Logger
}

// Run polls until ctx is cancelled, then lets in-flight batches finish
// (within Grace) and returns.
func (p *Poller) Run(ctx context.Context) {
	if p.Batch <= 0 || p.Batch > 10 {
		p.Batch = 10
	}
	if p.Wait <= 0 {
		p.Wait = time.Second
	}
	if p.Concurrency <= 0 {
		p.Concurrency = 2
	}
	if p.Grace <= 0 {
		p.Grace = 20 * time.Second
	}
	if p.MemoryMB <= 0 {
		p.MemoryMB = 256
	}
	var wg sync.WaitGroup
	for i := 0; i < p.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.loop(ctx)
		}()
	}
	wg.Wait()
}

func (p *Poller) loop(ctx context.Context) {
	log := p.Log.With().Str("poller", p.Name).Logger()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		msgs, err := p.Queue.Receive(ctx, p.URL, p.Batch, p.Wait, 0)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn().Err(err).Msg("receive failed")
			sleep(ctx, backoff)
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if len(msgs) == 0 {
			continue
		}
		// In-flight work survives cancellation for Grace: a SIGTERM'd
		// worker finishes what it holds instead of abandoning leases.
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.Grace+time.Minute)
		p.handle(hctx, msgs, log)
		cancel()
	}
}

func (p *Poller) handle(ctx context.Context, msgs []sqsq.Received, log zerolog.Logger) {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	for i, m := range msgs {
		ev.Records[i] = events.SQSMessage{MessageId: m.MessageID, ReceiptHandle: m.ReceiptHandle, Body: m.Body,
			Attributes: m.Attributes, EventSource: "aws:sqs", EventSourceARN: p.ARN}
	}
	start := time.Now()
	resp, err := p.Handler(ctx, ev)
	if p.Usage != nil {
		p.Usage.Invocation(p.Name, time.Since(start), p.MemoryMB)
	}
	if err != nil {
		// A handler error fails the whole batch, as in Lambda.
		log.Error().Err(err).Int("messages", len(msgs)).Msg("batch failed")
		return
	}
	failed := make(map[string]bool, len(resp.BatchItemFailures))
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	handles := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if !failed[m.MessageID] {
			handles = append(handles, m.ReceiptHandle)
		}
	}
	if len(handles) > 0 {
		if err := p.Queue.DeleteBatch(ctx, p.URL, handles); err != nil {
			log.Warn().Err(err).Msg("delete failed; messages will be redelivered")
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
