// Package stacktest builds a whole Hourglass stack on the AWS emulator for
// integration tests — isolated tables and queues per test, a recording
// webhook sink on 127.0.0.1 — and lets a test drive each component one step
// at a time (tick, dispatch, work), so a crash can be injected exactly
// between two steps.
package stacktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/sqsq"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
	"github.com/hourglass-sched/hourglass/pkg/usage"
	"github.com/hourglass-sched/hourglass/pkg/wire"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

// SigningKey is the master key of every test stack (it keys page tokens;
// webhook signing secrets are per tenant, in the stack's table).
const SigningKey = "stacktest-signing-key-0123456789"

// Options tunes a test stack; zero values take the defaults shown.
type Options struct {
	Clock         clock.Clock   // system clock
	Shards        int           // 2
	Bucket        time.Duration // 2s
	Lookahead     time.Duration // 4s
	Lease         time.Duration // 3s
	Visibility    time.Duration // task queue visibility, 5s (must exceed Lease)
	EarlyDelivery time.Duration // 0
	SweepDelay    time.Duration // 1s
	ClaimLease    bool          // workers claim a lease first (HOURGLASS_CLAIM=lease)
	ListIndex     bool          // tasks are written to the list index; off, GET /v1/tasks is a 501 (HOURGLASS_LIST_INDEX)
}

// Stack is one test's Hourglass.
type Stack struct {
	tb    testing.TB
	Env   *awstest.Env
	Res   provision.Resources
	Cfg   config.Config
	Comps *wire.Components
	API   *api.Server
	Sink  *Sink
}

// New provisions an isolated stack for tb.
func New(tb testing.TB, o Options) *Stack {
	tb.Helper()
	if o.Shards == 0 {
		o.Shards = 2
	}
	if o.Bucket == 0 {
		o.Bucket = 2 * time.Second
	}
	if o.Lookahead == 0 {
		o.Lookahead = 4 * time.Second
	}
	if o.Lease == 0 {
		o.Lease = 3 * time.Second
	}
	if o.SweepDelay == 0 {
		o.SweepDelay = time.Second
	}
	if o.Visibility == 0 {
		o.Visibility = 5 * time.Second
	}
	env := awstest.New(tb)
	ctx := context.Background()
	res, err := provision.Ensure(ctx, env.Config, provision.Spec{Prefix: env.Name("hg"), TaskVisibility: o.Visibility})
	if err != nil {
		tb.Fatalf("stacktest: provision: %v", err)
	}
	cfg := config.Config{
		Table: res.Table, ScanQueueURL: res.ScanQueueURL, TaskQueueURL: res.TaskQueueURL, TaskDLQURL: res.TaskDLQURL,
		Shards: o.Shards, Bucket: o.Bucket, Lookahead: o.Lookahead, Lease: o.Lease, EarlyDelivery: o.EarlyDelivery, SweepDelay: o.SweepDelay,
		ClaimLease: o.ClaimLease, ListIndex: o.ListIndex, LogLevel: "warn", Dev: true, SigningKey: SigningKey, Limits: task.DefaultLimits(),
	}
	cfg.WebhookAllow = append(cfg.WebhookAllow, mustPrefix("127.0.0.0/8"))
	comps, err := wire.BuildWith(ctx, cfg, env.Config, o.Clock, &usage.Counters{})
	if err != nil {
		tb.Fatalf("stacktest: build: %v", err)
	}
	comps.Log = zerolog.New(zerolog.NewTestWriter(tb)).Level(zerolog.WarnLevel)
	s := &Stack{tb: tb, Env: env, Res: res, Cfg: cfg, Comps: comps, Sink: NewSink(tb)}
	s.API = comps.API(api.DevAuth{}, nil)
	return s
}

// Webhook returns a webhook target object pointing at the sink.
func (s *Stack) Webhook() map[string]any {
	return map[string]any{"kind": "webhook", "url": s.Sink.URL + "/hook"}
}

// Do sends a request to the API as tenant (no auth header when tenant is
// empty) and returns the status and decoded JSON body.
func (s *Stack) Do(method, path, tenant string, body any, headers ...string) (int, map[string]any) {
	s.tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.tb.Fatalf("stacktest: marshal body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if tenant != "" {
		req.Header.Set("Authorization", "Bearer dev-"+tenant)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	s.API.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	if out == nil {
		out = map[string]any{"_raw": rec.Body.String()}
	}
	out["_content_type"] = rec.Header().Get("Content-Type")
	return rec.Code, out
}

// Create creates a task for tenant due at due and returns its ID; it fails
// the test unless the API answers 201.
func (s *Stack) Create(tenant string, due time.Time, extra map[string]any) string {
	s.tb.Helper()
	body := map[string]any{"due_at": due.UTC().Format(time.RFC3339Nano), "target": s.Webhook(), "payload": map[string]any{"hello": "world"}}
	for k, v := range extra {
		body[k] = v
	}
	code, out := s.Do(http.MethodPost, "/v1/tasks", tenant, body)
	if code != http.StatusCreated {
		s.tb.Fatalf("stacktest: create: %d %v", code, out)
	}
	return out["id"].(string)
}

// Get reads a task straight from the store.
func (s *Stack) Get(id string) *task.Task {
	s.tb.Helper()
	tid, err := task.ParseID(id)
	if err != nil {
		s.tb.Fatalf("stacktest: %v", err)
	}
	t, err := s.Comps.Store.Get(context.Background(), tid)
	if err != nil {
		s.tb.Fatalf("stacktest: get %s: %v", id, err)
	}
	return t
}

// Tick runs one scanner tick.
func (s *Stack) Tick() {
	s.tb.Helper()
	if _, err := s.Comps.Scanner().Tick(context.Background()); err != nil {
		s.tb.Fatalf("stacktest: tick: %v", err)
	}
}

// Dispatch receives the scan units visible now and dispatches each with d
// (nil: a default dispatcher). Units whose dispatch fails stay on the queue.
// It returns how many units it handled and how many failed.
func (s *Stack) Dispatch(d *dispatch.Dispatcher) (handled, failed int) {
	s.tb.Helper()
	if d == nil {
		d = s.Comps.Dispatcher()
	}
	ctx := context.Background()
	for {
		msgs, err := s.Comps.Queue.Receive(ctx, s.Res.ScanQueueURL, 10, 0, 0)
		if err != nil {
			s.tb.Fatalf("stacktest: receive scan units: %v", err)
		}
		if len(msgs) == 0 {
			return handled, failed
		}
		var done []string
		for _, m := range msgs {
			u, err := task.DecodeScanUnit(m.Body)
			if err != nil {
				s.tb.Fatalf("stacktest: %v", err)
			}
			handled++
			if _, err := d.Dispatch(ctx, u); err != nil {
				failed++
				continue
			}
			done = append(done, m.ReceiptHandle)
		}
		if len(done) > 0 {
			if err := s.Comps.Queue.DeleteBatch(ctx, s.Res.ScanQueueURL, done); err != nil {
				s.tb.Fatalf("stacktest: delete scan units: %v", err)
			}
		}
	}
}

// Work receives the task messages visible now (one receive of up to 10)
// and hands them to w (nil: a default worker) — different tasks
// concurrently, one task's duplicates in turn — deleting those it finishes
// with. It returns the number received and the errors returned.
func (s *Stack) Work(w *worker.Worker) (received int, errs []error) {
	s.tb.Helper()
	if w == nil {
		w = s.Comps.Worker()
	}
	ctx := context.Background()
	msgs, err := s.Comps.Queue.Receive(ctx, s.Res.TaskQueueURL, 10, 0, 0)
	if err != nil {
		s.tb.Fatalf("stacktest: receive tasks: %v", err)
	}
	recv := time.Now()
	// Different tasks run concurrently; deliveries of the same task run one
	// after another. moto's conditional writes are not atomic under
	// concurrent requests (DynamoDB's are), so two racing claims of one task
	// could both win on the emulator and tests would see an emulator bug.
	// The deliberate concurrent-duplicates test uses HandleSQS instead.
	groups := map[string][]sqsq.Received{}
	var order []string
	for _, m := range msgs {
		key := m.Body
		if tm, _, err := task.DecodeTaskMessage(m.Body); err == nil {
			key = tm.ID
		}
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], m)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var done []string
	for _, key := range order {
		wg.Add(1)
		go func(group []sqsq.Received) {
			defer wg.Done()
			for _, m := range group {
				err := w.Handle(ctx, worker.Delivery{MessageID: m.MessageID, Body: m.Body, ServerTime: worker.ServerTime(m.Attributes), ReceivedAt: recv})
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					done = append(done, m.ReceiptHandle)
				}
				mu.Unlock()
			}
		}(groups[key])
	}
	wg.Wait()
	if len(done) > 0 {
		if err := s.Comps.Queue.DeleteBatch(ctx, s.Res.TaskQueueURL, done); err != nil {
			s.tb.Fatalf("stacktest: delete tasks: %v", err)
		}
	}
	return len(msgs), errs
}

// Until runs step repeatedly until cond holds, failing the test after
// timeout. It is how tests wait: no bare sleeps.
func (s *Stack) Until(timeout time.Duration, what string, cond func() bool, step func()) {
	s.tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			s.tb.Fatalf("stacktest: timed out after %s waiting for %s", timeout, what)
		}
		if step != nil {
			step()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TaskMessage builds the queue message body for a task.
func TaskMessage(t *task.Task) string {
	return task.NewTaskMessage(t, task.OriginUnknown).Encode()
}

// DLQ receives what is in the task dead-letter queue now.
func (s *Stack) DLQ() []sqsq.Received {
	s.tb.Helper()
	msgs, err := s.Comps.Queue.Receive(context.Background(), s.Res.TaskDLQURL, 10, 0, 30*time.Second)
	if err != nil {
		s.tb.Fatalf("stacktest: receive DLQ: %v", err)
	}
	return msgs
}

func mustPrefix(s string) netipPrefix {
	p, err := parsePrefix(s)
	if err != nil {
		panic(fmt.Sprintf("stacktest: %v", err))
	}
	return p
}

// Units receives and deletes every scan unit visible now, so a test can hand
// the same units to several dispatchers (a crashed one, then its
// "redelivery").
func (s *Stack) Units() []task.ScanUnit {
	s.tb.Helper()
	ctx := context.Background()
	var units []task.ScanUnit
	for {
		msgs, err := s.Comps.Queue.Receive(ctx, s.Res.ScanQueueURL, 10, 0, 0)
		if err != nil {
			s.tb.Fatalf("stacktest: receive scan units: %v", err)
		}
		if len(msgs) == 0 {
			return units
		}
		handles := make([]string, 0, len(msgs))
		for _, m := range msgs {
			u, err := task.DecodeScanUnit(m.Body)
			if err != nil {
				s.tb.Fatalf("stacktest: %v", err)
			}
			units = append(units, u)
			handles = append(handles, m.ReceiptHandle)
		}
		if err := s.Comps.Queue.DeleteBatch(ctx, s.Res.ScanQueueURL, handles); err != nil {
			s.tb.Fatalf("stacktest: delete scan units: %v", err)
		}
	}
}

// Send puts a raw message on the task queue (a duplicate delivery).
func (s *Stack) Send(body string, delay time.Duration) {
	s.tb.Helper()
	if err := s.Comps.Queue.Send(context.Background(), s.Res.TaskQueueURL, task.OutMessage{Body: body, Delay: delay}); err != nil {
		s.tb.Fatalf("stacktest: send: %v", err)
	}
}
