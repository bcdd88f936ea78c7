package worker

import (
	"context"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Store is what the worker needs of the task store.
type Store interface {
	Get(ctx context.Context, id task.ID) (*task.Task, error)
	Claim(ctx context.Context, id task.ID, ph, owner string, now, leaseUntil time.Time) (*task.Task, error)
	// Finish records the outcome of the attempt owner holds the lease of;
	// task.ErrConflict when the lease was lost.
	Finish(ctx context.Context, id task.ID, owner string, o task.Outcome) (*task.Task, error)
	// Settle records the outcome of an attempt made without a claim,
	// fenced on prev's version; task.ErrConflict when the task changed.
	Settle(ctx context.Context, prev *task.Task, o task.Outcome) (*task.Task, error)
}

// Queue sends single messages.
type Queue interface {
	Send(ctx context.Context, url string, m task.OutMessage) error
}

// Visibility changes a received message's visibility (the Lambda path uses
// it to delay a redelivery); optional.
type Visibility interface {
	ChangeVisibility(ctx context.Context, url, handle string, d time.Duration) error
}

// Events publishes lifecycle events (see package lifecycle). TaskFinished
// must not block; Flush sends what is buffered, bounded in time.
type Events interface {
	TaskFinished(t *task.Task, deadLettered bool)
	Flush(ctx context.Context) error
}

// BatchEvents is Events that can also publish given tasks' events at once
// and say which were not sent (lifecycle.Publisher). With it, HandleSQS
// makes lifecycle events durable: at the end of each batch it publishes the
// events of the tasks the batch finished, and the message of a task whose
// events were not all sent stays on the queue (a batch item failure,
// visible again after EventRetryDelay). The message is the durable record
// of the unsent event: its redelivery finds the task finished and publishes
// the events again. An EventBridge outage thus delays events and loses
// none, and neither does a crash between the outcome write and the
// publish. Handle alone (no batch) buffers events through TaskFinished.
type BatchEvents interface {
	Events
	PublishFinished(ctx context.Context, tasks []*task.Task, deadLettered []bool) ([]task.ID, error)
}

// Gate admits schedule occurrences. Admit returns false after cancelling
// an occurrence that must not run (its schedule was paused, changed or
// deleted); the message is then dropped.
type Gate interface {
	Admit(ctx context.Context, t *task.Task, now time.Time) (bool, error)
}

// Completer is an optional part of a Gate: told of each occurrence whose
// final outcome (succeeded, or failed after its retries) was recorded, so
// that a schedule whose ActionAfterCompletion is DELETE goes once its last
// occurrence has run. It logs its own failures; a redelivery of a finished
// task tells it again.
type Completer interface {
	Completed(ctx context.Context, t *task.Task)
}

// Metrics records metric values (see package metrics for the EMF sink).
type Metrics interface {
	Record(name string, value float64, unit string)
}

// BatchGetter reads many tasks in one call (strongly consistent; missing
// ones absent); optional. HandleSQS uses it to read a whole batch's tasks
// with one request instead of one GetItem each.
type BatchGetter interface {
	GetMany(ctx context.Context, ids []task.ID) (map[task.ID]*task.Task, error)
}
