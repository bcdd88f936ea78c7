package api

import (
	"net/http"

	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// patchTask changes a task that is SCHEDULED and not yet dispatched
// (app.Tasks.Patch). A reschedule (a new due_at) answers with the new task
// (with "replaces", and a Location header), then publishes the old one's
// TaskCancelled.
func (s *Server) patchTask(w http.ResponseWriter, r *http.Request) {
	if _, err := task.ParseID(r.PathValue("id")); err != nil {
		// An ID that cannot exist is reported like one that does not,
		// before the body is read.
		problem.NotFound("task " + r.PathValue("id")).Write(w)
		return
	}
	body, ok := readBody(w, r, int64(s.tasks.MaxCreateBody()), "the body exceeds the payload limit plus 64 KiB")
	if !ok {
		return
	}
	p, err := s.tasks.Patch(r.Context(), logger(r), tenantOf(r), r.PathValue("id"), body)
	if err != nil {
		problemOf(r, err).Write(w)
		return
	}
	v := View(p.Task)
	if p.Replaced != nil {
		v.Replaces = p.Replaced.ID.String()
		w.Header().Set("Location", "/v1/tasks/"+p.Task.ID.String())
	}
	writeJSON(w, http.StatusOK, v)
	s.tasks.PublishCancelled(r.Context(), logger(r), p.Replaced)
}
