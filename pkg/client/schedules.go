package client

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// CreateSchedule is a recurring schedule to create. Expression is an
// EventBridge Scheduler expression: at(yyyy-mm-ddThh:mm:ss), rate(value
// unit) or cron(minutes hours day-of-month month day-of-week year).
type CreateSchedule struct {
	Expression string     `json:"expression"`
	Timezone   string     `json:"timezone,omitempty"` // IANA; UTC when empty
	Target     Target     `json:"target"`
	Payload    any        `json:"payload,omitempty"`
	Retry      *Retry     `json:"retry,omitempty"`
	StartAt    *time.Time `json:"start_at,omitempty"`
	EndAt      *time.Time `json:"end_at,omitempty"`
	// State is ENABLED (the default when empty) or DISABLED.
	State                 string            `json:"state,omitempty"`
	FlexibleWindowMinutes int               `json:"flexible_window_minutes,omitempty"`
	MisfirePolicy         string            `json:"misfire_policy,omitempty"` // run_once (default), skip, run_all
	Labels                map[string]string `json:"labels,omitempty"`
}

// Schedule is a schedule as the API shows it.
type Schedule struct {
	ID                    string            `json:"id"`
	Expression            string            `json:"expression"`
	Timezone              string            `json:"timezone"`
	Target                Target            `json:"target"`
	Payload               json.RawMessage   `json:"payload"`
	Retry                 Retry             `json:"retry"`
	StartAt               *time.Time        `json:"start_at,omitempty"`
	EndAt                 *time.Time        `json:"end_at,omitempty"`
	State                 string            `json:"state"`
	FlexibleWindowMinutes int               `json:"flexible_window_minutes"`
	MisfirePolicy         string            `json:"misfire_policy"`
	Labels                map[string]string `json:"labels,omitempty"`
	// Generation starts at 1; every change starts a new one.
	Generation int64 `json:"generation"`
	// Version is what SchedulePatch.IfVersion compares with.
	Version   int64      `json:"version"`
	PausedAt  *time.Time `json:"paused_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// SchedulePatch changes a schedule; nil fields are left as they are. State
// "DISABLED" pauses, "ENABLED" resumes.
type SchedulePatch struct {
	Expression            *string           `json:"expression,omitempty"`
	Timezone              *string           `json:"timezone,omitempty"`
	Target                Target            `json:"target,omitempty"`
	Payload               any               `json:"payload,omitempty"`
	Retry                 *Retry            `json:"retry,omitempty"`
	StartAt               *time.Time        `json:"start_at,omitempty"`
	EndAt                 *time.Time        `json:"end_at,omitempty"`
	State                 *string           `json:"state,omitempty"`
	FlexibleWindowMinutes *int              `json:"flexible_window_minutes,omitempty"`
	MisfirePolicy         *string           `json:"misfire_policy,omitempty"`
	Labels                map[string]string `json:"labels,omitempty"`
	// ClearStartAt, ClearEndAt and ClearLabels remove those fields.
	ClearStartAt, ClearEndAt, ClearLabels bool `json:"-"`
	// IfVersion, when not zero, makes the change conditional on the
	// schedule still being at this version (IsPreconditionFailed if not).
	IfVersion int64 `json:"-"`
}

// ScheduleListOptions select a page of schedules.
type ScheduleListOptions struct {
	PageSize  int // 1-100 (server default 50)
	PageToken string
}

// SchedulePage is one page of schedules, in ID order.
type SchedulePage struct {
	Schedules     []Schedule `json:"schedules"`
	NextPageToken string     `json:"next_page_token,omitempty"`
}

// Occurrence is one occurrence a schedule created: its nominal fire time,
// when its task is due, the task and (while the task exists) its state.
type Occurrence struct {
	At         time.Time `json:"at"`
	DueAt      time.Time `json:"due_at"`
	TaskID     string    `json:"task_id"`
	State      string    `json:"state,omitempty"`
	Generation int64     `json:"generation"`
}

// Upcoming is a future fire time with no task yet.
type Upcoming struct {
	At    time.Time `json:"at"`
	DueAt time.Time `json:"due_at"`
}

// Occurrences are a schedule's latest occurrences (newest first) and its
// next fire times (in order).
type Occurrences struct {
	Occurrences []Occurrence `json:"occurrences"`
	Upcoming    []Upcoming   `json:"upcoming"`
}

// PreviewOptions ask for the next fire times of an expression.
type PreviewOptions struct {
	Expression string
	Timezone   string    // IANA; UTC when empty
	After      time.Time // strictly after; now when zero
	StartAt    time.Time // anchors a rate(); the Unix epoch when zero
	Count      int       // 1-100 (server default 10)
}

// CreateSchedule creates a recurring schedule. The route takes no
// Idempotency-Key, so a create is retried only on 429 (unless
// Options.RetryUnkeyedCreates); a CreateSchedule event on the Hourglass bus
// is the idempotent way.
func (c *Client) CreateSchedule(ctx context.Context, s CreateSchedule) (*Schedule, error) {
	var out Schedule
	if _, err := c.do(ctx, http.MethodPost, "/v1/schedules", nil, s, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetSchedule reads a schedule (IsNotFound when missing, or another
// tenant's).
func (c *Client) GetSchedule(ctx context.Context, id string) (*Schedule, error) {
	var out Schedule
	if _, err := c.do(ctx, http.MethodGet, "/v1/schedules/"+url.PathEscape(id), nil, nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateSchedule changes, pauses or resumes a schedule. Every change starts
// a new generation; without IfVersion a retried change is applied again
// (to the same effect).
func (c *Client) UpdateSchedule(ctx context.Context, id string, p SchedulePatch) (*Schedule, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("hourglass PATCH schedule %s: encode body: %w", id, err)
	}
	// Raw values keep the payload's numbers exactly as encoded.
	body := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &body); err != nil {
		return nil, fmt.Errorf("hourglass PATCH schedule %s: encode body: %w", id, err)
	}
	for field, clear := range map[string]bool{"start_at": p.ClearStartAt, "end_at": p.ClearEndAt, "labels": p.ClearLabels} {
		if clear {
			body[field] = json.RawMessage("null")
		}
	}
	var hdr http.Header
	if p.IfVersion != 0 {
		hdr = http.Header{"If-Match": {strconv.FormatInt(p.IfVersion, 10)}}
	}
	var out Schedule
	if _, err := c.doHeaders(ctx, http.MethodPatch, "/v1/schedules/"+url.PathEscape(id), nil, body, "", hdr, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteSchedule deletes a schedule (IsNotFound when it does not exist).
func (c *Client) DeleteSchedule(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/schedules/"+url.PathEscape(id), nil, nil, "", nil)
	return err
}

// ListSchedules reads one page of the caller's schedules.
func (c *Client) ListSchedules(ctx context.Context, o ScheduleListOptions) (*SchedulePage, error) {
	q := url.Values{}
	if o.PageSize > 0 {
		q.Set("page_size", strconv.Itoa(o.PageSize))
	}
	if o.PageToken != "" {
		q.Set("page_token", o.PageToken)
	}
	var out SchedulePage
	if _, err := c.do(ctx, http.MethodGet, "/v1/schedules", q, nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllSchedules iterates over every schedule of the caller, page after
// page; it stops at the first error, which it yields.
func (c *Client) AllSchedules(ctx context.Context, o ScheduleListOptions) iter.Seq2[*Schedule, error] {
	return func(yield func(*Schedule, error) bool) {
		for {
			p, err := c.ListSchedules(ctx, o)
			if err != nil {
				yield(nil, err)
				return
			}
			for i := range p.Schedules {
				if !yield(&p.Schedules[i], nil) {
					return
				}
			}
			if p.NextPageToken == "" {
				return
			}
			o.PageToken = p.NextPageToken
		}
	}
}

// Occurrences reads a schedule's latest limit occurrences (0: the
// server's default, 20) and its next fire times.
func (c *Client) Occurrences(ctx context.Context, id string, limit int) (*Occurrences, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out Occurrences
	if _, err := c.do(ctx, http.MethodGet, "/v1/schedules/"+url.PathEscape(id)+"/occurrences", q, nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Preview returns the next fire times of an expression, in UTC.
func (c *Client) Preview(ctx context.Context, o PreviewOptions) ([]time.Time, error) {
	q := url.Values{"expression": {o.Expression}}
	if o.Timezone != "" {
		q.Set("timezone", o.Timezone)
	}
	if !o.After.IsZero() {
		q.Set("after", o.After.UTC().Format(time.RFC3339Nano))
	}
	if !o.StartAt.IsZero() {
		q.Set("start_at", o.StartAt.UTC().Format(time.RFC3339Nano))
	}
	if o.Count > 0 {
		q.Set("count", strconv.Itoa(o.Count))
	}
	var out struct {
		Times []time.Time `json:"times"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/schedules:preview", q, nil, "", &out); err != nil {
		return nil, err
	}
	return out.Times, nil
}
