package chain_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/chain"
	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/sqsq"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/apitest"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

// env is a test stack with the schedule API and two dispatchers, so that
// every scan unit can be dispatched twice, concurrently (a duplicate
// delivery of the unit).
type env struct {
	t      *testing.T
	s      *stacktest.Stack
	h      http.Handler
	d1, d2 *dispatch.Dispatcher
	w      *worker.Worker
	// reported holds the tasks already reported as run twice.
	reported map[string]bool
	// occ caches each executed task's occurrence (it never changes), so
	// that polling runs() costs one read per new call, not one per call
	// ever made: under a loaded emulator those reads were most of a
	// polling loop's time.
	occ map[string]*task.Occurrence
}

func setup(t *testing.T) *env {
	t.Helper()
	t.Parallel()
	if testing.Short() {
		t.Skip("integration test")
	}
	s := stacktest.New(t, stacktest.Options{})
	return &env{t: t, s: s, h: s.Comps.Schedules(api.DevAuth{}), d1: s.Comps.Dispatcher(), d2: s.Comps.Dispatcher(), w: s.Comps.Worker(), reported: map[string]bool{}, occ: map[string]*task.Occurrence{}}
}

func (e *env) do(method, path, tenant string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if tenant != "" {
		req.Header.Set("Authorization", "Bearer dev-"+tenant)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	apitest.CheckResponse(e.t, req, rec) // every response the suite sees is checked against the OpenAPI document
	out := map[string]any{}
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	out["_content_type"] = rec.Header().Get("Content-Type")
	return rec.Code, out
}

// create creates a schedule for tenant and returns its view.
func (e *env) create(tenant string, body map[string]any) map[string]any {
	e.t.Helper()
	if _, ok := body["target"]; !ok {
		body["target"] = e.s.Webhook()
	}
	code, v := e.do(http.MethodPost, "/v1/schedules", tenant, body)
	require.Equal(e.t, http.StatusCreated, code, "%v", v)
	return v
}

// step runs the scanner once, dispatches every unit twice concurrently,
// and works the task queue once.
func (e *env) step() {
	e.t.Helper()
	e.s.Tick()
	ctx := context.Background()
	for _, u := range e.s.Units() {
		var wg sync.WaitGroup
		for _, d := range []*dispatch.Dispatcher{e.d1, e.d2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := d.Dispatch(ctx, u); err != nil {
					e.t.Errorf("dispatch %+v: %v", u, err)
				}
			}()
		}
		wg.Wait()
	}
	for i := 0; i < 20 && e.work() > 0; i++ { // drain what is visible
	}
}

// work handles the task messages visible now: concurrently across tasks,
// in turn for duplicates of one task. (Concurrent claims of one task race
// in moto, whose conditional writes are not atomic under concurrent
// requests — DynamoDB's are; duplicates handled in turn are absorbed by the
// claim, as in AWS.)
func (e *env) work() int {
	e.t.Helper()
	ctx := context.Background()
	msgs, err := e.s.Comps.Queue.Receive(ctx, e.s.Res.TaskQueueURL, 10, 0, 0)
	require.NoError(e.t, err)
	recv := time.Now()
	byTask := map[string][]sqsq.Received{}
	for _, m := range msgs {
		// By task, not by body: the bodies of one task's messages differ
		// by origin (a chain's send and a dispatcher's).
		key := m.Body
		if tm, _, err := task.DecodeTaskMessage(m.Body); err == nil {
			key = tm.ID
		}
		byTask[key] = append(byTask[key], m)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var done []string
	for _, same := range byTask {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, m := range same {
				err := e.w.Handle(ctx, worker.Delivery{MessageID: m.MessageID, Body: m.Body, ServerTime: worker.ServerTime(m.Attributes), ReceivedAt: recv})
				if err == nil {
					mu.Lock()
					done = append(done, m.ReceiptHandle)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(done) > 0 {
		require.NoError(e.t, e.s.Comps.Queue.DeleteBatch(ctx, e.s.Res.TaskQueueURL, done))
	}
	return len(msgs)
}

// explainOnFailure logs, if the test fails (a timeout included), what
// became of each of schedule id's occurrences: a fresh-clone run under load
// once missed a fire time, and this shows where it stood.
func (e *env) explainOnFailure(id string) {
	e.t.Cleanup(func() {
		if !e.t.Failed() {
			return
		}
		var runs []string
		for _, at := range e.runs(id) {
			runs = append(runs, at.Format("15:04:05"))
		}
		e.t.Logf("schedule %s ran at %v (now %s)", id, runs, time.Now().Format("15:04:05.000"))
		_, occ := e.do(http.MethodGet, "/v1/schedules/"+id+"/occurrences?limit=100", "acme", nil)
		list, _ := occ["occurrences"].([]any)
		for _, o := range list {
			m, _ := o.(map[string]any)
			tid, _ := m["task_id"].(string)
			if tid == "" {
				e.t.Logf("occurrence %v: state %v, no task", m["at"], m["state"])
				continue
			}
			tk := e.s.Get(tid)
			e.t.Logf("occurrence %v: state %v, task %s %s attempts %d last error %q", m["at"], m["state"], tid, tk.State, tk.AttemptN, tk.LastError)
		}
	})
}

// runFor steps for d (a deadline, not a sleep: the stack keeps working).
func (e *env) runFor(d time.Duration) {
	e.t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		e.step()
		time.Sleep(50 * time.Millisecond)
	}
}

// runs returns the occurrence times the sink saw executed for schedule
// id, sorted, failing the test if any task ran twice.
func (e *env) runs(id string) []time.Time {
	e.t.Helper()
	seen := map[string]bool{}
	var ats []time.Time
	for _, c := range e.s.Sink.Calls("") {
		o, ok := e.occ[c.TaskID]
		if !ok {
			o = e.s.Get(c.TaskID).Occurrence
			e.occ[c.TaskID] = o
		}
		if o == nil || o.Schedule != id {
			continue
		}
		if seen[c.TaskID] {
			if !e.reported[c.TaskID] {
				e.reported[c.TaskID] = true
				tk := e.s.Get(c.TaskID)
				e.t.Errorf("task %s (occurrence %s) executed twice: attempt header %s, %d attempts %+v", c.TaskID, o.At, c.Attempt, tk.AttemptN, tk.Attempts)
			}
			continue
		}
		seen[c.TaskID] = true
		ats = append(ats, o.At)
	}
	sort.Slice(ats, func(i, j int) bool { return ats[i].Before(ats[j]) })
	return ats
}

func parseTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	tm, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err, "time %v", v)
	return tm
}

// A rate(2 seconds) schedule runs once at every fire time from its
// creation — no gap, no duplicate — while every scan unit is dispatched
// twice at once, so each occurrence is chained twice concurrently.
func TestRateScheduleRunsEveryFireTimeOnce(t *testing.T) {
	e := setup(t)
	v := e.create("acme", map[string]any{"expression": "rate(2 seconds)", "payload": map[string]any{"n": 1}})
	id := v["id"].(string)
	anchor := parseTime(t, v["created_at"]).Add(time.Second - 1).Truncate(time.Second)
	e.explainOnFailure(id)

	e.s.Until(60*time.Second, "6 consecutive fire times to run", func() bool { return ranThrough(anchor, e.runs(id)) >= 6 }, e.step)
	ats := e.runs(id)
	// Keeping pace is a liveness check with a loaded machine's margin (a
	// fresh-clone CI run once saw the harness itself 11 s behind), not a
	// timing claim: precision is measured by the bench.
	assertEvery2s(t, anchor, ats, 6)
	assert.WithinDuration(t, time.Now(), ats[len(ats)-1], 20*time.Second, "keeping pace: the latest run is a recent fire time")

	// The occurrences endpoint lists each with its task ID, once per fire time.
	code, occ := e.do(http.MethodGet, "/v1/schedules/"+id+"/occurrences?limit=100", "acme", nil)
	require.Equal(t, http.StatusOK, code, "%v", occ)
	byAt := map[string]int{}
	succeeded := 0
	for _, o := range occ["occurrences"].([]any) {
		m := o.(map[string]any)
		byAt[m["at"].(string)]++
		require.NotEmpty(t, m["task_id"])
		if m["state"] == string(task.Succeeded) {
			succeeded++
		}
	}
	for at, n := range byAt {
		assert.Equal(t, 1, n, "occurrence %s recorded %d times", at, n)
	}
	assert.GreaterOrEqual(t, succeeded, len(ats))
	assert.NotEmpty(t, occ["upcoming"])
}

// ranThrough reports how many consecutive fire times of rate(2 seconds)
// from anchor are among ats. Waits use it rather than a count of runs: an
// occurrence can run after the next one (its message delivered later),
// and a count would then see a gap that is only a reordering.
func ranThrough(anchor time.Time, ats []time.Time) int {
	have := map[time.Time]bool{}
	for _, at := range ats {
		have[at.UTC()] = true
	}
	n := 0
	for have[anchor.Add(time.Duration(2*n)*time.Second)] {
		n++
	}
	return n
}

// assertEvery2s checks that ats are fire times of rate(2 seconds) from
// anchor — each on the 2 s grid, none before anchor (runs() already fails
// on a fire time run twice) — and that every one of the first n ran.
func assertEvery2s(t *testing.T, anchor time.Time, ats []time.Time, n int) bool {
	t.Helper()
	ok := assert.GreaterOrEqual(t, ranThrough(anchor, ats), n, "the first %d fire times from %s ran: %v", n, anchor.Format("15:04:05"), ats)
	for _, at := range ats {
		d := at.Sub(anchor)
		ok = assert.True(t, d >= 0 && d%(2*time.Second) == 0, "run at %s is not a fire time from %s", at.Format("15:04:05.000"), anchor.Format("15:04:05")) && ok
	}
	return ok
}

// A dispatcher that crashes after chaining an occurrence and before sending
// it leaves it SCHEDULED; the unit's redelivery chains it again (which
// stores nothing new) and sends it. The schedule goes on with no gap and
// no duplicate.
func TestCrashBetweenChainAndSend(t *testing.T) {
	e := setup(t)
	v := e.create("acme", map[string]any{"expression": "rate(2 seconds)"})
	id := v["id"].(string)
	anchor := parseTime(t, v["created_at"]).Add(time.Second - 1).Truncate(time.Second)
	e.explainOnFailure(id)
	crashed := false
	crashing := e.s.Comps.Dispatcher(func(c *dispatch.Config) {
		c.Crash = func(point string) error {
			if point == "before-send" && !crashed {
				crashed = true
				return errors.New("injected crash")
			}
			return nil
		}
	})
	ctx := context.Background()
	e.s.Until(20*time.Second, "a dispatcher to crash between chain and send", func() bool { return crashed }, func() {
		e.s.Tick()
		for _, u := range e.s.Units() {
			if _, err := crashing.Dispatch(ctx, u); err != nil {
				require.True(t, crashed, "unexpected dispatch error: %v", err)
				_, err := e.d1.Dispatch(ctx, u) // the unit's redelivery
				require.NoError(t, err)
			}
		}
		e.work()
	})
	e.s.Until(60*time.Second, "5 consecutive fire times to run", func() bool { return ranThrough(anchor, e.runs(id)) >= 5 }, e.step)
	assertEvery2s(t, anchor, e.runs(id), 5)
}

// After an outage of the whole stack (no scanner, dispatcher or worker
// for 12 s), the fire times missed meanwhile follow the misfire policy:
// skip runs none of them late, run_once runs exactly one of them late, and
// run_all runs every one (the schedule's runs stay one per fire time).
func TestOutageMisfire(t *testing.T) {
	// The grace leaves room for a loaded harness's own lateness (with 1 s,
	// a run at load average 27 skipped every fire time as missed), and the
	// outage is long enough to miss three fire times beyond it.
	const misfireGrace, outageFor = 3 * time.Second, 12 * time.Second
	e := setup(t)
	gate := chain.New(chain.Config{Layout: e.s.Cfg.Layout(), Shards: e.s.Cfg.Shards, TaskQueue: e.s.Res.TaskQueueURL, MisfireGrace: misfireGrace},
		e.s.Comps.Store, e.s.Comps.Queue, clock.System{}, zerolog.Nop())
	e.w = e.s.Comps.Worker(func(c *worker.Config) { c.Gate = gate })
	ids, anchors := map[string]string{}, map[string]time.Time{}
	for _, p := range []string{"skip", "run_once", "run_all"} {
		v := e.create("acme", map[string]any{"expression": "rate(2 seconds)", "misfire_policy": p})
		ids[p], anchors[p] = v["id"].(string), parseTime(t, v["created_at"]).Add(time.Second-1).Truncate(time.Second)
	}
	e.s.Until(40*time.Second, "every schedule to run", func() bool {
		for _, id := range ids {
			if len(e.runs(id)) < 1 {
				return false
			}
		}
		return true
	}, e.step)

	outage := time.Now()
	for time.Since(outage) < outageFor { // the outage: nothing runs
		time.Sleep(100 * time.Millisecond)
	}
	recovered := time.Now()
	var progress []string // each schedule's runs at the last poll, for a timeout's message
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("recovered at %s; runs at the last poll: %v", recovered.Format("15:04:05.000"), progress)
		}
	})
	e.s.Until(60*time.Second, "every schedule to run on time again", func() bool {
		progress = progress[:0]
		done := true
		for p, id := range ids {
			ats := e.runs(id)
			var last []string
			for _, at := range ats[max(0, len(ats)-4):] {
				last = append(last, at.Format("15:04:05"))
			}
			progress = append(progress, fmt.Sprintf("%s: %d runs, last %v", p, len(ats), last))
			if len(ats) == 0 || ats[len(ats)-1].Before(recovered.Add(4*time.Second)) {
				done = false
			}
			if p == "run_all" && anchors[p].Add(time.Duration(2*ranThrough(anchors[p], ats))*time.Second).Before(recovered) {
				done = false // a missed fire time has not run yet
			}
		}
		return done
	}, e.step)

	// The fire times of the outage proper (margins for the harness's own
	// lateness after the recovery): what ran and what was cancelled.
	inOutage := func(at time.Time) bool {
		return at.After(outage.Add(time.Second)) && at.Before(recovered.Add(-misfireGrace-time.Second))
	}
	var seen []string // what each schedule stored, for failure messages
	tally := func(id string) (ran, cancelled int) {
		for _, at := range e.runs(id) {
			if inOutage(at) {
				ran++
			}
		}
		code, v := e.do(http.MethodGet, "/v1/schedules/"+id+"/occurrences?limit=100", "acme", nil)
		require.Equal(t, http.StatusOK, code)
		for _, o := range v["occurrences"].([]any) {
			m := o.(map[string]any)
			at := parseTime(t, m["at"])
			if at.Before(recovered) {
				seen = append(seen, fmt.Sprintf("%s %s %v", id, at.Format("15:04:05"), m["state"]))
			}
			// From 2 s before the outage: the occurrence stored when it
			// began may be due just before it (a loaded harness runs late).
			if m["state"] == string(task.Cancelled) && at.After(outage.Add(-2*time.Second)) && at.Before(recovered) {
				cancelled++
			}
		}
		return ran, cancelled
	}
	defer func() {
		if t.Failed() {
			t.Logf("outage %s, recovered %s; occurrences: %v", outage.Format("15:04:05.000"), recovered.Format("15:04:05.000"), seen)
		}
	}()
	ran, cancelled := tally(ids["skip"])
	assert.Zero(t, ran, "skip: no missed fire time runs")
	assert.Positive(t, cancelled, "skip: the missed occurrence stored before the outage is cancelled")
	// run_once: the chain stores one occurrence ahead, so what the outage
	// leaves is one stored occurrence (run late, once) and fire times never
	// stored (skipped); a cancelled one appears only when two were stored,
	// which depends on how far ahead the harness was when the outage began.
	ran, _ = tally(ids["run_once"])
	assert.LessOrEqual(t, ran, 1, "run_once: the missed fire times run once")
	ran, cancelled = tally(ids["run_all"])
	assert.GreaterOrEqual(t, ran, 3, "run_all: every missed fire time runs")
	assert.Zero(t, cancelled, "run_all")
	ats := e.runs(ids["run_all"])
	assertEvery2s(t, anchors["run_all"], ats, int(recovered.Sub(anchors["run_all"])/(2*time.Second)))
}

// Pausing stops a schedule at once; resuming continues it, and what runs
// for the fire times missed meanwhile is the misfire policy's choice:
// nothing (skip), one run (run_once), or every one (run_all).
func TestPauseAndResumeFollowMisfirePolicy(t *testing.T) {
	e := setup(t)
	ids := map[string]string{}
	for _, p := range []string{"skip", "run_once", "run_all"} {
		ids[p] = e.create("acme", map[string]any{"expression": "rate(2 seconds)", "misfire_policy": p})["id"].(string)
	}
	e.s.Until(40*time.Second, "every schedule to run twice", func() bool {
		for _, id := range ids {
			if len(e.runs(id)) < 2 {
				return false
			}
		}
		return true
	}, e.step)

	paused := map[string]time.Time{}
	for p, id := range ids {
		code, v := e.do(http.MethodPatch, "/v1/schedules/"+id, "acme", map[string]any{"state": "DISABLED"})
		require.Equal(t, http.StatusOK, code, "%v", v)
		require.Equal(t, "DISABLED", v["state"])
		paused[p] = parseTime(t, v["paused_at"])
	}
	calls := len(e.s.Sink.Calls(""))
	e.runFor(7 * time.Second) // at least three fire times missed
	assert.Equal(t, calls, len(e.s.Sink.Calls("")), "nothing runs while paused")

	resumed := map[string]time.Time{}
	for p, id := range ids {
		code, v := e.do(http.MethodPatch, "/v1/schedules/"+id, "acme", map[string]any{"state": "ENABLED"})
		require.Equal(t, http.StatusOK, code, "%v", v)
		resumed[p] = parseTime(t, v["updated_at"])
	}
	e.s.Until(40*time.Second, "every schedule to run twice after resuming", func() bool {
		for p, id := range ids {
			n := 0
			for _, at := range e.runs(id) {
				if at.After(resumed[p]) {
					n++
				}
			}
			if n < 2 {
				return false
			}
		}
		return true
	}, e.step)

	for p, id := range ids {
		var missed int
		for _, at := range e.runs(id) {
			if at.After(paused[p]) && !at.After(resumed[p]) {
				missed++
			}
		}
		switch p {
		case "skip":
			assert.Zero(t, missed, p)
		case "run_once":
			assert.Equal(t, 1, missed, p)
		case "run_all":
			assert.GreaterOrEqual(t, missed, 3, p)
		}
	}
	// The occurrence pending at the pause was cancelled, not run.
	code, occ := e.do(http.MethodGet, "/v1/schedules/"+ids["skip"]+"/occurrences?limit=100", "acme", nil)
	require.Equal(t, http.StatusOK, code)
	cancelled := 0
	for _, o := range occ["occurrences"].([]any) {
		if o.(map[string]any)["state"] == string(task.Cancelled) {
			cancelled++
		}
	}
	assert.Positive(t, cancelled, "%v", occ)
}

func TestPreview(t *testing.T) {
	e := setup(t)
	after := "2030-03-08T12:00:00Z"
	q := url.Values{"expression": {"cron(30 1 * * ? *)"}, "timezone": {"America/New_York"}, "after": {after}, "count": {"5"}}
	code, v := e.do(http.MethodGet, "/v1/schedules:preview?"+q.Encode(), "acme", nil)
	require.Equal(t, http.StatusOK, code, "%v", v)
	times := v["times"].([]any)
	require.Len(t, times, 5)
	prev := parseTime(t, after)
	for _, x := range times {
		tm := parseTime(t, x)
		assert.True(t, tm.After(prev), "%s not after %s", tm, prev)
		assert.Equal(t, time.UTC, tm.Location())
		prev = tm
	}
	// 01:30 New York: EST (06:30Z) before the 2030-03-10 change, EDT (05:30Z) after.
	assert.Equal(t, "2030-03-09T06:30:00Z", times[0])
	assert.Equal(t, "2030-03-10T06:30:00Z", times[1])
	assert.Equal(t, "2030-03-11T05:30:00Z", times[2])

	// Strictly after: a fire time equal to after is not returned.
	q = url.Values{"expression": {"rate(5 minutes)"}, "after": {"2030-01-01T00:00:00Z"}, "count": {"2"}}
	_, v = e.do(http.MethodGet, "/v1/schedules:preview?"+q.Encode(), "acme", nil)
	assert.Equal(t, []any{"2030-01-01T00:05:00Z", "2030-01-01T00:10:00Z"}, v["times"])
}

func TestInvalidInputNamesTheField(t *testing.T) {
	e := setup(t)
	problemField := func(code int, v map[string]any) string {
		t.Helper()
		require.Equal(t, http.StatusBadRequest, code, "%v", v)
		require.Equal(t, "application/problem+json", v["_content_type"])
		errs := v["errors"].([]any)
		require.Len(t, errs, 1, "%v", v)
		return errs[0].(map[string]any)["field"].(string)
	}
	for _, tc := range []struct {
		expr, tz, field string
	}{
		{"cron(0 9 * * * *)", "", "expression"}, // both day fields set
		{"rate(0 minutes)", "", "expression"},
		{"every day", "", "expression"},
		{"cron(0 9 ? * MON-FRI *)", "Europe/Atlantis", "timezone"},
	} {
		q := url.Values{"expression": {tc.expr}, "timezone": {tc.tz}}
		assert.Equal(t, tc.field, problemField(e.do(http.MethodGet, "/v1/schedules:preview?"+q.Encode(), "acme", nil)), tc.expr)
		body := map[string]any{"expression": tc.expr, "timezone": tc.tz, "target": e.s.Webhook()}
		assert.Equal(t, tc.field, problemField(e.do(http.MethodPost, "/v1/schedules", "acme", body)), tc.expr)
	}
	assert.Equal(t, "after", problemField(e.do(http.MethodGet, "/v1/schedules:preview?expression=rate(1+minute)&after=tomorrow", "acme", nil)))
	assert.Equal(t, "count", problemField(e.do(http.MethodGet, "/v1/schedules:preview?expression=rate(1+minute)&count=0", "acme", nil)))
	assert.Equal(t, "target.url", problemField(e.do(http.MethodPost, "/v1/schedules", "acme",
		map[string]any{"expression": "rate(1 hour)", "target": map[string]any{"kind": "webhook"}})))

	// A PATCH is validated merged onto the schedule; nothing changes.
	id := e.create("acme", map[string]any{"expression": "cron(0 9 ? * MON-FRI *)", "timezone": "Europe/Paris"})["id"].(string)
	assert.Equal(t, "timezone", problemField(e.do(http.MethodPatch, "/v1/schedules/"+id, "acme", map[string]any{"timezone": "Nowhere/Else"})))
	assert.Equal(t, "version", problemField(e.do(http.MethodPatch, "/v1/schedules/"+id, "acme", map[string]any{"version": 9})))
	code, v := e.do(http.MethodGet, "/v1/schedules/"+id, "acme", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "Europe/Paris", v["timezone"])
	assert.EqualValues(t, 1, v["version"])
}

func TestTenantIsolationAndCRUD(t *testing.T) {
	e := setup(t)
	code, _ := e.do(http.MethodGet, "/v1/schedules", "", nil)
	assert.Equal(t, http.StatusUnauthorized, code)

	var ids []string
	for range 3 {
		ids = append(ids, e.create("acme", map[string]any{"expression": "cron(0 9 ? * MON-FRI *)", "timezone": "Europe/Paris"})["id"].(string))
	}
	id := ids[0]
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/v1/schedules/" + id},
		{http.MethodPatch, "/v1/schedules/" + id},
		{http.MethodDelete, "/v1/schedules/" + id},
		{http.MethodGet, "/v1/schedules/" + id + "/occurrences"},
	} {
		var body any
		if r.method == http.MethodPatch {
			body = map[string]any{"state": "DISABLED"}
		}
		code, v := e.do(r.method, r.path, "globex", body)
		assert.Equal(t, http.StatusNotFound, code, "%s %s: %v", r.method, r.path, v)
	}
	code, v := e.do(http.MethodGet, "/v1/schedules", "globex", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Empty(t, v["schedules"])

	// acme pages through its own three.
	var listed []string
	tok := ""
	for page := 0; page < 5; page++ {
		path := "/v1/schedules?page_size=2"
		if tok != "" {
			path += "&page_token=" + tok
		}
		code, v := e.do(http.MethodGet, path, "acme", nil)
		require.Equal(t, http.StatusOK, code, "%v", v)
		for _, s := range v["schedules"].([]any) {
			listed = append(listed, s.(map[string]any)["id"].(string))
		}
		tok, _ = v["next_page_token"].(string)
		if tok == "" {
			break
		}
	}
	assert.ElementsMatch(t, ids, listed)

	// The first occurrence exists from creation, with its task ID.
	code, v = e.do(http.MethodGet, "/v1/schedules/"+id+"/occurrences", "acme", nil)
	require.Equal(t, http.StatusOK, code)
	occ := v["occurrences"].([]any)
	require.Len(t, occ, 1)
	first := occ[0].(map[string]any)
	assert.Equal(t, string(task.Scheduled), first["state"])
	tk := e.s.Get(first["task_id"].(string))
	assert.Equal(t, "acme", tk.Tenant)
	assert.Len(t, v["upcoming"], 5)

	code, v = e.do(http.MethodPatch, "/v1/schedules/"+id, "acme", map[string]any{"payload": map[string]any{"v": 2}})
	require.Equal(t, http.StatusOK, code, "%v", v)
	assert.EqualValues(t, 2, v["version"])
	assert.Equal(t, map[string]any{"v": float64(2)}, v["payload"])

	code, _ = e.do(http.MethodDelete, "/v1/schedules/"+id, "acme", nil)
	assert.Equal(t, http.StatusNoContent, code)
	code, _ = e.do(http.MethodGet, "/v1/schedules/"+id, "acme", nil)
	assert.Equal(t, http.StatusNotFound, code)
}

// Every route that answers with a schedule redacts its webhook header
// values, as task views do; a PATCH that leaves the target out keeps the
// real values (it merges onto the stored definition, not the view).
func TestScheduleViewsRedactHeaderValues(t *testing.T) {
	e := setup(t)
	const secret = "Bearer s3cret-token"
	target := map[string]any{"kind": "webhook", "url": e.s.Webhook()["url"], "headers": map[string]any{"Authorization": secret}}
	requireRedacted := func(route string, v any) {
		t.Helper()
		view, ok := v.(map[string]any)
		require.True(t, ok, "%s: not a schedule: %v", route, v)
		headers := view["target"].(map[string]any)["headers"].(map[string]any)
		assert.Equal(t, task.RedactedValue, headers["Authorization"], "%s shows the header value", route)
		assert.NotContains(t, fmt.Sprint(view), "s3cret", route)
	}

	created := e.create("acme", map[string]any{"expression": "rate(1 hour)", "target": target})
	requireRedacted("POST /v1/schedules", created)
	id := created["id"].(string)

	code, v := e.do(http.MethodGet, "/v1/schedules/"+id, "acme", nil)
	require.Equal(t, http.StatusOK, code, "%v", v)
	requireRedacted("GET /v1/schedules/{id}", v)

	code, v = e.do(http.MethodGet, "/v1/schedules", "acme", nil)
	require.Equal(t, http.StatusOK, code, "%v", v)
	require.Len(t, v["schedules"], 1)
	requireRedacted("GET /v1/schedules", v["schedules"].([]any)[0])

	code, v = e.do(http.MethodPatch, "/v1/schedules/"+id, "acme", map[string]any{"payload": map[string]any{"v": 2}})
	require.Equal(t, http.StatusOK, code, "%v", v)
	requireRedacted("PATCH /v1/schedules/{id}", v)

	// The stored schedule and its new generation's occurrence still carry
	// the real value.
	stored, err := e.s.Comps.Store.GetSchedule(context.Background(), "acme", id)
	require.NoError(t, err)
	assert.Contains(t, string(stored.Target.Spec), secret, "the PATCH kept the stored header value")
	code, v = e.do(http.MethodGet, "/v1/schedules/"+id+"/occurrences", "acme", nil)
	require.Equal(t, http.StatusOK, code, "%v", v)
	found := false
	for _, o := range v["occurrences"].([]any) {
		occ := o.(map[string]any)
		if occ["generation"] == float64(2) {
			found = true
			assert.Contains(t, string(e.s.Get(occ["task_id"].(string)).Target.Spec), secret, "the new occurrence calls with the real header value")
		}
	}
	assert.True(t, found, "an occurrence of the patched generation: %v", v["occurrences"])
}
