package api

import (
	"context"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Create creates a task for tenant from a POST /v1/tasks body, exactly as
// that route does — the same validation, per-tenant rate limit, idempotency
// under token (the Idempotency-Key header's role), store write and fast
// path — for callers that are not HTTP requests: the ingest function, which
// turns CreateTask events into tasks. log carries the caller's context.
//
// It returns the task's view and whether this call created it (false: a
// replay of token). A *problem.Problem reports what the route would have
// answered instead: a 4xx the caller cannot fix by retrying (400, 413, 422),
// or a 429/5xx worth retrying later.
func (s *Server) Create(ctx context.Context, log zerolog.Logger, tenant string, body []byte, token string) (TaskView, bool, *problem.Problem) {
	if !tenantRE.MatchString(tenant) {
		return TaskView{}, false, problem.Invalid(problem.FieldError{Field: "tenant", Reason: "must be 1–128 characters: letters, digits, _ . : @ / + = - (starting with a letter or digit)"})
	}
	if len(body) > s.cfg.Limits.MaxPayloadBytes+64<<10 {
		return TaskView{}, false, problem.TooLarge("the body exceeds the payload limit plus 64 KiB")
	}
	now := s.clock.Now().UTC().Truncate(time.Millisecond)
	var fieldErrs []problem.FieldError
	if len(token) > maxClientToken || !task.Printable(token) {
		fieldErrs = append(fieldErrs, problem.FieldError{Field: "idempotency token", Reason: "must be at most 255 bytes of printable UTF-8 (no control, bidi or line-separator characters)"})
	}
	req, errs := task.DecodeCreate(body, "", now, s.cfg.Limits, s.cfg.Validate.For(tenant))
	if fieldErrs = append(fieldErrs, errs...); len(fieldErrs) > 0 {
		return TaskView{}, false, problem.Invalid(fieldErrs...)
	}
	if ok, wait := s.limiter.take(tenant, 1, s.clock.Now()); !ok {
		return TaskView{}, false, problem.TooManyRequests("this tenant's create rate limit is exhausted", wait)
	}
	// create reads the tenant and logger from the request's context, as
	// the authenticated route sets them.
	ctx = context.WithValue(ctx, tenantKey, tenant)
	ctx = context.WithValue(ctx, loggerKey, log.With().Str("tenant", tenant).Logger())
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "/v1/tasks", http.NoBody)
	if err != nil {
		return TaskView{}, false, problem.Internal()
	}
	return s.create(r, req, token, task.RequestHash(body), now)
}
