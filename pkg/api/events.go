package api

import (
	"context"
	"net/http"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Events publishes lifecycle events (see package lifecycle). TaskCancelled
// must not block; Flush sends what is buffered, bounded in time.
type Events interface {
	TaskCancelled(t *task.Task)
	Flush(ctx context.Context) error
}

// publishCancelled publishes TaskCancelled for t (a task this request just
// cancelled or replaced) and flushes. Call it after the response is
// written: the cancel is durable already, and a failed publish is only
// logged (the event stays buffered for a later flush).
func (s *Server) publishCancelled(r *http.Request, t *task.Task) {
	if s.cfg.Events == nil {
		return
	}
	s.cfg.Events.TaskCancelled(t)
	if err := s.cfg.Events.Flush(r.Context()); err != nil {
		l := logger(r)
		l.Warn().Err(err).Str("task_id", t.ID.String()).Msg("TaskCancelled event not sent yet; a later flush retries it")
	}
}
