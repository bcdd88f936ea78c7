package api

import (
	"encoding/json"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/schedule"
)

// ScheduleRetryView is a retry policy in JSON.
type ScheduleRetryView struct {
	MaxAttempts      int   `json:"max_attempts"`
	InitialBackoffMs int64 `json:"initial_backoff_ms"`
	MaxBackoffMs     int64 `json:"max_backoff_ms"`
}

// ScheduleView is a schedule as the API shows it.
type ScheduleView struct {
	ID string `json:"id"`
	// Name, Group, Description and ActionAfterCompletion are set on
	// schedules made through the Scheduler-compatible API (read-only here).
	Name                  string            `json:"name,omitempty"`
	Group                 string            `json:"group,omitempty"`
	Description           string            `json:"description,omitempty"`
	ActionAfterCompletion string            `json:"action_after_completion,omitempty"`
	Expression            string            `json:"expression"`
	Timezone              string            `json:"timezone"`
	Target                json.RawMessage   `json:"target"`
	Payload               json.RawMessage   `json:"payload"`
	Retry                 ScheduleRetryView `json:"retry"`
	StartAt               *time.Time        `json:"start_at,omitempty"`
	EndAt                 *time.Time        `json:"end_at,omitempty"`
	State                 schedule.State    `json:"state"`
	FlexibleWindowMinutes int               `json:"flexible_window_minutes"`
	MisfirePolicy         schedule.Misfire  `json:"misfire_policy"`
	Labels                map[string]string `json:"labels,omitempty"`
	Generation            int64             `json:"generation"`
	Version               int64             `json:"version"`
	PausedAt              *time.Time        `json:"paused_at,omitempty"`
	CreatedAt             time.Time         `json:"created_at"`
	UpdatedAt             time.Time         `json:"updated_at"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// ScheduleViewOf renders a schedule as every route shows it, header values
// redacted as in task views.
func ScheduleViewOf(s *schedule.Schedule) ScheduleView {
	payload := s.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	return ScheduleView{
		ID: s.ID, Name: s.Name, Group: s.Group, Description: s.Description, ActionAfterCompletion: string(s.AfterCompletion),
		Expression: s.Expression, Timezone: s.Timezone, Target: s.Target.Redacted(), Payload: payload,
		Retry:   ScheduleRetryView{MaxAttempts: s.Retry.MaxAttempts, InitialBackoffMs: s.Retry.InitialBackoff.Milliseconds(), MaxBackoffMs: s.Retry.MaxBackoff.Milliseconds()},
		StartAt: optTime(s.Start), EndAt: optTime(s.End), State: s.State,
		FlexibleWindowMinutes: int(s.FlexWindow / time.Minute), MisfirePolicy: s.Misfire, Labels: s.Labels,
		Generation: s.Generation, Version: s.Version, PausedAt: optTime(s.PausedAt),
		CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC(),
	}
}
