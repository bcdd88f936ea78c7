package api_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
)

// runUntil drives the pipeline (scanner tick, dispatch, work) until every
// task is in state st.
func runUntil(t *testing.T, s *stacktest.Stack, st task.State, ids ...string) {
	t.Helper()
	s.Until(30*time.Second, "tasks to be "+string(st), func() bool {
		for _, id := range ids {
			if s.Get(id).State != st {
				return false
			}
		}
		return true
	}, func() {
		s.Tick()
		s.Dispatch(nil)
		s.Work(nil)
	})
}

// failedIDs lists tenant's dead letters through the API.
func failedIDs(t *testing.T, s *stacktest.Stack, tenant string) []string {
	t.Helper()
	r := call(t, s, http.MethodGet, "/v1/tasks?state=FAILED", tenant, nil)
	require.Equal(t, http.StatusOK, r.code, "body: %s", r.raw)
	var ids []string
	for _, v := range r.body["tasks"].([]any) {
		tv := v.(map[string]any)
		assert.Equal(t, "FAILED", tv["state"])
		ids = append(ids, tv["id"].(string))
	}
	return ids
}

// TestDeadLetters: with the list index off (the default), a tenant's
// FAILED tasks are listed by GET /v1/tasks?state=FAILED — its own only, and
// only failed ones — and POST /v1/tasks/{id}:retry runs one again with a
// fresh budget of attempts, until it succeeds; the rules of the retry
// (FAILED only, the tenant's own, a valid body) answer problems naming the
// field.
func TestDeadLetters(t *testing.T) {
	t.Parallel()
	s := setup(t) // list index off
	// A 400 is permanent: the task fails at its first attempt.
	var failing atomic.Bool
	failing.Store(true)
	s.Sink.SetStatus(func(stacktest.Call) int {
		if failing.Load() {
			return http.StatusBadRequest
		}
		return http.StatusNoContent
	})
	s.Tick()
	due := time.Now().Add(time.Second)
	dead := s.Create("acme", due, nil)
	dead2 := s.Create("acme", due.Add(time.Second), nil)
	theirs := s.Create("globex", due, nil)
	later := s.Create("acme", time.Now().Add(time.Hour), nil)
	runUntil(t, s, task.Failed, dead, dead2, theirs)

	// Listed newest due first; the GSI is eventually consistent, so poll.
	var got []string
	s.Until(10*time.Second, "the dead letters listed", func() bool {
		got = failedIDs(t, s, "acme")
		return len(got) == 2
	}, nil)
	assert.Equal(t, []string{dead2, dead}, got, "FAILED tasks only (not %s), newest due first", later)
	assert.Equal(t, []string{theirs}, failedIDs(t, s, "globex"))
	r := call(t, s, http.MethodGet, "/v1/tasks?state=FAILED&limit=1", "acme", nil)
	require.Equal(t, http.StatusOK, r.code)
	require.Len(t, r.body["tasks"], 1)
	require.NotEmpty(t, r.body["next_page_token"], "a second page")
	// Other listings still need the list index.
	code, _ := s.Do(http.MethodGet, "/v1/tasks?state=FAILED,SCHEDULED", "acme", nil)
	assert.Equal(t, http.StatusNotImplemented, code)
	requireProblem(t, call(t, s, http.MethodGet, "/v1/tasks?state=FAILED&limit=0", "acme", nil), http.StatusBadRequest)

	// The rules of a retry.
	requireProblem(t, call(t, s, http.MethodPost, "/v1/tasks/"+later+":retry", "acme", nil), http.StatusConflict)
	requireProblem(t, call(t, s, http.MethodPost, "/v1/tasks/"+theirs+":retry", "acme", nil), http.StatusNotFound)
	requireProblem(t, call(t, s, http.MethodPost, "/v1/tasks/nonsense:retry", "acme", nil), http.StatusNotFound)
	requireProblem(t, call(t, s, http.MethodPost, "/v1/tasks/"+dead+":rerun", "acme", nil), http.StatusNotFound)
	requireProblem(t, call(t, s, http.MethodPost, "/v1/tasks/"+dead+":retry", "", nil), http.StatusUnauthorized)
	for body, field := range map[string]string{
		`{"attempts": 0}`:     "attempts",
		`{"attempts": 26}`:    "attempts",
		`{"attempts": "two"}`: "attempts",
		`{"tries": 2}`:        "tries",
		`[1]`:                 "body",
		`{`:                   "body",
	} {
		r := call(t, s, http.MethodPost, "/v1/tasks/"+dead+":retry", "acme", []byte(body))
		requireProblem(t, r, http.StatusBadRequest)
		assert.Equal(t, []string{field}, fields(r), "body %s", body)
	}
	assert.Equal(t, task.Failed, s.Get(dead).State, "refused retries changed nothing")

	// A retry: RETRYING now, with a fresh budget of 2, out of the dead
	// letters, and run to success.
	failing.Store(false)
	r = call(t, s, http.MethodPost, "/v1/tasks/"+dead+":retry", "acme", []byte(`{"attempts": 2}`))
	require.Equal(t, http.StatusOK, r.code, "body: %s", r.raw)
	assert.Equal(t, "RETRYING", r.body["state"])
	assert.EqualValues(t, 3, r.body["retry"].(map[string]any)["max_attempts"], "1 attempt made + a fresh 2")
	requireProblem(t, call(t, s, http.MethodPost, "/v1/tasks/"+dead+":retry", "acme", nil), http.StatusConflict)
	s.Until(10*time.Second, "the retried task out of the dead letters", func() bool {
		return len(failedIDs(t, s, "acme")) == 1
	}, nil)
	runUntil(t, s, task.Succeeded, dead)
	assert.Len(t, s.Get(dead).Attempts, 2, "the history is kept")

	// Without a body the budget is DefaultRetryAttempts.
	r = call(t, s, http.MethodPost, "/v1/tasks/"+dead2+":retry", "acme", nil)
	require.Equal(t, http.StatusOK, r.code, "body: %s", r.raw)
	assert.EqualValues(t, 1+3, r.body["retry"].(map[string]any)["max_attempts"])
	runUntil(t, s, task.Succeeded, dead2)
	s.Until(10*time.Second, "no dead letters left", func() bool { return len(failedIDs(t, s, "acme")) == 0 }, nil)
}
