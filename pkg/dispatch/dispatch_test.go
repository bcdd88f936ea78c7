package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/sqsq"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

var layout = task.Layout{Bucket: time.Minute}

// queue keeps every message sent; fail, when set, names the indexes of a
// batch not sent, as sqsq.Queue reports them.
type queue struct {
	mu   sync.Mutex
	msgs []task.OutMessage
	fail func(batch []task.OutMessage) []int
}

func (q *queue) SendBatch(_ context.Context, _ string, msgs []task.OutMessage) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	var failed []int
	if q.fail != nil {
		failed = q.fail(msgs)
	}
	for i, m := range msgs {
		if !contains(failed, i) {
			q.msgs = append(q.msgs, m)
		}
	}
	if len(failed) > 0 {
		return &sqsq.BatchError{Failed: failed, Last: errors.New("ServiceUnavailable")}
	}
	return nil
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// sent decodes the messages sent: task IDs, origins and delays.
func (q *queue) sent(t *testing.T) (ids []task.ID, origins []task.Origin, delays []time.Duration) {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range q.msgs {
		tm, id, err := task.DecodeTaskMessage(m.Body)
		require.NoError(t, err)
		ids, origins, delays = append(ids, id), append(origins, tm.Origin), append(delays, m.Delay)
	}
	return ids, origins, delays
}

// partition fills one partition of a memstore: n SCHEDULED tasks due a
// second apart from due, and returns them in due order.
func partition(t *testing.T, due time.Time, n int) []*task.Task {
	t.Helper()
	ts := make([]*task.Task, n)
	for i := range ts {
		id, err := task.NewID(due.Add(time.Duration(i)*time.Second), 1)
		require.NoError(t, err)
		tg := task.Target{Kind: "webhook", Spec: json.RawMessage(`{"kind":"webhook","url":"https://example.com/h"}`)}
		ts[i] = &task.Task{ID: id, Tenant: "acme", DueAt: id.Due(), Target: tg, Payload: json.RawMessage(`{}`),
			State: task.Scheduled, Version: 1, PayloadHash: task.PayloadHash(tg, json.RawMessage(`{}`))}
	}
	return ts
}

// A unit sends every SCHEDULED task of its partition once, across pages,
// each delayed until its due time less EarlyBy. Tasks in other states or
// other partitions are not sent; a fast-path task is sent by its create, so
// only a sweep sends it.
func TestDispatchSendsThePartitionsScheduledTasks(t *testing.T) {
	t.Parallel()
	due := time.Date(2030, 1, 2, 15, 4, 0, 0, time.UTC)
	now := due.Add(-30 * time.Second)
	ts := partition(t, due, 12)
	ts[2].State = task.Cancelled
	ts[5].State, ts[5].LeaseOwner, ts[5].LeaseUntil = task.Running, "w", now.Add(time.Minute)
	ts[7].State = task.Succeeded
	ts[9].FastPath = true
	elsewhere := partition(t, due.Add(time.Minute), 2) // the next bucket
	st := storeOf(append(ts, elsewhere...))

	var want []task.ID
	var wantDelay []time.Duration
	for _, tk := range ts {
		if tk.State == task.Scheduled && !tk.FastPath {
			want = append(want, tk.ID)
			wantDelay = append(wantDelay, tk.DueAt.Sub(now)-time.Second)
		}
	}
	q := &queue{}
	d := dispatch.New(dispatch.Config{TaskQueue: "q", PageSize: 3, EarlyBy: time.Second}, st, q, clock.NewManual(now), zerolog.Nop())
	stats, err := d.Dispatch(context.Background(), task.ScanUnit{Bucket: layout.BucketOf(due), Shard: 0})
	require.NoError(t, err)
	assert.Equal(t, len(want), stats.Sent)
	ids, origins, delays := q.sent(t)
	assert.Equal(t, want, ids, "every SCHEDULED task once, in due order")
	assert.Equal(t, wantDelay, delays, "due time less EarlyBy")
	for _, o := range origins {
		assert.Equal(t, task.OriginDispatch, o)
	}

	// The sweep of the same partition also sends the fast-path task.
	sweep := &queue{}
	d = dispatch.New(dispatch.Config{TaskQueue: "q", PageSize: 3}, st, sweep, clock.NewManual(now), zerolog.Nop())
	stats, err = d.Dispatch(context.Background(), task.ScanUnit{Bucket: layout.BucketOf(due), Shard: 0, Sweep: true})
	require.NoError(t, err)
	assert.Equal(t, len(want)+1, stats.Sent)
	ids, origins, _ = sweep.sent(t)
	assert.Contains(t, ids, ts[9].ID)
	assert.Equal(t, task.OriginSweep, origins[0])

	// Dispatch writes nothing: the tasks stay SCHEDULED for a redelivery.
	got, err := st.Get(context.Background(), want[0])
	require.NoError(t, err)
	assert.Equal(t, task.Scheduled, got.State)
	assert.Equal(t, int64(1), got.Version)
}

// When part of a batch is not sent, the unit fails (to be redelivered and
// sent again whole: duplicates are the worker's to absorb), and the stats
// count only what went out.
func TestPartiallySentUnitFails(t *testing.T) {
	t.Parallel()
	due := time.Date(2030, 1, 2, 15, 4, 0, 0, time.UTC)
	ts := partition(t, due, 5)
	st := storeOf(ts)
	q := &queue{fail: func([]task.OutMessage) []int { return []int{1, 3} }}
	d := dispatch.New(dispatch.Config{TaskQueue: "q"}, st, q, clock.NewManual(due.Add(-time.Minute)), zerolog.Nop())
	u := task.ScanUnit{Bucket: layout.BucketOf(due), Shard: 0}

	stats, err := d.Dispatch(context.Background(), u)
	require.Error(t, err)
	assert.Equal(t, 3, stats.Sent)
	ids, _, _ := q.sent(t)
	assert.Equal(t, []task.ID{ts[0].ID, ts[2].ID, ts[4].ID}, ids)

	// Through the Lambda entry point the record is reported failed, and a
	// malformed unit (which can never succeed) is dropped, not retried.
	body, err := json.Marshal(u)
	require.NoError(t, err)
	resp, err := d.HandleSQS(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "bad", Body: "{not json"},
		{MessageId: "unit", Body: string(body)},
	}})
	require.NoError(t, err)
	assert.Equal(t, []events.SQSBatchItemFailure{{ItemIdentifier: "unit"}}, resp.BatchItemFailures)
}

// An empty partition sends nothing and succeeds.
func TestEmptyPartition(t *testing.T) {
	t.Parallel()
	q := &queue{}
	d := dispatch.New(dispatch.Config{TaskQueue: "q"}, storeOf(nil), q, clock.NewManual(time.Now()), zerolog.Nop())
	stats, err := d.Dispatch(context.Background(), task.ScanUnit{Bucket: 1_900_000_020, Shard: 3})
	require.NoError(t, err)
	assert.Zero(t, stats.Sent)
	ids, _, _ := q.sent(t)
	assert.Empty(t, ids)
}
