package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/client"
	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/devhost"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
	"github.com/hourglass-sched/hourglass/pkg/testkit/browser"
)

// hostConfig is a dev host's configuration for these tests: dev mode,
// short buckets, webhooks allowed to loopback.
func hostConfig(listIndex bool) config.Config {
	return config.Config{Table: "unused", Shards: 2, Bucket: 2 * time.Second, Lookahead: 3 * time.Second, Lease: 5 * time.Second,
		SweepDelay: 5 * time.Second, EarlyDelivery: time.Second, LogLevel: "warn", Dev: true, SigningKey: "console-test-signing-key",
		Limits: task.DefaultLimits(), WebhookAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, ListIndex: listIndex}
}

// startHost runs a dev host (API and console) in env's isolated account
// and returns its base URL once ready; it stops with the test.
func startHost(t *testing.T, env *awstest.Env, cfg config.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- devhost.Run(ctx, cfg, devhost.Options{Prefix: env.Prefix, Tick: 500 * time.Millisecond, Listener: ln, AWS: &env.Config, PollWait: 2 * time.Second,
			Ready: func(base string) { ready <- base }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "host's Run after cancel")
		case <-time.After(30 * time.Second):
			t.Error("host did not stop within 30s")
		}
	})
	select {
	case base := <-ready:
		return base
	case err := <-done:
		t.Fatalf("host stopped before ready: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("host not ready after 60s")
	}
	return ""
}

// startBrowser starts headless Chromium, failing (never skipping) when it
// is missing.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := browser.Find()
	require.NoError(t, err, "the console's browser tests need Chromium")
	t.Logf("browser: %s", strings.TrimSpace(browser.Version(path)))
	ctx, cancel, err := browser.Start(context.Background(), 1280, 900)
	require.NoError(t, err)
	t.Cleanup(cancel)
	return ctx
}

// do runs browser steps with a deadline.
func do(t *testing.T, bctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bctx, 45*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, steps...), what)
}

func text(t *testing.T, bctx context.Context, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err, "text of %s", sel)
	return strings.TrimSpace(s)
}

// waitText waits until the element's text is want. It polls with a
// deadline, tolerating the errors of a page that is being replaced (a
// form's POST and its redirect).
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(document.querySelector(%q) || {}).textContent === %q`, sel, want)
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		deadline := time.Now().Add(30 * time.Second)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			ok, err := chromedp.Evaluate[bool](js)(ctx, tg)
			if err == nil && ok {
				return chromedp.Void{}, nil
			}
			if time.Now().After(deadline) {
				return chromedp.Void{}, fmt.Errorf("%s never read %q (last error: %w)", sel, want, err)
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, ctx.Err()
			case <-tick.C:
			}
		}
	}
}

// TestBrowserTaskAndSchedule drives the console in headless Chromium
// against a dev host on the emulator: sign in with a dev token, create a
// task and a schedule through the forms, see them listed, cancel the task,
// pause the schedule, and check both through the API.
func TestBrowserTaskAndSchedule(t *testing.T) {
	t.Parallel()
	env := awstest.New(t)
	base := startHost(t, env, hostConfig(true))
	bctx := startBrowser(t)
	api, err := client.New(base, client.Options{DevTenant: "acme"})
	require.NoError(t, err)
	ctx := context.Background()

	// Sign in: the console sends an unsigned browser to its form.
	do(t, bctx, "sign in",
		chromedp.Navigate(base+"/console/tasks"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), "dev-acme"),
		chromedp.Click(chromedp.CSS(`form[action="/console/signin"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#create-task")),
	)

	// Create a task due in an hour through the form.
	due := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	do(t, bctx, "create a task",
		chromedp.SetValue(chromedp.CSS("#c-due"), due.Format("2006-01-02T15:04:05")),
		chromedp.SendKeys(chromedp.CSS("#c-url"), "http://127.0.0.1:9/hook"),
		chromedp.SendKeys(chromedp.CSS("#c-payload"), `{"order": 42}`),
		chromedp.SendKeys(chromedp.CSS("#c-labels"), "team=billing"),
		chromedp.Click(chromedp.CSS("#create-task button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#task-id")),
	)
	id := text(t, bctx, "#task-id")
	require.Regexp(t, `^[0-9a-v]{26}$`, id)
	assert.Equal(t, "SCHEDULED", text(t, bctx, "#task-state"))
	got, err := api.Get(ctx, id)
	require.NoError(t, err, "the task the form created, through the API")
	assert.True(t, got.DueAt.Equal(due), "due_at %s, want %s", got.DueAt, due)
	assert.Equal(t, map[string]string{"team": "billing"}, got.Labels)
	assert.JSONEq(t, `{"order": 42}`, string(got.Payload))

	// Listed, and found by the label filter (a shareable URL).
	do(t, bctx, "list tasks by label",
		chromedp.Navigate(base+"/console/tasks?label=team%3Dbilling&state=SCHEDULED"),
		chromedp.WaitVisible(chromedp.CSS("#task-list")),
	)
	assert.Contains(t, text(t, bctx, "#task-list"), id)

	// Cancel it from its page.
	do(t, bctx, "cancel the task",
		chromedp.Navigate(base+"/console/tasks/"+id),
		chromedp.WaitVisible(chromedp.CSS("#cancel-task")),
		chromedp.Click(chromedp.CSS("#cancel-task button[type=submit]")),
		waitText("#task-state", "CANCELLED"),
	)
	got, err = api.Get(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "CANCELLED", got.State, "the task's state through the API after the console cancelled it")

	// Create a schedule through the form; its page shows ten fire times.
	do(t, bctx, "create a schedule",
		chromedp.Navigate(base+"/console/schedules"),
		chromedp.WaitVisible(chromedp.CSS("#create-schedule")),
		chromedp.SendKeys(chromedp.CSS("#s-expr"), "cron(0 9 ? * MON-FRI *)"),
		chromedp.SetValue(chromedp.CSS("#s-tz"), "Europe/Paris"),
		chromedp.SendKeys(chromedp.CSS("#s-url"), "http://127.0.0.1:9/hook"),
		chromedp.Click(chromedp.CSS("#create-schedule button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#schedule-id")),
	)
	sid := text(t, bctx, "#schedule-id")
	require.NotEmpty(t, sid)
	assert.Equal(t, "ENABLED", text(t, bctx, "#schedule-state"))
	rows, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#next-fires tbody tr").length`))
	require.NoError(t, err)
	assert.Equal(t, 10, rows, "next ten fire times")
	fires := text(t, bctx, "#next-fires")
	assert.Contains(t, fires, "09:00:00 CE", "fire times in Europe/Paris (CET or CEST)")
	assert.Contains(t, fires, ":00:00Z", "fire times in UTC")

	do(t, bctx, "list schedules",
		chromedp.Navigate(base+"/console/schedules"),
		chromedp.WaitVisible(chromedp.CSS("#schedule-list")),
	)
	assert.Contains(t, text(t, bctx, "#schedule-list"), sid)

	do(t, bctx, "pause the schedule",
		chromedp.Navigate(base+"/console/schedules/"+sid),
		chromedp.WaitVisible(chromedp.CSS("#pause-schedule")),
		chromedp.Click(chromedp.CSS("#pause-schedule button[type=submit]")),
		waitText("#schedule-state", "DISABLED"),
		chromedp.WaitVisible(chromedp.CSS("#resume-schedule")),
	)
	s, err := api.GetSchedule(ctx, sid)
	require.NoError(t, err)
	assert.Equal(t, "DISABLED", s.State, "the schedule's state through the API after the console paused it")

	// The overview shows the host's figures: the task created above.
	do(t, bctx, "overview",
		chromedp.Navigate(base+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#fig-dlq")),
	)
	assert.Equal(t, "1", text(t, bctx, "#tot-created"), "tasks created, as GET /v1/stats counts them")
	assert.Equal(t, "0", text(t, bctx, "#fig-dlq"))
	resp, err := http.Get(base + "/v1/stats")
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	var st devhost.Stats
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	assert.Equal(t, int64(1), st.Totals.Created)
	assert.Len(t, st.Series, 60)
}

// TestListIndexOff: with the list index off (AWS's default) the tasks
// page says how to turn it on and still opens a task by its ID.
func TestListIndexOff(t *testing.T) {
	t.Parallel()
	env := awstest.New(t)
	base := startHost(t, env, hostConfig(false))
	api, err := client.New(base, client.Options{DevTenant: "acme"})
	require.NoError(t, err)
	tk, _, err := api.Create(context.Background(), client.CreateTask{DueAt: time.Now().Add(time.Hour), Target: client.Webhook("http://127.0.0.1:9/hook")}, "")
	require.NoError(t, err)

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	status, body := get(t, hc, base+"/console/tasks")
	require.Equal(t, http.StatusOK, status, "sign-in form")
	m := csrfRE.FindStringSubmatch(body)
	require.NotNil(t, m, "the sign-in form carries a CSRF token")
	status, body = post(t, hc, base+"/console/signin", url.Values{"csrf": {m[1]}, "token": {"dev-acme"}, "next": {"/console/tasks"}}, nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `id="list-off"`)
	assert.Contains(t, body, "HOURGLASS_LIST_INDEX=1")

	status, body = get(t, hc, base+"/console/tasks?id="+tk.ID)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `<code id="task-id">`+tk.ID+`</code>`)

	status, body = get(t, hc, base+"/console/tasks/06h2aaaaaaaaaaaaaaaaaaaaaa")
	assert.Equal(t, http.StatusNotFound, status, "a task that does not exist")
	assert.Contains(t, body, "No task 06h2aaaaaaaaaaaaaaaaaaaaaa")

	// A refused token stays on the form, naming the field.
	jar2, err := cookiejar.New(nil)
	require.NoError(t, err)
	hc2 := &http.Client{Jar: jar2, Timeout: 30 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(hc2.CloseIdleConnections)
	_, body = get(t, hc2, base+"/console/signin")
	m = csrfRE.FindStringSubmatch(body)
	require.NotNil(t, m)
	status, body = post(t, hc2, base+"/console/signin", url.Values{"csrf": {m[1]}, "token": {"not-a-dev-token"}}, nil)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Contains(t, body, "<strong>token</strong>")
}
