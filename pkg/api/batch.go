package api

import (
	"net/http"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/problem"
)

// MaxBatch is the most tasks one POST /v1/tasks:batch may create.
const MaxBatch = app.MaxBatch

// BatchResult is the outcome of one task of a batch, in request order:
// status 201 (created), 200 (replayed by Idempotency-Key) with the task, or
// a 4xx/5xx with the problem.
type BatchResult struct {
	Status  int              `json:"status"`
	Task    *TaskView        `json:"task,omitempty"`
	Problem *problem.Problem `json:"problem,omitempty"`
}

// BatchResponse answers POST /v1/tasks:batch.
type BatchResponse struct {
	Results []BatchResult `json:"results"`
}

// createBatch creates up to MaxBatch tasks (app.Tasks.CreateBatch). The
// answer is 200 with a result per task in order; the batch as a whole is
// refused (4xx) only when its envelope is bad or too big, or the tenant's
// rate limit cannot cover its valid tasks (429).
func (s *Server) createBatch(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, app.MaxBatchBody, "a batch body is limited to 4 MiB")
	if !ok {
		return
	}
	items, err := s.tasks.CreateBatch(r.Context(), logger(r), tenantOf(r), app.CreateBatch{Body: body, Token: r.Header.Get("Idempotency-Key"), TokenField: idempotencyKeyField})
	if err != nil {
		problemOf(r, err).Write(w)
		return
	}
	results := make([]BatchResult, len(items))
	for i, it := range items {
		switch {
		case it.Err != nil:
			p := problemOf(r, it.Err)
			results[i] = BatchResult{Status: p.Status, Problem: p}
		case it.New:
			v := View(it.Task)
			results[i] = BatchResult{Status: http.StatusCreated, Task: &v}
		default:
			v := View(it.Task)
			results[i] = BatchResult{Status: http.StatusOK, Task: &v}
		}
	}
	writeJSON(w, http.StatusOK, BatchResponse{Results: results})
}
