package app

// Dead letters: a tenant's failed tasks, listed and re-run through the
// services, in every deployment.
//
//   - List with States exactly [FAILED] reads the sparse by_failed index
//     (ddbstore.IndexByFailed), which only the outcome write that fails a
//     task writes to: it answers even when the by_tenant list index is off.
//   - Retry runs a FAILED task again with a fresh budget of attempts. The
//     task DLQ is one queue for every tenant, so a redrive through the
//     services goes by task, not by queue; the task's dead-lettered message
//     stays in the DLQ, and scripts/redrive later drops it (the task is
//     finished) or re-sends it (it is not), both harmless.

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// DeadLetters is what the dead-letter operations need of the store, beyond
// Store. A store without it answers them with *NotEnabled.
type DeadLetters interface {
	// ListFailedIDs reads one page of a tenant's FAILED tasks, newest due
	// first, as Store.ListIDs does for all of them.
	ListFailedIDs(ctx context.Context, q task.ListQuery) (entries []task.ListEntry, more bool, err error)
	// Redrive moves a FAILED task to RETRYING, claimable from now, with
	// attempts more attempts; a task not FAILED, or changed concurrently,
	// is task.ErrConflict with the current task.
	Redrive(ctx context.Context, id task.ID, now time.Time, attempts int) (*task.Task, error)
}

// DefaultRetryAttempts is the fresh budget Retry gives when the request
// names none: as scripts/redrive's.
const DefaultRetryAttempts = 3

// failedOnly reports whether a listing asks for FAILED tasks alone, which
// the by_failed index answers with the list index on or off.
func (s *Tasks) failedOnly(states []task.State) (DeadLetters, bool) {
	dl, ok := s.store.(DeadLetters)
	return dl, ok && len(states) > 0 && !slices.ContainsFunc(states, func(st task.State) bool { return st != task.Failed })
}

// RetryTask asks for a FAILED task to run again; Attempts nil takes
// DefaultRetryAttempts.
type RetryTask struct {
	Attempts *int
}

// Retry runs tenant's FAILED task id again with a fresh budget of
// attempts, and queues it now. A task that is not FAILED is *Conflict; if
// its message cannot be queued the task is RETRYING and the error is
// *Unavailable saying how it will still run.
func (s *Tasks) Retry(ctx context.Context, log zerolog.Logger, tenant, id string, req RetryTask) (*task.Task, error) {
	dl, ok := s.store.(DeadLetters)
	if !ok {
		return nil, &NotEnabled{Detail: "this deployment's store cannot redrive tasks"}
	}
	limit := s.cfg.Limits.MaxAttempts
	if limit <= 0 {
		limit = task.DefaultLimits().MaxAttempts
	}
	attempts := DefaultRetryAttempts
	if req.Attempts != nil {
		attempts = *req.Attempts
		if attempts < 1 || attempts > limit {
			return nil, invalid("attempts", "must be an integer from 1 to "+strconv.Itoa(limit))
		}
	}
	cur, err := s.load(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	if cur.State != task.Failed {
		return nil, &Conflict{Detail: "task " + cur.ID.String() + " is " + string(cur.State) + "; only a FAILED task can be retried"}
	}
	t, err := dl.Redrive(ctx, cur.ID, s.clock.Now(), attempts)
	switch {
	case errors.Is(err, task.ErrConflict) && t != nil:
		return nil, &Conflict{Detail: "task " + cur.ID.String() + " is " + string(t.State) + " (it changed while being retried); only a FAILED task can be retried"}
	case err != nil:
		return nil, notFound(err, "task "+cur.ID.String())
	}
	log = log.With().Str("task_id", cur.ID.String()).Int("attempts", attempts).Logger()
	if err := s.q.Send(ctx, s.cfg.TaskQueue, task.OutMessage{Body: task.NewTaskMessage(t, task.OriginRedrive).Encode(), Group: t.Tenant}); err != nil {
		// The task is RETRYING with no message on the task queue. Its
		// dead-lettered message is still in the task DLQ: scripts/redrive
		// finds the task unfinished and re-sends it.
		log.Error().Err(err).Msg("retry: task is RETRYING but its message could not be sent")
		return nil, &Unavailable{Detail: "task " + cur.ID.String() + " is RETRYING, but its message could not be queued; " +
			"its dead-lettered message is still in the task DLQ, and scripts/redrive re-sends it", RetryAfter: 2 * time.Second}
	}
	log.Info().Msg("task retried")
	return s.shown(ctx, t), nil
}
