package api

import (
	"encoding/json"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// TaskView is a task as the API shows it.
type TaskView struct {
	ID             string            `json:"id"`
	State          task.State        `json:"state"`
	DueAt          time.Time         `json:"due_at"`
	Target         json.RawMessage   `json:"target"`
	Payload        json.RawMessage   `json:"payload"`
	Retry          RetryView         `json:"retry"`
	IdempotencyKey string            `json:"idempotency_key"`
	Labels         map[string]string `json:"labels,omitempty"`
	AttemptCount   int               `json:"attempt_count"`
	Attempts       []task.Attempt    `json:"attempts"`
	NextAttemptAt  *time.Time        `json:"next_attempt_at,omitempty"`
	LastError      string            `json:"last_error,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
	FinishedAt     *time.Time        `json:"finished_at,omitempty"`
	// ReplacedBy: this task was CANCELLED by a reschedule (PATCH of
	// due_at); the named task took its place.
	ReplacedBy string `json:"replaced_by,omitempty"`
	// Replaces is set only in the answer to a PATCH that rescheduled: the
	// ID of the task this one replaced.
	Replaces string `json:"replaces,omitempty"`
	// LimitKey is the limit key the task's target calls count against.
	LimitKey string `json:"limit_key,omitempty"`
	// LimitWaits counts the times the task waited for a free slot of its
	// limit key (re-queued or held, neither failed nor charged an
	// attempt), and LimitWaitedMs how long in all; recorded when it got
	// its slot.
	LimitWaits    int   `json:"limit_waits"`
	LimitWaitedMs int64 `json:"limit_waited_ms"`
}

// RetryView is the retry policy as the API shows it.
type RetryView struct {
	MaxAttempts      int   `json:"max_attempts"`
	InitialBackoffMs int64 `json:"initial_backoff_ms"`
	MaxBackoffMs     int64 `json:"max_backoff_ms"`
}

// View renders a task, redacting target secrets (header values).
func View(t *task.Task) TaskView {
	v := TaskView{
		ID: t.ID.String(), State: t.State, DueAt: t.DueAt, Target: t.Target.Redacted(), Payload: t.Payload,
		Retry:          RetryView{MaxAttempts: t.Retry.MaxAttempts, InitialBackoffMs: t.Retry.InitialBackoff.Milliseconds(), MaxBackoffMs: t.Retry.MaxBackoff.Milliseconds()},
		IdempotencyKey: t.Key(), Labels: t.Labels, AttemptCount: t.AttemptN, Attempts: t.Attempts, LastError: t.LastError,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, ReplacedBy: t.ReplacedBy,
		LimitKey: t.LimitKey, LimitWaits: t.LimitWaits, LimitWaitedMs: t.LimitWaited.Milliseconds(),
	}
	if v.Attempts == nil {
		v.Attempts = []task.Attempt{}
	}
	if t.State == task.Retrying && !t.NextAt.IsZero() {
		n := t.NextAt
		v.NextAttemptAt = &n
	}
	if !t.FinishedAt.IsZero() {
		f := t.FinishedAt
		v.FinishedAt = &f
	}
	return v
}
