package task

import (
	"encoding/json"
	"fmt"
	"time"
)

// ScanUnit is the scan queue's message: one (bucket, shard) partition for a
// dispatcher to hand to the task queue. Sweep units come a while after the
// bucket has passed and pick up anything a crash left SCHEDULED.
type ScanUnit struct {
	Bucket int64  `json:"bucket"` // bucket start, Unix seconds
	Shard  uint16 `json:"shard"`
	Sweep  bool   `json:"sweep"`
	// Pass, Upto and Held continue a unit whose dispatch held some
	// tenants' tasks back in the table (package dispatch's fair pacing):
	// Pass counts the unit's passes (0: the scanner's unit); every task of
	// the partition up to sort key Upto was sent, except for the tenants in
	// Held, whose tasks were sent only up to the sort key given there.
	Pass int `json:"pass,omitempty"`
	// Deferred counts how often a sweep unit put itself off because a
	// tenant's backlog in its partition was still being paced.
	Deferred int               `json:"deferred,omitempty"`
	Upto     string            `json:"upto,omitempty"`
	Held     map[string]string `json:"held,omitempty"`
}

// Encode returns the unit's message body.
func (u ScanUnit) Encode() string {
	b, _ := json.Marshal(u) // strings, numbers and a string map: cannot fail
	return string(b)
}

// TaskMessage is the task queue's message. The ID locates the task; PH is the
// payload hash the dispatcher saw, so a stale message is refused. Origin
// names what sent it, so that every duplicate delivery has a named cause;
// a message from before origins decodes with Origin empty (OriginUnknown).
// Build one with NewTaskMessage and encode it with Encode: no other code
// marshals task messages.
type TaskMessage struct {
	ID     string `json:"id"`
	PH     string `json:"ph"`
	Origin Origin `json:"o,omitempty"`
	// RequeuedFrom is, on a message the worker re-queued because it came
	// early (Origin OriginRequeue), the origin of the message it re-queued.
	RequeuedFrom Origin `json:"rf,omitempty"`
	// LimitWaits, on a message the worker re-queued because the task's
	// limit key was saturated, counts the refusals so far, and LimitSince
	// is the first one (Unix ms): the task records them when it gets its
	// slot (limit_waits, limit_waited_ms).
	LimitWaits int   `json:"lw,omitempty"`
	LimitSince int64 `json:"ls,omitempty"`
}

// Origin names the sender of a task message.
type Origin string

// The origins of task messages.
const (
	OriginUnknown  Origin = ""         // a message from before origins were recorded
	OriginFastPath Origin = "fast"     // the API's create, batch create or reschedule
	OriginDispatch Origin = "dispatch" // the dispatcher, for a scan unit
	OriginSweep    Origin = "sweep"    // the dispatcher, for a sweep unit
	OriginRetry    Origin = "retry"    // the worker's backoff re-send after a failed attempt
	OriginRedrive  Origin = "redrive"  // a redrive from the dead-letter queue (package redrive)
	OriginChain    Origin = "chain"    // a schedule's chain sending an occurrence itself
	OriginRequeue  Origin = "requeue"  // the worker re-queueing a message that came early
	// OriginDeadLetter marks the worker's message to the dead-letter queue
	// (never delivered to a target: a redrive sends a new message).
	OriginDeadLetter Origin = "dlq"
)

// NewTaskMessage returns the task-queue message for t sent by origin.
func NewTaskMessage(t *Task, origin Origin) TaskMessage {
	return TaskMessage{ID: t.ID.String(), PH: t.PayloadHash, Origin: origin}
}

// Requeued returns the message that re-queues m (the worker's early
// re-queue): same task and payload hash, origin OriginRequeue, and the
// first origin kept in RequeuedFrom.
func (m TaskMessage) Requeued() TaskMessage {
	from := m.Origin
	if m.Origin == OriginRequeue {
		from = m.RequeuedFrom
	}
	return TaskMessage{ID: m.ID, PH: m.PH, Origin: OriginRequeue, RequeuedFrom: from, LimitWaits: m.LimitWaits, LimitSince: m.LimitSince}
}

// Describe is m's origin as a receiver is told it (the webhook's
// Hourglass-Origin header): the origin, "requeue:<first origin>" for a
// re-queued message, or "unknown".
func (m TaskMessage) Describe() string {
	switch {
	case m.Origin == OriginUnknown:
		return "unknown"
	case m.Origin == OriginRequeue && m.RequeuedFrom != OriginUnknown:
		return string(OriginRequeue) + ":" + string(m.RequeuedFrom)
	}
	return string(m.Origin)
}

// Encode returns m as a queue message body.
func (m TaskMessage) Encode() string {
	b, _ := json.Marshal(m) // strings only: cannot fail
	return string(b)
}

// DecodeScanUnit parses a scan queue message body.
func DecodeScanUnit(body string) (ScanUnit, error) {
	var u ScanUnit
	if err := json.Unmarshal([]byte(body), &u); err != nil {
		return u, fmt.Errorf("decode scan unit: %w", err)
	}
	return u, nil
}

// DecodeTaskMessage parses a task queue message body.
func DecodeTaskMessage(body string) (TaskMessage, ID, error) {
	var m TaskMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return m, ID{}, fmt.Errorf("decode task message: %w", err)
	}
	id, err := ParseID(m.ID)
	if err != nil {
		return m, ID{}, fmt.Errorf("decode task message: id %q: %w", m.ID, err)
	}
	return m, id, nil
}

// OutMessage is a message to send to a queue.
type OutMessage struct {
	Body  string
	Delay time.Duration // rounded down to whole seconds by the queue adapter
	// Attributes are string message attributes (e.g. the error of a
	// dead-lettered task).
	Attributes map[string]string
	// Group is the SQS MessageGroupId: the task's tenant on the task queue,
	// so that SQS fair queues (standard queues) keep one tenant's backlog
	// from delaying the others'. Empty: none.
	Group string
}

// Cursor is the scanner's progress, kept in one item.
type Cursor struct {
	// Dispatching: buckets up to and including this one have been (or are
	// being) fanned out. Written BEFORE the units are sent, so a create that
	// reads it after writing its task knows whether a dispatcher can still
	// see that task; if not, the create sends the task itself (fast path).
	Dispatching int64
	// Fanned: buckets up to this one were fanned out completely. Written
	// after the units are sent; the scanner resumes after it.
	Fanned int64
	// Swept: buckets up to this one had their late sweep.
	Swept int64
	// Shards is the highest shard count ever used; the scanner fans out this
	// many shards per bucket, so a grown count never strands a task.
	Shards int
	// Exists is false before any writer or scanner has started.
	Exists bool
}
