package app

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Batch limits.
const (
	// MaxBatch is the most tasks one batch may create.
	MaxBatch = 100
	// MaxBatchBody bounds a batch document (API Gateway's own limit is
	// 10 MB); each task's payload is still bounded by Limits.MaxPayloadBytes.
	MaxBatchBody = 4 << 20
	// batchWriters is how many of a batch's creates run at once.
	batchWriters = 8
)

// CreateBatch asks for up to MaxBatch tasks: Body is the document
// {"tasks": [...]} (the body of POST /v1/tasks:batch), each element a
// create document. With a Token K, task i is created under
// task.BatchItemToken(K, i): replaying the same batch returns the same
// tasks, and no single create's key can name one of them.
type CreateBatch struct {
	Body       []byte
	Token      string
	TokenField string // as CreateTask.TokenField
}

// BatchItem is the outcome of one task of a batch, in request order: the
// task (New: created by this call) or why it was not created (*Invalid,
// or a store failure).
type BatchItem struct {
	Task *task.Task
	New  bool
	Err  error
}

// CreateBatch creates up to MaxBatch tasks, each validated and written on
// its own: one bad task does not stop the others, and its item says why.
// The batch as a whole is refused (the error) only when its document is
// bad or too big, or the tenant's rate limit cannot cover its valid tasks,
// or none of them got one of the instance's create writers in time
// (*LimitExceeded; a task refused so after others were written has that
// error as its item, and nothing of it was written).
func (s *Tasks) CreateBatch(ctx context.Context, log zerolog.Logger, tenant string, req CreateBatch) ([]BatchItem, error) {
	if !task.ValidTenant(tenant) {
		return nil, invalid("tenant", "must be 1–128 characters: letters, digits, _ . : @ / + = - (starting with a letter or digit)")
	}
	if len(req.Body) > MaxBatchBody {
		return nil, &TooLarge{Detail: "a batch body is limited to 4 MiB"}
	}
	if fe := checkToken(req.Token, req.TokenField); fe != nil {
		return nil, &Invalid{Fields: []task.FieldError{*fe}}
	}
	items, err := decodeBatch(req.Body)
	if err != nil {
		return nil, err
	}

	now := s.clock.Now().UTC().Truncate(time.Millisecond)
	out := make([]BatchItem, len(items))
	reqs := make([]task.CreateRequest, len(items))
	valid := 0
	for i, it := range items {
		cr, fe := task.DecodeCreate(it, "tasks["+strconv.Itoa(i)+"].", now, s.cfg.Limits, s.cfg.Validate.For(tenant))
		if len(fe) > 0 {
			out[i].Err = &Invalid{Fields: fe}
			continue
		}
		reqs[i] = cr
		valid++
	}
	// The create rate's reservation (a write to a counter item when it
	// holds across instances) holds a create writer too: a burst of
	// batches queues no more of them than of task writes.
	admitUntil := admitDeadline(ctx, time.Now())
	if valid > 0 && !s.writers.admit(ctx, admitUntil) {
		return nil, errWritersBusy("batch")
	}
	ok, wait := s.limiter.take(ctx, tenant, valid, s.clock.Now())
	if valid > 0 {
		s.writers.release()
	}
	if !ok {
		return nil, &LimitExceeded{Detail: "this tenant's create rate limit cannot cover " + strconv.Itoa(valid) + " tasks now", RetryAfter: wait}
	}

	// Write every task (batchWriters at a time), each planning its fast
	// path before its own write (see fastPlan; the writers share cursor
	// reads). A task planned "send" is sent as soon as its write returns
	// (fastStream, ten to a call, overlapping the other writes); the
	// others' fast path is decided once every write has returned.
	log = log.With().Str("tenant", tenant).Logger()
	saved := make([]*task.Task, len(items))
	created := make([]bool, len(items))
	plans := make([]fastPlan, len(items))
	written := make([]time.Time, len(items))
	sent := make([]bool, len(items))
	stream := s.newFastStream(ctx, log)
	var wg sync.WaitGroup
	sem := make(chan struct{}, batchWriters)
	// Each write also holds one of the instance's create writers (see
	// admit.go), decided before the task's write: once one task cannot
	// get one in time, it and every later task are refused unwritten.
	began, busy := 0, false
	for i := range items {
		if out[i].Err != nil {
			continue
		}
		sem <- struct{}{}
		if busy || !s.writers.admit(ctx, admitUntil) {
			<-sem
			busy = true
			out[i].Err = errWritersBusy("task")
			continue
		}
		began++
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			defer s.writers.release()
			tok := ""
			if req.Token != "" {
				tok = task.BatchItemToken(req.Token, i)
			}
			t, c, plan, at, err := s.write(ctx, log, tenant, reqs[i], tok, task.RequestHash(bytes.TrimSpace(items[i])), now)
			if err != nil {
				out[i].Err = err
				return
			}
			saved[i], created[i], plans[i], written[i] = t, c, plan, at
			if send, ok := s.settled(plan, at); c && ok && send {
				stream.add(t)
				sent[i] = true
			}
		}(i)
	}
	wg.Wait()
	if began == 0 && busy {
		// Nothing written: refuse the batch as a whole, as the rate limit
		// does, so that it is simply sent again.
		return nil, errWritersBusy("batch")
	}
	s.fastPathBatch(ctx, log, saved, created, plans, written, sent)
	stream.close()
	n := 0
	for i, t := range saved {
		if t != nil {
			out[i] = BatchItem{Task: s.shown(ctx, t), New: created[i]}
			if created[i] {
				n++
			}
		}
	}
	s.recordCreated(n)
	return out, nil
}

// decodeBatch checks a batch document's envelope and returns its task
// documents.
func decodeBatch(body []byte) ([]json.RawMessage, error) {
	// One body, one meaning: a key named twice or bytes that are not
	// UTF-8 anywhere in it (a task's payload included) refuse the whole
	// batch, as a malformed envelope does.
	if fe := task.CheckJSON(body, ""); fe != nil {
		return nil, &Invalid{Fields: []task.FieldError{*fe}}
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil || env == nil {
		return nil, invalid("body", `must be a JSON object {"tasks": [...]}`+jsonHint(err))
	}
	var errs []task.FieldError
	for k := range env {
		if k != "tasks" {
			errs = append(errs, task.FieldError{Field: k, Reason: "unknown field"})
		}
	}
	var items []json.RawMessage
	raw, ok := env["tasks"]
	switch {
	case !ok || isJSONNull(raw):
		errs = append(errs, task.FieldError{Field: "tasks", Reason: "is required: a list of 1 to 100 tasks"})
	case json.Unmarshal(raw, &items) != nil:
		errs = append(errs, task.FieldError{Field: "tasks", Reason: "must be a list of task objects"})
	case len(items) == 0 || len(items) > MaxBatch:
		errs = append(errs, task.FieldError{Field: "tasks", Reason: "has " + strconv.Itoa(len(items)) + " tasks; a batch holds 1 to 100"})
	}
	if len(errs) > 0 {
		return nil, &Invalid{Fields: errs}
	}
	return items, nil
}
