// Package task holds Hourglass's domain: the task, its states and the rules
// that move it between them, its ID (which locates it in storage), request
// validation and retry backoff. It is the leaf every other package shares and
// imports nothing of ours: no transport (field errors are its own type).
package task

import (
	"encoding/json"
	"errors"
	"time"
)

// State is where a task is in its life.
type State string

// The states. SCHEDULED → (DISPATCHED) → RUNNING → SUCCEEDED | FAILED, with
// RETRYING between attempts and CANCELLED from any not-yet-running state.
const (
	Scheduled State = "SCHEDULED" // stored, waiting for its bucket to be dispatched
	// Dispatched is never stored: the API shows a SCHEDULED task as
	// DISPATCHED once the scanner has announced its bucket (its message is
	// on the task queue, or about to be). Dispatch writes nothing, which
	// keeps a task at three writes: create, claim, outcome.
	Dispatched State = "DISPATCHED"
	Running    State = "RUNNING"  // a worker holds the lease and is executing
	Retrying   State = "RETRYING" // an attempt failed; the next one is queued
	Succeeded  State = "SUCCEEDED"
	Failed     State = "FAILED"
	Cancelled  State = "CANCELLED"
)

// Terminal reports whether no further transition can happen.
func (s State) Terminal() bool { return s == Succeeded || s == Failed || s == Cancelled }

// Cancellable reports whether a cancel may still stop the task from running.
func (s State) Cancellable() bool { return s == Scheduled || s == Dispatched || s == Retrying }

// Claimable reports whether a worker may start an attempt from this state
// (RUNNING is claimable only once its lease has expired; see the store).
func (s State) Claimable() bool { return s == Scheduled || s == Dispatched || s == Retrying }

// Errors the stores return, translated from their backends.
var (
	// ErrNotFound: no such item (or it belongs to another tenant).
	ErrNotFound = errors.New("not found")
	// ErrConflict: a conditional transition lost (wrong state, version or lease).
	ErrConflict = errors.New("conflict")
	// ErrIdempotencyMismatch: a client token was reused with a different request.
	ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")
)

// Target says what to run. Spec is the whole target object as the client sent
// it (including "kind"); the executor for Kind interprets it.
//
// RoleArn is the IAM role the spec names (its "role_arn" field, the same
// text, read out by TargetOf): the role Hourglass assumes to call a
// target in another AWS account.
type Target struct {
	Kind    string
	Spec    json.RawMessage
	RoleArn string `json:"role_arn,omitempty"`
}

// TargetOf returns the target of kind whose object is spec, with its
// RoleArn read from the spec.
func TargetOf(kind string, spec json.RawMessage) Target {
	var r struct {
		Role string `json:"role_arn"`
	}
	_ = json.Unmarshal(spec, &r) // a malformed role is the validator's to report
	return Target{Kind: kind, Spec: spec, RoleArn: r.Role}
}

// Retry is a task's retry policy.
type Retry struct {
	MaxAttempts    int           // total attempts, including the first
	InitialBackoff time.Duration // wait after the first failure
	MaxBackoff     time.Duration // cap on any wait
}

// Outcome is what an attempt's end records: the state it leaves the task
// in (SUCCEEDED, FAILED or RETRYING), the attempt itself, when the next
// attempt is due (RETRYING only) and the error (empty on success). Outcome
// writes (ddbstore.Store.Finish and Settle) take it whole.
type Outcome struct {
	State     State
	Attempt   Attempt
	NextAt    time.Time
	LastError string
}

// Attempt records one execution attempt.
type Attempt struct {
	N          int       `json:"n"`
	StartedAt  time.Time `json:"started_at"`
	EndedAt    time.Time `json:"ended_at"`
	Outcome    string    `json:"outcome"` // "succeeded", "failed", "retrying"
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
	Summary    string    `json:"summary,omitempty"`
	Worker     string    `json:"worker,omitempty"`
	// Run is a random token of the delivery that made this attempt, never
	// shown: without claims a worker whose outcome write lost its answer
	// recognises its own applied write by it. Worker and StartedAt cannot
	// tell two deliveries of one batch apart: they run in one process and
	// may start in the same millisecond.
	Run string `json:"-"`
}

// Task is one scheduled execution of a target.
type Task struct {
	ID             ID
	Tenant         string
	DueAt          time.Time // ms precision, UTC
	Target         Target
	Payload        json.RawMessage
	Retry          Retry
	IdempotencyKey string // sent with every attempt; defaults to the task ID
	Labels         map[string]string

	State       State
	Version     int64     // bumped by every transition; conditions fence on it
	PayloadHash string    // hash of target+payload; stale queue messages are refused
	AttemptN    int       // attempts started
	Attempts    []Attempt // finished attempts, oldest first
	NextAt      time.Time // RETRYING: not before this time
	LeaseOwner  string    // RUNNING: who holds the lease
	LeaseUntil  time.Time // RUNNING: lease expiry
	LastError   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	FinishedAt  time.Time
	// ReplacedBy is set on a task CANCELLED by a reschedule (PATCH of
	// due_at): the ID of the task that took its place.
	ReplacedBy string
	// Occurrence is set on a task that is one occurrence of a recurring
	// schedule; nil for a one-off task.
	Occurrence *Occurrence
	// FastPath says that the create that wrote the task had found its
	// bucket already announced and sends it itself (the fast path): a
	// dispatcher skips it, so it is not sent twice. A sweep does not skip
	// it, so a create that crashed after its write is still run.
	FastPath bool
	// LimitKey names the limit (per tenant) its target calls count
	// against; empty: none. See Limit.
	LimitKey string
	// LimitWaits counts the times the task waited for its limit key, and
	// LimitWaited sums how long (recorded when it gets its slot).
	LimitWaits  int
	LimitWaited time.Duration
}

// Occurrence names the schedule a task is one occurrence of. Dispatching
// such a task creates the schedule's next occurrence (see package
// schedules); a worker checks the schedule is still active before running it.
type Occurrence struct {
	Schedule   string    // schedule ID (the task's tenant owns it)
	Generation int64     // the schedule's generation when the occurrence was made
	At         time.Time // nominal fire time (DueAt adds the flexible-window offset)
}

// Key returns the idempotency key sent to the target.
func (t *Task) Key() string {
	if t.IdempotencyKey != "" {
		return t.IdempotencyKey
	}
	return t.ID.String()
}

// RunAt is the earliest time the next attempt may start.
func (t *Task) RunAt() time.Time {
	if t.NextAt.After(t.DueAt) {
		return t.NextAt
	}
	return t.DueAt
}

// Redacted is the target as every door shows it: the values of its
// "headers", which may hold credentials for the receiving service, are
// replaced by "[redacted]". A spec that is not a JSON object comes back
// as it is.
func (t Target) Redacted() json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(t.Spec, &m); err != nil {
		return t.Spec
	}
	h, ok := m["headers"]
	if !ok {
		return t.Spec
	}
	var headers map[string]json.RawMessage
	if err := json.Unmarshal(h, &headers); err != nil {
		return t.Spec
	}
	for k := range headers {
		headers[k] = json.RawMessage(`"` + RedactedValue + `"`)
	}
	m["headers"], _ = json.Marshal(headers)
	out, err := json.Marshal(m)
	if err != nil {
		return t.Spec
	}
	return out
}

// RedactedValue stands in for a secret in every view.
const RedactedValue = "[redacted]"
