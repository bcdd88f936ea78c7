package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
	"github.com/hourglass-sched/hourglass/pkg/usage"
)

// doOn sends one request as tenant to srv and decodes the JSON answer.
func doOn(t *testing.T, srv http.Handler, method, path, tenant string, body []byte) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer dev-"+tenant)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	var out map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), "body: %s", rec.Body.Bytes())
	return rec.Code, out
}

// calls returns how many times each operation ran between two snapshots.
func calls(before, after usage.Snapshot) map[string]int64 { return after.Sub(before).Calls }

// batchOf builds a batch create body of n tasks due at due(i).
func batchOf(t *testing.T, s *stacktest.Stack, n int, due func(i int) time.Time) []byte {
	tasks := make([]any, n)
	for i := range tasks {
		tasks[i] = map[string]any{"due_at": due(i).UTC().Format(time.RFC3339Nano), "target": s.Webhook(), "payload": map[string]any{"n": i}}
	}
	return mustJSON(t, map[string]any{"tasks": tasks})
}

// createdIDs returns the IDs of a batch answer's tasks, requiring every
// one to be 201 in state.
func createdIDs(t *testing.T, r response, state string) []string {
	t.Helper()
	require.Equal(t, http.StatusOK, r.code, "body: %s", r.raw)
	var ids []string
	for i, res := range results(t, r) {
		require.EqualValues(t, http.StatusCreated, res["status"], "task %d: %v", i, res)
		tv, _ := res["task"].(map[string]any)
		require.Equal(t, state, tv["state"], "task %d", i)
		ids = append(ids, tv["id"].(string))
	}
	return ids
}

// runOnFastPath lets only the worker run until every task has finished:
// no scanner tick, no dispatcher, so each ran from its fast-path message.
func runOnFastPath(t *testing.T, s *stacktest.Stack, ids []string) {
	t.Helper()
	s.Until(30*time.Second, "fast-path tasks", func() bool {
		for _, id := range ids {
			if !s.Get(id).State.Terminal() {
				return false
			}
		}
		return true
	}, func() { s.Work(nil) })
	for _, id := range ids {
		assert.Len(t, s.Sink.Calls(id), 1, "task %s ran once", id)
	}
}

// TestBatchFastPathSendsInBatchesOfTen: a batch whose tasks fall in
// announced buckets sends their messages with SendMessageBatch, ten to a
// call (ceil(N/10) requests, no SendMessage), after one cursor read begun
// after the batch's last write; tasks beyond the announced window are not
// sent; and every fast-path task runs.
func TestBatchFastPathSendsInBatchesOfTen(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.Tick() // announces buckets up to now + look-ahead (4 s)
	s.Units()

	const n = 25
	u0 := s.Comps.Usage.Snapshot()
	r := call(t, s, http.MethodPost, "/v1/tasks:batch", "acme", batchOf(t, s, n, func(i int) time.Time {
		return time.Now().Add(1500*time.Millisecond + time.Duration(i)*10*time.Millisecond)
	}))
	ids := createdIDs(t, r, "DISPATCHED")
	c := calls(u0, s.Comps.Usage.Snapshot())
	assert.EqualValues(t, (n+9)/10, c["SQS.SendMessageBatch"], "ceil(%d/10) batch sends", n)
	assert.Zero(t, c["SQS.SendMessage"], "no single sends")
	// One read decides the batch (cold cache); the tasks' views share a
	// read under a second old, which under load may need one more.
	assert.Positive(t, c["DynamoDB.GetItem"])
	assert.LessOrEqual(t, c["DynamoDB.GetItem"], int64(2), "one cursor read serves the batch, not one per task")

	// A second batch mixing announced and not-yet-announced tasks: only
	// the announced ones are sent; the warm cache covers them, and the one
	// read the others need is shared.
	u1 := s.Comps.Usage.Snapshot()
	r = call(t, s, http.MethodPost, "/v1/tasks:batch", "acme", batchOf(t, s, 12, func(i int) time.Time {
		if i%2 == 1 {
			return time.Now().Add(time.Minute)
		}
		return time.Now().Add(1500 * time.Millisecond)
	}))
	require.Equal(t, http.StatusOK, r.code, "body: %s", r.raw)
	var sent []string
	for i, res := range results(t, r) {
		require.EqualValues(t, http.StatusCreated, res["status"])
		tv := res["task"].(map[string]any)
		if i%2 == 1 {
			assert.Equal(t, "SCHEDULED", tv["state"])
		} else {
			assert.Equal(t, "DISPATCHED", tv["state"])
			sent = append(sent, tv["id"].(string))
		}
	}
	c = calls(u1, s.Comps.Usage.Snapshot())
	assert.EqualValues(t, 1, c["SQS.SendMessageBatch"], "6 messages: one batch send")
	assert.Zero(t, c["SQS.SendMessage"])
	assert.LessOrEqual(t, c["DynamoDB.GetItem"], int64(1), "the warm cache covers the announced tasks; the others are past the horizon or share one read")

	runOnFastPath(t, s, append(ids, sent...))
}

// TestCursorCacheOnCreate: a create into an announced bucket, once the
// cache holds a cursor value covering it, reads nothing; a create into a
// bucket not yet announced reads the cursor (after its write), every time.
func TestCursorCacheOnCreate(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.Tick()
	s.Units()
	create := func(due time.Time) (string, string, map[string]int64) {
		u := s.Comps.Usage.Snapshot()
		r := call(t, s, http.MethodPost, "/v1/tasks", "acme", mustJSON(t, bodyDue(s, due, nil)))
		require.Equal(t, http.StatusCreated, r.code, "body: %s", r.raw)
		return r.body["id"].(string), r.body["state"].(string), calls(u, s.Comps.Usage.Snapshot())
	}

	// Cold: the first create must read.
	id1, state, c := create(time.Now().Add(1500 * time.Millisecond))
	assert.Equal(t, "DISPATCHED", state)
	assert.EqualValues(t, 1, c["DynamoDB.GetItem"], "cold cache: one cursor read")
	assert.EqualValues(t, 1, c["SQS.SendMessage"])

	// Warm: no read at all, still sent.
	id2, state, c := create(time.Now().Add(1600 * time.Millisecond))
	assert.Equal(t, "DISPATCHED", state)
	assert.Zero(t, c["DynamoDB.GetItem"], "warm cache covering the bucket: no cursor read")
	assert.EqualValues(t, 1, c["SQS.SendMessage"])
	assert.EqualValues(t, 1, c["DynamoDB.PutItem"])

	// Not yet announced: a read after the write, each time (a cached
	// "not announced" proves nothing about a later write).
	// (Due in 8 s: past the announced buckets, but within look-ahead +
	// the skew margin, so it may be announced by the time it is written.)
	for range 2 {
		_, state, c = create(time.Now().Add(8 * time.Second))
		assert.Equal(t, "SCHEDULED", state)
		assert.EqualValues(t, 1, c["DynamoDB.GetItem"], "bucket not covered: the cursor is read")
		assert.Zero(t, c["SQS.SendMessage"])
	}

	// Beyond look-ahead + skew margin: no fast-path read (the view may
	// read once a second at most; the previous read is fresh).
	_, state, c = create(time.Now().Add(time.Hour))
	assert.Equal(t, "SCHEDULED", state)
	assert.Zero(t, c["DynamoDB.GetItem"])

	runOnFastPath(t, s, []string{id1, id2})
}

// TestBatchFastPathFailureLeftToSweep: when the batch send fails, the
// tasks are still accepted, and the scanner's sweep dispatches them.
func TestBatchFastPathFailureLeftToSweep(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.Tick()
	s.Dispatch(nil) // the announced partitions' regular pass, before the tasks exist
	broken := s.Comps.API(api.DevAuth{}, nil, func(c *app.TasksConfig) { c.TaskQueue = s.Res.TaskQueueURL + "-missing" })

	body := batchOf(t, s, 12, func(i int) time.Time { return time.Now().Add(1500 * time.Millisecond) })
	code, out := doOn(t, broken, http.MethodPost, "/v1/tasks:batch", "acme", body)
	require.Equal(t, http.StatusOK, code, out)
	var ids []string
	for _, x := range out["results"].([]any) {
		res := x.(map[string]any)
		require.EqualValues(t, http.StatusCreated, res["status"], "accepted despite the failed send")
		ids = append(ids, res["task"].(map[string]any)["id"].(string))
	}
	s.Until(45*time.Second, "swept tasks", func() bool {
		for _, id := range ids {
			if !s.Get(id).State.Terminal() {
				return false
			}
		}
		return true
	}, func() { s.Tick(); s.Dispatch(nil); s.Work(nil) })
	for _, id := range ids {
		assert.NotEmpty(t, s.Sink.Calls(id), "task %s ran", id)
	}
}
