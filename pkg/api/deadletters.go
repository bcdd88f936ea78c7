package api

// Dead letters' transport: GET /v1/tasks?state=FAILED is a listing like
// any other (the task service reads the by_failed index for it, see
// app.DeadLetters); POST /v1/tasks/{id}:retry decodes its optional body
// and calls app.Tasks.Retry.

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// retrySuffix ends the path of POST /v1/tasks/{id}:retry. A ServeMux
// wildcard is a whole segment, so the route is POST /v1/tasks/{id} and
// the handler splits the suffix off.
const retrySuffix = ":retry"

// taskAction serves POST /v1/tasks/{id}:<action>; ":retry" is the only one.
func (s *Server) taskAction(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("id"), retrySuffix)
	if !ok {
		problem.NotFound("route " + r.Method + " " + r.URL.Path).Write(w)
		return
	}
	body, ok := readBody(w, r, 4<<10, "the body of a retry is at most 4 KiB")
	if !ok {
		return
	}
	req, fe := decodeRetry(body)
	if fe != nil {
		problem.Invalid(*fe).Write(w)
		return
	}
	t, err := s.tasks.Retry(r.Context(), logger(r), tenantOf(r), id, req)
	if err != nil {
		problemOf(r, err).Write(w)
		return
	}
	writeJSON(w, http.StatusOK, View(t))
}

// retryRequest is the optional body of POST /v1/tasks/{id}:retry.
type retryRequest struct {
	Attempts *int `json:"attempts"`
}

// decodeRetry reads the optional {"attempts": n} body; the service checks
// the value.
func decodeRetry(body []byte) (app.RetryTask, *problem.FieldError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return app.RetryTask{}, nil
	}
	if fe := task.CheckJSON(body, ""); fe != nil {
		return app.RetryTask{}, fe
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req retryRequest
	if err := dec.Decode(&req); err != nil {
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &ute) && ute.Field == "attempts":
			return app.RetryTask{}, &problem.FieldError{Field: "attempts", Reason: "must be an integer"}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return app.RetryTask{}, &problem.FieldError{Field: strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), Reason: "unknown field (attempts)"}
		}
		return app.RetryTask{}, &problem.FieldError{Field: "body", Reason: "must be a JSON object such as {\"attempts\": 3}"}
	}
	if dec.More() {
		return app.RetryTask{}, &problem.FieldError{Field: "body", Reason: "must be one JSON object"}
	}
	return app.RetryTask{Attempts: req.Attempts}, nil
}
