package schedules

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// maxToken bounds an idempotency token, as the task API's
// Idempotency-Key.
const maxToken = 255

// Create creates a schedule for tenant from a POST /v1/schedules body,
// through the route's own validation and store path, for callers that are
// not HTTP requests: the ingest function, which turns CreateSchedule
// events into schedules. log carries the caller's context.
//
// token (the event's ID, or the detail's idempotency_key) makes it
// idempotent: the schedule's ID is derived from tenant and token, and the
// store refuses a second schedule under one ID, so a repeated call returns
// the schedule the first created and false. Unlike a task, a schedule
// keeps no hash of its request: a replay is not compared with the first
// body, and once the schedule is deleted the same token creates it again.
//
// A *problem.Problem reports what the route would have answered instead:
// 400/413 (never worth retrying) or 503 (worth retrying).
func (h *Handler) Create(ctx context.Context, log zerolog.Logger, tenant string, body []byte, token string) (View, bool, *problem.Problem) {
	var errs []problem.FieldError
	if !api.ValidTenant(tenant) {
		errs = append(errs, problem.FieldError{Field: "tenant", Reason: "must be 1–128 characters: letters, digits, _ . : @ / + = - (starting with a letter or digit)"})
	}
	if token == "" || len(token) > maxToken || !task.Printable(token) {
		errs = append(errs, problem.FieldError{Field: "idempotency token", Reason: "must be 1 to 255 bytes of printable UTF-8 (no control, bidi or line-separator characters)"})
	}
	if len(errs) > 0 {
		return View{}, false, problem.Invalid(errs...)
	}
	lim := h.cfg.Limits.MaxPayloadBytes
	if lim <= 0 {
		lim = task.DefaultLimits().MaxPayloadBytes
	}
	if len(body) > lim+64<<10 {
		return View{}, false, problem.TooLarge("the body exceeds the payload limit plus 64 KiB")
	}
	raw, fe := schedule.DecodeBody(body)
	if fe != nil {
		return View{}, false, problem.Invalid(*fe)
	}
	id := schedule.TokenID(tenant, token)
	for attempt := 0; ; attempt++ {
		s, err := h.createSchedule(ctx, tenant, id, raw)
		if err == nil {
			return ViewOf(s), true, nil
		}
		if !errors.Is(err, task.ErrConflict) {
			return View{}, false, h.createProblem(tenant, err)
		}
		// Created before under this token: answer with that schedule.
		prev, gerr := h.store.GetSchedule(ctx, tenant, id)
		if gerr == nil {
			log.Info().Str("tenant", tenant).Str("schedule", id).Msg("schedule exists for this token; replay")
			return ViewOf(prev), false, nil
		}
		if !errors.Is(gerr, task.ErrNotFound) {
			return View{}, false, h.createProblem(tenant, fmt.Errorf("read schedule %s after a conflict: %w", id, gerr))
		}
		// Refused, yet not there: two deliveries of one event raced, and
		// DynamoDB may cancel both transactions (TransactionConflict). Try
		// again now rather than after the queue's visibility timeout, by
		// which time an at() may be past.
		if attempt >= 3 {
			return View{}, false, problem.Unavailable("schedule "+id+" is being created concurrently; retry", time.Second)
		}
		jitter := time.Duration(25+rand.IntN(50)) * time.Millisecond //nolint:gosec // jitter needs no cryptographic randomness
		if !sleep(ctx, jitter<<attempt) {
			return View{}, false, problem.Unavailable("request timed out", time.Second)
		}
	}
}

// sleep waits d, or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
