// Package target defines how Hourglass executes a task's target (webhook, SQS,
// EventBridge, Lambda) and the error values that steer the worker's retries.
//
// Each kind lives in its own sub-package and implements Executor. The worker
// never knows which kind it calls: it passes an Invocation and reads a Result.
package target

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Invocation is one attempt at running a task's target.
type Invocation struct {
	TaskID         string
	Tenant         string
	Attempt        int       // 1-based
	IdempotencyKey string    // identical on every attempt and every duplicate delivery
	DueAt          time.Time // the task's due time
	Payload        json.RawMessage
	// Spec is the kind-specific target configuration, exactly as the task stores it.
	Spec json.RawMessage
	// Delivery says how this attempt reached the worker, so that a receiver
	// can tell a duplicate's cause (see Delivery).
	Delivery Delivery
}

// Delivery is what the worker knows of the queue message behind an
// attempt. Zero fields are unknown.
type Delivery struct {
	MessageID string // the queue's message ID
	// Origin is what sent the message (task.TaskMessage.Describe:
	// "dispatch", "fast", "requeue:dispatch", "unknown", …).
	Origin string
	// ReceivedAt is when the worker's process received the message.
	ReceivedAt time.Time
	// VisibleUntil is when the message becomes visible again unless it is
	// deleted (the receive's visibility deadline), when known.
	VisibleUntil time.Time
}

// Result is what an attempt produced, recorded on the task.
type Result struct {
	StatusCode int    // target status (HTTP status for webhooks; 0 when the kind has none)
	Summary    string // short, human-readable outcome (truncated response body, message ID…)
}

// Executor runs one kind of target.
type Executor interface {
	// Kind is the target kind this executor serves ("webhook", "sqs", …).
	Kind() string
	// Validate checks a target spec and returns field errors keyed by JSON path
	// relative to the target object (e.g. "url"), or nil when the spec is valid.
	Validate(spec json.RawMessage) []FieldError
	// Execute runs the attempt. A nil error is success. Wrap an error with
	// Permanent to stop retrying.
	Execute(ctx context.Context, inv Invocation) (Result, error)
}

// FieldError names one invalid field of a target spec.
type FieldError struct {
	Field  string // JSON path relative to the target object, e.g. "url" or "headers.X-Foo"
	Reason string
}

// PermanentError marks a failure that retrying cannot fix (4xx from a webhook,
// a refused address, a malformed spec). The worker fails the task at once.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err so that the worker does not retry it.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err (or anything it wraps) is permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// NotAttemptedError marks a failure before the target was called, of
// something of Hourglass's own (the tenant's signing secret could not be
// read): the worker records no attempt and redelivers the message later,
// as it does when it cannot read the task.
type NotAttemptedError struct{ Err error }

func (e *NotAttemptedError) Error() string { return "not attempted: " + e.Err.Error() }
func (e *NotAttemptedError) Unwrap() error { return e.Err }

// NotAttempted wraps err so that the worker charges no attempt for it.
func NotAttempted(err error) error {
	if err == nil {
		return nil
	}
	return &NotAttemptedError{Err: err}
}

// IsNotAttempted reports whether err (or anything it wraps) says the
// target was not called.
func IsNotAttempted(err error) bool {
	var n *NotAttemptedError
	return errors.As(err, &n)
}

// RetryAfterError asks the worker to wait at least After before the next
// attempt (a webhook's 429/503 Retry-After).
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }
