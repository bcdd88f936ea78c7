package poll

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/clock"
)

// DefaultVisibility is a Poller's per-receive visibility unless set. It
// bounds how long a message taken by a dead process stays hidden — the
// messages it held, and those its still-open long polls take after it died
// (an emulator, and SQS itself, may hand a message to a long poll whose
// client is gone) — and so a crashed host's recovery time: such a message
// runs about this much, less the early delivery, plus a receive and a
// handling, after its due time. Short enough for the local host's ten-second
// recovery budget; long enough that a task message (received a second or two
// before due, held in a one-second batching window, executed) is deleted
// before three quarters of it have passed, so that the heartbeat costs no
// request in normal running.
const DefaultVisibility = 5 * time.Second

// extendBatch is the most handles one ChangeMessageVisibilityBatch takes;
// extendCalls bounds a heartbeat round's calls in flight.
const (
	extendBatch = 10
	extendCalls = 4
)

// holds tracks the messages a Poller holds — received, not yet handed back
// by their handler — with the time each becomes visible again, and extends
// those close to it: the heartbeat. A message is extended once three
// quarters of its visibility have passed (the last quarter, 1.25 s at 5 s,
// is the extension call's margin; SQS answers in milliseconds), to a full
// visibility from the call. Messages whose handler finished (done) or that
// the handler sent back with a delay (release) are never extended again.
type holds struct {
	q   Queue
	url string
	vis time.Duration
	clk clock.Clock
	log zerolog.Logger

	// io serialises an extension round with release: a message released
	// for a delayed redelivery is never extended by a call that was
	// already in flight and lands after the release's own change.
	io sync.Mutex
	mu sync.Mutex
	at map[string]time.Time // receipt handle → when it becomes visible again
}

func newHolds(q Queue, url string, vis time.Duration, clk clock.Clock, log zerolog.Logger) *holds {
	return &holds{q: q, url: url, vis: vis, clk: clk, log: log, at: map[string]time.Time{}}
}

// add starts holding handles received at now (with the poller's
// visibility).
func (h *holds) add(now time.Time, handles ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, hd := range handles {
		h.at[hd] = now.Add(h.vis)
	}
}

// done stops holding handles: their handler finished, and they are being
// deleted or left to come back within the visibility.
func (h *holds) done(handles ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, hd := range handles {
		delete(h.at, hd)
	}
}

// held reports whether handle is held (tests).
func (h *holds) held(handle string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.at[handle]
	return ok
}

// release stops holding handle and makes it visible again after d: the
// handler asked for a redelivery after a delay.
func (h *holds) release(ctx context.Context, handle string, d time.Duration) error {
	h.io.Lock()
	h.done(handle)
	h.io.Unlock()
	return h.q.ChangeVisibility(ctx, h.url, handle, d)
}

// due returns the held handles to extend at now, and forgets those whose
// visibility already ran out: another consumer may have received them
// since, and an extension with this receipt would fight its hold.
func (h *holds) due(now time.Time) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for hd, at := range h.at {
		switch left := at.Sub(now); {
		case left <= 0:
			delete(h.at, hd)
			h.log.Warn().Msg("a held message's visibility ran out before its extension; it may be delivered twice")
		case left <= h.margin():
			out = append(out, hd)
		}
	}
	return out
}

// extend runs one heartbeat round: the messages due for it get a full
// visibility again, up to 10 per call, with up to extendCalls calls at once
// (one stalled call must not make the others late), each bounded by the
// margin.
func (h *holds) extend(ctx context.Context) {
	h.io.Lock()
	defer h.io.Unlock()
	handles := h.due(h.clk.Now())
	sem := make(chan struct{}, extendCalls)
	var wg sync.WaitGroup
	for start := 0; start < len(handles); start += extendBatch {
		chunk := handles[start:min(start+extendBatch, len(handles))]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			h.extendChunk(ctx, chunk)
		}()
	}
	wg.Wait()
}

// extendChunk extends up to 10 handles with one call.
func (h *holds) extendChunk(ctx context.Context, chunk []string) {
	// The new visibility runs from some moment during the call: count it
	// from the start, the earliest.
	from := h.clk.Now()
	cctx, cancel := context.WithTimeout(ctx, h.margin())
	failed, err := h.q.ChangeVisibilityBatch(cctx, h.url, chunk, h.vis)
	cancel()
	if err != nil {
		// Left as they are: the next round retries while they last.
		h.log.Warn().Err(err).Int("messages", len(failed)).Msg("visibility heartbeat failed")
	}
	bad := make(map[string]bool, len(failed))
	for _, hd := range failed {
		bad[hd] = true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, hd := range chunk {
		if _, still := h.at[hd]; still && !bad[hd] {
			h.at[hd] = from.Add(h.vis)
		}
	}
}

// margin is how long before a held message would become visible again the
// heartbeat extends it, and how long one extension call may take.
func (h *holds) margin() time.Duration { return h.vis / 4 }

// run extends held messages every sixteenth of the visibility (≈ 300 ms
// at 5 s: an extension lands with at least three quarters of its margin
// to spare) until ctx ends.
func (h *holds) run(ctx context.Context) {
	t := time.NewTicker(max(h.vis/16, 50*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.extend(ctx)
		}
	}
}
