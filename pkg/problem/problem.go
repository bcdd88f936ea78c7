// Package problem renders errors as RFC 9457 problem details
// (application/problem+json), naming each invalid field, so that every 4xx
// Hourglass returns says exactly what to fix.
package problem

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// ContentType is the media type of a problem document.
const ContentType = "application/problem+json"

// FieldError is the domain's field error (task.FieldError), rendered as
// one entry of a problem document's errors.
type FieldError = task.FieldError

// Problem is an RFC 9457 problem document. It is also an error, so a service
// can return it and the HTTP layer can write it unchanged.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
	// RetryAfter, when positive, is sent as a Retry-After header (429, 503).
	RetryAfter time.Duration `json:"-"`
}

// Error summarises the problem, listing the fields.
func (p *Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", p.Status, p.Title)
	if p.Detail != "" {
		b.WriteString(": " + p.Detail)
	}
	for _, fe := range p.Errors {
		fmt.Fprintf(&b, "; %s: %s", fe.Field, fe.Reason)
	}
	return b.String()
}

// Write sends the problem as the HTTP response.
func (p *Problem) Write(w http.ResponseWriter) {
	if p.RetryAfter > 0 {
		secs := p.RetryAfter / time.Second // rounded up below; adding 1s-1 first could overflow
		if p.RetryAfter%time.Second != 0 {
			secs++
		}
		w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func newProblem(status int, slug, title, detail string) *Problem {
	return &Problem{Type: "https://hourglass.dev/problems/" + slug, Title: title, Status: status, Detail: detail}
}

// Invalid is a 400 listing the invalid fields.
func Invalid(errs ...FieldError) *Problem {
	p := newProblem(http.StatusBadRequest, "invalid-request", "Your request is not valid", "")
	p.Errors = errs
	if len(errs) == 1 {
		p.Detail = errs[0].Field + ": " + errs[0].Reason
	} else if len(errs) > 1 {
		p.Detail = fmt.Sprintf("%d fields are invalid", len(errs))
	}
	return p
}

// NotFound is a 404. Another tenant's resource is reported exactly like a
// missing one, so IDs leak nothing.
func NotFound(what string) *Problem {
	return newProblem(http.StatusNotFound, "not-found", "Not found", what+" does not exist")
}

// Conflict is a 409: the resource's state forbids the change.
func Conflict(detail string) *Problem {
	return newProblem(http.StatusConflict, "conflict", "Conflict with the resource's state", detail)
}

// Unprocessable is a 422: the request is well formed but cannot be applied
// (for example an idempotency key reused with a different body).
func Unprocessable(detail string) *Problem {
	return newProblem(http.StatusUnprocessableEntity, "unprocessable", "Request cannot be applied", detail)
}

// Unauthorized is a 401.
func Unauthorized(detail string) *Problem {
	return newProblem(http.StatusUnauthorized, "unauthorized", "Not authenticated", detail)
}

// TooLarge is a 413.
func TooLarge(detail string) *Problem {
	return newProblem(http.StatusRequestEntityTooLarge, "too-large", "Request body too large", detail)
}

// TooManyRequests is a 429 with a Retry-After.
func TooManyRequests(detail string, retryAfter time.Duration) *Problem {
	p := newProblem(http.StatusTooManyRequests, "rate-limited", "Too many requests", detail)
	p.RetryAfter = retryAfter
	return p
}

// Unavailable is a 503: a dependency failed; the client may retry.
func Unavailable(detail string, retryAfter time.Duration) *Problem {
	p := newProblem(http.StatusServiceUnavailable, "unavailable", "Service unavailable", detail)
	p.RetryAfter = retryAfter
	return p
}

// NotImplemented is a 501: the route exists, but this deployment has turned
// off what it needs (for example the list index); detail says how to turn
// it on. Retrying does not help.
func NotImplemented(detail string) *Problem {
	return newProblem(http.StatusNotImplemented, "not-enabled", "Not enabled in this deployment", detail)
}

// Internal is a 500 that reveals nothing of the cause.
func Internal() *Problem {
	return newProblem(http.StatusInternalServerError, "internal", "Internal error", "the error was logged")
}
