// Package redrive re-runs dead-lettered tasks once their cause is fixed.
//
// A task lands in the task dead-letter queue two ways: the worker sends it
// there after its last attempt failed (the task is FAILED), or SQS moves a
// message there after too many receives (the task may be in any state).
// Run drains the DLQ: a FAILED task gets a fresh attempt budget
// (ddbstore.Store.Redrive: FAILED → RETRYING under a version condition) and
// its message goes back on the task queue; a task not yet finished has its
// message re-sent; a finished or missing task is dropped. Only then is the
// DLQ message deleted, so a crash at any point leaves the message in the DLQ
// and running Run again finishes the job: a redriven task found RETRYING is
// simply re-sent, and a duplicate message is absorbed by the worker's claim.
//
// scripts/redrive is the command-line front end.
package redrive

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/sqsq"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Store is what redrive needs of the task store.
type Store interface {
	Get(ctx context.Context, id task.ID) (*task.Task, error)
	Redrive(ctx context.Context, id task.ID, now time.Time, attempts int) (*task.Task, error)
}

// Queue is what redrive needs of SQS.
type Queue interface {
	Receive(ctx context.Context, url string, max int32, wait, visibility time.Duration) ([]sqsq.Received, error)
	Send(ctx context.Context, url string, m task.OutMessage) error
	DeleteBatch(ctx context.Context, url string, handles []string) error
	ChangeVisibility(ctx context.Context, url, handle string, d time.Duration) error
}

// Config says what to redrive.
type Config struct {
	DLQ       string // task dead-letter queue URL
	TaskQueue string // task queue URL
	// Attempts is the fresh budget of attempts a FAILED task gets
	// (default 3), with its own backoff policy between them.
	Attempts int
	// Max bounds the DLQ messages handled in one run (default 1000).
	Max int
	// Tenant, when set, redrives only that tenant's tasks; others' messages
	// are left in the DLQ.
	Tenant string
	// DryRun reports what would happen and changes nothing.
	DryRun bool
}

// Result counts what a run did.
type Result struct {
	Redriven int      // FAILED tasks given a fresh budget and re-sent
	Resent   int      // unfinished tasks whose message was re-sent
	Dropped  int      // finished or missing tasks: DLQ message deleted
	Left     int      // messages left in the DLQ (other tenant, or an error)
	IDs      []string // tasks redriven or re-sent
}

// Run drains up to cfg.Max messages from the DLQ. It returns the first
// error it met; messages it could not handle stay in the DLQ.
func Run(ctx context.Context, cfg Config, store Store, q Queue, clk clock.Clock, log zerolog.Logger) (Result, error) {
	if cfg.Max <= 0 {
		cfg.Max = 1000
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	if clk == nil {
		clk = clock.System{}
	}
	var res Result
	var firstErr error
	var left []string
	seen := 0
	// Messages left in the DLQ become visible again when the run ends, for
	// the next run; during it they stay hidden so each is seen once.
	defer func() {
		for _, h := range left {
			if err := q.ChangeVisibility(context.WithoutCancel(ctx), cfg.DLQ, h, 0); err != nil {
				log.Warn().Err(err).Msg("could not make a left DLQ message visible again; it reappears in 5 minutes")
			}
		}
	}()
	// Received messages stay invisible for the run's length (5 minutes at
	// most), so each is handled once per run and the loop ends when the DLQ
	// looks empty.
	for seen < cfg.Max {
		msgs, err := q.Receive(ctx, cfg.DLQ, int32(min(10, cfg.Max-seen)), 0, 5*time.Minute)
		if err != nil {
			return res, fmt.Errorf("receive from DLQ: %w", err)
		}
		if len(msgs) == 0 {
			break
		}
		seen += len(msgs)
		var done []string
		for _, m := range msgs {
			ok, err := handle(ctx, cfg, store, q, clk, m, &res, log)
			if err != nil {
				log.Error().Err(err).Str("message_id", m.MessageID).Msg("redrive failed; message left in the DLQ")
				if firstErr == nil {
					firstErr = err
				}
			}
			if ok && !cfg.DryRun {
				done = append(done, m.ReceiptHandle)
			} else {
				res.Left++
				left = append(left, m.ReceiptHandle)
			}
		}
		if len(done) > 0 {
			if err := q.DeleteBatch(ctx, cfg.DLQ, done); err != nil {
				return res, fmt.Errorf("delete from DLQ: %w", err)
			}
		}
	}
	return res, firstErr
}

// handle deals with one DLQ message; ok means it may be deleted.
func handle(ctx context.Context, cfg Config, store Store, q Queue, clk clock.Clock, m sqsq.Received, res *Result, log zerolog.Logger) (ok bool, err error) {
	msg, id, err := task.DecodeTaskMessage(m.Body)
	if err != nil {
		log.Warn().Err(err).Str("message_id", m.MessageID).Msg("dropping malformed DLQ message")
		res.Dropped++
		return true, nil
	}
	t, err := store.Get(ctx, id)
	if errors.Is(err, task.ErrNotFound) {
		res.Dropped++
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if cfg.Tenant != "" && t.Tenant != cfg.Tenant {
		return false, nil
	}
	log = log.With().Str("task_id", msg.ID).Str("tenant", t.Tenant).Str("state", string(t.State)).Logger()
	switch {
	case t.State == task.Failed:
		if cfg.DryRun {
			log.Info().Str("last_error", t.LastError).Msg("would redrive")
			res.Redriven++
			return true, nil
		}
		if t, err = store.Redrive(ctx, id, clk.Now(), cfg.Attempts); err != nil {
			return false, err
		}
		res.Redriven++
	case t.State.Terminal():
		res.Dropped++
		return true, nil
	default:
		// Not finished but its message is gone (SQS moved it here, or a
		// previous redrive stopped before sending): send it again.
		res.Resent++
	}
	res.IDs = append(res.IDs, t.ID.String())
	if cfg.DryRun {
		return true, nil
	}
	if err := q.Send(ctx, cfg.TaskQueue, task.OutMessage{Body: task.NewTaskMessage(t, task.OriginRedrive).Encode(), Group: t.Tenant}); err != nil {
		return false, fmt.Errorf("re-send task %s: %w", t.ID, err)
	}
	log.Info().Int("max_attempts", t.Retry.MaxAttempts).Msg("task redriven")
	return true, nil
}

// The SQS adapter serves as redrive's queue.
var _ Queue = (*sqsq.Queue)(nil)
