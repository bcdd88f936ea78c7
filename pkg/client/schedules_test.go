package client_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/client"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
)

// setupHTTP serves a test stack's whole HTTP API (tasks and schedules, as
// the API function and the local host do) and returns a client for tenant.
func setupHTTP(t *testing.T, tenant string) (*stacktest.Stack, *httptest.Server, *client.Client) {
	t.Helper()
	s := stacktest.New(t, stacktest.Options{})
	srv := httptest.NewServer(s.Comps.HTTP(api.DevAuth{}, nil))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, client.Options{DevTenant: tenant, HTTPClient: srv.Client()})
	require.NoError(t, err)
	return s, srv, c
}

func ptr[T any](v T) *T { return &v }

func TestEveryScheduleRoute(t *testing.T) {
	t.Parallel()
	s, _, c := setupHTTP(t, "acme")
	ctx := context.Background()
	hook := client.Webhook(s.Sink.URL + "/sched")
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	times, err := c.Preview(ctx, client.PreviewOptions{Expression: "cron(0 9 ? * MON-FRI *)", Timezone: "Europe/Berlin", After: start, Count: 3})
	require.NoError(t, err)
	// 2030-01-01 is a Tuesday; 09:00 in Berlin is 08:00 UTC in winter.
	assert.Equal(t, []time.Time{
		time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC), time.Date(2030, 1, 2, 8, 0, 0, 0, time.UTC), time.Date(2030, 1, 3, 8, 0, 0, 0, time.UTC),
	}, times)
	_, err = c.Preview(ctx, client.PreviewOptions{Expression: "rate(3 fortnights)"})
	var pe *client.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 400, pe.Status)
	require.NotEmpty(t, pe.Errors)

	// start_at may be at most the task horizon (366 days) ahead.
	startAt := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	sc, err := c.CreateSchedule(ctx, client.CreateSchedule{Expression: "rate(1 hour)", Target: hook, Payload: map[string]int64{"n": 1 << 60},
		StartAt: &startAt, FlexibleWindowMinutes: 5, MisfirePolicy: "skip", Labels: map[string]string{"team": "a"}})
	require.NoError(t, err)
	assert.Equal(t, "ENABLED", sc.State)
	assert.Equal(t, "rate(1 hour)", sc.Expression)
	assert.Equal(t, "skip", sc.MisfirePolicy)
	assert.JSONEq(t, `{"n":1152921504606846976}`, string(sc.Payload))
	require.NotNil(t, sc.StartAt)
	assert.True(t, startAt.Equal(*sc.StartAt))

	_, err = c.CreateSchedule(ctx, client.CreateSchedule{Expression: "cron(0 9 * * * *)", Target: hook})
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 400, pe.Status, "cron needs ? in one day field")

	got, err := c.GetSchedule(ctx, sc.ID)
	require.NoError(t, err)
	assert.Equal(t, sc.Version, got.Version)

	occ, err := c.Occurrences(ctx, sc.ID, 5)
	require.NoError(t, err)
	require.Len(t, occ.Occurrences, 1, "the first occurrence is stored with the schedule")
	assert.Len(t, occ.Occurrences[0].TaskID, 26)
	assert.NotEmpty(t, occ.Upcoming)
	assert.True(t, occ.Occurrences[0].At.After(startAt) || occ.Occurrences[0].At.Equal(startAt))

	paused, err := c.UpdateSchedule(ctx, sc.ID, client.SchedulePatch{State: ptr("DISABLED"), ClearLabels: true, IfVersion: got.Version})
	require.NoError(t, err)
	assert.Equal(t, "DISABLED", paused.State)
	assert.NotNil(t, paused.PausedAt)
	assert.Empty(t, paused.Labels)
	assert.Greater(t, paused.Generation, sc.Generation)
	_, err = c.UpdateSchedule(ctx, sc.ID, client.SchedulePatch{State: ptr("ENABLED"), IfVersion: got.Version})
	assert.True(t, client.IsPreconditionFailed(err), "a stale IfVersion: %v", err)
	resumed, err := c.UpdateSchedule(ctx, sc.ID, client.SchedulePatch{State: ptr("ENABLED"), ClearStartAt: true, FlexibleWindowMinutes: ptr(0)})
	require.NoError(t, err)
	assert.Equal(t, "ENABLED", resumed.State)
	assert.Nil(t, resumed.StartAt)
	assert.Zero(t, resumed.FlexibleWindowMinutes)

	require.NoError(t, c.DeleteSchedule(ctx, sc.ID))
	_, err = c.GetSchedule(ctx, sc.ID)
	assert.True(t, client.IsNotFound(err), "%v", err)
	assert.True(t, client.IsNotFound(c.DeleteSchedule(ctx, sc.ID)))
}

// TestListSchedulesPages pages through more schedules than one page holds,
// by hand and with AllSchedules, and sees each once; another tenant's are
// not among them.
func TestListSchedulesPages(t *testing.T) {
	t.Parallel()
	s, srv, c := setupHTTP(t, "paging")
	ctx := context.Background()
	hook := client.Webhook(s.Sink.URL + "/p")
	want := map[string]bool{}
	for range 5 {
		sc, err := c.CreateSchedule(ctx, client.CreateSchedule{Expression: "rate(1 day)", Target: hook})
		require.NoError(t, err)
		want[sc.ID] = true
	}
	other, err := client.New(srv.URL, client.Options{DevTenant: "someone-else", HTTPClient: srv.Client()})
	require.NoError(t, err)
	_, err = other.CreateSchedule(ctx, client.CreateSchedule{Expression: "rate(1 day)", Target: hook})
	require.NoError(t, err)

	seen := map[string]bool{}
	pages := 0
	for o := (client.ScheduleListOptions{PageSize: 2}); ; pages++ {
		p, err := c.ListSchedules(ctx, o)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(p.Schedules), 2)
		for _, sc := range p.Schedules {
			assert.False(t, seen[sc.ID], "%s twice", sc.ID)
			seen[sc.ID] = true
		}
		if p.NextPageToken == "" {
			break
		}
		o.PageToken = p.NextPageToken
		require.Less(t, pages, 10, "paging does not end")
	}
	assert.Equal(t, want, seen)
	assert.GreaterOrEqual(t, pages, 2)

	all := map[string]bool{}
	for sc, err := range c.AllSchedules(ctx, client.ScheduleListOptions{PageSize: 2}) {
		require.NoError(t, err)
		all[sc.ID] = true
	}
	assert.Equal(t, want, all)

	_, err = c.ListSchedules(ctx, client.ScheduleListOptions{PageToken: "not-a-token"})
	var pe *client.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 400, pe.Status)
}
