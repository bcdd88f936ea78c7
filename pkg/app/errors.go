package app

import (
	"errors"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// NotFound says that what a request names does not exist for its tenant
// (another tenant's task is reported the same way).
type NotFound struct {
	What string // "task 06h2…"
}

func (e *NotFound) Error() string { return e.What + " not found" }

// Is makes errors.Is(err, task.ErrNotFound) hold.
func (e *NotFound) Is(target error) bool { return target == task.ErrNotFound }

// Conflict says that the request cannot be applied in the current state of
// what it names; Detail says why, for the caller.
type Conflict struct {
	Detail string
}

func (e *Conflict) Error() string { return "conflict: " + e.Detail }

// Is makes errors.Is(err, task.ErrConflict) hold.
func (e *Conflict) Is(target error) bool { return target == task.ErrConflict }

// Invalid says that a request is malformed or breaks a rule, naming each
// bad field.
type Invalid struct {
	Fields []task.FieldError
}

func (e *Invalid) Error() string { return task.FieldErrors(e.Fields).Error() }

func invalid(field, reason string) *Invalid {
	return &Invalid{Fields: []task.FieldError{{Field: field, Reason: reason}}}
}

// TooLarge says that a request is larger than the service accepts.
type TooLarge struct {
	Detail string
}

func (e *TooLarge) Error() string { return "too large: " + e.Detail }

// LimitExceeded says that the tenant's rate limit, or the instance's
// create writers (HOURGLASS_CREATE_WRITERS), cannot take the request now;
// nothing of it was written, and it may be retried after RetryAfter.
type LimitExceeded struct {
	Detail     string
	RetryAfter time.Duration
}

func (e *LimitExceeded) Error() string { return "limit exceeded: " + e.Detail }

// QuotaExceeded says that the request would take the tenant over a cap
// on how many of something it may have (schedule groups); Detail names the
// cap. Unlike LimitExceeded, retrying does not help until some are deleted.
type QuotaExceeded struct {
	Detail string
}

func (e *QuotaExceeded) Error() string { return "quota exceeded: " + e.Detail }

// NotEnabled says that the deployment does not offer what was asked for;
// Detail says how to turn it on.
type NotEnabled struct {
	Detail string
}

func (e *NotEnabled) Error() string { return "not enabled: " + e.Detail }

// ErrIdempotencyMismatch: an idempotency key was already used with a
// different request.
var ErrIdempotencyMismatch = task.ErrIdempotencyMismatch

// ErrCrashed: a test's crash hook stopped the request at a named point.
var ErrCrashed = errors.New("stopped by the crash hook")

// PreconditionFailed says that a conditional change (If-Match) found the
// resource at another version.
type PreconditionFailed struct {
	Detail string
}

func (e *PreconditionFailed) Error() string { return "precondition failed: " + e.Detail }

// Unavailable says that the service cannot answer now and the request is
// worth retrying after RetryAfter (a creation raced by another).
type Unavailable struct {
	Detail     string
	RetryAfter time.Duration
}

func (e *Unavailable) Error() string { return "unavailable: " + e.Detail }
