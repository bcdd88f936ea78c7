package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/problem"
)

// problemOf maps a task service error to the problem the API answers.
func problemOf(r *http.Request, err error) *problem.Problem {
	return Problem(err, logger(r), "storage is unavailable; retry the request (with the same Idempotency-Key)")
}

// Problem maps an error of the application services (package app) to the
// problem an HTTP door answers: the one mapping of every route. An error
// that is none of the services' typed errors is a failure of the store or
// queue behind them: it is logged on log and answered 503 with unavailable
// as the detail.
func Problem(err error, log zerolog.Logger, unavailable string) *problem.Problem {
	var (
		nf  *app.NotFound
		cf  *app.Conflict
		inv *app.Invalid
		tl  *app.TooLarge
		le  *app.LimitExceeded
		ne  *app.NotEnabled
		pf  *app.PreconditionFailed
		un  *app.Unavailable
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
	case errors.As(err, &pf):
		return &problem.Problem{Type: "https://hourglass.dev/problems/precondition-failed", Title: "Precondition failed", Status: http.StatusPreconditionFailed, Detail: pf.Detail}
	case errors.As(err, &un):
		return problem.Unavailable(un.Detail, un.RetryAfter)
	case errors.Is(err, app.ErrIdempotencyMismatch):
		return problem.Unprocessable("Idempotency-Key was already used with a different request body")
	case errors.Is(err, app.ErrCrashed):
		return problem.Internal()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return problem.Unavailable("request timed out", time.Second)
	}
	log.Error().Err(err).Msg("store call failed")
	return problem.Unavailable(unavailable, 2*time.Second)
}
