package app

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// patchFields are what a patch may change. The idempotency key sent to the
// target is fixed for a task's life (and carried over by a reschedule).
var patchFields = map[string]bool{"due_at": true, "target": true, "payload": true, "retry": true, "labels": true}

// Patched is a patch's outcome.
type Patched struct {
	// Task is the task as changed, as shown. After a reschedule it is the
	// new task, which replaces Replaced.
	Task *task.Task
	// Replaced, after a reschedule, is the old task as the reschedule
	// left it (CANCELLED, replaced by Task): publish it with
	// PublishCancelled once answered. Nil otherwise.
	Replaced *task.Task
}

// Patch changes tenant's task id, which must be SCHEDULED and not yet
// dispatched. Body is a JSON merge of the create fields: each field given
// replaces the stored one ("labels": null removes the labels); the result
// is validated exactly like a create.
//
// A new due_at cannot keep the ID (the ID encodes the due time and so the
// item's partition), so it reschedules: one transaction writes a new task
// with a new ID and cancels the old one with replaced_by naming the new.
// Other changes update the task in place; a changed target or payload
// changes its payload hash, so no stale queue message could run it. Either
// way the write is conditional on the version read, the state and the
// scanner not having announced the task's bucket: otherwise *Conflict.
func (s *Tasks) Patch(ctx context.Context, log zerolog.Logger, tenant, id string, body []byte) (Patched, error) {
	tid, err := task.ParseID(id)
	if err != nil {
		return Patched{}, &NotFound{What: "task " + id}
	}
	if len(body) > s.MaxCreateBody() {
		return Patched{}, &TooLarge{Detail: "the body exceeds the payload limit plus 64 KiB"}
	}
	if fe := task.CheckJSON(body, ""); fe != nil {
		return Patched{}, &Invalid{Fields: []task.FieldError{*fe}}
	}
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(body, &patch); err != nil || patch == nil {
		return Patched{}, invalid("body", "must be a JSON object with any of due_at, target, payload, retry, labels"+jsonHint(err))
	}
	var errs []task.FieldError
	keys := make([]string, 0, len(patch))
	for k := range patch {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case k == "idempotency_key", k == "limit_key":
			errs = append(errs, task.FieldError{Field: k, Reason: "cannot be changed"})
		case !patchFields[k]:
			errs = append(errs, task.FieldError{Field: k, Reason: "unknown field"})
		}
	}
	if len(patch) == 0 {
		errs = append(errs, task.FieldError{Field: "body", Reason: "names nothing to change (due_at, target, payload, retry, labels)"})
	}
	if len(errs) > 0 {
		return Patched{}, &Invalid{Fields: errs}
	}

	prev, err := s.load(ctx, tenant, tid.String())
	if err != nil {
		return Patched{}, err
	}
	if prev.Occurrence != nil {
		return Patched{}, &Conflict{Detail: "task " + id + " is an occurrence of schedule " + prev.Occurrence.Schedule + "; change the schedule (PATCH /v1/schedules/" + prev.Occurrence.Schedule + ") instead"}
	}
	if v := s.shown(ctx, prev); v.State != task.Scheduled {
		return Patched{}, &Conflict{Detail: "task " + id + " is " + string(v.State) + "; only a SCHEDULED task that is not yet dispatched can be changed"}
	}

	merged := currentFields(prev)
	for k, v := range patch {
		if k == "labels" && isJSONNull(v) {
			delete(merged, k)
			continue
		}
		merged[k] = v
	}
	mb, err := json.Marshal(merged)
	if err != nil {
		return Patched{}, invalid("body", "could not be merged with the task")
	}
	now := s.clock.Now().UTC().Truncate(time.Millisecond)
	req, errs := task.DecodeCreate(mb, "", now, s.cfg.Limits, s.cfg.Validate.For(tenant))
	if len(errs) > 0 {
		return Patched{}, &Invalid{Fields: errs}
	}

	next := *prev
	next.Target, next.Payload, next.Retry, next.Labels = req.Target, req.Payload, req.Retry, req.Labels
	next.PayloadHash = task.PayloadHash(req.Target, req.Payload)
	next.UpdatedAt = now
	if !req.DueAt.Equal(prev.DueAt) {
		nid, err := task.NewID(req.DueAt, s.cfg.Shards)
		if err != nil {
			return Patched{}, invalid("due_at", err.Error())
		}
		next = task.Task{
			ID: nid, Tenant: tenant, DueAt: req.DueAt, Target: next.Target, Payload: next.Payload, Retry: next.Retry,
			IdempotencyKey: prev.Key(), Labels: next.Labels, LimitKey: prev.LimitKey, State: task.Scheduled, Version: 1,
			PayloadHash: next.PayloadHash, CreatedAt: now, UpdatedAt: now,
		}
		if err := s.ensureCursor(ctx, now); err != nil {
			return Patched{}, err
		}
	} else if samePatch(prev, &next) {
		return Patched{Task: s.shown(ctx, prev)}, nil // nothing changes: nothing written
	}

	var plan fastPlan
	if next.ID != prev.ID {
		// A reschedule creates a task: its fast path is planned before
		// its write, as a create's (and may mark next.FastPath).
		plan = s.planFastPath(ctx, &next)
	}
	saved, err := s.store.Update(ctx, prev, &next, now)
	written := time.Now()
	switch {
	case errors.Is(err, task.ErrConflict):
		return Patched{}, &Conflict{Detail: "task " + id + " was dispatched, started or changed meanwhile; read it again"}
	case err != nil:
		return Patched{}, notFound(err, "task "+id)
	}
	log = log.With().Str("tenant", tenant).Logger()
	if saved.ID == prev.ID {
		log.Info().Str("task_id", prev.ID.String()).Msg("task updated")
		return Patched{Task: s.shown(ctx, saved)}, nil
	}
	log.Info().Str("task_id", prev.ID.String()).Str("replaced_by", saved.ID.String()).Msg("task rescheduled")
	shown := s.shown(ctx, saved)
	if err := s.sendFast(ctx, saved, plan, written); err != nil {
		log.Error().Err(err).Str("task_id", saved.ID.String()).Msg("fast-path send failed; the sweep will dispatch the task late")
	}
	// The old task is CANCELLED, replaced by the new one.
	old := *prev
	old.State, old.ReplacedBy, old.FinishedAt, old.UpdatedAt = task.Cancelled, saved.ID.String(), now, now
	return Patched{Task: shown, Replaced: &old}, nil
}

// retryFields is a retry policy as a create document spells it.
type retryFields struct {
	MaxAttempts      int   `json:"max_attempts"`
	InitialBackoffMs int64 `json:"initial_backoff_ms"`
	MaxBackoffMs     int64 `json:"max_backoff_ms"`
}

// currentFields renders a stored task as a create body (target unredacted).
func currentFields(t *task.Task) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	m["due_at"], _ = json.Marshal(t.DueAt.UTC().Format(time.RFC3339Nano))
	m["target"] = t.Target.Spec
	m["payload"] = t.Payload
	m["retry"], _ = json.Marshal(retryFields{MaxAttempts: t.Retry.MaxAttempts, InitialBackoffMs: t.Retry.InitialBackoff.Milliseconds(), MaxBackoffMs: t.Retry.MaxBackoff.Milliseconds()})
	if len(t.Labels) > 0 {
		m["labels"], _ = json.Marshal(t.Labels)
	}
	if t.IdempotencyKey != "" {
		m["idempotency_key"], _ = json.Marshal(t.IdempotencyKey)
	}
	return m
}

func samePatch(a, b *task.Task) bool {
	if a.PayloadHash != b.PayloadHash || a.Retry != b.Retry || len(a.Labels) != len(b.Labels) {
		return false
	}
	for k, v := range a.Labels {
		if bv, ok := b.Labels[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func isJSONNull(v json.RawMessage) bool {
	var x any
	return json.Unmarshal(v, &x) == nil && x == nil
}

func jsonHint(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return " (invalid JSON)"
	}
	return ""
}
