package app

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// The fast path. A task whose bucket the scanner has already announced
// (raised the cursor's "dispatching" before sending the bucket's units) may
// be missed by the dispatcher, whose query can come before the task's
// write: the create must then send it itself. Sending it whenever the
// bucket is announced after the write (the old rule) sent it twice when
// the dispatcher's query came after the write too. So the decision is
// ordered, on this process's own monotonic clock only:
//
//  1. Before the write, a cursor read begun at t0 (from the cache if begun
//     within AnnounceWait/4). Bucket announced: the item is written marked
//     FastPath — dispatchers skip it, sweeps do not — and the create sends
//     it after the write. Never both, never neither (a crash after the
//     write leaves it to the sweep).
//  2. Not announced, and the write returned at t1 with t1 − t0 <
//     AnnounceWait: the announcement came after t0, and the scanner waits
//     AnnounceWait after it before sending units (scan.Config.AnnounceWait),
//     so the dispatcher's query follows the write and sees the task. Not
//     sent here.
//  3. Otherwise (a slow write, a failed read, AnnounceWait zero): the old
//     rule — a read begun after the write; announced, send. Both may send
//     then: the rare remaining overlap, which the worker absorbs.
//
// Tasks due beyond the horizon (pastHorizon) need none of this.

// fastPlan is a create's fast-path decision taken before its write.
type fastPlan struct {
	// send: the bucket was announced before the write; the item is marked
	// FastPath and the create sends the task.
	send bool
	// certain: the bucket cannot be announced yet; the dispatcher sends it.
	certain bool
	// read is when the cursor read that showed the bucket unannounced
	// began; zero when there was none (decide after the write).
	read time.Time
}

// planFastPath decides, before t is written, what its create will do (see
// the rules above) and marks t.FastPath accordingly.
func (s *Tasks) planFastPath(ctx context.Context, t *task.Task) fastPlan {
	if s.pastHorizon(t) {
		return fastPlan{certain: true}
	}
	if s.cfg.AnnounceWait <= 0 {
		// No window to rely on: only a cached value covering the bucket
		// decides before the write (no read); else the read after it.
		if s.cursor.covers(s.cfg.Layout.BucketOf(t.ID.Due())) {
			t.FastPath = true
			return fastPlan{send: true}
		}
		return fastPlan{}
	}
	ok, began, err := s.announcedAt(ctx, s.cfg.Layout.BucketOf(t.ID.Due()), readAfter(time.Now().Add(-s.cfg.AnnounceWait/4)))
	switch {
	case err != nil:
		return fastPlan{} // decided after the write, by a read then
	case ok:
		t.FastPath = true
		return fastPlan{send: true}
	}
	return fastPlan{read: began}
}

// settled reports whether plan p decides t's fast path without a read
// after its write, which returned at written, and how.
func (s *Tasks) settled(p fastPlan, written time.Time) (send, ok bool) {
	switch {
	case p.send:
		return true, true
	case p.certain:
		return false, true
	case !p.read.IsZero() && written.Sub(p.read) < s.cfg.AnnounceWait:
		return false, true
	}
	return false, false
}

// sendFast finishes a create's fast path: t was written (the write
// returned at written) under plan p; it is sent if p says so, or if p
// leaves it to a read begun after the write that shows its bucket
// announced.
func (s *Tasks) sendFast(ctx context.Context, t *task.Task, p fastPlan, written time.Time) error {
	send, ok := s.settled(p, written)
	if !ok {
		var err error
		if send, err = s.announced(ctx, s.cfg.Layout.BucketOf(t.ID.Due()), readAfter(written)); err != nil {
			return err
		}
	}
	if !send {
		return nil
	}
	return s.q.Send(ctx, s.cfg.TaskQueue, s.fastPathMessage(t))
}

// pastHorizon reports whether t's bucket cannot have been announced yet:
// the scanner announces the buckets that start by its now + look-ahead, so
// a bucket starting later than this process's now + look-ahead + skewMargin
// is not announced unless the scanner's clock runs ahead by more than
// skewMargin — and even then the task is only late (the sweep sends it),
// never lost. Such tasks need no cursor read.
func (s *Tasks) pastHorizon(t *task.Task) bool {
	start := time.Unix(s.cfg.Layout.BucketOf(t.ID.Due()), 0)
	return start.After(s.clock.Now().Add(s.cfg.Lookahead + skewMargin))
}

// skewMargin bounds the clock skew between the API and the scanner that
// pastHorizon allows for.
const skewMargin = 10 * time.Second

// fastPathMessage is t's task-queue message, delayed until its due time
// (less EarlyBy) from now.
func (s *Tasks) fastPathMessage(t *task.Task) task.OutMessage {
	return task.OutMessage{Body: task.NewTaskMessage(t, task.OriginFastPath).Encode(), Delay: t.DueAt.Sub(s.clock.Now()) - s.cfg.EarlyBy, Group: t.Tenant}
}

// fastPathBatch is a batch create's fast path, taken once every write has
// returned: of the tasks the batch created (saved[i] with created[i],
// planned as plans[i], whose write returned at written[i]), those to send
// are sent with SendMessageBatch, ten to a call, instead of with a
// SendMessage each. Tasks with sent[i] (sent may be nil) were sent
// already, by the batch's fastStream as soon as their writes returned. A
// task its plan does not settle (see settled) is decided by one cursor
// read begun after the batch's last write (when the cache does not
// answer). A task whose cursor read failed, or whose message cannot be
// sent, is logged and left to the sweep, exactly as in create.
func (s *Tasks) fastPathBatch(ctx context.Context, log zerolog.Logger, saved []*task.Task, created []bool, plans []fastPlan, written []time.Time, sent []bool) {
	var last time.Time
	for i, t := range saved {
		if t != nil && created[i] && written[i].After(last) {
			last = written[i]
		}
	}
	var send []*task.Task
	for i, t := range saved {
		if t == nil || !created[i] || (sent != nil && sent[i]) {
			continue
		}
		ok, settled := s.settled(plans[i], written[i])
		var err error
		if !settled {
			ok, err = s.announced(ctx, s.cfg.Layout.BucketOf(t.ID.Due()), readAfter(last))
		}
		switch {
		case err != nil:
			log.Error().Err(err).Str("task_id", t.ID.String()).Msg("fast-path send failed; the sweep will dispatch the task late")
		case ok:
			send = append(send, t)
		}
	}
	s.sendFastBatch(ctx, log, send)
	for i, t := range saved {
		if t != nil && created[i] {
			log.Info().Str("task_id", t.ID.String()).Time("due_at", t.DueAt).Msg("task created")
		}
	}
}

// sendFastBatch sends the fast-path messages of send, logging each one
// that could not be sent (the sweep dispatches it late).
func (s *Tasks) sendFastBatch(ctx context.Context, log zerolog.Logger, send []*task.Task) {
	if len(send) == 0 {
		return
	}
	msgs := make([]task.OutMessage, len(send))
	for j, t := range send {
		msgs[j] = s.fastPathMessage(t)
	}
	if err := s.q.SendBatch(ctx, s.cfg.TaskQueue, msgs); err != nil {
		var unsent interface{ Unsent() []int }
		failed := make([]int, len(send))
		for j := range failed {
			failed[j] = j
		}
		if errors.As(err, &unsent) {
			failed = unsent.Unsent()
		}
		for _, j := range failed {
			log.Error().Err(err).Str("task_id", send[j].ID.String()).Msg("fast-path send failed; the sweep will dispatch the task late")
		}
	}
}

// fastStream sends a batch's fast-path messages while the batch is still
// being written: a task whose plan said "send" before its write (the
// bucket was announced) is sent once its write returns, ten to a
// SendMessageBatch, so the queue's round trips overlap the table's writes
// instead of following them all.
type fastStream struct {
	s   *Tasks
	ctx context.Context
	log zerolog.Logger
	mu  sync.Mutex
	buf []*task.Task
	wg  sync.WaitGroup
}

func (s *Tasks) newFastStream(ctx context.Context, log zerolog.Logger) *fastStream {
	return &fastStream{s: s, ctx: ctx, log: log}
}

// add queues t, written and to be sent; every ten start a send.
func (f *fastStream) add(t *task.Task) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buf = append(f.buf, t)
	if len(f.buf) == 10 {
		f.flushLocked()
	}
}

func (f *fastStream) flushLocked() {
	b := f.buf
	f.buf = nil
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.s.sendFastBatch(f.ctx, f.log, b)
	}()
}

// close sends what is left and waits for every send.
func (f *fastStream) close() {
	f.mu.Lock()
	if len(f.buf) > 0 {
		f.flushLocked()
	}
	f.mu.Unlock()
	f.wg.Wait()
}
