package target

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Envelope is what the EventBridge and Lambda targets send instead of the
// bare payload when a target asks for it ("envelope": true): the payload
// together with the task's identity, so the receiver can de-duplicate by
// IdempotencyKey even where the transport has no attributes to carry it.
type Envelope struct {
	Hourglass EnvelopeMeta    `json:"hourglass"`
	Payload   json.RawMessage `json:"payload"`
}

// EnvelopeMeta identifies the task and attempt an Envelope comes from.
type EnvelopeMeta struct {
	TaskID         string    `json:"task_id"`
	Tenant         string    `json:"tenant"`
	Attempt        int       `json:"attempt"`
	IdempotencyKey string    `json:"idempotency_key"`
	DueAt          time.Time `json:"due_at"`
}

// Wrap returns the Envelope of inv as JSON. A missing payload is null.
func Wrap(inv Invocation) ([]byte, error) {
	p := inv.Payload
	if len(p) == 0 {
		p = json.RawMessage("null")
	}
	b, err := json.Marshal(Envelope{
		Hourglass: EnvelopeMeta{TaskID: inv.TaskID, Tenant: inv.Tenant, Attempt: inv.Attempt, IdempotencyKey: inv.IdempotencyKey, DueAt: inv.DueAt.UTC()},
		Payload:   p,
	})
	if err != nil {
		return nil, fmt.Errorf("encode envelope of task %s: %w", inv.TaskID, err)
	}
	return b, nil
}

// UnknownFields returns a FieldError for every top-level key of the target
// object spec that is not in known ("kind" is always known). A spec that is
// not an object yields none: the kind's own parse reports that.
func UnknownFields(spec json.RawMessage, known ...string) []FieldError {
	var probe map[string]json.RawMessage
	if json.Unmarshal(spec, &probe) != nil {
		return nil
	}
	ok := map[string]bool{"kind": true}
	for _, k := range known {
		ok[k] = true
	}
	var errs []FieldError
	for k := range probe {
		if !ok[k] {
			errs = append(errs, FieldError{Field: k, Reason: "unknown field"})
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
	return errs
}
