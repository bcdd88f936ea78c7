// Package poll consumes an SQS queue the way a Lambda event source mapping
// does — batches (of up to 10, or gathered over a batching window), the
// handler's partial batch response deciding which messages are deleted —
// for the ECS long-polling worker and the local host.
//
// Unlike Lambda's mapping, a Poller receives with its own short visibility
// (Poller.Visibility, default 5 s) and keeps extending what it still holds
// (a heartbeat, ChangeMessageVisibilityBatch), so a process that dies —
// SIGKILL, a lost container — strands its messages for seconds, not for
// the queue's visibility timeout (six times a Lambda function's timeout,
// which the event source mappings need). Messages handled within three
// quarters of the visibility cost no heartbeat request.
//
// Leases. A worker's claim (worker.Config.Lease, HOURGLASS_CLAIM=lease)
// must end before anyone else can be handed the task's message. With a
// Poller that holds through the heartbeat: while the worker lives, its
// message stays hidden however long it holds or executes it (the target
// call itself is bounded by the lease), so no duplicate is delivered under
// a live lease. When the worker dies, its message is back within the
// visibility, possibly before its lease ends; the next worker then finds
// the task running elsewhere and hides the message until the lease ends
// (worker.Redeliver). So in lease mode a crash mid-execution is recovered
// after the lease, not the visibility: keep the lease short where recovery
// time matters (it also bounds every target call). Without claims (the
// default) recovery is bounded by the visibility.
package poll

import (
	"context"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/sqsq"
	"github.com/hourglass-sched/hourglass/pkg/usage"
)

// Queue is what a Poller needs of SQS; *sqsq.Queue serves it.
type Queue interface {
	Receive(ctx context.Context, url string, max int32, wait, visibility time.Duration) ([]sqsq.Received, error)
	DeleteBatch(ctx context.Context, url string, handles []string) error
	ChangeVisibility(ctx context.Context, url, handle string, d time.Duration) error
	ChangeVisibilityBatch(ctx context.Context, url string, handles []string, d time.Duration) (failed []string, err error)
}

var _ Queue = (*sqsq.Queue)(nil)

// Handler is a Lambda SQS handler with partial batch responses.
type Handler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// Poller runs Handler over a queue.
//
// Receive loops (Concurrency of them) long-poll the queue and hand what
// they get to a batcher, which forms the handler's batches: with Window
// zero each receive is one batch, as a Lambda event source mapping without
// a batching window does; with a Window, messages gather for up to Window
// after the first (or until MaxBatch are in hand, or until the earliest
// Deadline) and go to the handler together, as a mapping with
// MaximumBatchingWindowInSeconds and a batch size above 10 does. At most
// MaxInFlight batches are handled at once; when all are busy the receive
// loops wait, so nothing is received that cannot be handled soon.
type Poller struct {
	Name    string // function name, for usage accounting and logs
	Queue   Queue
	URL     string
	ARN     string // event source ARN put on records (informational)
	Handler Handler
	Batch   int32 // messages per receive, ≤ 10 (default 10)
	// Wait is the long-poll wait (default 20s, SQS's longest, as Lambda's
	// event source mapping uses): a receive returns as soon as messages
	// are visible, so a longer wait only cuts the empty receives an idle
	// queue costs (one per Wait per loop, each a billed SQS request).
	Wait time.Duration
	// Visibility is asked for in every receive (whole seconds, default
	// DefaultVisibility); the heartbeat extends held messages by as much
	// once three quarters of it have passed. It bounds how long a dead
	// process's messages stay hidden. A handler that asks for a delayed
	// redelivery must do so through ChangeVisibility (the worker's
	// Config.Visibility), so that the heartbeat leaves the message alone;
	// a message the handler reports as failed without one is back within
	// this visibility.
	Visibility time.Duration
	// Clock paces the heartbeat (nil: the system clock).
	Clock clock.Clock
	// Concurrency is the number of receive loops (default 2).
	Concurrency int
	// MaxBatch caps the messages of one handler call (default Batch; a
	// Lambda mapping allows up to 10,000 with a window).
	MaxBatch int
	// Window is the batching window (default 0: none).
	Window time.Duration
	// Deadline, when set, gives the latest time a message may reach the
	// handler (ok false: no deadline); a batch is handed over by its
	// earliest deadline even if its window has not run out.
	Deadline func(body string) (at time.Time, ok bool)
	// LeadPerMessage moves a batch's hand-over earlier than its earliest
	// Deadline by this much for each message after the first, for a
	// handler whose first step grows with the batch (the worker reads all
	// its tasks in one call before the first is due). Zero: the earliest
	// Deadline as is.
	LeadPerMessage time.Duration
	// MaxInFlight caps concurrent handler calls (default Concurrency).
	MaxInFlight int
	// ReceivedAttr, when set, names a record attribute that carries when
	// this process received the message (Unix nanoseconds): a handler that
	// anchors a server clock at the receive (the worker's clock-skew guard)
	// must not take its own start for it when a window held the message.
	ReceivedAttr string
	// VisibleUntilAttr, when set, names a record attribute that carries
	// each message's visibility deadline as received (its receive plus
	// Visibility, Unix nanoseconds; the heartbeat may push it later): the
	// worker reports it to the target so that duplicates can be classified
	// (see target.Delivery).
	VisibleUntilAttr string
	// Grace bounds how long in-flight batches may run after ctx is
	// cancelled (SIGTERM): they finish, then the poller returns. Default 20s.
	Grace    time.Duration
	Usage    *usage.Counters // optional: counts each batch as one invocation
	MemoryMB int             // for GB-seconds (default 256)
	Log      zerolog.Logger

	holds atomic.Pointer[holds] // while running
}

// ChangeVisibility makes a received message visible again after d and, if
// this Poller holds it, stops its heartbeat first (so no extension in
// flight overrides the delay). It serves worker.Visibility: a handler's
// delayed redelivery goes through it.
func (p *Poller) ChangeVisibility(ctx context.Context, url, handle string, d time.Duration) error {
	if h := p.holds.Load(); h != nil && url == p.URL {
		return h.release(ctx, handle, d)
	}
	return p.Queue.ChangeVisibility(ctx, url, handle, d)
}

// Run polls until ctx is cancelled, then lets in-flight batches (and any
// messages already received) finish within Grace, and returns.
func (p *Poller) Run(ctx context.Context) {
	if p.Batch <= 0 || p.Batch > 10 {
		p.Batch = 10
	}
	if p.Wait <= 0 {
		p.Wait = 20 * time.Second
	}
	if p.Concurrency <= 0 {
		p.Concurrency = 2
	}
	if p.MaxBatch <= 0 {
		p.MaxBatch = int(p.Batch)
	}
	if p.MaxInFlight <= 0 {
		p.MaxInFlight = p.Concurrency
	}
	if p.Grace <= 0 {
		p.Grace = 20 * time.Second
	}
	if p.MemoryMB <= 0 {
		p.MemoryMB = 256
	}
	if p.Visibility <= 0 {
		p.Visibility = DefaultVisibility
	}
	p.Visibility = max(p.Visibility.Truncate(time.Second), time.Second)
	if p.Clock == nil {
		p.Clock = clock.System{}
	}
	log := p.Log.With().Str("poller", p.Name).Logger()
	h := newHolds(p.Queue, p.URL, p.Visibility, p.Clock, log)
	p.holds.Store(h)
	// The heartbeat outlives ctx: in-flight batches finish after a
	// SIGTERM (within Grace) and must stay hidden meanwhile.
	hbCtx, hbStop := context.WithCancel(context.WithoutCancel(ctx))
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		h.run(hbCtx)
	}()
	var handlers sync.WaitGroup
	defer func() {
		handlers.Wait()
		hbStop()
		<-hbDone
		p.holds.Store(nil)
	}()
	slots := make(chan struct{}, p.MaxInFlight)
	if p.Window <= 0 {
		// No window: each receive is a batch, and a loop receives only
		// with a handler slot in hand, so a process holds no more
		// messages than it is handling (a killed one strands no others
		// until their visibility timeout).
		var loops sync.WaitGroup
		for i := 0; i < p.Concurrency; i++ {
			loops.Add(1)
			go func() {
				defer loops.Done()
				p.receiveHandling(ctx, slots, &handlers, log)
			}()
		}
		loops.Wait()
		return
	}
	in := make(chan []sqsq.Received)
	var receivers sync.WaitGroup
	for i := 0; i < p.Concurrency; i++ {
		receivers.Add(1)
		go func() {
			defer receivers.Done()
			p.receive(ctx, in, log)
		}()
	}
	go func() {
		receivers.Wait()
		close(in)
	}()
	p.batch(ctx, in, slots, &handlers, log)
}

// start hands batch b to the handler on its own goroutine; the caller holds
// a slot, which the goroutine gives back when done.
func (p *Poller) start(ctx context.Context, b []sqsq.Received, slots <-chan struct{}, handlers *sync.WaitGroup, log zerolog.Logger) {
	handlers.Add(1)
	go func() {
		defer handlers.Done()
		defer func() { <-slots }()
		// Each batch's own bound; it survives the cancellation of ctx
		// (SIGTERM), so a worker finishes what it holds rather than
		// abandoning it.
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.Grace+time.Minute)
		defer cancel()
		p.handle(hctx, b, log)
	}()
}

// receiveHandling is a receive loop without a window: take a handler
// slot, receive, hand the batch over; until ctx is cancelled.
func (p *Poller) receiveHandling(ctx context.Context, slots chan struct{}, handlers *sync.WaitGroup, log zerolog.Logger) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		msgs, ok := p.receiveOnce(ctx, &backoff, log)
		if len(msgs) == 0 {
			<-slots
			if !ok {
				return
			}
			continue
		}
		p.start(ctx, msgs, slots, handlers, log)
	}
}

// receiveOnce is one long poll. A failed one is logged and followed by a
// pause of *backoff (doubled each time, up to 5 s; reset by a success).
// ok is false when ctx ended.
func (p *Poller) receiveOnce(ctx context.Context, backoff *time.Duration, log zerolog.Logger) (msgs []sqsq.Received, ok bool) {
	msgs, err := p.Queue.Receive(ctx, p.URL, p.Batch, p.Wait, p.Visibility)
	if len(msgs) > 0 {
		handles := make([]string, len(msgs))
		for i, m := range msgs {
			handles[i] = m.ReceiptHandle
		}
		p.holds.Load().add(p.Clock.Now(), handles...)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, false
		}
		log.Warn().Err(err).Msg("receive failed")
		sleep(ctx, *backoff)
		*backoff = min(*backoff*2, 5*time.Second)
		return nil, true
	}
	*backoff = 100 * time.Millisecond
	return msgs, true
}

// receive long-polls the queue and sends what it gets to in, until ctx is
// cancelled.
func (p *Poller) receive(ctx context.Context, in chan<- []sqsq.Received, log zerolog.Logger) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		msgs, ok := p.receiveOnce(ctx, &backoff, log)
		if !ok {
			return
		}
		if len(msgs) > 0 {
			in <- msgs // received messages are always handed over, even when ctx ends meanwhile
		}
	}
}

// batch forms batches from in and hands them to the handler, at most
// MaxInFlight at a time, until in is closed; then it hands over what is
// left (the caller waits for every batch to finish).
func (p *Poller) batch(ctx context.Context, in <-chan []sqsq.Received, slots chan struct{}, handlers *sync.WaitGroup, log zerolog.Logger) {
	var pending []sqsq.Received
	var windowEnd, earliest time.Time // earliest: the pending messages' earliest Deadline (zero: none)
	flushAt := func() time.Time {
		if earliest.IsZero() {
			return windowEnd
		}
		lead := time.Duration(min(len(pending), p.MaxBatch)-1) * p.LeadPerMessage
		if at := earliest.Add(-lead); at.Before(windowEnd) {
			return at
		}
		return windowEnd
	}
	flush := func() {
		for len(pending) > 0 {
			n := min(len(pending), p.MaxBatch)
			b := pending[:n:n]
			pending = pending[n:]
			slots <- struct{}{} // all busy: wait here, and the receive loops wait on in
			p.start(ctx, b, slots, handlers, log)
		}
		pending, windowEnd, earliest = nil, time.Time{}, time.Time{}
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		var fire <-chan time.Time
		if len(pending) > 0 {
			timer.Reset(time.Until(flushAt()))
			fire = timer.C
		}
		select {
		case msgs, ok := <-in:
			if !ok {
				flush()
				return
			}
			if len(pending) == 0 {
				windowEnd = time.Now().Add(p.Window)
			}
			pending = append(pending, msgs...)
			if p.Deadline != nil {
				for _, m := range msgs {
					if at, ok := p.Deadline(m.Body); ok && (earliest.IsZero() || at.Before(earliest)) {
						earliest = at
					}
				}
			}
			if len(pending) >= p.MaxBatch || !time.Now().Before(flushAt()) {
				flush()
			}
		case <-fire:
			flush()
		}
		if fire != nil && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (p *Poller) handle(ctx context.Context, msgs []sqsq.Received, log zerolog.Logger) {

	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	for i, m := range msgs {
		attrs := m.Attributes
		if (p.ReceivedAttr != "" || p.VisibleUntilAttr != "" && p.Visibility > 0) && !m.ReceivedAt.IsZero() {
			attrs = make(map[string]string, len(m.Attributes)+2)
			maps.Copy(attrs, m.Attributes)
			if p.ReceivedAttr != "" {
				attrs[p.ReceivedAttr] = strconv.FormatInt(m.ReceivedAt.UnixNano(), 10)
			}
			if p.VisibleUntilAttr != "" && p.Visibility > 0 {
				attrs[p.VisibleUntilAttr] = strconv.FormatInt(m.ReceivedAt.Add(p.Visibility).UnixNano(), 10)
			}
		}
		ev.Records[i] = events.SQSMessage{MessageId: m.MessageID, ReceiptHandle: m.ReceiptHandle, Body: m.Body,
			Attributes: attrs, EventSource: "aws:sqs", EventSourceARN: p.ARN}
	}
	start := time.Now()
	resp, err := p.Handler(ctx, ev)
	if p.Usage != nil {
		p.Usage.Invocation(p.Name, time.Since(start), p.MemoryMB)
	}
	// The handler is done with every message: no more heartbeats. Those
	// it failed come back within the visibility (or after the delay it
	// set through ChangeVisibility); the others are deleted now.
	all := make([]string, len(msgs))
	for i, m := range msgs {
		all[i] = m.ReceiptHandle
	}
	p.holds.Load().done(all...)
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
