package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
)

func bodyDue(s *stacktest.Stack, due time.Time, extra map[string]any) map[string]any {
	b := validBody(s)
	b["due_at"] = due.UTC().Format(time.RFC3339Nano)
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func results(t *testing.T, r response) []map[string]any {
	t.Helper()
	raw, ok := r.body["results"].([]any)
	require.True(t, ok, "body: %s", r.raw)
	out := make([]map[string]any, len(raw))
	for i, x := range raw {
		out[i], _ = x.(map[string]any)
	}
	return out
}

func TestBatch(t *testing.T) {
	t.Parallel()
	s := setup(t)
	base := time.Now().Add(time.Hour)

	t.Run("mixed, in order", func(t *testing.T) {
		t.Parallel()
		batch := map[string]any{"tasks": []any{
			bodyDue(s, base, map[string]any{"labels": map[string]string{"n": "0"}}),
			map[string]any{"due_at": "soon", "target": s.Webhook()},
			bodyDue(s, base.Add(time.Second), map[string]any{"labels": map[string]string{"n": "2"}}),
			"not an object",
			bodyDue(s, base, map[string]any{"target": map[string]any{"kind": "webhook", "url": "https://169.254.169.254/"}}),
		}}
		r := call(t, s, http.MethodPost, "/v1/tasks:batch", "batcher", mustJSON(t, batch))
		require.Equal(t, http.StatusOK, r.code, "body: %s", r.raw)
		res := results(t, r)
		require.Len(t, res, 5)
		assert.EqualValues(t, []any{201.0, 400.0, 201.0, 400.0, 400.0}, []any{res[0]["status"], res[1]["status"], res[2]["status"], res[3]["status"], res[4]["status"]})
		for i, want := range map[int]string{1: "tasks[1].due_at", 3: "tasks[3]", 4: "tasks[4].target.url"} {
			p, _ := res[i]["problem"].(map[string]any)
			assert.Contains(t, fmt.Sprint(p["errors"]), want, "result %d", i)
		}
		for _, i := range []int{0, 2} {
			tk, _ := res[i]["task"].(map[string]any)
			assert.Equal(t, map[string]any{"n": fmt.Sprint(i)}, tk["labels"], "result %d is task %d", i, i)
			assert.Equal(t, "batcher", s.Get(fmt.Sprint(tk["id"])).Tenant)
		}
	})

	t.Run("envelope refused whole", func(t *testing.T) {
		t.Parallel()
		one := bodyDue(s, base, nil)
		many := make([]any, api.MaxBatch+1)
		for i := range many {
			many[i] = one
		}
		for name, body := range map[string][]byte{
			"101 tasks":      mustJSON(t, map[string]any{"tasks": many}),
			"no tasks":       mustJSON(t, map[string]any{"tasks": []any{}}),
			"tasks missing":  []byte(`{}`),
			"tasks a string": []byte(`{"tasks":"x"}`),
			"unknown field":  mustJSON(t, map[string]any{"tasks": []any{one}, "atomic": true}),
			"not JSON":       []byte(`{"tasks":[`),
			"array":          []byte(`[]`),
		} {
			r := call(t, s, http.MethodPost, "/v1/tasks:batch", "refused", body)
			requireProblem(t, r, http.StatusBadRequest)
			assert.NotEmpty(t, fields(r), name)
		}
		r := call(t, s, http.MethodPost, "/v1/tasks:batch", "refused", mustJSON(t, map[string]any{"tasks": many[:api.MaxBatch]}))
		require.Equal(t, http.StatusOK, r.code, "100 is allowed: %s", r.raw)
		assert.Len(t, results(t, r), api.MaxBatch)
	})

	t.Run("Idempotency-Key", func(t *testing.T) {
		t.Parallel()
		batch := mustJSON(t, map[string]any{"tasks": []any{bodyDue(s, base, nil), bodyDue(s, base.Add(time.Minute), nil)}})
		first := call(t, s, http.MethodPost, "/v1/tasks:batch", "idem", batch, "Idempotency-Key", "b-1")
		require.Equal(t, http.StatusOK, first.code)
		again := call(t, s, http.MethodPost, "/v1/tasks:batch", "idem", batch, "Idempotency-Key", "b-1")
		require.Equal(t, http.StatusOK, again.code)
		f, a := results(t, first), results(t, again)
		for i := range f {
			assert.EqualValues(t, 201, f[i]["status"])
			assert.EqualValues(t, 200, a[i]["status"], "replayed")
			assert.Equal(t, f[i]["task"].(map[string]any)["id"], a[i]["task"].(map[string]any)["id"])
		}
		changed := mustJSON(t, map[string]any{"tasks": []any{bodyDue(s, base, nil), bodyDue(s, base.Add(2*time.Minute), nil)}})
		c := results(t, call(t, s, http.MethodPost, "/v1/tasks:batch", "idem", changed, "Idempotency-Key", "b-1"))
		assert.EqualValues(t, 200, c[0]["status"], "same item, same key: the same task")
		assert.EqualValues(t, 422, c[1]["status"], "same key, different item")
		other := results(t, call(t, s, http.MethodPost, "/v1/tasks:batch", "idem-other", batch, "Idempotency-Key", "b-1"))
		assert.EqualValues(t, 201, other[0]["status"], "keys are per tenant")
	})

	t.Run("single and batch keys apart", func(t *testing.T) {
		t.Parallel()
		item := bodyDue(s, base, map[string]any{"labels": map[string]string{"from": "batch"}})
		b := results(t, call(t, s, http.MethodPost, "/v1/tasks:batch", "apart", mustJSON(t, map[string]any{"tasks": []any{item}}), "Idempotency-Key", "K"))
		require.EqualValues(t, 201, b[0]["status"])
		batchID := b[0]["task"].(map[string]any)["id"]
		// The same body as the batch's item, under the spelling the batch
		// once used for it: a new task, not the batch's.
		single := call(t, s, http.MethodPost, "/v1/tasks", "apart", mustJSON(t, item), "Idempotency-Key", "K#0")
		require.Equal(t, http.StatusCreated, single.code, "body: %s", single.raw)
		assert.NotEqual(t, batchID, single.body["id"])
	})
}

// listAll pages through GET /v1/tasks with query q, returning the IDs in
// order and the number of pages.
func listAll(t *testing.T, s *stacktest.Stack, tenant, q string) ([]string, int) {
	t.Helper()
	var ids []string
	tok := ""
	for pages := 1; pages < 1000; pages++ {
		u := "/v1/tasks?" + q
		if tok != "" {
			u += "&page_token=" + url.QueryEscape(tok)
		}
		r := call(t, s, http.MethodGet, u, tenant, nil)
		require.Equal(t, http.StatusOK, r.code, "body: %s", r.raw)
		for _, x := range r.body["tasks"].([]any) {
			ids = append(ids, fmt.Sprint(x.(map[string]any)["id"]))
		}
		next, _ := r.body["next_page_token"].(string)
		if next == "" {
			return ids, pages
		}
		tok = next
	}
	t.Fatal("listing never ended")
	return nil, 0
}

func TestList(t *testing.T) {
	t.Parallel()
	s := setupListing(t)
	base := time.Now().Add(time.Hour).Truncate(time.Second)
	var all []string // oldest due first
	for i := range 12 {
		labels := map[string]string{"parity": []string{"even", "odd"}[i%2]}
		all = append(all, s.Create("lister", base.Add(time.Duration(i)*time.Minute), map[string]any{"labels": labels}))
	}
	s.Create("stranger", base, nil)
	newestFirst := slices.Clone(all)
	slices.Reverse(newestFirst)
	cancelled := all[3]
	require.Equal(t, http.StatusOK, call(t, s, http.MethodDelete, "/v1/tasks/"+cancelled, "lister", nil).code)

	t.Run("all, newest due first, across pages", func(t *testing.T) {
		t.Parallel()
		ids, pages := listAll(t, s, "lister", "limit=5")
		assert.Equal(t, newestFirst, ids)
		assert.GreaterOrEqual(t, pages, 3)
	})
	t.Run("state", func(t *testing.T) {
		t.Parallel()
		ids, _ := listAll(t, s, "lister", "state=CANCELLED")
		assert.Equal(t, []string{cancelled}, ids)
		ids, _ = listAll(t, s, "lister", "state=SCHEDULED,RUNNING&limit=3")
		assert.Len(t, ids, 11)
		assert.NotContains(t, ids, cancelled)
	})
	t.Run("label", func(t *testing.T) {
		t.Parallel()
		ids, _ := listAll(t, s, "lister", "label=parity%3Dodd&limit=2")
		var want []string
		for i, id := range newestFirst {
			if (11-i)%2 == 1 {
				want = append(want, id)
			}
		}
		assert.Equal(t, want, ids)
		ids, _ = listAll(t, s, "lister", "label=parity%3Dodd&label=parity%3Deven")
		assert.Empty(t, ids, "every label filter must match")
	})
	t.Run("due range", func(t *testing.T) {
		t.Parallel()
		after := url.QueryEscape(base.Add(2 * time.Minute).Format(time.RFC3339Nano))
		before := url.QueryEscape(base.Add(6 * time.Minute).Format(time.RFC3339Nano))
		ids, _ := listAll(t, s, "lister", "due_after="+after+"&due_before="+before)
		assert.Equal(t, []string{all[5], all[4], all[3]}, ids, "both bounds exclusive")
	})
	t.Run("bad parameters", func(t *testing.T) {
		t.Parallel()
		r := call(t, s, http.MethodGet, "/v1/tasks?limit=2", "lister", nil)
		tok := r.body["next_page_token"].(string)
		pos, mac, _ := strings.Cut(tok, ".")
		for q, field := range map[string]string{
			"state=ASLEEP":                  "query:state",
			"limit=0":                       "query:limit",
			"limit=101":                     "query:limit",
			"limit=ten":                     "query:limit",
			"limit=1&limit=2":               "query:limit",
			"due_after=yesterday":           "query:due_after",
			"label=noequals":                "query:label",
			"sort=asc":                      "query:sort",
			"page_token=garbage":            "query:page_token",
			"page_token=" + pos + ".AAAA":   "query:page_token",
			"page_token=" + mac + "." + mac: "query:page_token",
			"state=CANCELLED&page_token=" + url.QueryEscape(tok): "query:page_token", // other filters
		} {
			r := call(t, s, http.MethodGet, "/v1/tasks?"+q, "lister", nil)
			requireProblem(t, r, http.StatusBadRequest)
			assert.Contains(t, fields(r), field, q)
		}
		// Another tenant cannot use the token.
		r = call(t, s, http.MethodGet, "/v1/tasks?limit=2&page_token="+url.QueryEscape(tok), "stranger", nil)
		requireProblem(t, r, http.StatusBadRequest)
		// The owner can.
		r = call(t, s, http.MethodGet, "/v1/tasks?limit=2&page_token="+url.QueryEscape(tok), "lister", nil)
		require.Equal(t, http.StatusOK, r.code)
	})
}

// TestListWhileAdding pages through a tenant's tasks while more are being
// created: every task that existed before the listing began is returned
// exactly once, and no task twice.
func TestListWhileAdding(t *testing.T) {
	t.Parallel()
	s := setupListing(t)
	base := time.Now().Add(time.Hour)
	existing := map[string]bool{}
	for i := range 25 {
		existing[s.Create("pager", base.Add(time.Duration(i)*time.Second), nil)] = true
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var added []string
	var addErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Due both ahead of and behind the pages already read.
			code, out := s.Do(http.MethodPost, "/v1/tasks", "pager", bodyDue(s, base.Add(time.Duration(i%50)*time.Second+500*time.Millisecond), nil))
			if code != http.StatusCreated {
				addErr = fmt.Errorf("create while listing: %d %v", code, out)
				return
			}
			added = append(added, fmt.Sprint(out["id"]))
		}
	}()
	ids, pages := listAll(t, s, "pager", "limit=4")
	close(stop)
	wg.Wait()
	require.NoError(t, addErr)
	require.NotEmpty(t, added, "tasks were added while listing")
	require.Greater(t, pages, 5)
	seen := map[string]int{}
	for _, id := range ids {
		seen[id]++
	}
	for id := range existing {
		assert.Equal(t, 1, seen[id], "task %s that existed before listing", id)
	}
	for id, n := range seen {
		assert.Equal(t, 1, n, "task %s listed %d times", id, n)
	}
	t.Logf("%d pages, %d listed, %d added while listing", pages, len(ids), len(added))
}

func TestPatch(t *testing.T) {
	t.Parallel()
	s := setup(t)
	due := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)

	t.Run("payload, target, labels in place", func(t *testing.T) {
		t.Parallel()
		id := s.Create("patcher", due, map[string]any{"labels": map[string]string{"a": "1"}})
		before := s.Get(id)
		tg := s.Webhook()
		tg["url"] = s.Sink.URL + "/other"
		r := call(t, s, http.MethodPatch, "/v1/tasks/"+id, "patcher", mustJSON(t, map[string]any{
			"payload": map[string]any{"v": 2}, "target": tg, "labels": nil, "retry": map[string]any{"max_attempts": 2},
		}))
		require.Equal(t, http.StatusOK, r.code, "body: %s", r.raw)
		assert.Equal(t, id, r.body["id"])
		assert.Empty(t, r.header.Get("Location"))
		after := s.Get(id)
		assert.JSONEq(t, `{"v":2}`, string(after.Payload))
		assert.Contains(t, string(after.Target.Spec), "/other")
		assert.Nil(t, after.Labels)
		assert.Equal(t, 2, after.Retry.MaxAttempts)
		assert.NotEqual(t, before.PayloadHash, after.PayloadHash, "a stale message would be refused")
		assert.Equal(t, before.Version+1, after.Version)
		assert.True(t, due.Equal(after.DueAt))

		same := call(t, s, http.MethodPatch, "/v1/tasks/"+id, "patcher", mustJSON(t, map[string]any{"payload": map[string]any{"v": 2}}))
		require.Equal(t, http.StatusOK, same.code)
		assert.Equal(t, after.Version, s.Get(id).Version, "a no-op patch writes nothing")
	})

	t.Run("due_at reschedules to a new ID", func(t *testing.T) {
		t.Parallel()
		id := s.Create("patcher", due, map[string]any{"labels": map[string]string{"k": "v"}})
		newDue := due.Add(90 * time.Minute)
		r := call(t, s, http.MethodPatch, "/v1/tasks/"+id, "patcher", mustJSON(t, map[string]any{"due_at": newDue.Format(time.RFC3339Nano)}))
		require.Equal(t, http.StatusOK, r.code, "body: %s", r.raw)
		nid := fmt.Sprint(r.body["id"])
		assert.NotEqual(t, id, nid)
		assert.Equal(t, id, r.body["replaces"])
		assert.Equal(t, "/v1/tasks/"+nid, r.header.Get("Location"))
		assert.Equal(t, id, r.body["idempotency_key"], "the target sees the same key")

		old := s.Get(id)
		assert.Equal(t, task.Cancelled, old.State)
		assert.Equal(t, nid, old.ReplacedBy)
		g := call(t, s, http.MethodGet, "/v1/tasks/"+id, "patcher", nil)
		assert.Equal(t, nid, g.body["replaced_by"])
		nt := s.Get(nid)
		assert.Equal(t, task.Scheduled, nt.State)
		assert.True(t, newDue.Equal(nt.DueAt))
		assert.Equal(t, map[string]string{"k": "v"}, nt.Labels)
		assert.Equal(t, "patcher", nt.Tenant)

		again := call(t, s, http.MethodPatch, "/v1/tasks/"+id, "patcher", mustJSON(t, map[string]any{"due_at": newDue.Format(time.RFC3339Nano)}))
		requireProblem(t, again, http.StatusConflict)
	})

	t.Run("only while SCHEDULED and not dispatched", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		body := mustJSON(t, map[string]any{"payload": 1})

		running := s.Create("patcher", due, nil)
		rt := s.Get(running)
		_, err := s.Comps.Store.Claim(ctx, rt.ID, rt.PayloadHash, "w1", time.Now(), time.Now().Add(time.Minute))
		require.NoError(t, err)
		cancelled := s.Create("patcher", due, nil)
		require.Equal(t, http.StatusOK, call(t, s, http.MethodDelete, "/v1/tasks/"+cancelled, "patcher", nil).code)
		for _, id := range []string{running, cancelled} {
			before := s.Get(id)
			r := call(t, s, http.MethodPatch, "/v1/tasks/"+id, "patcher", body)
			requireProblem(t, r, http.StatusConflict)
			assert.Equal(t, before, s.Get(id))
		}
	})

	t.Run("bad patches change nothing", func(t *testing.T) {
		t.Parallel()
		id := s.Create("patcher", due, nil)
		before := s.Get(id)
		for name, tc := range map[string]struct {
			body  string
			field string
		}{
			"empty object":        {`{}`, "body"},
			"not JSON":            {`{"payload":`, "body"},
			"array":               {`[1]`, "body"},
			"unknown field":       {`{"priority":1}`, "priority"},
			"idempotency_key":     {`{"idempotency_key":"x"}`, "idempotency_key"},
			"bad due_at":          {`{"due_at":"noon"}`, "due_at"},
			"due beyond horizon":  {`{"due_at":"2999-01-01T00:00:00Z"}`, "due_at"},
			"forbidden url":       {`{"target":{"kind":"webhook","url":"https://[::ffff:169.254.169.254]/"}}`, "target.url"},
			"unknown target kind": {`{"target":{"kind":"pigeon"}}`, "target.kind"},
			"retry out of range":  {`{"retry":{"max_attempts":99}}`, "retry.max_attempts"},
		} {
			r := call(t, s, http.MethodPatch, "/v1/tasks/"+id, "patcher", []byte(tc.body))
			requireProblem(t, r, http.StatusBadRequest)
			assert.Contains(t, fields(r), tc.field, name)
		}
		assert.Equal(t, before, s.Get(id))
	})
}

// TestPatchDispatched: once the scanner announced the task's bucket, its
// message may be on the queue, so the task can no longer change.
func TestPatchDispatched(t *testing.T) {
	t.Parallel()
	s := setup(t)
	id := s.Create("patcher", time.Now().Add(time.Hour), nil)
	tk := s.Get(id)
	// Announce the task's bucket the way the scanner does.
	require.NoError(t, s.Comps.Store.SetCursorField(context.Background(), "dispatching", s.Cfg.Layout().BucketOf(tk.DueAt)))
	for _, body := range []string{`{"payload":2}`, `{"due_at":"` + time.Now().Add(2*time.Hour).UTC().Format(time.RFC3339) + `"}`} {
		r := call(t, s, http.MethodPatch, "/v1/tasks/"+id, "patcher", []byte(body))
		requireProblem(t, r, http.StatusConflict)
	}
	assert.Equal(t, tk, s.Get(id))
	assert.Equal(t, 1, countTasks(t, s), "no replacement was written")
}

// TestIsolationEveryRoute: another tenant's task is a 404 exactly like a
// missing one on every route, never listed, never changed.
func TestIsolationEveryRoute(t *testing.T) {
	t.Parallel()
	s := setupListing(t)
	id := s.Create("owner", time.Now().Add(time.Hour), map[string]any{"labels": map[string]string{"x": "y"}})
	before := s.Get(id)
	missing, err := task.NewID(time.Now().Add(time.Hour), s.Cfg.Shards)
	require.NoError(t, err)
	for _, method := range []string{http.MethodGet, http.MethodDelete, http.MethodPatch} {
		body := []byte(`{"payload":"taken over"}`)
		theirs := call(t, s, method, "/v1/tasks/"+id, "intruder", body)
		none := call(t, s, method, "/v1/tasks/"+missing.String(), "intruder", body)
		requireProblem(t, theirs, http.StatusNotFound)
		requireProblem(t, none, http.StatusNotFound)
		assert.Equal(t, strings.ReplaceAll(string(none.raw), missing.String(), id), string(theirs.raw), method)
	}
	ids, _ := listAll(t, s, "intruder", "")
	assert.Empty(t, ids)
	ids, _ = listAll(t, s, "intruder", "label=x%3Dy")
	assert.Empty(t, ids)
	ids, _ = listAll(t, s, "owner", "")
	assert.Equal(t, []string{id}, ids, "the control: the owner sees it")
	assert.Equal(t, before, s.Get(id))
}

// TestRateLimit: a create over the tenant's rate is a 429 problem with
// Retry-After, a batch too. The per-instance token bucket (Quota nil)
// gives the test a burst of 3 and no refill; the shared per-second quota
// behind it in production is tested on the emulator in package app
// (TestCreateRateAcrossInstances), where its clock can be held still.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.API = s.Comps.API(api.DevAuth{}, nil, func(c *app.TasksConfig) { c.CreateRate, c.CreateBurst, c.Quota = 0.01, 3, nil })
	for i := range 3 {
		r := call(t, s, http.MethodPost, "/v1/tasks", "hasty", mustJSON(t, validBody(s)))
		require.Equal(t, http.StatusCreated, r.code, "create %d: %s", i, r.raw)
	}
	r := call(t, s, http.MethodPost, "/v1/tasks", "hasty", mustJSON(t, validBody(s)))
	requireProblem(t, r, http.StatusTooManyRequests)
	assert.NotEmpty(t, r.header.Get("Retry-After"))
	b := call(t, s, http.MethodPost, "/v1/tasks:batch", "hasty", mustJSON(t, map[string]any{"tasks": []any{validBody(s)}}))
	requireProblem(t, b, http.StatusTooManyRequests)
	other := call(t, s, http.MethodPost, "/v1/tasks", "patient", mustJSON(t, validBody(s)))
	require.Equal(t, http.StatusCreated, other.code, "the limit is per tenant")
	assert.Equal(t, 4, countTasks(t, s))
}

// countingMetrics records metric values by name.
type countingMetrics struct {
	mu sync.Mutex
	v  map[string]float64
}

func (m *countingMetrics) Record(name string, value float64, _ string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.v[name] += value
}

func (m *countingMetrics) get(name string) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.v[name]
}

// TasksCreated counts the tasks a create stored — a batch's by its new
// tasks, a repeat under an idempotency key not at all: the console's
// overview reads it from CloudWatch in AWS.
func TestCreatesAreCounted(t *testing.T) {
	t.Parallel()
	s := setup(t)
	m := &countingMetrics{v: map[string]float64{}}
	s.API = s.Comps.API(api.DevAuth{}, nil, func(c *app.TasksConfig) { c.Metrics = m })
	body := mustJSON(t, validBody(s))
	r := call(t, s, http.MethodPost, "/v1/tasks", "acme", body, "Idempotency-Key", "count-1")
	require.Equal(t, http.StatusCreated, r.code, r.raw)
	r = call(t, s, http.MethodPost, "/v1/tasks", "acme", body, "Idempotency-Key", "count-1")
	require.Equal(t, http.StatusOK, r.code, "the repeat finds the task: %s", r.raw)
	assert.InDelta(t, 1, m.get("TasksCreated"), 1e-9)
	b := call(t, s, http.MethodPost, "/v1/tasks:batch", "acme", mustJSON(t, map[string]any{"tasks": []any{validBody(s), validBody(s), map[string]any{"due_at": "never"}}}))
	require.Equal(t, http.StatusOK, b.code, b.raw)
	assert.InDelta(t, 3, m.get("TasksCreated"), 1e-9, "two of the batch's three were stored")
}
