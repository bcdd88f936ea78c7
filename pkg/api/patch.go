package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// patchFields are what PATCH may change. The idempotency key sent to the
// target is fixed for a task's life (and carried over by a reschedule).
var patchFields = map[string]bool{"due_at": true, "target": true, "payload": true, "retry": true, "labels": true}

// patchTask changes a task that is SCHEDULED and not yet dispatched. The
// body is a JSON merge of the create fields: each field given replaces the
// stored one ("labels": null removes the labels); the result is validated
// exactly like a create.
//
// A new due_at cannot keep the ID (the ID encodes the due time and so the
// item's partition), so it reschedules: one transaction writes a new task
// with a new ID and cancels the old one with replaced_by naming the new.
// The answer is the new task (with "replaces", and a Location header).
// Other changes update the task in place; a changed target or payload
// changes its payload hash, so no stale queue message could run it. Either
// way the write is conditional on the version read, the state and the
// scanner not having announced the task's bucket: otherwise 409.
func (s *Server) patchTask(w http.ResponseWriter, r *http.Request) {
	id, ok := s.parseID(w, r)
	if !ok {
		return
	}
	body, ok := readBody(w, r, int64(s.cfg.Limits.MaxPayloadBytes)+64<<10, "the body exceeds the payload limit plus 64 KiB")
	if !ok {
		return
	}
	if fe := task.CheckJSON(body, ""); fe != nil {
		problem.Invalid(*fe).Write(w)
		return
	}
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(body, &patch); err != nil || patch == nil {
		problem.Invalid(problem.FieldError{Field: "body", Reason: "must be a JSON object with any of due_at, target, payload, retry, labels" + jsonHint(err)}).Write(w)
		return
	}
	var errs []problem.FieldError
	keys := make([]string, 0, len(patch))
	for k := range patch {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case k == "idempotency_key":
			errs = append(errs, problem.FieldError{Field: k, Reason: "cannot be changed"})
		case !patchFields[k]:
			errs = append(errs, problem.FieldError{Field: k, Reason: "unknown field"})
		}
	}
	if len(patch) == 0 {
		errs = append(errs, problem.FieldError{Field: "body", Reason: "names nothing to change (due_at, target, payload, retry, labels)"})
	}
	if len(errs) > 0 {
		problem.Invalid(errs...).Write(w)
		return
	}

	tenant := tenantOf(r)
	prev, err := s.store.Get(r.Context(), id)
	if err == nil && prev.Tenant != tenant {
		err = task.ErrNotFound
	}
	if err != nil {
		storeProblem(r, err, "task "+id.String()).Write(w)
		return
	}
	if prev.Occurrence != nil {
		problem.Conflict("task " + id.String() + " is an occurrence of schedule " + prev.Occurrence.Schedule + "; change the schedule (PATCH /v1/schedules/" + prev.Occurrence.Schedule + ") instead").Write(w)
		return
	}
	if v := s.view(r.Context(), prev); v.State != task.Scheduled {
		problem.Conflict("task " + id.String() + " is " + string(v.State) + "; only a SCHEDULED task that is not yet dispatched can be changed").Write(w)
		return
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
		problem.Invalid(problem.FieldError{Field: "body", Reason: "could not be merged with the task"}).Write(w)
		return
	}
	now := s.clock.Now().UTC().Truncate(time.Millisecond)
	req, errs := task.DecodeCreate(mb, "", now, s.cfg.Limits, s.cfg.Validate.For(tenantOf(r)))
	if len(errs) > 0 {
		problem.Invalid(errs...).Write(w)
		return
	}

	next := *prev
	next.Target, next.Payload, next.Retry, next.Labels = req.Target, req.Payload, req.Retry, req.Labels
	next.PayloadHash = task.PayloadHash(req.Target, req.Payload)
	next.UpdatedAt = now
	if !req.DueAt.Equal(prev.DueAt) {
		nid, err := task.NewID(req.DueAt, s.cfg.Shards)
		if err != nil {
			problem.Invalid(problem.FieldError{Field: "due_at", Reason: err.Error()}).Write(w)
			return
		}
		next = task.Task{
			ID: nid, Tenant: tenant, DueAt: req.DueAt, Target: next.Target, Payload: next.Payload, Retry: next.Retry,
			IdempotencyKey: prev.Key(), Labels: next.Labels, State: task.Scheduled, Version: 1,
			PayloadHash: next.PayloadHash, CreatedAt: now, UpdatedAt: now,
		}
		if err := s.ensureCursor(r.Context(), now); err != nil {
			storeProblem(r, err, "").Write(w)
			return
		}
	} else if samePatch(prev, &next) {
		writeJSON(w, http.StatusOK, s.view(r.Context(), prev)) // nothing changes: nothing written
		return
	}

	var plan fastPlan
	if next.ID != prev.ID {
		// A reschedule creates a task: its fast path is planned before
		// its write, as a create's (and may mark next.FastPath).
		plan = s.planFastPath(r.Context(), &next)
	}
	saved, err := s.store.Update(r.Context(), prev, &next, now)
	written := time.Now()
	switch {
	case errors.Is(err, task.ErrConflict):
		problem.Conflict("task " + id.String() + " was dispatched, started or changed meanwhile; read it again").Write(w)
		return
	case err != nil:
		storeProblem(r, err, "task "+id.String()).Write(w)
		return
	}
	log := logger(r)
	v := s.view(r.Context(), saved)
	if saved.ID != prev.ID {
		log.Info().Str("task_id", prev.ID.String()).Str("replaced_by", saved.ID.String()).Msg("task rescheduled")
		if err := s.sendFast(r.Context(), saved, plan, written); err != nil {
			log.Error().Err(err).Str("task_id", saved.ID.String()).Msg("fast-path send failed; the sweep will dispatch the task late")
		}
		v.Replaces = prev.ID.String()
		w.Header().Set("Location", "/v1/tasks/"+saved.ID.String())
	} else {
		log.Info().Str("task_id", prev.ID.String()).Msg("task updated")
	}
	writeJSON(w, http.StatusOK, v)
	if saved.ID != prev.ID {
		// The old task is CANCELLED, replaced by the new one.
		old := *prev
		old.State, old.ReplacedBy, old.FinishedAt, old.UpdatedAt = task.Cancelled, saved.ID.String(), now, now
		s.publishCancelled(r, &old)
	}
}

// currentFields renders a stored task as a create body (target unredacted).
func currentFields(t *task.Task) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	m["due_at"], _ = json.Marshal(t.DueAt.UTC().Format(time.RFC3339Nano))
	m["target"] = t.Target.Spec
	m["payload"] = t.Payload
	m["retry"], _ = json.Marshal(RetryView{MaxAttempts: t.Retry.MaxAttempts, InitialBackoffMs: t.Retry.InitialBackoff.Milliseconds(), MaxBackoffMs: t.Retry.MaxBackoff.Milliseconds()})
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
