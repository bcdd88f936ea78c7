package loadtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/client"
	"github.com/hourglass-sched/hourglass/pkg/testkit/loadtest"
	"github.com/hourglass-sched/hourglass/pkg/usage"
)

// fakeAPI is a Hourglass API on loopback that runs each task it creates
// itself (POSTs the task's webhook at its due time) and counts requests as
// API Gateway would in /debug/usage.
type fakeAPI struct {
	t        *testing.T
	srv      *httptest.Server
	counters usage.Counters
	runs     sync.WaitGroup

	mu       sync.Mutex
	next     int
	singles  int
	batches  []int                // tasks per batch request, in arrival order
	byTenant map[string][]int     // Authorization → the payload n of every task its batches carried
	arrived  map[int]time.Time    // payload n → when its create arrived
	answer   func(n, try int) int // status for task n on its try-th create (nil: 201)
	// refuse, when set, answers a whole batch whose first task is n 429
	// (Retry-After 0) when it says so.
	refuse func(n int) bool
	tries  map[int]int
	// hold, when set, names the state task n stays in instead of running
	// ("" runs it; "gone" answers 404 when it is read back).
	hold   func(n int) string
	states map[string]string // task ID → held state
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, arrived: map[int]time.Time{}, tries: map[int]int{}, states: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/tasks/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		st, ok := f.states[r.PathValue("id")]
		f.mu.Unlock()
		if !ok || st == "gone" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"type":"about:blank","title":"Not Found","status":404}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": r.PathValue("id"), "state": st})
	})
	mux.HandleFunc("GET /debug/usage", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(f.counters.Snapshot())
	})
	mux.HandleFunc("POST /v1/tasks", func(w http.ResponseWriter, r *http.Request) {
		f.counters.APIRequest()
		var in map[string]any
		require.NoError(t, json.NewDecoder(r.Body).Decode(&in))
		f.mu.Lock()
		f.singles++
		f.mu.Unlock()
		status, task := f.create(in)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(task)
	})
	mux.HandleFunc("POST /v1/tasks:batch", func(w http.ResponseWriter, r *http.Request) {
		f.counters.APIRequest()
		var in struct {
			Tasks []map[string]any `json:"tasks"`
		}
		require.NoError(t, json.NewDecoder(r.Body).Decode(&in))
		if len(in.Tasks) < 1 || len(in.Tasks) > api.MaxBatch {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if f.refuse != nil && len(in.Tasks) > 0 {
			first := int(in.Tasks[0]["payload"].(map[string]any)["n"].(float64))
			if f.refuse(first) {
				w.Header().Set("Content-Type", "application/problem+json")
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = w.Write([]byte(`{"type":"about:blank","title":"Too Many Requests","status":429,"detail":"create rate"}`))
				return
			}
		}
		f.mu.Lock()
		f.batches = append(f.batches, len(in.Tasks))
		if f.byTenant == nil {
			f.byTenant = map[string][]int{}
		}
		for _, tk := range in.Tasks {
			auth := r.Header.Get("Authorization")
			f.byTenant[auth] = append(f.byTenant[auth], int(tk["payload"].(map[string]any)["n"].(float64)))
		}
		f.mu.Unlock()
		var out struct {
			Results []map[string]any `json:"results"`
		}
		for _, tk := range in.Tasks {
			status, task := f.create(tk)
			res := map[string]any{"status": status}
			if status < 300 {
				res["task"] = task
			} else {
				res["problem"] = map[string]any{"status": status, "title": http.StatusText(status), "type": "about:blank"}
			}
			out.Results = append(out.Results, res)
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() { f.srv.Close(); f.runs.Wait() })
	return f
}

// create answers one task and, when it is created, runs it at its time.
func (f *fakeAPI) create(in map[string]any) (int, map[string]any) {
	payload, _ := in["payload"].(map[string]any)
	n := int(payload["n"].(float64))
	due, err := time.Parse(time.RFC3339Nano, in["due_at"].(string))
	require.NoError(f.t, err)
	hook := in["target"].(map[string]any)["url"].(string)
	f.mu.Lock()
	f.tries[n]++
	try := f.tries[n]
	if _, ok := f.arrived[n]; !ok {
		f.arrived[n] = time.Now()
	}
	status := http.StatusCreated
	if f.answer != nil {
		status = f.answer(n, try)
	}
	if status != http.StatusCreated {
		f.mu.Unlock()
		return status, nil
	}
	f.next++
	id := fmt.Sprintf("task-%d", f.next)
	if f.hold != nil {
		if st := f.hold(n); st != "" {
			f.states[id] = st
			f.mu.Unlock()
			return status, map[string]any{"id": id, "state": "SCHEDULED"}
		}
	}
	f.states[id] = "SUCCEEDED"
	f.mu.Unlock()
	f.runs.Add(1)
	go func() {
		defer f.runs.Done()
		time.Sleep(time.Until(due.Add(5 * time.Millisecond)))
		req, _ := http.NewRequest(http.MethodPost, hook, bytes.NewReader([]byte(`{}`)))
		req.Header.Set(loadtest.TaskIDHeader, id)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	}()
	return status, map[string]any{"id": id, "state": "SCHEDULED"}
}

func (f *fakeAPI) counts() (singles int, batches []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := append([]int(nil), f.batches...)
	sort.Ints(b)
	return f.singles, b
}

func quick(api string, tasks int) loadtest.Options {
	return loadtest.Options{API: api, Tasks: tasks, Lead: 500 * time.Millisecond, Spread: 300 * time.Millisecond, Grace: 2 * time.Second, Tenant: "t"}
}

// Tenants spreads the create requests over tenants in turn: 60 tasks in
// batches of 10 over 3 tenants are 2 requests of 10 for each, task i going
// to tenant (i / 10) mod 3.
func TestTenantsTakeTheRequestsInTurn(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	o := quick(f.srv.URL, 60)
	o.Batch, o.Tenants = 10, 3
	res, err := loadtest.Run(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, 60, res.Summary.Executed)
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Len(t, f.byTenant, 3)
	for k := range 3 {
		got := append([]int(nil), f.byTenant[fmt.Sprintf("Bearer dev-t-%d", k)]...)
		sort.Ints(got)
		var want []int
		for i := range 60 {
			if (i/10)%3 == k {
				want = append(want, i)
			}
		}
		assert.Equal(t, want, got, "tenant t-%d", k)
	}
}

func TestMaxBatchIsTheAPIs(t *testing.T) {
	t.Parallel()
	assert.Equal(t, api.MaxBatch, loadtest.MaxBatch)
	assert.LessOrEqual(t, loadtest.DefaultBatch, api.MaxBatch)
}

// By default tasks go 100 to a request: 250 tasks are 3 batch requests
// (100, 100, 50), no single creates, and the API requests per task say so.
func TestRunCreatesInBatchesByDefault(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	res, err := loadtest.Run(context.Background(), quick(f.srv.URL, 250))
	require.NoError(t, err)
	s := res.Summary
	singles, batches := f.counts()
	assert.Zero(t, singles)
	assert.Equal(t, []int{50, 100, 100}, batches)
	assert.Equal(t, 100, s.CreateBatch)
	assert.EqualValues(t, 3, s.CreateRequests)
	assert.Equal(t, 250, s.Created)
	assert.Equal(t, 250, s.Executed)
	assert.Zero(t, s.Lost)
	assert.Zero(t, s.Early)
	assert.Zero(t, s.Duplicates)
	assert.Zero(t, s.CreateErrors)
	require.NotNil(t, s.PerTask)
	assert.InDelta(t, 3.0/250, s.PerTask.APIRequests, 1e-9)
	require.NotNil(t, s.USDBreakdown)
	assert.InDelta(t, 3.0/250*1e6*1.00/1e6, s.USDBreakdown.APIGateway, 1e-9, "API Gateway: $1 per million requests")

	out, err := json.Marshal(s)
	require.NoError(t, err)
	assert.Contains(t, string(out), `"create_batch":100`)
}

// Batch 1 measures single creates: a POST /v1/tasks per task.
func TestRunSingleCreates(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	o := quick(f.srv.URL, 30)
	o.Batch = 1
	res, err := loadtest.Run(context.Background(), o)
	require.NoError(t, err)
	s := res.Summary
	singles, batches := f.counts()
	assert.Equal(t, 30, singles)
	assert.Empty(t, batches)
	assert.Equal(t, 1, s.CreateBatch)
	assert.EqualValues(t, 30, s.CreateRequests)
	assert.Equal(t, 30, s.Executed)
	require.NotNil(t, s.PerTask)
	assert.InDelta(t, 1.0, s.PerTask.APIRequests, 1e-9)
}

// Other batch sizes split the tasks accordingly; sizes above the API's
// limit are capped at it.
func TestRunBatchSizes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		batch, tasks int
		want         []int
		createBatch  int
	}{
		{batch: 7, tasks: 20, want: []int{6, 7, 7}, createBatch: 7},
		{batch: 500, tasks: 120, want: []int{20, 100}, createBatch: 100},
	} {
		t.Run(fmt.Sprint(tc.batch), func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			o := quick(f.srv.URL, tc.tasks)
			o.Batch = tc.batch
			res, err := loadtest.Run(context.Background(), o)
			require.NoError(t, err)
			_, batches := f.counts()
			assert.Equal(t, tc.want, batches)
			assert.Equal(t, tc.createBatch, res.Summary.CreateBatch)
			assert.Equal(t, tc.tasks, res.Summary.Executed)
		})
	}
}

// A task answered 5xx inside a batch is sent again (in one request for all
// such tasks); one answered 4xx is a create error. Lost and early count
// only created tasks.
func TestRunBatchRetriesServerErrors(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.answer = func(n, try int) int {
		switch {
		case n == 3:
			return http.StatusBadRequest
		case n%5 == 0 && try == 1:
			return http.StatusServiceUnavailable
		}
		return http.StatusCreated
	}
	res, err := loadtest.Run(context.Background(), quick(f.srv.URL, 40))
	require.NoError(t, err)
	s := res.Summary
	_, batches := f.counts()
	assert.Equal(t, []int{8, 40}, batches, "the 8 tasks answered 503 went again together")
	assert.EqualValues(t, 2, s.CreateRequests)
	assert.Equal(t, 1, s.CreateErrors)
	assert.Equal(t, 39, s.Created)
	assert.Equal(t, 39, s.Executed)
	assert.Zero(t, s.Lost)
}

// With SendAt (pacing), a batch carries only tasks whose send time has
// come: no task reaches the API before its send time.
func TestRunBatchesKeepPacing(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	o := quick(f.srv.URL, 40)
	at := func(i int) time.Duration { return time.Duration(i/10) * 150 * time.Millisecond } // 4 bursts of 10
	o.SendAt = at
	o.Due = func(i int) time.Duration { return at(i) + 500*time.Millisecond }
	res, err := loadtest.Run(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, 40, res.Summary.Executed)
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 0; i < 40; i++ {
		assert.False(t, f.arrived[i].Before(res.CreateStart.Add(at(i))), "task %d created before its send time", i)
	}
	assert.Less(t, len(f.batches), 40, "tasks ready together share a request")
	assert.GreaterOrEqual(t, len(f.batches), 4, "tasks not yet ready never join an earlier request")
}

// A task that has not arrived when the run stops waiting is pending if the
// API says it can still run, and lost only if its state says it never will
// (or it is gone). Lateness past 1 s (here: the pending task) gives
// fell_behind_at_s; the executed rate is over the execution span.
func TestRunTellsPendingFromLost(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.hold = func(n int) string {
		return map[int]string{0: "SCHEDULED", 1: "RUNNING", 2: "CANCELLED", 3: "FAILED", 4: "gone"}[n]
	}
	res, err := loadtest.Run(context.Background(), quick(f.srv.URL, 20))
	require.NoError(t, err)
	s := res.Summary
	assert.Equal(t, 20, s.Created)
	assert.Equal(t, 15, s.Executed)
	assert.Equal(t, 2, s.Pending, "SCHEDULED and RUNNING can still run")
	assert.Equal(t, 3, s.Lost, "CANCELLED, FAILED and a task that is gone never will")
	assert.Positive(t, s.ExecutedPerS)
	require.NotNil(t, s.FellBehindAtS, "the pending tasks are more than 1 s late")
	assert.InDelta(t, 1.5, *s.FellBehindAtS, 0.2, "task 0 was due 0.5 s into the run")
}

// On time throughout: no fell_behind_at_s in the JSON.
func TestRunOnTimeHasNoFellBehind(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	res, err := loadtest.Run(context.Background(), quick(f.srv.URL, 10))
	require.NoError(t, err)
	assert.Zero(t, res.Summary.Pending)
	assert.Nil(t, res.Summary.FellBehindAtS)
	out, err := json.Marshal(res.Summary)
	require.NoError(t, err)
	assert.NotContains(t, string(out), "fell_behind_at_s")
	assert.Contains(t, string(out), `"pending":0`)
}

// Failed creates are counted by what their last attempt got: a task
// answered 400 inside a batch, one answered 503 on every retry, and a
// whole batch of 10 refused 429 on every try (Retry-After 0 keeps the
// test quick).
func TestRunCountsCreateErrorsByCause(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.answer = func(n, _ int) int {
		switch {
		case n == 3:
			return http.StatusBadRequest
		case n == 7:
			return http.StatusServiceUnavailable
		}
		return http.StatusCreated
	}
	f.refuse = func(n int) bool { return n == 10 }
	o := quick(f.srv.URL, 20)
	o.Batch = 10
	res, err := loadtest.Run(context.Background(), o)
	require.NoError(t, err)
	s := res.Summary
	assert.Equal(t, 12, s.CreateErrors)
	assert.Equal(t, map[string]int{"400": 1, "503": 1, "429": 10}, s.CreateErrorsByCause)
	assert.Equal(t, 8, s.Executed)
	out, err := json.Marshal(s)
	require.NoError(t, err)
	assert.Contains(t, string(out), `"create_errors_by_cause":{"400":1,"429":10,"503":1}`)
	require.Len(t, res.CreateErrorExamples, 3)
	assert.Contains(t, res.CreateErrorExamples["429"], "create rate", "the problem's detail")

	assert.Equal(t, "429", loadtest.CreateErrorCause(fmt.Errorf("create: %w", &client.Error{Status: http.StatusTooManyRequests})))
	assert.Equal(t, "timeout", loadtest.CreateErrorCause(fmt.Errorf("post: %w", context.DeadlineExceeded)))
	assert.Equal(t, "network", loadtest.CreateErrorCause(errors.New("connection refused")))
	assert.Equal(t, "12 × 429 (refused by a quota after every retry: the tenant's create rate, HOURGLASS_TENANT_CREATE_RATE, or the API's create writers, HOURGLASS_CREATE_WRITERS), 1 × 500 (server error after every retry: a bug)",
		loadtest.DescribeCauses(map[string]int{"500": 1, "429": 12}))
}

// With RefusedRetries, a batch refused 429 beyond the client's own retries
// is sent again after its Retry-After and created: a quota saying "later"
// is not a failed create.
func TestRunRetriesRefusedBatches(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	var refusals atomic.Int32
	f.refuse = func(n int) bool { return n == 0 && refusals.Add(1) <= 6 } // the client's 4 attempts, then 2 more
	o := quick(f.srv.URL, 20)
	o.Batch = 10
	o.Grace = 5 * time.Second
	o.RefusedRetries = 3
	res, err := loadtest.Run(context.Background(), o)
	require.NoError(t, err)
	s := res.Summary
	assert.Zero(t, s.CreateErrors)
	assert.Nil(t, s.CreateErrorsByCause)
	assert.Equal(t, 20, s.Created)
	assert.EqualValues(t, 7, refusals.Load(), "refused six times, created on the seventh")
	assert.EqualValues(t, 6, res.Refused)
}

// A task refused 429 on its own item in a batch (the API instance's
// create writers were busy; nothing of it written) is sent again after a
// second with RefusedRetries, in one request for all such tasks; without
// them it is a create error of cause 429.
func TestRunRetriesRefusedBatchItems(t *testing.T) {
	t.Parallel()
	for _, retries := range []int{2, 0} {
		f := newFakeAPI(t)
		f.answer = func(n, try int) int {
			if n >= 6 && try == 1 {
				return http.StatusTooManyRequests
			}
			return http.StatusCreated
		}
		o := quick(f.srv.URL, 10)
		o.Batch = 10
		o.Grace = 5 * time.Second
		o.RefusedRetries = retries
		res, err := loadtest.Run(context.Background(), o)
		require.NoError(t, err)
		s := res.Summary
		_, batches := f.counts()
		if retries > 0 {
			assert.ElementsMatch(t, []int{10, 4}, batches, "the 4 refused tasks went again together")
			assert.Zero(t, s.CreateErrors)
			assert.Equal(t, 10, s.Created)
			assert.EqualValues(t, 1, res.Refused)
		} else {
			assert.Equal(t, []int{10}, batches)
			assert.Equal(t, 4, s.CreateErrors)
			assert.Equal(t, map[string]int{"429": 4}, s.CreateErrorsByCause)
			assert.Equal(t, 6, s.Created)
		}
	}
}
