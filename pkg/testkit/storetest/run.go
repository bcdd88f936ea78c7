package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Bucket is the width of the suite's layout: a minute, so that the tasks a
// test makes due within the same minute share a partition.
const Bucket = time.Minute

// base is a bucket-aligned due time far from now, so that nothing but the
// arguments the suite passes decides what the store does.
var base = time.Date(2031, 3, 4, 5, 6, 0, 0, time.UTC)

// Run runs the conformance suite against the stores newStore builds.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, h harness)
	}{
		{"CreateGet", testCreateGet},
		{"Idempotency", testIdempotency},
		{"GetMany", testGetMany},
		{"ClaimAndFinish", testClaimAndFinish},
		{"LeaseFencing", testLeaseFencing},
		{"RetryBackoff", testRetryBackoff},
		{"Settle", testSettle},
		{"Cancel", testCancel},
		{"CancelCutoff", testCancelCutoff},
		{"Redrive", testRedrive},
		{"Update", testUpdate},
		{"QueryScheduled", testQueryScheduled},
		{"ListIDs", testListIDs},
		{"ListFailedIDs", testListFailedIDs},
		{"Cursor", testCursor},
		{"Schedules", testSchedules},
		{"ScheduleList", testScheduleList},
		{"Occurrences", testOccurrences},
		{"SigningSecret", testSigningSecret},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, harness{newStore: newStore})
		})
	}
}

type harness struct{ newStore NewStore }

// store builds a store with the suite's layout and opts' other fields.
func (h harness) store(t *testing.T, opts ...func(*Options)) Store {
	t.Helper()
	o := Options{Layout: task.Layout{Bucket: Bucket}}
	for _, f := range opts {
		f(&o)
	}
	return h.newStore(t, o)
}

var ctx = context.Background()

// newTask builds a SCHEDULED task due at due the way the API does.
func newTask(t *testing.T, tenant string, due time.Time) *task.Task {
	t.Helper()
	id, err := task.NewID(due, 1)
	require.NoError(t, err)
	created := base.Add(-time.Hour)
	tg := task.Target{Kind: "webhook", Spec: json.RawMessage(`{"kind":"webhook","url":"https://example.com/hook"}`)}
	payload := json.RawMessage(`{"n":1}`)
	return &task.Task{
		ID: id, Tenant: tenant, DueAt: id.Due(), Target: tg, Payload: payload,
		Retry: task.Retry{MaxAttempts: 3, InitialBackoff: time.Second, MaxBackoff: time.Minute},
		State: task.Scheduled, Version: 1, PayloadHash: task.PayloadHash(tg, payload),
		CreatedAt: created, UpdatedAt: created,
	}
}

// create stores a new task and returns it as stored.
func create(t *testing.T, s Store, tenant string, due time.Time) *task.Task {
	t.Helper()
	tk := newTask(t, tenant, due)
	_, created, err := s.Create(ctx, tk, "", "")
	require.NoError(t, err)
	require.True(t, created)
	return get(t, s, tk.ID)
}

func get(t *testing.T, s Store, id task.ID) *task.Task {
	t.Helper()
	got, err := s.Get(ctx, id)
	require.NoError(t, err)
	return got
}

func claim(t *testing.T, s Store, tk *task.Task, owner string, now time.Time) *task.Task {
	t.Helper()
	got, err := s.Claim(ctx, tk.ID, tk.PayloadHash, owner, now, now.Add(time.Minute))
	require.NoError(t, err)
	return got
}

// outcome is an attempt's outcome ending at end.
func outcome(st task.State, n int, end time.Time, errText string) task.Outcome {
	name := map[task.State]string{task.Succeeded: "succeeded", task.Failed: "failed", task.Retrying: "retrying"}[st]
	o := task.Outcome{State: st, LastError: errText, Attempt: task.Attempt{
		N: n, StartedAt: end.Add(-time.Second), EndedAt: end, Outcome: name, Error: errText, Worker: "w", Run: fmt.Sprintf("run-%d", n),
	}}
	if st == task.Retrying {
		o.NextAt = end.Add(10 * time.Second)
	}
	return o
}

// fail takes tk through one claimed attempt to FAILED.
func fail(t *testing.T, s Store, tk *task.Task, now time.Time) *task.Task {
	t.Helper()
	claim(t, s, tk, "w", now)
	done, err := s.Finish(ctx, tk.ID, "w", outcome(task.Failed, 1, now.Add(time.Second), "boom"))
	require.NoError(t, err)
	return done
}

func testCreateGet(t *testing.T, h harness) {
	s := h.store(t)
	tk := newTask(t, "acme", base.Add(1234*time.Millisecond))
	tk.IdempotencyKey = "order-42"
	tk.Labels = map[string]string{"team": "billing", "env": "prod"}
	tk.Retry = task.Retry{MaxAttempts: 7, InitialBackoff: 250 * time.Millisecond, MaxBackoff: 90 * time.Second}
	tk.Occurrence = &task.Occurrence{Schedule: "sch-1", Generation: 3, At: base}
	tk.FastPath = true
	saved, created, err := s.Create(ctx, tk, "", "")
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, tk, saved)
	got := get(t, s, tk.ID)
	assert.Equal(t, tk, got, "every field round-trips")
	assert.Equal(t, int64(1234), got.DueAt.Sub(base).Milliseconds())

	// A create's item starts a task afresh whatever the caller passed.
	dirty := newTask(t, "acme", base)
	dirty.AttemptN, dirty.LastError, dirty.LeaseOwner = 5, "old", "someone"
	_, _, err = s.Create(ctx, dirty, "", "")
	require.NoError(t, err)
	clean := get(t, s, dirty.ID)
	assert.Zero(t, clean.AttemptN)
	assert.Empty(t, clean.LastError)
	assert.Empty(t, clean.LeaseOwner)

	_, err = s.Get(ctx, newTask(t, "acme", base).ID)
	assert.ErrorIs(t, err, task.ErrNotFound, "a missing task")

	// The same write again (an SDK retry whose first answer was lost) is
	// the create itself; another task under that ID is a conflict.
	again, created, err := s.Create(ctx, tk, "", "")
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, tk.ID, again.ID)
	other := *tk
	other.Tenant = "globex"
	_, _, err = s.Create(ctx, &other, "", "")
	assert.ErrorIs(t, err, task.ErrConflict, "an ID collision")
	assert.Equal(t, "acme", get(t, s, tk.ID).Tenant, "the collision wrote nothing")
}

func testIdempotency(t *testing.T, h harness) {
	s := h.store(t)
	first := newTask(t, "acme", base)
	got, created, err := s.Create(ctx, first, "key-1", "hash-a")
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, first.ID, got.ID)

	retry := newTask(t, "acme", base.Add(time.Second))
	got, created, err = s.Create(ctx, retry, "key-1", "hash-a")
	require.NoError(t, err)
	assert.False(t, created, "the token's task is answered")
	assert.Equal(t, first.ID, got.ID)
	_, err = s.Get(ctx, retry.ID)
	assert.ErrorIs(t, err, task.ErrNotFound, "the retry wrote no second task")

	_, _, err = s.Create(ctx, newTask(t, "acme", base), "key-1", "hash-b")
	assert.ErrorIs(t, err, task.ErrIdempotencyMismatch, "a token reused for another request")

	// Tokens are per tenant, including tenants that could be spliced.
	for _, tenant := range []string{"globex", "acme#key", "acm"} {
		tk := newTask(t, tenant, base)
		token := "key-1"
		if tenant == "acm" {
			token = "e#key-1"
		}
		got, created, err := s.Create(ctx, tk, token, "hash-b")
		require.NoError(t, err, tenant)
		assert.True(t, created, tenant)
		assert.Equal(t, tk.ID, got.ID, tenant)
	}
}

func testGetMany(t *testing.T, h harness) {
	s := h.store(t)
	a, b := create(t, s, "acme", base), create(t, s, "acme", base.Add(time.Minute))
	missing := newTask(t, "acme", base).ID
	got, err := s.GetMany(ctx, []task.ID{a.ID, missing, b.ID, a.ID})
	require.NoError(t, err)
	assert.Len(t, got, 2, "missing tasks are absent, duplicates read once")
	assert.Equal(t, a, got[a.ID])
	assert.Equal(t, b, got[b.ID])
	none, err := s.GetMany(ctx, nil)
	require.NoError(t, err)
	assert.Empty(t, none)
	_, err = s.GetMany(ctx, make([]task.ID, 101))
	assert.Error(t, err, "at most 100 IDs")
}

func testClaimAndFinish(t *testing.T, h harness) {
	s := h.store(t)
	tk := create(t, s, "acme", base)
	now := base.Add(100 * time.Millisecond)

	_, err := s.Claim(ctx, tk.ID, "other-hash", "w1", now, now.Add(time.Minute))
	assert.ErrorIs(t, err, task.ErrConflict, "a message for another version of the task")
	_, err = s.Claim(ctx, newTask(t, "acme", base).ID, tk.PayloadHash, "w1", now, now.Add(time.Minute))
	assert.ErrorIs(t, err, task.ErrConflict, "a missing task cannot be claimed")

	run := claim(t, s, tk, "w1", now)
	assert.Equal(t, task.Running, run.State)
	assert.Equal(t, "w1", run.LeaseOwner)
	assert.Equal(t, now.Add(time.Minute), run.LeaseUntil)
	assert.Equal(t, 1, run.AttemptN)
	assert.Equal(t, tk.Version+1, run.Version)
	assert.Equal(t, run, get(t, s, tk.ID))

	_, err = s.Claim(ctx, tk.ID, tk.PayloadHash, "w2", now.Add(time.Second), now.Add(time.Minute))
	assert.ErrorIs(t, err, task.ErrConflict, "a live lease refuses a second claim")
	_, err = s.Finish(ctx, tk.ID, "w2", outcome(task.Succeeded, 1, now, ""))
	assert.ErrorIs(t, err, task.ErrConflict, "only the lease holder records the outcome")

	end := now.Add(2 * time.Second)
	done, err := s.Finish(ctx, tk.ID, "w1", outcome(task.Succeeded, 1, end, ""))
	require.NoError(t, err)
	assert.Equal(t, task.Succeeded, done.State)
	assert.Equal(t, end, done.FinishedAt)
	assert.Equal(t, end, done.UpdatedAt)
	assert.Empty(t, done.LeaseOwner, "the lease is released")
	assert.True(t, done.LeaseUntil.IsZero())
	require.Len(t, done.Attempts, 1)
	assert.Equal(t, "run-1", done.Attempts[0].Run)
	assert.Equal(t, run.Version+1, done.Version)
	assert.Equal(t, done, get(t, s, tk.ID))

	_, err = s.Finish(ctx, tk.ID, "w1", outcome(task.Succeeded, 1, end, ""))
	assert.ErrorIs(t, err, task.ErrConflict, "a finished task takes no second outcome")
	_, err = s.Claim(ctx, tk.ID, tk.PayloadHash, "w1", end.Add(time.Hour), end.Add(2*time.Hour))
	assert.ErrorIs(t, err, task.ErrConflict, "a finished task cannot be claimed")
}

func testLeaseFencing(t *testing.T, h harness) {
	s := h.store(t)
	tk := create(t, s, "acme", base)
	now := base
	claim(t, s, tk, "stale", now)
	// The lease (a minute) expires; another worker takes the task over.
	later := now.Add(time.Minute + time.Millisecond)
	taken := claim(t, s, tk, "fresh", later)
	assert.Equal(t, 2, taken.AttemptN, "the takeover is the second attempt")
	assert.Equal(t, "fresh", taken.LeaseOwner)

	_, err := s.Finish(ctx, tk.ID, "stale", outcome(task.Succeeded, 1, later, ""))
	assert.ErrorIs(t, err, task.ErrConflict, "the stale worker's completion is fenced off")
	cur := get(t, s, tk.ID)
	assert.Equal(t, task.Running, cur.State)
	assert.Empty(t, cur.Attempts, "nothing of the stale completion was recorded")

	done, err := s.Finish(ctx, tk.ID, "fresh", outcome(task.Succeeded, 2, later.Add(time.Second), ""))
	require.NoError(t, err)
	assert.Equal(t, task.Succeeded, done.State)
}

func testRetryBackoff(t *testing.T, h harness) {
	s := h.store(t)
	tk := create(t, s, "acme", base)
	claim(t, s, tk, "w", base)
	o := outcome(task.Retrying, 1, base.Add(time.Second), "503")
	r, err := s.Finish(ctx, tk.ID, "w", o)
	require.NoError(t, err)
	assert.Equal(t, task.Retrying, r.State)
	assert.Equal(t, o.NextAt, r.NextAt)
	assert.Equal(t, "503", r.LastError)
	assert.True(t, r.FinishedAt.IsZero(), "RETRYING is not final")

	_, err = s.Claim(ctx, tk.ID, tk.PayloadHash, "w", o.NextAt.Add(-time.Millisecond), o.NextAt.Add(time.Minute))
	assert.ErrorIs(t, err, task.ErrConflict, "no claim before the retry is due")
	second := claim(t, s, tk, "w", o.NextAt)
	assert.Equal(t, 2, second.AttemptN)

	done, err := s.Finish(ctx, tk.ID, "w", outcome(task.Succeeded, 2, o.NextAt.Add(time.Second), ""))
	require.NoError(t, err)
	assert.Empty(t, done.LastError, "success clears the last error")
	assert.True(t, done.NextAt.IsZero(), "and the retry time")
	assert.Len(t, done.Attempts, 2)
}

func testSettle(t *testing.T, h harness) {
	s := h.store(t)
	tk := create(t, s, "acme", base)

	// Two deliveries read the same version and race: one outcome wins.
	prev := *tk
	prev.AttemptN = 1
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := prev
			_, errs[i] = s.Settle(ctx, &p, outcome(task.Succeeded, 1, base.Add(time.Duration(i+1)*time.Second), ""))
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			assert.ErrorIs(t, err, task.ErrConflict)
		}
	}
	assert.Equal(t, 1, won, "concurrent duplicates leave one outcome")
	cur := get(t, s, tk.ID)
	assert.Equal(t, task.Succeeded, cur.State)
	assert.Equal(t, 1, cur.AttemptN, "the attempt count the worker read")
	assert.Len(t, cur.Attempts, 1)
	assert.Equal(t, tk.Version+1, cur.Version)

	// A retry, then a settle on the version before it is fenced.
	tk2 := create(t, s, "acme", base)
	p1 := *tk2
	p1.AttemptN = 1
	r, err := s.Settle(ctx, &p1, outcome(task.Retrying, 1, base.Add(time.Second), "503"))
	require.NoError(t, err)
	assert.Equal(t, task.Retrying, r.State)
	_, err = s.Settle(ctx, &p1, outcome(task.Succeeded, 1, base.Add(time.Second), ""))
	assert.ErrorIs(t, err, task.ErrConflict, "a stale version")
	p2 := *r
	p2.AttemptN = 2
	f, err := s.Settle(ctx, &p2, outcome(task.Failed, 2, base.Add(20*time.Second), "gave up"))
	require.NoError(t, err)
	assert.Equal(t, task.Failed, f.State)
	assert.Equal(t, base.Add(20*time.Second), f.FinishedAt)

	// A cancelled task takes no outcome.
	tk3 := create(t, s, "acme", base)
	_, err = s.Cancel(ctx, tk3.ID, "acme", base.Add(-time.Hour))
	require.NoError(t, err)
	_, err = s.Settle(ctx, tk3, outcome(task.Succeeded, 1, base, ""))
	assert.ErrorIs(t, err, task.ErrConflict, "cancelled while its target ran")
}

func testCancel(t *testing.T, h harness) {
	s := h.store(t)
	now := base.Add(-time.Hour)
	tk := create(t, s, "acme", base)

	_, err := s.Cancel(ctx, tk.ID, "globex", now)
	assert.ErrorIs(t, err, task.ErrNotFound, "another tenant's task")
	_, err = s.Cancel(ctx, newTask(t, "acme", base).ID, "acme", now)
	assert.ErrorIs(t, err, task.ErrNotFound, "a missing task")

	c, err := s.Cancel(ctx, tk.ID, "acme", now)
	require.NoError(t, err)
	assert.Equal(t, task.Cancelled, c.State)
	assert.Equal(t, now, c.FinishedAt)
	assert.Equal(t, tk.Version+1, c.Version)
	again, err := s.Cancel(ctx, tk.ID, "acme", now.Add(time.Second))
	require.NoError(t, err, "cancel is idempotent")
	assert.Equal(t, c, again)
	_, err = s.Claim(ctx, tk.ID, tk.PayloadHash, "w", base, base.Add(time.Minute))
	assert.ErrorIs(t, err, task.ErrConflict, "a cancelled task is not claimed")

	running := create(t, s, "acme", base)
	claim(t, s, running, "w", base)
	cur, err := s.Cancel(ctx, running.ID, "acme", base)
	assert.ErrorIs(t, err, task.ErrConflict, "a running task")
	require.NotNil(t, cur, "returned with the task")
	assert.Equal(t, task.Running, cur.State)

	retrying := create(t, s, "acme", base)
	claim(t, s, retrying, "w", base)
	_, err = s.Finish(ctx, retrying.ID, "w", outcome(task.Retrying, 1, base.Add(time.Second), "503"))
	require.NoError(t, err)
	c, err = s.Cancel(ctx, retrying.ID, "acme", base.Add(2*time.Second))
	require.NoError(t, err, "a task between attempts")
	assert.Equal(t, task.Cancelled, c.State)

	failed := fail(t, s, create(t, s, "acme", base), base)
	cur, err = s.Cancel(ctx, failed.ID, "acme", base.Add(time.Hour))
	assert.ErrorIs(t, err, task.ErrConflict, "a finished task")
	require.NotNil(t, cur)
	assert.Equal(t, task.Failed, cur.State)
}

func testCancelCutoff(t *testing.T, h harness) {
	s := h.store(t, func(o *Options) { o.CancelCutoff = 4 * time.Second })
	tk := create(t, s, "acme", base)

	cur, err := s.Cancel(ctx, tk.ID, "acme", base.Add(-3*time.Second))
	assert.ErrorIs(t, err, task.ErrConflict, "within the cut-off")
	require.NotNil(t, cur)
	assert.Equal(t, task.Scheduled, cur.State)
	c, err := s.Withdraw(ctx, tk.ID, "acme", base.Add(-3*time.Second))
	require.NoError(t, err, "Withdraw has no cut-off")
	assert.Equal(t, task.Cancelled, c.State)

	early := create(t, s, "acme", base)
	c, err = s.Cancel(ctx, early.ID, "acme", base.Add(-5*time.Second))
	require.NoError(t, err, "before the cut-off")
	assert.Equal(t, task.Cancelled, c.State)

	// A retrying task is cut off before its next attempt.
	r := create(t, s, "acme", base)
	claim(t, s, r, "w", base)
	o := outcome(task.Retrying, 1, base.Add(time.Second), "503") // next in 10 s
	_, err = s.Finish(ctx, r.ID, "w", o)
	require.NoError(t, err)
	_, err = s.Cancel(ctx, r.ID, "acme", o.NextAt.Add(-3*time.Second))
	assert.ErrorIs(t, err, task.ErrConflict)
	_, err = s.Cancel(ctx, r.ID, "acme", o.NextAt.Add(-5*time.Second))
	assert.NoError(t, err)
}

func testRedrive(t *testing.T, h harness) {
	s := h.store(t)
	tk := create(t, s, "acme", base)
	cur, err := s.Redrive(ctx, tk.ID, base, 2)
	assert.ErrorIs(t, err, task.ErrConflict, "only a FAILED task")
	require.NotNil(t, cur)
	assert.Equal(t, task.Scheduled, cur.State)
	_, err = s.Redrive(ctx, newTask(t, "acme", base).ID, base, 2)
	assert.ErrorIs(t, err, task.ErrNotFound)

	failed := fail(t, s, tk, base)
	_, err = s.Redrive(ctx, tk.ID, base, 0)
	assert.Error(t, err, "at least one attempt")

	now := base.Add(time.Hour)
	r, err := s.Redrive(ctx, tk.ID, now, 2)
	require.NoError(t, err)
	assert.Equal(t, task.Retrying, r.State)
	assert.Equal(t, now, r.NextAt, "claimable from now")
	assert.Equal(t, failed.AttemptN+2, r.Retry.MaxAttempts)
	assert.True(t, r.FinishedAt.IsZero())
	assert.Equal(t, failed.Version+1, r.Version)
	assert.Len(t, r.Attempts, 1, "the history stays")
	entries, _, err := s.ListFailedIDs(ctx, task.ListQuery{Tenant: "acme", Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, entries, "a redriven task leaves by_failed")

	again := claim(t, s, r, "w", now)
	assert.Equal(t, 2, again.AttemptN, "attempt numbers keep counting")
	_, err = s.Redrive(ctx, tk.ID, now, 2)
	assert.ErrorIs(t, err, task.ErrConflict, "no longer FAILED")
}

func testUpdate(t *testing.T, h harness) {
	s := h.store(t)
	now := base.Add(-time.Hour)
	tk := create(t, s, "acme", base)

	next := *tk
	next.Payload = json.RawMessage(`{"n":2}`)
	next.PayloadHash = task.PayloadHash(next.Target, next.Payload)
	next.Labels = map[string]string{"v": "2"}
	up, err := s.Update(ctx, tk, &next, now)
	require.NoError(t, err)
	assert.Equal(t, tk.ID, up.ID, "in place")
	assert.JSONEq(t, `{"n":2}`, string(up.Payload))
	assert.Equal(t, next.PayloadHash, up.PayloadHash)
	assert.Equal(t, map[string]string{"v": "2"}, up.Labels)
	assert.Equal(t, tk.Version+1, up.Version)
	assert.Equal(t, now, up.UpdatedAt)

	_, err = s.Update(ctx, tk, &next, now)
	assert.ErrorIs(t, err, task.ErrConflict, "a stale version")
	other := *up
	other.Tenant = "globex"
	_, err = s.Update(ctx, &other, &other, now)
	assert.ErrorIs(t, err, task.ErrNotFound, "another tenant's task")

	// A new due time: a new task, the old one CANCELLED and pointing at it.
	moved := newTask(t, "acme", base.Add(2*time.Minute))
	moved.Payload, moved.PayloadHash = up.Payload, up.PayloadHash
	got, err := s.Update(ctx, up, moved, now)
	require.NoError(t, err)
	assert.Equal(t, moved.ID, got.ID)
	assert.Equal(t, task.Scheduled, got.State)
	old := get(t, s, tk.ID)
	assert.Equal(t, task.Cancelled, old.State)
	assert.Equal(t, moved.ID.String(), old.ReplacedBy)
	assert.Equal(t, now, old.FinishedAt)

	// Once the scanner announced the bucket, the task is not changed.
	require.NoError(t, s.SetCursorField(ctx, "dispatching", task.Layout{Bucket: Bucket}.BucketOf(moved.DueAt)))
	again := *got
	again.Payload = json.RawMessage(`{"n":3}`)
	_, err = s.Update(ctx, got, &again, now)
	assert.ErrorIs(t, err, task.ErrConflict, "an announced bucket")
	assert.JSONEq(t, `{"n":2}`, string(get(t, s, moved.ID).Payload), "nothing written")

	running := create(t, s, "acme", base.Add(10*time.Minute))
	r := claim(t, s, running, "w", base)
	_, err = s.Update(ctx, r, r, now)
	assert.ErrorIs(t, err, task.ErrConflict, "a running task")
}

func testQueryScheduled(t *testing.T, h harness) {
	s := h.store(t)
	l := task.Layout{Bucket: Bucket}
	var want []task.ID
	for i := range 7 {
		tk := create(t, s, "acme", base.Add(time.Duration(i)*time.Second))
		if i == 2 {
			_, err := s.Cancel(ctx, tk.ID, "acme", base.Add(-time.Hour))
			require.NoError(t, err)
			continue
		}
		if i == 4 {
			claim(t, s, tk, "w", base)
			continue
		}
		want = append(want, tk.ID)
	}
	create(t, s, "acme", base.Add(Bucket)) // the next bucket's partition

	var got []task.ID
	after := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10, "paging ends")
		page, next, err := s.QueryScheduled(ctx, l.BucketOf(base), 0, after, 2)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(page), 2)
		for _, tk := range page {
			assert.Equal(t, task.Scheduled, tk.State)
			got = append(got, tk.ID)
		}
		if next == "" {
			break
		}
		after = next
	}
	assert.Equal(t, want, got, "every SCHEDULED task of the partition, in due order, once")

	empty, next, err := s.QueryScheduled(ctx, l.BucketOf(base.Add(-Bucket)), 0, "", 10)
	require.NoError(t, err)
	assert.Empty(t, empty)
	assert.Empty(t, next)
}

// collect pages through a listing with page size n.
func collect(t *testing.T, list func(context.Context, task.ListQuery) ([]task.ListEntry, bool, error), q task.ListQuery, n int32) []task.ID {
	t.Helper()
	var ids []task.ID
	q.Limit = n
	for pages := 0; ; pages++ {
		require.Less(t, pages, 20, "paging ends")
		entries, more, err := list(ctx, q)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(entries), int(n))
		for _, e := range entries {
			ids = append(ids, e.ID)
			assert.Equal(t, task.SortKey(e.ID.DueMs, e.ID.String()), e.Pos)
		}
		if !more || len(entries) == 0 {
			return ids
		}
		q.After = entries[len(entries)-1].Pos
	}
}

func testListIDs(t *testing.T, h harness) {
	s := h.store(t, func(o *Options) { o.ListIndex = true })
	var all []task.ID
	for i := range 5 {
		all = append(all, create(t, s, "acme", base.Add(time.Duration(i)*time.Minute)).ID)
	}
	create(t, s, "globex", base)
	slices.Reverse(all) // newest due first

	assert.Equal(t, all, collect(t, s.ListIDs, task.ListQuery{Tenant: "acme"}, 2))
	assert.Equal(t, all[1:4], collect(t, s.ListIDs, task.ListQuery{
		Tenant: "acme", DueAfter: base, DueBefore: base.Add(4 * time.Minute),
	}, 10), "both bounds exclusive")
	assert.Empty(t, collect(t, s.ListIDs, task.ListQuery{Tenant: "acme", DueAfter: base.Add(time.Hour)}, 10))
	assert.Empty(t, collect(t, s.ListIDs, task.ListQuery{Tenant: "initech"}, 10))
	_, _, err := s.ListIDs(ctx, task.ListQuery{Tenant: "acme", After: "not-a-position", Limit: 2})
	assert.Error(t, err, "a bad position")

	// Without the index option no task is listed.
	off := h.store(t)
	create(t, off, "acme", base)
	assert.Empty(t, collect(t, off.ListIDs, task.ListQuery{Tenant: "acme"}, 10))
}

func testListFailedIDs(t *testing.T, h harness) {
	s := h.store(t) // by_failed is written whatever ListIndex says
	var failed []task.ID
	for i := range 3 {
		tk := create(t, s, "acme", base.Add(time.Duration(i)*time.Minute))
		fail(t, s, tk, base)
		failed = append(failed, tk.ID)
	}
	ok := create(t, s, "acme", base)
	claim(t, s, ok, "w", base)
	_, err := s.Finish(ctx, ok.ID, "w", outcome(task.Succeeded, 1, base, ""))
	require.NoError(t, err)
	create(t, s, "acme", base)
	fail(t, s, create(t, s, "globex", base), base)
	slices.Reverse(failed)
	assert.Equal(t, failed, collect(t, s.ListFailedIDs, task.ListQuery{Tenant: "acme"}, 2))
	assert.Equal(t, failed[:1], collect(t, s.ListFailedIDs, task.ListQuery{Tenant: "acme", DueAfter: base.Add(time.Minute)}, 2))
}

func testCursor(t *testing.T, h harness) {
	s := h.store(t)
	l := task.Layout{Bucket: Bucket}
	c, err := s.GetCursor(ctx)
	require.NoError(t, err)
	assert.False(t, c.Exists, "no cursor yet")

	require.NoError(t, s.EnsureCursor(ctx, 4, base))
	c, err = s.GetCursor(ctx)
	require.NoError(t, err)
	start := l.BucketOf(base) - int64(Bucket/time.Second)
	assert.Equal(t, task.Cursor{Dispatching: start, Fanned: start, Swept: start, Shards: 4, Exists: true}, c,
		"starts at the bucket before now's")

	require.NoError(t, s.SetCursorField(ctx, "dispatching", start+600))
	require.NoError(t, s.SetCursorField(ctx, "dispatching", start+60), "lowering is no error")
	require.NoError(t, s.SetCursorField(ctx, "fanned", start+60))
	require.NoError(t, s.EnsureCursor(ctx, 2, base.Add(time.Hour)), "fewer shards: no change")
	require.NoError(t, s.EnsureCursor(ctx, 8, base.Add(time.Hour)))
	c, err = s.GetCursor(ctx)
	require.NoError(t, err)
	assert.Equal(t, task.Cursor{Dispatching: start + 600, Fanned: start + 60, Swept: start, Shards: 8, Exists: true}, c,
		"fields only rise, and EnsureCursor moves none of them")
	assert.Error(t, s.SetCursorField(ctx, "shards", 1), "an unknown field")
}

func newSchedule(tenant, id string) *schedule.Schedule {
	tg := task.Target{Kind: "webhook", Spec: json.RawMessage(`{"kind":"webhook","url":"https://example.com/hook"}`)}
	return &schedule.Schedule{
		ID: id, Tenant: tenant, Expression: "rate(1 minute)", Timezone: "Europe/Paris", Target: tg,
		Payload: json.RawMessage(`{"n":1}`), Retry: task.Retry{MaxAttempts: 3, InitialBackoff: time.Second, MaxBackoff: time.Minute},
		Start: base, State: schedule.Enabled, FlexWindow: 5 * time.Second, Misfire: schedule.RunOnce,
		Labels: map[string]string{"team": "ops"}, Generation: 1, Version: 1, CreatedAt: base.Add(-time.Hour), UpdatedAt: base.Add(-time.Hour),
	}
}

// occurrence is the task of sc's occurrence at at.
func occurrence(t *testing.T, sc *schedule.Schedule, at time.Time) *task.Task {
	t.Helper()
	tk := newTask(t, sc.Tenant, at)
	tk.Occurrence = &task.Occurrence{Schedule: sc.ID, Generation: sc.Generation, At: at}
	return tk
}

func testSchedules(t *testing.T, h harness) {
	s := h.store(t)
	sc := newSchedule("acme", "sch-a")
	first := occurrence(t, sc, base)
	require.NoError(t, s.CreateSchedule(ctx, sc, first))
	got, err := s.GetSchedule(ctx, "acme", "sch-a")
	require.NoError(t, err)
	assert.Equal(t, sc, got, "every field round-trips")
	assert.Equal(t, first.Occurrence, get(t, s, first.ID).Occurrence, "the first occurrence is written with it")

	assert.ErrorIs(t, s.CreateSchedule(ctx, sc, nil), task.ErrConflict, "an existing ID")
	_, err = s.GetSchedule(ctx, "globex", "sch-a")
	assert.ErrorIs(t, err, task.ErrNotFound, "another tenant's schedule")

	// All or nothing: a first occurrence that exists fails the create.
	sb := newSchedule("acme", "sch-b")
	assert.ErrorIs(t, s.CreateSchedule(ctx, sb, first), task.ErrConflict)
	_, err = s.GetSchedule(ctx, "acme", "sch-b")
	assert.ErrorIs(t, err, task.ErrNotFound, "nothing was written")

	// Patch: conditional on the version read.
	up := *got
	up.Expression, up.Generation, up.Version, up.UpdatedAt = "rate(5 minutes)", 2, 2, base
	next := occurrence(t, &up, base.Add(5*time.Minute))
	require.NoError(t, s.UpdateSchedule(ctx, &up, 1, next))
	got, err = s.GetSchedule(ctx, "acme", "sch-a")
	require.NoError(t, err)
	assert.Equal(t, "rate(5 minutes)", got.Expression)
	assert.Equal(t, int64(2), get(t, s, next.ID).Occurrence.Generation)
	stale := up
	stale.Expression = "rate(2 minutes)"
	assert.ErrorIs(t, s.UpdateSchedule(ctx, &stale, 1, nil), task.ErrConflict, "a stale version")

	// A delete conditional on the generation (ActionAfterCompletion DELETE)
	// leaves a schedule that moved on to a later generation.
	assert.ErrorIs(t, s.DeleteScheduleIf(ctx, "acme", "sch-a", 1), task.ErrConflict, "generation 2 is stored")
	_, err = s.GetSchedule(ctx, "acme", "sch-a")
	require.NoError(t, err, "a conditional delete of a moved generation deletes nothing")
	assert.ErrorIs(t, s.DeleteScheduleIf(ctx, "acme", "sch-x", 1), task.ErrNotFound, "no such schedule")

	require.NoError(t, s.DeleteScheduleIf(ctx, "acme", "sch-a", 2))
	_, err = s.GetSchedule(ctx, "acme", "sch-a")
	assert.ErrorIs(t, err, task.ErrNotFound)
	require.NoError(t, s.CreateSchedule(ctx, &up, nil))

	require.NoError(t, s.DeleteSchedule(ctx, "acme", "sch-a"))
	_, err = s.GetSchedule(ctx, "acme", "sch-a")
	assert.ErrorIs(t, err, task.ErrNotFound)
	assert.ErrorIs(t, s.DeleteSchedule(ctx, "acme", "sch-a"), task.ErrNotFound, "deleted twice")
	assert.ErrorIs(t, s.UpdateSchedule(ctx, &up, 2, nil), task.ErrNotFound, "a deleted schedule")
	assert.Equal(t, task.Scheduled, get(t, s, next.ID).State, "its occurrences stay")
}

func testScheduleList(t *testing.T, h harness) {
	s := h.store(t)
	var want []string
	for i := range 5 {
		id := fmt.Sprintf("sch-%d", i)
		require.NoError(t, s.CreateSchedule(ctx, newSchedule("acme", id), nil))
		want = append(want, id)
	}
	require.NoError(t, s.CreateSchedule(ctx, newSchedule("globex", "sch-x"), nil))
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		page, next, err := s.ListSchedules(ctx, "acme", after, 2)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(page), 2)
		for _, sc := range page {
			assert.Equal(t, "acme", sc.Tenant)
			got = append(got, sc.ID)
		}
		if next == "" {
			break
		}
		after = next
	}
	assert.Equal(t, want, got, "every schedule of the tenant, in ID order, once")
}

func testOccurrences(t *testing.T, h harness) {
	s := h.store(t)
	sc := newSchedule("acme", "sch-o")
	require.NoError(t, s.CreateSchedule(ctx, sc, nil))

	o1 := occurrence(t, sc, base)
	created, err := s.PutOccurrence(ctx, o1)
	require.NoError(t, err)
	assert.True(t, created)
	// The chain writing the same successor again (a redelivered dispatch)
	// creates nothing and leaves the task as it is.
	claim(t, s, o1, "w", base)
	created, err = s.PutOccurrence(ctx, o1)
	require.NoError(t, err)
	assert.False(t, created, "a duplicate chain collides on the derived ID")
	assert.Equal(t, task.Running, get(t, s, o1.ID).State)

	o2 := occurrence(t, sc, base.Add(time.Minute))
	_, err = s.PutOccurrence(ctx, o2)
	require.NoError(t, err)
	sc.Generation = 2
	o3 := occurrence(t, sc, base.Add(time.Minute)) // same fire time, new generation
	_, err = s.PutOccurrence(ctx, o3)
	require.NoError(t, err)

	recs, err := s.Occurrences(ctx, "acme", "sch-o", 10)
	require.NoError(t, err)
	require.Len(t, recs, 3)
	assert.Equal(t, []task.ID{o3.ID, o2.ID, o1.ID}, []task.ID{recs[0].TaskID, recs[1].TaskID, recs[2].TaskID}, "newest first")
	assert.Equal(t, schedule.OccurrenceRecord{At: base, Due: o1.DueAt, Generation: 1, TaskID: o1.ID}, recs[2])
	recs, err = s.Occurrences(ctx, "acme", "sch-o", 1)
	require.NoError(t, err)
	assert.Len(t, recs, 1)
	recs, err = s.Occurrences(ctx, "globex", "sch-o", 10)
	require.NoError(t, err)
	assert.Empty(t, recs, "another tenant sees none")

	_, err = s.PutOccurrence(ctx, newTask(t, "acme", base))
	assert.Error(t, err, "a task of no schedule")
}

func testSigningSecret(t *testing.T, h harness) {
	s := h.store(t)
	_, err := s.GetSigningSecret(ctx, "acme")
	assert.ErrorIs(t, err, task.ErrNotFound)

	v1 := task.SigningSecret{Tenant: "acme", Current: []byte("sealed-1"), Version: 1}
	require.NoError(t, s.PutSigningSecret(ctx, v1, 0))
	got, err := s.GetSigningSecret(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, v1, got)
	assert.ErrorIs(t, s.PutSigningSecret(ctx, v1, 0), task.ErrConflict, "one exists already")

	v2 := task.SigningSecret{Tenant: "acme", Current: []byte("sealed-2"), Previous: []byte("sealed-1"), PreviousExpiresAt: base, Version: 2}
	require.NoError(t, s.PutSigningSecret(ctx, v2, 1), "a rotation")
	got, err = s.GetSigningSecret(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, v2, got)
	assert.ErrorIs(t, s.PutSigningSecret(ctx, task.SigningSecret{Tenant: "acme", Current: []byte("x"), Version: 2}, 1), task.ErrConflict, "a racing rotation")
	assert.ErrorIs(t, s.PutSigningSecret(ctx, task.SigningSecret{Tenant: "globex", Current: []byte("x"), Version: 2}, 1), task.ErrConflict, "a rotation of nothing")
	_, err = s.GetSigningSecret(ctx, "globex")
	assert.ErrorIs(t, err, task.ErrNotFound, "secrets are per tenant")
}
