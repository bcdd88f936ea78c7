package problem

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// write renders p and returns the recorder and the decoded JSON body.
func write(t *testing.T, p *Problem) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	p.Write(rec)
	var body map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	return rec, body
}

func TestWrite(t *testing.T) {
	t.Parallel()
	p := Invalid(FieldError{Field: "due_at", Reason: "is required"}, FieldError{Field: "target.url", Reason: "must be https"})
	p.Instance = "/v1/tasks"
	rec, body := write(t, p)

	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	assert.Empty(t, rec.Header().Get("Retry-After"))
	assert.JSONEq(t, `{
		"type": "https://hourglass.dev/problems/invalid-request",
		"title": "Your request is not valid",
		"status": 400,
		"detail": "2 fields are invalid",
		"instance": "/v1/tasks",
		"errors": [
			{"field": "due_at", "reason": "is required"},
			{"field": "target.url", "reason": "must be https"}
		]
	}`, rec.Body.String())
	assert.NotContains(t, body, "RetryAfter")
}

func TestWriteOmitsEmptyFields(t *testing.T) {
	t.Parallel()
	rec, body := write(t, &Problem{Type: "about:blank", Title: "T", Status: http.StatusTeapot})
	assert.Equal(t, http.StatusTeapot, rec.Code)
	assert.Equal(t, map[string]any{"type": "about:blank", "title": "T", "status": float64(418)}, body)
}

func TestWriteRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		after time.Duration
		want  string
	}{
		{"none", 0, ""},
		{"negative", -time.Second, ""},
		{"1 ns rounds up", time.Nanosecond, "1"},
		{"exactly 1 s", time.Second, "1"},
		{"1.5 s rounds up", 1500 * time.Millisecond, "2"},
		{"just over 10 s", 10*time.Second + time.Nanosecond, "11"},
		{"exactly 10 s", 10 * time.Second, "10"},
		{"a minute", time.Minute, "60"},
		{"huge does not overflow", math.MaxInt64, "9223372037"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec, body := write(t, TooManyRequests("slow down", tc.after))
			assert.Equal(t, http.StatusTooManyRequests, rec.Code)
			assert.Equal(t, tc.want, rec.Header().Get("Retry-After"))
			assert.Equal(t, "slow down", body["detail"])
		})
	}
}

func TestInvalidDetail(t *testing.T) {
	t.Parallel()
	one := Invalid(FieldError{Field: "tasks[2].due_at", Reason: "is required"})
	assert.Equal(t, "tasks[2].due_at: is required", one.Detail)
	assert.Len(t, one.Errors, 1)

	three := Invalid(FieldError{Field: "a", Reason: "x"}, FieldError{Field: "b", Reason: "y"}, FieldError{Field: "c", Reason: "z"})
	assert.Equal(t, "3 fields are invalid", three.Detail)
	assert.Len(t, three.Errors, 3)

	none := Invalid()
	assert.Empty(t, none.Detail)
	assert.Empty(t, none.Errors)
	assert.Equal(t, http.StatusBadRequest, none.Status)
}

func TestConstructors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p      *Problem
		status int
		slug   string
		detail string
		retry  time.Duration
	}{
		{Invalid(), http.StatusBadRequest, "invalid-request", "", 0},
		{NotFound("task 0abc"), http.StatusNotFound, "not-found", "task 0abc does not exist", 0},
		{Conflict("task is RUNNING"), http.StatusConflict, "conflict", "task is RUNNING", 0},
		{Unprocessable("key reused"), http.StatusUnprocessableEntity, "unprocessable", "key reused", 0},
		{Unauthorized("no token"), http.StatusUnauthorized, "unauthorized", "no token", 0},
		{TooLarge("body over 1 MiB"), http.StatusRequestEntityTooLarge, "too-large", "body over 1 MiB", 0},
		{TooManyRequests("slow", 3*time.Second), http.StatusTooManyRequests, "rate-limited", "slow", 3 * time.Second},
		{Unavailable("dynamodb", time.Second), http.StatusServiceUnavailable, "unavailable", "dynamodb", time.Second},
		{Internal(), http.StatusInternalServerError, "internal", "the error was logged", 0},
		{NotImplemented("set X=1"), http.StatusNotImplemented, "not-enabled", "set X=1", 0},
	} {
		t.Run(tc.slug, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.status, tc.p.Status)
			assert.Equal(t, "https://hourglass.dev/problems/"+tc.slug, tc.p.Type)
			assert.NotEmpty(t, tc.p.Title)
			assert.Equal(t, tc.detail, tc.p.Detail)
			assert.Equal(t, tc.retry, tc.p.RetryAfter)

			rec, body := write(t, tc.p)
			assert.Equal(t, tc.status, rec.Code)
			assert.Equal(t, float64(tc.status), body["status"])
			assert.Equal(t, tc.p.Title, body["title"])
			if tc.retry > 0 {
				assert.NotEmpty(t, rec.Header().Get("Retry-After"))
			}
		})
	}
}

func TestError(t *testing.T) {
	t.Parallel()
	var err error = Invalid(FieldError{Field: "due_at", Reason: "is required"}, FieldError{Field: "target", Reason: "must be an object"})
	assert.Equal(t, "400 Your request is not valid: 2 fields are invalid; due_at: is required; target: must be an object", err.Error())
	assert.Equal(t, "404 Not found: task x does not exist", NotFound("task x").Error())
	assert.Equal(t, "418 T", (&Problem{Status: 418, Title: "T"}).Error())

	var p *Problem
	require.True(t, errors.As(error(Conflict("c")), &p))
	assert.Equal(t, http.StatusConflict, p.Status)
}
