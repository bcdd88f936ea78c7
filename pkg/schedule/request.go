package schedule

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/cronexpr"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Spec is a validated schedule definition: what a create request gives,
// or a PATCH merged onto the stored schedule.
type Spec struct {
	Expression string
	Timezone   string
	Target     task.Target
	Payload    json.RawMessage
	Retry      task.Retry
	Start, End time.Time
	State      State
	FlexWindow time.Duration
	Misfire    Misfire
	Labels     map[string]string
}

// specFields are the fields of a schedule a client may set.
var specFields = map[string]bool{
	"expression": true, "timezone": true, "target": true, "payload": true, "retry": true,
	"start_at": true, "end_at": true, "state": true, "flexible_window_minutes": true,
	"misfire_policy": true, "labels": true,
}

// readOnlyFields are shown in a schedule's view but set by the service.
var readOnlyFields = map[string]bool{
	"id": true, "name": true, "group": true, "description": true, "action_after_completion": true, "generation": true, "version": true, "created_at": true, "updated_at": true, "paused_at": true,
}

// Bounds on a schedule's start_at and end_at: neither before the Unix
// epoch (no task can be due then); start_at no further ahead than a task's
// due_at may be (task.Limits.MaxHorizon), since the first occurrence is a
// task; end_at at most MaxEndAhead ahead.
var minTime = time.Unix(0, 0).UTC()

// MaxEndAhead bounds how far ahead a schedule's end_at may be.
const MaxEndAhead = 100 * 366 * 24 * time.Hour

// horizonText says how far ahead a task may be due under lim.
func horizonText(lim task.Limits) string {
	if lim.MaxHorizon <= 0 {
		return "the range of a task ID"
	}
	if d := lim.MaxHorizon; d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + " days"
	}
	return lim.MaxHorizon.String()
}

// DecodeBody reads a schedule request body (a create, or a PATCH) as a JSON
// object, for every door: the HTTP routes and the EventBridge ingest. A
// body that is not one unambiguous JSON object — bytes that are not UTF-8,
// a key named twice anywhere (task.CheckJSON) — is refused, naming the
// place.
func DecodeBody(body []byte) (map[string]json.RawMessage, *task.FieldError) {
	if fe := task.CheckJSON(body, ""); fe != nil {
		return nil, fe
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return nil, &task.FieldError{Field: "body", Reason: "must be a JSON object"}
	}
	return raw, nil
}

// DecodeSpec validates a schedule object (create body, or a PATCH merged
// onto the stored schedule's view). Every problem is reported, naming its
// field; the target, payload, retry and labels are checked exactly as a
// task's are.
func DecodeSpec(raw map[string]json.RawMessage, now time.Time, lim task.Limits, validate task.TargetValidator) (Spec, []task.FieldError) {
	var sp Spec
	var errs []task.FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, task.FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	unknown := make([]string, 0)
	for k := range raw {
		if !specFields[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		if readOnlyFields[k] {
			add(k, "is read-only")
		} else {
			add(k, "unknown field")
		}
	}
	str := func(field string) (string, bool) {
		v, ok := raw[field]
		if !ok || string(v) == "null" {
			return "", false
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			add(field, "must be a string")
			return "", false
		}
		return s, true
	}

	// target, payload, retry and labels: a task's rules.
	body := map[string]json.RawMessage{"due_at": json.RawMessage(`"` + now.Add(time.Minute).UTC().Format(time.RFC3339) + `"`)}
	for _, k := range []string{"target", "payload", "retry", "labels"} {
		if v, ok := raw[k]; ok {
			body[k] = v
		}
	}
	b, _ := json.Marshal(body)
	req, terrs := task.DecodeCreate(b, "", now, lim, validate)
	errs = append(errs, terrs...)
	sp.Target, sp.Payload, sp.Retry, sp.Labels = req.Target, req.Payload, req.Retry, req.Labels

	if v, ok := raw["expression"]; !ok || string(v) == "null" {
		add("expression", "is required, e.g. cron(0 9 ? * MON-FRI *), rate(5 minutes) or at(2030-01-02T15:04:05)")
	}
	expr, hasExpr := str("expression")
	tz, _ := str("timezone")
	var compiled cronexpr.Schedule
	if hasExpr {
		c, err := cronexpr.Parse(expr, tz)
		var se *cronexpr.Error
		switch {
		case errors.As(err, &se):
			add(se.Field, "%s", se.Message)
		case err != nil:
			add("expression", "%s", err.Error())
		default:
			compiled = c
			sp.Expression, sp.Timezone = c.String(), c.TimeZone()
		}
	}

	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"start_at", &sp.Start}, {"end_at", &sp.End}} {
		if s, ok := str(f.name); ok {
			t, err := task.ParseTime(s)
			if err != nil {
				add(f.name, "%q is not an RFC 3339 time with an offset within ±23:59 (e.g. 2030-01-02T15:04:05Z)", s)
				continue
			}
			t = t.UTC().Truncate(time.Millisecond)
			switch {
			case t.Before(minTime):
				add(f.name, "must not be before 1970-01-01T00:00:00Z")
				continue
			case f.name == "start_at" && lim.BeyondHorizon(now, t):
				add(f.name, "must not be more than %s ahead (the limit on a task's due_at): the first occurrence must be one a task can hold", horizonText(lim))
				continue
			case f.name == "end_at" && t.After(now.Add(MaxEndAhead)):
				add(f.name, "must not be more than 100 years ahead")
				continue
			}
			*f.dst = t
		}
	}
	if !sp.Start.IsZero() && !sp.End.IsZero() && !sp.End.After(sp.Start) {
		add("end_at", "must be after start_at")
	}

	sp.State = Enabled
	if s, ok := str("state"); ok {
		switch State(s) {
		case Enabled, Disabled:
			sp.State = State(s)
		default:
			add("state", "must be ENABLED or DISABLED")
		}
	}
	sp.Misfire = RunOnce
	if s, ok := str("misfire_policy"); ok {
		switch Misfire(s) {
		case RunOnce, Skip, RunAll:
			sp.Misfire = Misfire(s)
		default:
			add("misfire_policy", "must be run_once, skip or run_all")
		}
	}
	if v, ok := raw["flexible_window_minutes"]; ok && string(v) != "null" {
		var n int
		if err := json.Unmarshal(v, &n); err != nil || n < 0 || n > int(MaxFlexWindow/time.Minute) {
			add("flexible_window_minutes", "must be an integer from 0 (off) to %d", int(MaxFlexWindow/time.Minute))
		} else {
			sp.FlexWindow = time.Duration(n) * time.Minute
		}
	}
	if compiled.Kind() != "" && len(errs) == 0 && sp.State == Enabled {
		if !sp.Start.IsZero() {
			compiled = compiled.WithStart(sp.Start)
		}
		if !sp.End.IsZero() {
			compiled = compiled.WithEnd(sp.End)
		}
		if next, ok := compiled.Next(now); !ok {
			add("expression", "never fires after now (an at() in the past, or end_at reached)")
		} else if lim.BeyondHorizon(now, next.Add(sp.FlexWindow)) {
			// Its first occurrence would be a task due beyond the horizon,
			// which no task may be.
			add("expression", "first fires at %s, more than %s ahead (the limit on a task's due_at, flexible window included)",
				next.UTC().Format(time.RFC3339), horizonText(lim))
		}
	}
	return sp, errs
}

// Apply sets s's definition from sp.
func (s *Schedule) Apply(sp Spec) {
	s.Expression, s.Timezone, s.Target, s.Payload, s.Retry = sp.Expression, sp.Timezone, sp.Target, sp.Payload, sp.Retry
	s.Start, s.End, s.State, s.FlexWindow, s.Misfire, s.Labels = sp.Start, sp.End, sp.State, sp.FlexWindow, sp.Misfire, sp.Labels
}

// definition is a schedule's definition as a create document spells it,
// with its target as stored (header values in clear): the base a PATCH is
// merged onto, never an answer.
type definition struct {
	Expression            string            `json:"expression"`
	Timezone              string            `json:"timezone"`
	Target                json.RawMessage   `json:"target"`
	Payload               json.RawMessage   `json:"payload"`
	Retry                 retryFields       `json:"retry"`
	StartAt               *time.Time        `json:"start_at,omitempty"`
	EndAt                 *time.Time        `json:"end_at,omitempty"`
	State                 State             `json:"state"`
	FlexibleWindowMinutes int               `json:"flexible_window_minutes"`
	MisfirePolicy         Misfire           `json:"misfire_policy"`
	Labels                map[string]string `json:"labels,omitempty"`
}

// retryFields is a retry policy as a create document spells it.
type retryFields struct {
	MaxAttempts      int   `json:"max_attempts"`
	InitialBackoffMs int64 `json:"initial_backoff_ms"`
	MaxBackoffMs     int64 `json:"max_backoff_ms"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// MergePatch overlays a PATCH body (JSON merge patch, RFC 7396, one level:
// null removes an optional field) onto the stored definition of s (not its
// redacted view, so a PATCH that leaves the target out keeps its real
// header values), giving the raw object DecodeSpec validates.
func MergePatch(s *Schedule, patch map[string]json.RawMessage) map[string]json.RawMessage {
	payload := s.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	b, _ := json.Marshal(definition{
		Expression: s.Expression, Timezone: s.Timezone, Target: s.Target.Spec, Payload: payload,
		Retry:   retryFields{MaxAttempts: s.Retry.MaxAttempts, InitialBackoffMs: s.Retry.InitialBackoff.Milliseconds(), MaxBackoffMs: s.Retry.MaxBackoff.Milliseconds()},
		StartAt: optTime(s.Start), EndAt: optTime(s.End), State: s.State,
		FlexibleWindowMinutes: int(s.FlexWindow / time.Minute), MisfirePolicy: s.Misfire, Labels: s.Labels,
	})
	var base map[string]json.RawMessage
	_ = json.Unmarshal(b, &base)
	for k, v := range patch {
		if string(v) == "null" {
			delete(base, k)
			continue
		}
		base[k] = v
	}
	return base
}
