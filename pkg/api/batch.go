package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Batch limits.
const (
	// MaxBatch is the most tasks one POST /v1/tasks:batch may create.
	MaxBatch = 100
	// maxBatchBody bounds a batch body (API Gateway's own limit is 10 MB);
	// each task's payload is still bounded by Limits.MaxPayloadBytes.
	maxBatchBody = 4 << 20
	// batchWriters is how many of a batch's creates run at once.
	batchWriters = 8
)

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

// createBatch creates up to MaxBatch tasks, each validated and written on
// its own: one bad task does not stop the others, and its result says
// why. The answer is 200 with a result per task in order; the batch as a
// whole is refused (4xx) only when its envelope is bad or too big, or the
// tenant's rate limit cannot cover its valid tasks (429).
//
// With an Idempotency-Key header K, task i is created under
// task.BatchItemToken(K, i): replaying the same batch returns the same
// tasks (each 200), and no single create's key can name one of them.
func (s *Server) createBatch(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, maxBatchBody, "a batch body is limited to 4 MiB")
	if !ok {
		return
	}
	token := r.Header.Get("Idempotency-Key")
	if len(token) > maxClientToken || !task.Printable(token) {
		problem.Invalid(problem.FieldError{Field: "header:Idempotency-Key", Reason: "must be at most 255 bytes of printable UTF-8 (no control, bidi or line-separator characters)"}).Write(w)
		return
	}
	// One body, one meaning: a key named twice or bytes that are not
	// UTF-8 anywhere in it (a task's payload included) refuse the whole
	// batch, as a malformed envelope does.
	if fe := task.CheckJSON(body, ""); fe != nil {
		problem.Invalid(*fe).Write(w)
		return
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil || env == nil {
		problem.Invalid(problem.FieldError{Field: "body", Reason: `must be a JSON object {"tasks": [...]}` + jsonHint(err)}).Write(w)
		return
	}
	var errs []problem.FieldError
	for k := range env {
		if k != "tasks" {
			errs = append(errs, problem.FieldError{Field: k, Reason: "unknown field"})
		}
	}
	var items []json.RawMessage
	raw, ok := env["tasks"]
	switch {
	case !ok || isJSONNull(raw):
		errs = append(errs, problem.FieldError{Field: "tasks", Reason: "is required: a list of 1 to 100 tasks"})
	case json.Unmarshal(raw, &items) != nil:
		errs = append(errs, problem.FieldError{Field: "tasks", Reason: "must be a list of task objects"})
	case len(items) == 0 || len(items) > MaxBatch:
		errs = append(errs, problem.FieldError{Field: "tasks", Reason: "has " + strconv.Itoa(len(items)) + " tasks; a batch holds 1 to 100"})
	}
	if len(errs) > 0 {
		problem.Invalid(errs...).Write(w)
		return
	}

	now := s.clock.Now().UTC().Truncate(time.Millisecond)
	results := make([]BatchResult, len(items))
	reqs := make([]task.CreateRequest, len(items))
	valid := 0
	for i, it := range items {
		req, fe := task.DecodeCreate(it, "tasks["+strconv.Itoa(i)+"].", now, s.cfg.Limits, s.cfg.Validate.For(tenantOf(r)))
		if len(fe) > 0 {
			results[i] = BatchResult{Status: http.StatusBadRequest, Problem: problem.Invalid(fe...)}
			continue
		}
		reqs[i] = req
		valid++
	}
	if ok, wait := s.limiter.take(tenantOf(r), valid, s.clock.Now()); !ok {
		problem.TooManyRequests("this tenant's create rate limit cannot cover "+strconv.Itoa(valid)+" tasks now; retry after the Retry-After delay", wait).Write(w)
		return
	}

	// Write every task (batchWriters at a time), each planning its fast
	// path before its own write (see fastPlan; the writers share cursor
	// reads); then send the batch's fast-path messages together.
	saved := make([]*task.Task, len(items))
	created := make([]bool, len(items))
	plans := make([]fastPlan, len(items))
	written := make([]time.Time, len(items))
	var wg sync.WaitGroup
	sem := make(chan struct{}, batchWriters)
	for i := range items {
		if results[i].Status != 0 {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			tok := ""
			if token != "" {
				tok = task.BatchItemToken(token, i)
			}
			t, c, plan, at, p := s.write(r, reqs[i], tok, task.RequestHash(bytes.TrimSpace(items[i])), now)
			if p != nil {
				results[i] = BatchResult{Status: p.Status, Problem: p}
				return
			}
			saved[i], created[i], plans[i], written[i] = t, c, plan, at
		}(i)
	}
	wg.Wait()
	s.fastPathBatch(r, saved, created, plans, written)
	for i, t := range saved {
		if t == nil {
			continue
		}
		v := s.view(r.Context(), t)
		if created[i] {
			results[i] = BatchResult{Status: http.StatusCreated, Task: &v}
		} else {
			results[i] = BatchResult{Status: http.StatusOK, Task: &v}
		}
	}
	writeJSON(w, http.StatusOK, BatchResponse{Results: results})
}

// fastPathBatch is a batch create's fast path, taken once every write has
// returned: of the tasks the batch created (saved[i] with created[i],
// planned as plans[i], whose write returned at written[i]), those to send
// are sent with SendMessageBatch, ten to a call, instead of with a
// SendMessage each. A task its plan does not settle (see settled) is
// decided by one cursor read begun after the batch's last write (when the
// cache does not answer). A task whose cursor read failed, or whose
// message cannot be sent, is logged and left to the sweep, exactly as in
// create.
func (s *Server) fastPathBatch(r *http.Request, saved []*task.Task, created []bool, plans []fastPlan, written []time.Time) {
	ctx := r.Context()
	log := logger(r)
	var last time.Time
	for i, t := range saved {
		if t != nil && created[i] && written[i].After(last) {
			last = written[i]
		}
	}
	var send []*task.Task
	for i, t := range saved {
		if t == nil || !created[i] {
			continue
		}
		ok, settled := s.settled(plans[i], written[i])
		var err error
		if !settled {
			ok, err = s.announced(ctx, s.cfg.Layout.BucketOf(t.ID.Due()), readAfter(last))
		}
		switch {
		case err != nil:
			log.Error().Err(err).Str("task_id", t.ID.String()).Msg("fast-path send failed; the sweep will dispatch the task late")
		case ok:
			send = append(send, t)
		}
	}
	if len(send) > 0 {
		msgs := make([]task.OutMessage, len(send))
		for j, t := range send {
			msgs[j] = s.fastPathMessage(t)
		}
		if err := s.q.SendBatch(ctx, s.cfg.TaskQueue, msgs); err != nil {
			var unsent interface{ Unsent() []int }
			failed := make([]int, len(send))
			for j := range failed {
				failed[j] = j
			}
			if errors.As(err, &unsent) {
				failed = unsent.Unsent()
			}
			for _, j := range failed {
				log.Error().Err(err).Str("task_id", send[j].ID.String()).Msg("fast-path send failed; the sweep will dispatch the task late")
			}
		}
	}
	for i, t := range saved {
		if t != nil && created[i] {
			log.Info().Str("task_id", t.ID.String()).Time("due_at", t.DueAt).Msg("task created")
		}
	}
}
