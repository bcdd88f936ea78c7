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
}

// TaskMessage is the task queue's message. The ID locates the task; PH is the
// payload hash the dispatcher saw, so a stale message is refused.
type TaskMessage struct {
	ID string `json:"id"`
	PH string `json:"ph"`
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
