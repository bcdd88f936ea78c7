package worker_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/memstore"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

// newStore returns the in-memory store (pkg/testkit/memstore, which passes
// the store conformance suite) holding tasks as given.
func newStore(tasks ...task.Task) *memstore.Store {
	st := memstore.New(task.Layout{Bucket: time.Minute}, memstore.Options{})
	for i := range tasks {
		st.Put(&tasks[i])
	}
	return st
}

type nopQueue struct{}

func (nopQueue) Send(context.Context, string, task.OutMessage) error { return nil }

// nopExec succeeds at once.
type nopExec struct{}

func (nopExec) Kind() string                                 { return "webhook" }
func (nopExec) Validate(json.RawMessage) []target.FieldError { return nil }
func (nopExec) Execute(context.Context, target.Invocation) (target.Result, error) {
	return target.Result{StatusCode: 204}, nil
}

// BenchmarkHandle is the worker's path in-process: decode the message, get
// the task, (claim it,) run a target that succeeds at once and record the
// outcome, against an in-memory store — in the default mode (no claim: two
// store calls) and with claims (three). With DynamoDB each store call adds
// a network round trip (~5–10 ms in AWS); this is what the worker itself
// costs on top.
func BenchmarkHandle(b *testing.B) {
	b.Run("claim=none", func(b *testing.B) { benchHandle(b, false) })
	b.Run("claim=lease", func(b *testing.B) { benchHandle(b, true) })
}

func benchHandle(b *testing.B, claim bool) {
	now := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	tgt := task.Target{Kind: "webhook", Spec: json.RawMessage(`{"kind":"webhook","url":"https://hooks.example.com/x"}`)}
	payload := json.RawMessage(`{"order":42}`)
	ph := task.PayloadHash(tgt, payload)
	st := newStore()
	w := worker.New(worker.Config{TaskQueue: "q", DLQ: "dlq", Claim: claim}, st, nopQueue{}, []target.Executor{nopExec{}}, clock.NewManual(now), zerolog.Nop())
	// Fresh tasks each round, so every Handle claims and finishes.
	const batch = 1024
	bodies := make([]string, batch)
	ids := make([]task.ID, batch)
	reset := func() {
		for i := range ids {
			st.Put(&task.Task{ID: ids[i], Tenant: "bench", DueAt: ids[i].Due(), Target: tgt, Payload: payload,
				State: task.Scheduled, PayloadHash: ph, Retry: task.Retry{MaxAttempts: 5}})
		}
	}
	for i := range ids {
		id, err := task.NewID(now.Add(-time.Second), 16)
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = id
		body, _ := json.Marshal(task.TaskMessage{ID: id.String(), PH: ph})
		bodies[i] = string(body)
	}
	reset()
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == batch {
			b.StopTimer()
			reset()
			i = 0
			b.StartTimer()
		}
		if err := w.Handle(ctx, worker.Delivery{MessageID: "m", Body: bodies[i]}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkDecodeTaskMessage is the first step of every delivery.
func BenchmarkDecodeTaskMessage(b *testing.B) {
	id, _ := task.NewID(time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC), 16)
	body, _ := json.Marshal(task.TaskMessage{ID: id.String(), PH: "0123456789abcdef0123456789abcdef"})
	s := string(body)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := task.DecodeTaskMessage(s); err != nil {
			b.Fatal(err)
		}
	}
}
