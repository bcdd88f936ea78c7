package schedule_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

var t0 = time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)

func sched(expr string, misfire schedule.Misfire) *schedule.Schedule {
	return &schedule.Schedule{ID: "s0123456789abcdefghij", Tenant: "acme", Expression: expr, Timezone: "UTC",
		State: schedule.Enabled, Misfire: misfire, Generation: 1, CreatedAt: t0}
}

func TestRateAnchoredAtCreation(t *testing.T) {
	t.Parallel()
	s := sched("rate(2 seconds)", schedule.RunOnce)
	s.CreatedAt = t0.Add(300 * time.Millisecond) // rounded up to the next second
	occ, ok := s.First(s.CreatedAt, false)
	require.True(t, ok)
	assert.Equal(t, t0.Add(time.Second), occ.At)
	assert.Equal(t, occ.At, occ.Due, "no flexible window")
}

func TestAfterMisfirePolicies(t *testing.T) {
	t.Parallel()
	prev := t0.Add(10 * time.Second)
	late := prev.Add(time.Minute) // an outage: 30 fire times of rate(2 seconds) missed
	ahead := prev.Add(-time.Second)
	for _, tc := range []struct {
		misfire  schedule.Misfire
		now      time.Time
		wantNext time.Time
	}{
		{schedule.RunAll, late, prev.Add(2 * time.Second)},   // every missed time runs
		{schedule.RunOnce, late, late.Add(2 * time.Second)},  // collapsed into prev
		{schedule.Skip, late, late.Add(2 * time.Second)},     // not run
		{schedule.RunOnce, ahead, prev.Add(2 * time.Second)}, // dispatched ahead of time, as normal
		{schedule.Skip, ahead, prev.Add(2 * time.Second)},
	} {
		occ, ok := sched("rate(2 seconds)", tc.misfire).After(prev, tc.now)
		require.True(t, ok)
		assert.Equal(t, tc.wantNext, occ.At, "%s at %s", tc.misfire, tc.now)
	}
}

func TestFirstOnResume(t *testing.T) {
	t.Parallel()
	paused := t0.Add(10 * time.Second)
	now := paused.Add(7 * time.Second) // fires at +12, +14, +16 were missed
	for _, tc := range []struct {
		misfire     schedule.Misfire
		wantAt, due time.Time
	}{
		{schedule.RunAll, paused.Add(2 * time.Second), paused.Add(2 * time.Second)},
		{schedule.RunOnce, paused.Add(2 * time.Second), now},
		{schedule.Skip, now.Add(time.Second), now.Add(time.Second)},
	} {
		s := sched("rate(2 seconds)", tc.misfire)
		s.PausedAt = paused
		occ, ok := s.First(now, true)
		require.True(t, ok)
		assert.Equal(t, tc.wantAt, occ.At, tc.misfire)
		assert.Equal(t, tc.due, occ.Due, tc.misfire)
	}
}

func TestOffsetStableAndInsideWindow(t *testing.T) {
	t.Parallel()
	seen := map[time.Duration]bool{}
	for i := range 200 {
		s := sched("cron(0 9 * * ? *)", schedule.RunOnce)
		s.ID = schedule.NewID()
		s.FlexWindow = 15 * time.Minute
		off := s.Offset()
		require.Equal(t, off, s.Offset(), "stable")
		require.True(t, off >= 0 && off < 15*time.Minute, "offset %s out of window (schedule %d)", off, i)
		require.Zero(t, off%time.Second)
		seen[off] = true
		occ, ok := s.First(t0.Add(-time.Hour), false)
		require.True(t, ok)
		require.Equal(t, t0, occ.At)
		require.Equal(t, t0.Add(off), occ.Due)
	}
	assert.Greater(t, len(seen), 150, "200 schedules should spread over the window")
}

func TestTaskIDDerivedFromOccurrence(t *testing.T) {
	t.Parallel()
	s := sched("rate(1 minute)", schedule.RunOnce)
	occ := schedule.Occ{At: t0, Due: t0}
	a, err := s.Task(occ, 16, t0)
	require.NoError(t, err)
	b, err := s.Task(occ, 16, t0.Add(time.Second))
	require.NoError(t, err)
	assert.Equal(t, a.ID, b.ID, "the same occurrence gets the same ID")
	s.Generation++
	c, err := s.Task(occ, 16, t0)
	require.NoError(t, err)
	assert.NotEqual(t, a.ID, c.ID, "a new generation gets new IDs")
	assert.Equal(t, &task.Occurrence{Schedule: s.ID, Generation: 2, At: t0}, c.Occurrence)
}

func TestDecodeSpecNamesFields(t *testing.T) {
	t.Parallel()
	raw := func(s string) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(s), &m))
		return m
	}
	fields := func(body string) []string {
		_, errs := schedule.DecodeSpec(raw(body), t0, task.DefaultLimits(), nil)
		var out []string
		for _, e := range errs {
			out = append(out, e.Field)
		}
		return out
	}
	target := `"target":{"kind":"webhook","url":"https://example.com/h"}`
	assert.Empty(t, fields(`{"expression":"cron(0 9 ? * MON-FRI *)","timezone":"Europe/Paris",`+target+`}`))
	assert.Equal(t, []string{"expression"}, fields(`{"expression":"cron(0 9 * * * *)",`+target+`}`))
	assert.Equal(t, []string{"timezone"}, fields(`{"expression":"rate(1 minute)","timezone":"Mars/Olympus",`+target+`}`))
	assert.Equal(t, []string{"expression"}, fields(`{`+target+`}`))
	assert.Equal(t, []string{"target"}, fields(`{"expression":"rate(1 minute)"}`))
	assert.Equal(t, []string{"expression"}, fields(`{"expression":"at(2020-01-01T00:00:00)",`+target+`}`), "never fires")
	assert.Equal(t, []string{"end_at"}, fields(`{"expression":"rate(1 minute)","start_at":"2031-01-01T00:00:00Z","end_at":"2030-01-01T00:00:00Z",`+target+`}`))
	assert.Equal(t, []string{"start_at"}, fields(`{"expression":"rate(1 minute)","start_at":"2030-06-01T00:00:00+24:00",`+target+`}`), "offset beyond ±23:59")
	assert.Equal(t, []string{"end_at"}, fields(`{"expression":"rate(1 minute)","end_at":"2030-06-01T00:00:00-23:60",`+target+`}`), "offset beyond ±23:59")
	assert.ElementsMatch(t, []string{"flexible_window_minutes", "misfire_policy", "state", "id"},
		fields(`{"expression":"rate(1 minute)","flexible_window_minutes":1441,"misfire_policy":"later","state":"ON","id":"x",`+target+`}`))
}
