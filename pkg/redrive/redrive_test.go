package redrive_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/redrive"
	"github.com/hourglass-sched/hourglass/pkg/sqsq"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
	"github.com/hourglass-sched/hourglass/pkg/testkit/memstore"
)

var now = time.Date(2031, 3, 4, 5, 6, 0, 0, time.UTC)

// fixture is the in-memory store (pkg/testkit/memstore) and a DLQ and task
// queue on the emulator.
type fixture struct {
	store          *memstore.Store
	q              *sqsq.Queue
	dlq, taskQueue string
}

func setup(t *testing.T) fixture {
	t.Helper()
	env := awstest.New(t)
	c := sqs.NewFromConfig(env.Config)
	mk := func(name string) string {
		out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(env.Name(name))})
		require.NoError(t, err)
		return aws.ToString(out.QueueUrl)
	}
	return fixture{
		store: memstore.New(task.Layout{Bucket: time.Minute}, memstore.Options{}),
		q:     sqsq.New(c), dlq: mk("redrive-dlq"), taskQueue: mk("redrive-tasks"),
	}
}

// task stores a task of tenant in state st (FAILED after one attempt)
// and puts its message in the DLQ.
func (f fixture) task(t *testing.T, tenant string, st task.State) *task.Task {
	t.Helper()
	id, err := task.NewID(now.Add(-time.Hour), 1)
	require.NoError(t, err)
	tg := task.Target{Kind: "webhook", Spec: json.RawMessage(`{"kind":"webhook","url":"https://example.com/h"}`)}
	tk := &task.Task{ID: id, Tenant: tenant, DueAt: id.Due(), Target: tg, Payload: json.RawMessage(`{}`),
		Retry: task.Retry{MaxAttempts: 2, InitialBackoff: time.Second, MaxBackoff: time.Minute},
		State: st, Version: 4, PayloadHash: task.PayloadHash(tg, json.RawMessage(`{}`)), CreatedAt: now.Add(-2 * time.Hour)}
	if st.Terminal() || st == task.Retrying {
		tk.AttemptN = 2
		tk.Attempts = []task.Attempt{{N: 1, Outcome: "failed"}, {N: 2, Outcome: "failed"}}
		tk.LastError = "503"
	}
	f.store.Put(tk)
	f.dead(t, task.NewTaskMessage(tk, task.OriginDispatch).Encode())
	return tk
}

// dead puts a message body in the DLQ.
func (f fixture) dead(t *testing.T, body string) {
	t.Helper()
	require.NoError(t, f.q.Send(context.Background(), f.dlq, task.OutMessage{Body: body}))
}

func (f fixture) run(t *testing.T, cfg redrive.Config) (redrive.Result, error) {
	t.Helper()
	cfg.DLQ, cfg.TaskQueue = f.dlq, f.taskQueue
	return redrive.Run(context.Background(), cfg, f.store, f.q, clock.NewManual(now), zerolog.Nop())
}

// depth is the number of messages in a queue (visible or in flight).
func (f fixture) depth(t *testing.T, url string) int {
	t.Helper()
	visible, inflight, delayed, err := f.q.Depth(context.Background(), url)
	require.NoError(t, err)
	return visible + inflight + delayed
}

// sent returns the task IDs of the task queue's messages.
func (f fixture) sent(t *testing.T) []string {
	t.Helper()
	var ids []string
	for range 3 {
		msgs, err := f.q.Receive(context.Background(), f.taskQueue, 10, 0, time.Minute)
		require.NoError(t, err)
		for _, m := range msgs {
			tm, _, err := task.DecodeTaskMessage(m.Body)
			require.NoError(t, err)
			assert.Equal(t, task.OriginRedrive, tm.Origin)
			ids = append(ids, tm.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// A FAILED task gets a fresh budget and its message back on the task
// queue; an unfinished one is re-sent as it is; a finished or missing task
// and a malformed message are dropped. The DLQ ends empty, and a second
// run has nothing to do.
func TestRunDrainsTheDLQ(t *testing.T) {
	t.Parallel()
	f := setup(t)
	failed := f.task(t, "acme", task.Failed)
	retrying := f.task(t, "acme", task.Retrying)
	f.task(t, "acme", task.Succeeded)
	f.task(t, "acme", task.Cancelled)
	gone, err := task.NewID(now, 1)
	require.NoError(t, err)
	f.dead(t, task.TaskMessage{ID: gone.String(), PH: "x"}.Encode())
	f.dead(t, "not a task message")

	res, err := f.run(t, redrive.Config{Attempts: 3})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Redriven)
	assert.Equal(t, 1, res.Resent)
	assert.Equal(t, 4, res.Dropped)
	assert.Zero(t, res.Left)

	got, err := f.store.Get(context.Background(), failed.ID)
	require.NoError(t, err)
	assert.Equal(t, task.Retrying, got.State, "claimable again")
	assert.Equal(t, 2+3, got.Retry.MaxAttempts, "the attempts made plus a fresh budget")
	assert.Equal(t, now, got.NextAt)
	cur, err := f.store.Get(context.Background(), retrying.ID)
	require.NoError(t, err)
	assert.Equal(t, retrying.Version, cur.Version, "an unfinished task is only re-sent")

	want := []string{failed.ID.String(), retrying.ID.String()}
	slices.Sort(want)
	assert.Equal(t, want, f.sent(t))
	assert.Zero(t, f.depth(t, f.dlq), "the DLQ is drained")

	again, err := f.run(t, redrive.Config{})
	require.NoError(t, err)
	assert.Equal(t, redrive.Result{}, again)
}

// A dry run changes nothing: the task stays FAILED, nothing is sent, and
// the DLQ keeps its messages (visible again for the real run).
func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	failed := f.task(t, "acme", task.Failed)
	f.task(t, "acme", task.Succeeded)

	res, err := f.run(t, redrive.Config{DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Redriven)
	got, err := f.store.Get(context.Background(), failed.ID)
	require.NoError(t, err)
	assert.Equal(t, task.Failed, got.State)
	assert.Empty(t, f.sent(t))
	assert.Equal(t, 2, f.depth(t, f.dlq))

	res, err = f.run(t, redrive.Config{})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Redriven, "the left messages are visible to the next run")
	assert.Equal(t, 1, res.Dropped)
}

// With a tenant, only that tenant's tasks are redriven; the others'
// messages stay in the DLQ, visible again when the run ends.
func TestTenantFilter(t *testing.T) {
	t.Parallel()
	f := setup(t)
	mine := f.task(t, "acme", task.Failed)
	theirs := f.task(t, "globex", task.Failed)

	res, err := f.run(t, redrive.Config{Tenant: "acme"})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Redriven)
	assert.Equal(t, 1, res.Left)
	assert.Equal(t, []string{mine.ID.String()}, f.sent(t))
	got, err := f.store.Get(context.Background(), theirs.ID)
	require.NoError(t, err)
	assert.Equal(t, task.Failed, got.State, "another tenant's task is untouched")

	res, err = f.run(t, redrive.Config{Tenant: "globex"})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Redriven, "and its message is there for its own run")
	assert.Zero(t, f.depth(t, f.dlq))
}

// A task redriven by a run that crashed before re-sending is RETRYING with
// its message still in the DLQ: the next run re-sends it and does not give
// it a second fresh budget.
func TestRunAfterACrashBeforeSend(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tk := f.task(t, "acme", task.Failed)
	first, err := f.store.Redrive(context.Background(), tk.ID, now, 3) // the crashed run's write
	require.NoError(t, err)

	res, err := f.run(t, redrive.Config{Attempts: 3})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Resent)
	assert.Zero(t, res.Redriven)
	got, err := f.store.Get(context.Background(), tk.ID)
	require.NoError(t, err)
	assert.Equal(t, first.Retry.MaxAttempts, got.Retry.MaxAttempts)
	assert.Equal(t, []string{tk.ID.String()}, f.sent(t))
}
