package console_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/client"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// signIn signs a cookie-keeping HTTP client in to the host's console as
// tenant acme and returns it with the CSRF token of its session.
func signIn(t *testing.T, base string) (*http.Client, string) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	_, body := get(t, hc, base+"/console/signin")
	m := csrfRE.FindStringSubmatch(body)
	require.NotNil(t, m)
	status, body := post(t, hc, base+"/console/signin", url.Values{"csrf": {m[1]}, "token": {"dev-acme"}, "next": {"/console/schedules"}}, nil)
	require.Equal(t, http.StatusOK, status, body)
	m = csrfRE.FindStringSubmatch(body) // the signed-in session's token
	require.NotNil(t, m)
	return hc, m[1]
}

// TestRescheduleEditResume: the forms the browser test does not press —
// reschedule a task, edit a schedule, pause and resume it, a stale edit —
// against a dev host, checked through the API.
func TestRescheduleEditResume(t *testing.T) {
	t.Parallel()
	env := awstest.New(t)
	base := startHost(t, env, hostConfig(true))
	api, err := client.New(base, client.Options{DevTenant: "acme"})
	require.NoError(t, err)
	ctx := context.Background()
	hc, csrf := signIn(t, base)

	tk, _, err := api.Create(ctx, client.CreateTask{DueAt: time.Now().Add(time.Hour), Target: client.Webhook("http://127.0.0.1:9/hook")}, "")
	require.NoError(t, err)
	due := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	status, body := post(t, hc, base+"/console/tasks/"+tk.ID+"/reschedule", url.Values{"csrf": {csrf}, "due_at": {due.Format("2006-01-02T15:04:05")}}, nil)
	require.Equal(t, http.StatusOK, status, body)
	m := regexpTaskID.FindStringSubmatch(body)
	require.NotNil(t, m, "the page follows the new task")
	moved, err := api.Get(ctx, m[1])
	require.NoError(t, err)
	assert.True(t, moved.DueAt.Equal(due))
	old, err := api.Get(ctx, tk.ID)
	require.NoError(t, err)
	assert.Equal(t, "CANCELLED", old.State)
	assert.Equal(t, moved.ID, old.ReplacedBy)

	status, body = post(t, hc, base+"/console/tasks/"+tk.ID+"/reschedule", url.Values{"csrf": {csrf}, "due_at": {"soon"}}, nil)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, "<strong>due_at</strong>")

	s, err := api.CreateSchedule(ctx, client.CreateSchedule{Expression: "cron(0 9 ? * MON-FRI *)", Timezone: "Europe/Paris", Target: client.Webhook("http://127.0.0.1:9/hook")})
	require.NoError(t, err)
	page := base + "/console/schedules/" + s.ID
	status, body = post(t, hc, page+"/edit", url.Values{"csrf": {csrf}, "version": {itoa(s.Version)}, "expression": {"cron(30 18 ? * FRI *)"},
		"timezone": {"America/New_York"}, "url": {"http://127.0.0.1:9/other"}, "payload": {`{"report": "weekly"}`}}, nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, "18:30:00 E", "next fire times in New York (EST or EDT)")
	got, err := api.GetSchedule(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, "cron(30 18 ? * FRI *)", got.Expression)
	assert.Equal(t, "America/New_York", got.Timezone)
	assert.Equal(t, "http://127.0.0.1:9/other", got.Target["url"])
	assert.JSONEq(t, `{"report": "weekly"}`, string(got.Payload))

	// An edit from a page loaded before that change: 412, shown, not applied.
	status, body = post(t, hc, page+"/edit", url.Values{"csrf": {csrf}, "version": {itoa(s.Version)}, "expression": {"rate(5 minutes)"}}, nil)
	assert.Equal(t, http.StatusPreconditionFailed, status)
	assert.Contains(t, body, "changed since this page was loaded")
	got, err = api.GetSchedule(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, "cron(30 18 ? * FRI *)", got.Expression)

	for _, step := range []struct{ action, want string }{{"pause", "DISABLED"}, {"resume", "ENABLED"}} {
		status, body = post(t, hc, page+"/"+step.action, url.Values{"csrf": {csrf}}, nil)
		require.Equal(t, http.StatusOK, status, body)
		assert.Contains(t, body, `<span id="schedule-state" class="state state-`+lower(step.want)+`">`+step.want+`</span>`)
		got, err = api.GetSchedule(ctx, s.ID)
		require.NoError(t, err)
		assert.Equal(t, step.want, got.State, step.action)
	}

	status, _ = get(t, hc, base+"/console/schedules/nosuchschedule")
	assert.Equal(t, http.StatusNotFound, status)
}

var regexpTaskID = regexp.MustCompile(`<code id="task-id">([0-9a-v]{26})</code>`)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func lower(s string) string { return strings.ToLower(s) }
