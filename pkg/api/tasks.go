package api

import (
	"net/http"

	"github.com/hourglass-sched/hourglass/pkg/app"
)

func (s *Server) getTask(w http.ResponseWriter, r *http.Request) {
	t, err := s.tasks.Get(r.Context(), tenantOf(r), r.PathValue("id"))
	if err != nil {
		problemOf(r, err).Write(w)
		return
	}
	writeJSON(w, http.StatusOK, View(t))
}

func (s *Server) cancelTask(w http.ResponseWriter, r *http.Request) {
	t, err := s.tasks.Cancel(r.Context(), logger(r), tenantOf(r), r.PathValue("id"))
	if err != nil {
		problemOf(r, err).Write(w)
		return
	}
	writeJSON(w, http.StatusOK, View(t))
	// After the answer: the cancel is durable already.
	s.tasks.PublishCancelled(r.Context(), logger(r), t)
}

// idempotencyKeyField names the Idempotency-Key header in field errors.
const idempotencyKeyField = "header:Idempotency-Key"

func (s *Server) createTask(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, int64(s.tasks.MaxCreateBody()), "the body exceeds the payload limit plus 64 KiB")
	if !ok {
		return
	}
	c, err := s.tasks.Create(r.Context(), logger(r), tenantOf(r), app.CreateTask{Body: body, Token: r.Header.Get("Idempotency-Key"), TokenField: idempotencyKeyField})
	if err != nil {
		problemOf(r, err).Write(w)
		return
	}
	if !c.New {
		writeJSON(w, http.StatusOK, View(c.Task))
		return
	}
	w.Header().Set("Location", "/v1/tasks/"+c.Task.ID.String())
	writeJSON(w, http.StatusCreated, View(c.Task))
}
