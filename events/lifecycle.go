package events

import (
	"encoding/json"
	"time"
)

// Source is the source of every event Hourglass publishes.
const Source = "hourglass"

// Detail types of the lifecycle events Hourglass publishes on its bus, and
// of the ingest events it consumes from it.
const (
	// DetailTaskSucceeded: a task's attempt succeeded; the task is SUCCEEDED.
	DetailTaskSucceeded = "TaskSucceeded"
	// DetailTaskFailed: a task reached FAILED — its last attempt failed, or
	// an attempt failed permanently. Its final outcome.
	DetailTaskFailed = "TaskFailed"
	// DetailTaskDeadLettered: a failed task's message was put on the task
	// dead-letter queue (for inspection or redrive). Today every FAILED task
	// is dead-lettered, so it follows each TaskFailed; subscribe to
	// TaskFailed for outcomes and to TaskDeadLettered for operations.
	DetailTaskDeadLettered = "TaskDeadLettered"
	// DetailTaskCancelled: a task was cancelled before it ran.
	DetailTaskCancelled = "TaskCancelled"
	// DetailScheduleFired: an occurrence of a recurring schedule fired —
	// its task ran and its outcome was recorded. One per fire, published
	// beside the occurrence task's TaskSucceeded or TaskFailed.
	DetailScheduleFired = "ScheduleFired"
	// DetailCreateTask is the ingest event: its detail creates a task.
	DetailCreateTask = "CreateTask"
	// DetailCreateSchedule is the ingest event: its detail creates a
	// recurring schedule.
	DetailCreateSchedule = "CreateSchedule"
)

// Event is an EventBridge event as rules deliver it to targets, with a
// typed detail.
type Event[D any] struct {
	Version    string    `json:"version"`
	ID         string    `json:"id"`
	DetailType string    `json:"detail-type"`
	Source     string    `json:"source"`
	Account    string    `json:"account"`
	Time       time.Time `json:"time"`
	Region     string    `json:"region"`
	Resources  []string  `json:"resources"`
	Detail     D         `json:"detail"`
}

// TaskDetail is what every task lifecycle event says about the task.
type TaskDetail struct {
	TaskID string `json:"task_id"`
	Tenant string `json:"tenant"`
	// State is the task's state after the event (SUCCEEDED, FAILED,
	// CANCELLED).
	State string `json:"state"`
	// DueAt is when the task was due.
	DueAt time.Time `json:"due_at"`
	// FinishedAt is when the task reached State.
	FinishedAt time.Time `json:"finished_at"`
	// Attempts is how many attempts were made.
	Attempts int `json:"attempts"`
	// LatenessMS is how much later than due_at the first attempt started,
	// in milliseconds; absent when no attempt was made.
	LatenessMS *int64 `json:"lateness_ms,omitempty"`
	// TargetKind is the target's kind (webhook, sqs, eventbridge, lambda).
	TargetKind string `json:"target_kind"`
	// IdempotencyKey is the key every attempt carried.
	IdempotencyKey string            `json:"idempotency_key"`
	Labels         map[string]string `json:"labels,omitempty"`
}

// Outcome summarises the last attempt.
type Outcome struct {
	// StatusCode is the target's status (HTTP status for webhooks, Lambda's
	// invoke status); absent when the kind has none.
	StatusCode int `json:"status_code,omitempty"`
	// Summary is a short description of the result (truncated response
	// body, message or event ID).
	Summary string `json:"summary,omitempty"`
	// Error is the last attempt's error; absent on success.
	Error string `json:"error,omitempty"`
}

// TaskSucceeded is the detail of a TaskSucceeded event, published only
// with HOURGLASS_LIFECYCLE_EVENTS=all.
type TaskSucceeded struct {
	TaskDetail
	Outcome Outcome `json:"outcome"`
}

// TaskFailed is the detail of a TaskFailed event.
type TaskFailed struct {
	TaskDetail
	Outcome Outcome `json:"outcome"`
}

// TaskDeadLettered is the detail of a TaskDeadLettered event.
type TaskDeadLettered struct {
	TaskDetail
	Outcome Outcome `json:"outcome"`
}

// TaskCancelled is the detail of a TaskCancelled event.
type TaskCancelled struct {
	TaskDetail
	// ReplacedBy is set when a reschedule cancelled the task: the ID of
	// the task that took its place.
	ReplacedBy string `json:"replaced_by,omitempty"`
}

// ScheduleFired is the detail of a ScheduleFired event: one occurrence of
// a recurring schedule ran (published only with
// HOURGLASS_LIFECYCLE_EVENTS=all). It is published when the occurrence task's
// outcome is recorded, so it carries the outcome's state; an occurrence
// cancelled before it ran (schedule paused, changed or deleted, or a
// skipped misfire) did not fire and publishes none.
type ScheduleFired struct {
	ScheduleID string `json:"schedule_id"`
	Tenant     string `json:"tenant"`
	// TaskID is the occurrence's task.
	TaskID string `json:"task_id"`
	// Generation is the schedule's generation when the occurrence was made
	// (each change to a schedule starts a new one).
	Generation int64 `json:"generation"`
	// OccurrenceAt is the nominal fire time the expression gave.
	OccurrenceAt time.Time `json:"occurrence_at"`
	// DueAt is when the task was due: OccurrenceAt plus the flexible
	// window's offset.
	DueAt time.Time `json:"due_at"`
	// FiredAt is when the first attempt started.
	FiredAt time.Time `json:"fired_at"`
	// FinishedAt is when the task reached State.
	FinishedAt time.Time `json:"finished_at"`
	// State is the occurrence task's outcome (SUCCEEDED or FAILED).
	State string `json:"state"`
	// Attempts is how many attempts were made.
	Attempts int `json:"attempts"`
	// TargetKind is the target's kind (webhook, sqs, eventbridge, lambda).
	TargetKind string `json:"target_kind"`
}

// CreateTask is the detail of a CreateTask ingest event: the body of
// POST /v1/tasks plus the tenant the task is for. The ingest function
// validates it exactly as the API does.
type CreateTask struct {
	Tenant         string            `json:"tenant"`
	DueAt          string            `json:"due_at"`
	Target         json.RawMessage   `json:"target"`
	Payload        json.RawMessage   `json:"payload,omitempty"`
	Retry          *Retry            `json:"retry,omitempty"`
	IdempotencyKey string            `json:"idempotency_key,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
}

// Retry is a create request's retry policy.
type Retry struct {
	MaxAttempts      int   `json:"max_attempts,omitempty"`
	InitialBackoffMS int64 `json:"initial_backoff_ms,omitempty"`
	MaxBackoffMS     int64 `json:"max_backoff_ms,omitempty"`
}

// CreateSchedule is the detail of a CreateSchedule ingest event: the body
// of POST /v1/schedules plus the tenant the schedule is for and an
// optional idempotency key (the event's ID when absent). The ingest
// function validates and stores it exactly as the API does.
type CreateSchedule struct {
	Tenant         string          `json:"tenant"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	Expression     string          `json:"expression"`
	Timezone       string          `json:"timezone,omitempty"`
	Target         json.RawMessage `json:"target"`
	Payload        json.RawMessage `json:"payload,omitempty"`
	Retry          *Retry          `json:"retry,omitempty"`
	StartAt        string          `json:"start_at,omitempty"`
	EndAt          string          `json:"end_at,omitempty"`
	// State is ENABLED (the default) or DISABLED.
	State string `json:"state,omitempty"`
	// FlexibleWindowMinutes spreads each occurrence inside this many
	// minutes by a stable hash.
	FlexibleWindowMinutes int `json:"flexible_window_minutes,omitempty"`
	// MisfirePolicy is run_once (the default), skip or run_all.
	MisfirePolicy string            `json:"misfire_policy,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
}
