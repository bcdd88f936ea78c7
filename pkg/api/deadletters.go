package api

// Dead letters: the two operations that let a tenant see and re-run its
// failed tasks through the API, in every deployment.
//
//   - GET /v1/tasks?state=FAILED reads the sparse by_failed index
//     (ddbstore.IndexByFailed), which only the outcome write that fails a
//     task writes to: it answers even when the by_tenant list index is off.
//   - POST /v1/tasks/{id}:retry runs a FAILED task again with a fresh budget
//     of attempts. The task DLQ is one queue for every tenant, so a redrive
//     through the API goes by task, not by queue; the task's dead-lettered
//     message stays in the DLQ, and scripts/redrive later drops it (the task
//     is finished) or re-sends it (it is not), both harmless.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// DeadLetters is what the dead-letter operations need of the store, beyond
// Store. A store without it answers them with 501.
type DeadLetters interface {
	// ListFailedIDs reads one page of a tenant's FAILED tasks, newest due
	// first, as Store.ListIDs does for all of them.
	ListFailedIDs(ctx context.Context, q task.ListQuery) (entries []task.ListEntry, more bool, err error)
	// Redrive moves a FAILED task to RETRYING, claimable from now, with
	// attempts more attempts; a task not FAILED, or changed concurrently,
	// is task.ErrConflict with the current task.
	Redrive(ctx context.Context, id task.ID, now time.Time, attempts int) (*task.Task, error)
}

// DefaultRetryAttempts is the fresh budget POST /v1/tasks/{id}:retry gives
// when the body names none: as scripts/redrive's.
const DefaultRetryAttempts = 3

// retrySuffix ends the path of POST /v1/tasks/{id}:retry. A ServeMux
// wildcard is a whole segment, so the route is POST /v1/tasks/{id} and
// the handler splits the suffix off.
const retrySuffix = ":retry"

// failedOnly reports whether a GET /v1/tasks asks for FAILED tasks only:
// the by_failed index answers those, with the list index on or off.
func (s *Server) failedOnly(r *http.Request) bool {
	if _, ok := s.store.(DeadLetters); !ok {
		return false
	}
	vals, err := url.ParseQuery(r.URL.RawQuery)
	return err == nil && len(vals["state"]) == 1 && vals["state"][0] == string(task.Failed)
}

// listFailed answers GET /v1/tasks?state=FAILED from the by_failed index.
func (s *Server) listFailed(w http.ResponseWriter, r *http.Request) {
	f, errs := s.parseList(r)
	if len(errs) > 0 {
		problem.Invalid(errs...).Write(w)
		return
	}
	s.listPage(w, r, f, s.store.(DeadLetters).ListFailedIDs)
}

// taskAction serves POST /v1/tasks/{id}:<action>; ":retry" is the only one.
func (s *Server) taskAction(w http.ResponseWriter, r *http.Request) {
	idText, ok := strings.CutSuffix(r.PathValue("id"), retrySuffix)
	if !ok {
		problem.NotFound("route " + r.Method + " " + r.URL.Path).Write(w)
		return
	}
	s.retryTask(w, r, idText)
}

// retryRequest is the optional body of POST /v1/tasks/{id}:retry.
type retryRequest struct {
	Attempts *int `json:"attempts"`
}

func (s *Server) retryTask(w http.ResponseWriter, r *http.Request, idText string) {
	dl, ok := s.store.(DeadLetters)
	if !ok {
		problem.NotImplemented("this deployment's store cannot redrive tasks").Write(w)
		return
	}
	id, err := task.ParseID(idText)
	if err != nil {
		problem.NotFound("task " + idText).Write(w)
		return
	}
	body, ok := readBody(w, r, 4<<10, "the body of a retry is at most 4 KiB")
	if !ok {
		return
	}
	attempts, fe := s.decodeRetry(body)
	if fe != nil {
		problem.Invalid(*fe).Write(w)
		return
	}
	cur, err := s.store.Get(r.Context(), id)
	if err == nil && cur.Tenant != tenantOf(r) {
		err = task.ErrNotFound // never reveal another tenant's task
	}
	if err != nil {
		storeProblem(r, err, "task "+id.String()).Write(w)
		return
	}
	if cur.State != task.Failed {
		problem.Conflict("task " + id.String() + " is " + string(cur.State) + "; only a FAILED task can be retried").Write(w)
		return
	}
	t, err := dl.Redrive(r.Context(), id, s.clock.Now(), attempts)
	switch {
	case errors.Is(err, task.ErrConflict) && t != nil:
		problem.Conflict("task " + id.String() + " is " + string(t.State) + " (it changed while being retried); only a FAILED task can be retried").Write(w)
		return
	case err != nil:
		storeProblem(r, err, "task "+id.String()).Write(w)
		return
	}
	log := logger(r).With().Str("task_id", id.String()).Int("attempts", attempts).Logger()
	if err := s.q.Send(r.Context(), s.cfg.TaskQueue, task.OutMessage{Body: task.NewTaskMessage(t, task.OriginRedrive).Encode()}); err != nil {
		// The task is RETRYING with no message on the task queue. Its
		// dead-lettered message is still in the task DLQ: scripts/redrive
		// finds the task unfinished and re-sends it.
		log.Error().Err(err).Msg("retry: task is RETRYING but its message could not be sent")
		problem.Unavailable("task "+id.String()+" is RETRYING, but its message could not be queued; "+
			"its dead-lettered message is still in the task DLQ, and scripts/redrive re-sends it", 2*time.Second).Write(w)
		return
	}
	log.Info().Msg("task retried")
	writeJSON(w, http.StatusOK, s.view(r.Context(), t))
}

// decodeRetry reads the optional {"attempts": n} body.
func (s *Server) decodeRetry(body []byte) (int, *problem.FieldError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return DefaultRetryAttempts, nil
	}
	if fe := task.CheckJSON(body, ""); fe != nil {
		return 0, fe
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req retryRequest
	if err := dec.Decode(&req); err != nil {
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &ute) && ute.Field == "attempts":
			return 0, &problem.FieldError{Field: "attempts", Reason: "must be an integer"}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return 0, &problem.FieldError{Field: strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), Reason: "unknown field (attempts)"}
		}
		return 0, &problem.FieldError{Field: "body", Reason: "must be a JSON object such as {\"attempts\": 3}"}
	}
	if dec.More() {
		return 0, &problem.FieldError{Field: "body", Reason: "must be one JSON object"}
	}
	if req.Attempts == nil {
		return DefaultRetryAttempts, nil
	}
	limit := s.cfg.Limits.MaxAttempts
	if limit <= 0 {
		limit = task.DefaultLimits().MaxAttempts
	}
	if *req.Attempts < 1 || *req.Attempts > limit {
		return 0, &problem.FieldError{Field: "attempts", Reason: "must be an integer from 1 to " + strconv.Itoa(limit)}
	}
	return *req.Attempts, nil
}
