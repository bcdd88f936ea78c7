package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/problem"
)

// problemOf maps a service error to the problem the API answers, logging
// what is not the client's fault.
func problemOf(r *http.Request, err error) *problem.Problem {
	var (
		nf  *app.NotFound
		cf  *app.Conflict
		inv *app.Invalid
		tl  *app.TooLarge
		le  *app.LimitExceeded
		ne  *app.NotEnabled
	)
	switch {
	case errors.As(err, &nf):
		return problem.NotFound(nf.What)
	case errors.As(err, &cf):
		return problem.Conflict(cf.Detail)
	case errors.As(err, &inv):
		return problem.Invalid(inv.Fields...)
	case errors.As(err, &tl):
		return problem.TooLarge(tl.Detail)
	case errors.As(err, &le):
		return problem.TooManyRequests(le.Detail+"; retry after the Retry-After delay", le.RetryAfter)
	case errors.As(err, &ne):
		return problem.NotImplemented(ne.Detail)
	case errors.Is(err, app.ErrIdempotencyMismatch):
		return problem.Unprocessable("Idempotency-Key was already used with a different request body")
	case errors.Is(err, app.ErrCrashed):
		return problem.Internal()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return problem.Unavailable("request timed out", time.Second)
	}
	l := logger(r)
	l.Error().Err(err).Msg("store call failed")
	return problem.Unavailable("storage is unavailable; retry the request (with the same Idempotency-Key)", 2*time.Second)
}
