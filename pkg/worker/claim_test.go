package worker_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

// lostAnswerStore applies a claim but answers ErrConflict, as DynamoDB does
// when the SDK retries a conditional update whose first attempt was applied
// and whose answer was lost.
type lostAnswerStore struct{ *memStore }

func (s lostAnswerStore) Claim(ctx context.Context, id task.ID, ph, owner string, now, leaseUntil time.Time) (*task.Task, error) {
	if _, err := s.memStore.Claim(ctx, id, ph, owner, now, leaseUntil); err != nil {
		return nil, err
	}
	return nil, task.ErrConflict
}

type countingExec struct{ n atomic.Int64 }

func (*countingExec) Kind() string                                 { return "webhook" }
func (*countingExec) Validate(json.RawMessage) []target.FieldError { return nil }
func (e *countingExec) Execute(context.Context, target.Invocation) (target.Result, error) {
	e.n.Add(1)
	return target.Result{StatusCode: 204}, nil
}

func TestClaimWhoseAnswerWasLostStillRuns(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	tgt := task.Target{Kind: "webhook", Spec: json.RawMessage(`{"kind":"webhook","url":"https://hooks.example.com/x"}`)}
	payload := json.RawMessage(`{}`)
	ph := task.PayloadHash(tgt, payload)
	id, err := task.NewID(now.Add(-time.Second), 4)
	require.NoError(t, err)
	ms := &memStore{tasks: map[task.ID]task.Task{id: {ID: id, Tenant: "t", DueAt: id.Due(), Target: tgt, Payload: payload,
		State: task.Scheduled, PayloadHash: ph, Retry: task.Retry{MaxAttempts: 3}}}}
	exec := &countingExec{}
	w := worker.New(worker.Config{TaskQueue: "q", DLQ: "dlq", Lease: 20 * time.Second}, lostAnswerStore{ms}, nopQueue{},
		[]target.Executor{exec}, clock.NewManual(now), zerolog.Nop())
	body, _ := json.Marshal(task.TaskMessage{ID: id.String(), PH: ph})

	err = w.Handle(context.Background(), worker.Delivery{MessageID: "m", Body: string(body)})

	require.NoError(t, err, "the worker holds the lease and must run the task now, not wait it out")
	assert.Equal(t, int64(1), exec.n.Load())
	got, _ := ms.Get(context.Background(), id)
	assert.Equal(t, task.Succeeded, got.State)
}
