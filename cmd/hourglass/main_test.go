package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
)

// TestMain fails the run on leaked goroutines (see awstest.VerifyTestMain).
func TestMain(m *testing.M) { awstest.VerifyTestMain(m) }

// harness is a test stack (list index on) whose whole HTTP API — tasks
// and schedules — is served on a loopback port, as make dev serves it.
type harness struct {
	s    *stacktest.Stack
	base string
}

func setup(t *testing.T) *harness {
	t.Helper()
	s := stacktest.New(t, stacktest.Options{ListIndex: true})
	srv := httptest.NewServer(s.Comps.HTTP(api.DevAuth{}, nil))
	t.Cleanup(srv.Close)
	return &harness{s: s, base: srv.URL}
}

// result is one run of the command.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the command in-process as tenant acme, with HOURGLASS_API and
// HOURGLASS_TOKEN set as a user would.
func (h *harness) run(t *testing.T, args ...string) result {
	t.Helper()
	return h.runAs(t, "dev-acme", false, args...)
}

func (h *harness) runAs(t *testing.T, token string, tty bool, args ...string) result {
	t.Helper()
	env := map[string]string{"HOURGLASS_API": h.base, "HOURGLASS_TOKEN": token}
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, func(k string) string { return env[k] }, tty)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// okJSON runs a command with -o json, requires exit 0 and decodes stdout.
func (h *harness) okJSON(t *testing.T, out any, args ...string) {
	t.Helper()
	r := h.run(t, append(args, "-o", "json")...)
	require.Equal(t, exitOK, r.code, "hourglass %v: stderr %s", args, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), out), "stdout: %s", r.stdout)
}

type taskJSON struct {
	ID         string `json:"id"`
	State      string `json:"state"`
	ReplacedBy string `json:"replaced_by"`
	Retry      struct {
		MaxAttempts int `json:"max_attempts"`
	} `json:"retry"`
	Labels map[string]string `json:"labels"`
}

func TestTasks(t *testing.T) {
	t.Parallel()
	h := setup(t)
	hook := h.s.Sink.URL + "/hook"

	var created taskJSON
	h.okJSON(t, &created, "tasks", "create", "--due", "+1h", "--webhook", hook, "--payload", `{"order": 42}`, "--label", "customer=c-42", "--max-attempts", "4")
	assert.Equal(t, "SCHEDULED", created.State)
	assert.Equal(t, 4, created.Retry.MaxAttempts)
	assert.Equal(t, map[string]string{"customer": "c-42"}, created.Labels)

	// The table shows the fields a person looks for.
	r := h.run(t, "tasks", "get", created.ID)
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, want := range []string{"id:", created.ID, "state:", "SCHEDULED", "webhook " + hook, "customer=c-42", "0 of 4"} {
		assert.Contains(t, r.stdout, want)
	}

	// tasks list -o json: the API's page, with the task in it.
	var page struct {
		Tasks []taskJSON `json:"tasks"`
	}
	h.okJSON(t, &page, "tasks", "list", "--state", "SCHEDULED", "--label", "customer=c-42")
	require.Len(t, page.Tasks, 1)
	assert.Equal(t, created.ID, page.Tasks[0].ID)
	r = h.run(t, "tasks", "list")
	require.Equal(t, exitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 2, r.stdout)
	assert.Regexp(t, `^ID\s+STATE\s+DUE\s+ATTEMPTS\s+TARGET`, lines[0])
	assert.Regexp(t, "^"+created.ID+`\s+SCHEDULED\s`, lines[1])

	// Reschedule: a new ID; the old task is CANCELLED, replaced by it.
	var moved taskJSON
	h.okJSON(t, &moved, "tasks", "reschedule", created.ID, "--due", "+2h")
	assert.NotEqual(t, created.ID, moved.ID)
	var old taskJSON
	h.okJSON(t, &old, "tasks", "get", created.ID)
	assert.Equal(t, "CANCELLED", old.State)
	assert.Equal(t, moved.ID, old.ReplacedBy)

	// Cancel, twice (idempotent).
	var cancelled taskJSON
	h.okJSON(t, &cancelled, "tasks", "cancel", moved.ID)
	assert.Equal(t, "CANCELLED", cancelled.State)
	h.okJSON(t, &cancelled, "tasks", "cancel", moved.ID)

	// Not found: exit 3, with the problem's detail; another tenant's task
	// is not found either.
	r = h.run(t, "tasks", "get", "06h3nhoc4s002na8729jgo8c70")
	assert.Equal(t, exitNotFound, r.code)
	assert.Contains(t, r.stderr, "does not exist")
	r = h.runAs(t, "dev-globex", false, "tasks", "get", old.ID)
	assert.Equal(t, exitNotFound, r.code)
	// Several IDs, one missing: the found one is cancelled, exit 3.
	other := h.s.Create("acme", time.Now().Add(time.Hour), nil)
	r = h.run(t, "tasks", "cancel", other, "06h3nhoc4s002na8729jgo8c70")
	assert.Equal(t, exitNotFound, r.code, r.stderr)
	assert.Contains(t, r.stdout, other)
	assert.Equal(t, task.Cancelled, h.s.Get(other).State)

	// Refused by the API: exit 1, the problem's detail and the field.
	r = h.run(t, "tasks", "create", "--due", "+1h", "--webhook", "ftp://example.com/x")
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "HTTP 400")
	assert.Contains(t, r.stderr, "target.url")
	r = h.run(t, "tasks", "create", "--due", "+1h", "--webhook", hook, "--max-attempts", "99", "--target-key", strings.Repeat("k", 300))
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "fields are invalid")
	assert.Contains(t, r.stderr, "  retry.max_attempts: ", "each field on its own line")
	assert.Contains(t, r.stderr, "  idempotency_key: ")
	r = h.runAs(t, "", false, "tasks", "list")
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "HTTP 401")
	r = h.run(t, "tasks", "cancel", h.s.Create("acme", time.Now().Add(time.Hour), nil), "--api", "http://127.0.0.1:1")
	assert.Equal(t, exitFailed, r.code, "no answer is a failure, not bad usage")
}

// TestBadUsage: bad usage exits 2 and says what is wrong, before any call.
func TestBadUsage(t *testing.T) {
	t.Parallel()
	h := &harness{base: "http://127.0.0.1:1"} // never called
	for _, args := range [][]string{
		{"tasks"},
		{"tasks", "frobnicate"},
		{"nonsense"},
		{"tasks", "list", "--bogus"},
		{"tasks", "list", "-o", "yaml"},
		{"tasks", "get"},
		{"tasks", "get", "a", "b"},
		{"tasks", "create", "--webhook", "https://example.com"},
		{"tasks", "create", "--due", "tomorrow", "--webhook", "https://example.com"},
		{"tasks", "create", "--due", "+1h"},
		{"tasks", "create", "--due", "+1h", "--webhook", "https://example.com", "--payload", "{nope"},
		{"tasks", "create", "--due", "+1h", "--webhook", "https://example.com", "--label", "novalue"},
		{"tasks", "reschedule", "x"},
		{"schedules", "preview"},
		{"dlq", "redrive"},
		{"dlq", "redrive", "x", "--all"},
		{"access-keys"},
		{"access-keys", "list", "x"},
		{"access-keys", "delete"},
		{"completion", "tcsh"},
		{"--sigv4", "--token", "t", "tasks", "list"},
		{"--api", "ftp://example.com", "tasks", "list"},
	} {
		r := h.run(t, args...)
		assert.Equal(t, exitUsage, r.code, "hourglass %v: %s", args, r.stderr)
		assert.Contains(t, r.stderr, "hourglass: ", "hourglass %v says why", args)
		assert.Empty(t, r.stdout, "hourglass %v", args)
	}
}

// TestHelpHasExamples: every command's --help has examples, and exits 0.
func TestHelpHasExamples(t *testing.T) {
	t.Parallel()
	a := &app{}
	root := a.rootCmd()
	root.InitDefaultHelpCmd()
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		n++
		assert.NotEmpty(t, c.Example, "%s has no examples", c.CommandPath())
		path := strings.Fields(c.CommandPath())[1:]
		h := &harness{base: "http://127.0.0.1:1"}
		r := h.run(t, append(path, "--help")...)
		assert.Equal(t, exitOK, r.code, "%s --help", c.CommandPath())
		assert.Contains(t, r.stdout, "Examples:", "%s --help", c.CommandPath())
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	assert.GreaterOrEqual(t, n, 20, "every command was visited")
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	h := &harness{base: "http://127.0.0.1:1"}
	for shell, want := range map[string]string{"bash": "complete -o default -F __start_hourglass hourglass", "zsh": "#compdef hourglass", "fish": "complete -c hourglass"} {
		r := h.run(t, "completion", shell)
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, want, shell)
	}
	// The scripts complete through the command itself: subcommands come back.
	r := h.run(t, "__complete", "schedules", "")
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, sub := range []string{"create", "preview", "runs", "pause", "resume"} {
		assert.Contains(t, r.stdout, sub)
	}
}

func TestSchedules(t *testing.T) {
	t.Parallel()
	h := setup(t)

	// preview: the next ten weekday 09:00s in Paris, in both zones.
	r := h.run(t, "schedules", "preview", "cron(0 9 ? * MON-FRI *)", "--timezone", "Europe/Paris")
	require.Equal(t, exitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 11, r.stdout)
	assert.Regexp(t, `^IN Europe/Paris\s+UTC$`, lines[0])
	for _, l := range lines[1:] {
		assert.Regexp(t, `^(Mon|Tue|Wed|Thu|Fri) \d{4}-\d\d-\d\d 09:00:00 CES?T\s+\d{4}-\d\d-\d\dT0[78]:00:00Z$`, l)
	}
	var pv struct {
		Timezone  string      `json:"timezone"`
		FireTimes []time.Time `json:"fire_times"`
	}
	h.okJSON(t, &pv, "schedules", "preview", "cron(0 9 ? * MON-FRI *)", "--timezone", "Europe/Paris", "--count", "3", "--after", "2030-03-29T12:00:00Z")
	assert.Equal(t, "Europe/Paris", pv.Timezone)
	require.Len(t, pv.FireTimes, 3)
	// Friday 29 March 2030 is before the change to summer time (31 March).
	assert.Equal(t, []time.Time{
		time.Date(2030, 4, 1, 7, 0, 0, 0, time.UTC), time.Date(2030, 4, 2, 7, 0, 0, 0, time.UTC), time.Date(2030, 4, 3, 7, 0, 0, 0, time.UTC),
	}, []time.Time{pv.FireTimes[0].UTC(), pv.FireTimes[1].UTC(), pv.FireTimes[2].UTC()})
	r = h.run(t, "schedules", "preview", "cron(0 9 * * MON *)")
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "expression", "the problem names the field")

	type schedJSON struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	var s schedJSON
	h.okJSON(t, &s, "schedules", "create", "rate(1 hour)", "--webhook", h.s.Sink.URL+"/hook", "--label", "team=ops")
	assert.Equal(t, "ENABLED", s.State)
	var list struct {
		Schedules []schedJSON `json:"schedules"`
	}
	h.okJSON(t, &list, "schedules", "list")
	require.Len(t, list.Schedules, 1)
	assert.Equal(t, s.ID, list.Schedules[0].ID)
	h.okJSON(t, &s, "schedules", "pause", s.ID)
	assert.Equal(t, "DISABLED", s.State)
	h.okJSON(t, &s, "schedules", "resume", s.ID)
	assert.Equal(t, "ENABLED", s.State)
	r = h.run(t, "schedules", "get", s.ID)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "rate(1 hour)")
	var runs struct {
		Upcoming []struct {
			At time.Time `json:"at"`
		} `json:"upcoming"`
	}
	h.okJSON(t, &runs, "schedules", "runs", s.ID)
	assert.NotEmpty(t, runs.Upcoming)
	r = h.run(t, "schedules", "runs", s.ID)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Regexp(t, `^FIRE TIME\s+DUE\s+TASK\s+STATE`, r.stdout)
	r = h.run(t, "schedules", "delete", s.ID)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, exitNotFound, h.run(t, "schedules", "get", s.ID).code)
	assert.Equal(t, exitNotFound, h.run(t, "schedules", "pause", s.ID).code)
}

// TestDLQ: FAILED tasks are listed and redriven (one, or all with a
// progress bar on a terminal), with the list index off as in AWS.
func TestDLQ(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{}) // list index off
	srv := httptest.NewServer(s.Comps.HTTP(api.DevAuth{}, nil))
	t.Cleanup(srv.Close)
	h := &harness{s: s, base: srv.URL}
	var failing atomic.Bool
	failing.Store(true)
	s.Sink.SetStatus(func(stacktest.Call) int {
		if failing.Load() {
			return http.StatusBadRequest // permanent: FAILED at once
		}
		return http.StatusNoContent
	})
	s.Tick()
	ids := []string{s.Create("acme", time.Now().Add(time.Second), nil), s.Create("acme", time.Now().Add(time.Second), nil), s.Create("acme", time.Now().Add(time.Second), nil)}
	s.Until(30*time.Second, "three dead letters", func() bool {
		for _, id := range ids {
			if s.Get(id).State != task.Failed {
				return false
			}
		}
		return true
	}, func() { s.Tick(); s.Dispatch(nil); s.Work(nil) })
	var page struct {
		Tasks []taskJSON `json:"tasks"`
	}
	s.Until(10*time.Second, "the dead letters listed", func() bool {
		h.okJSON(t, &page, "dlq", "list")
		return len(page.Tasks) == 3
	}, nil)
	r := h.run(t, "dlq", "list")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "FAILED")
	assert.Contains(t, r.stdout, "webhook: status 400")
	assert.Equal(t, exitFailed, h.run(t, "tasks", "list").code, "other listings still need the list index")

	// One by ID, with a budget.
	var one taskJSON
	h.okJSON(t, &one, "dlq", "redrive", ids[0], "--attempts", "2")
	assert.Equal(t, "RETRYING", one.State)
	assert.Equal(t, 3, one.Retry.MaxAttempts)
	r = h.run(t, "dlq", "redrive", ids[0])
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "only a FAILED task can be retried")

	// All the rest, on a terminal: a progress bar on stderr.
	s.Until(10*time.Second, "the redriven task out of the list", func() bool {
		h.okJSON(t, &page, "dlq", "list")
		return len(page.Tasks) == 2
	}, nil)
	failing.Store(false)
	r = h.runAs(t, "dev-acme", true, "dlq", "redrive", "--all")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "redriving [")
	assert.Contains(t, r.stderr, "] 2/2")
	assert.Equal(t, 2, strings.Count(r.stdout, "RETRYING"), "two rows: %s", r.stdout)
	s.Until(30*time.Second, "all three to succeed", func() bool {
		for _, id := range ids {
			if s.Get(id).State != task.Succeeded {
				return false
			}
		}
		return true
	}, func() { s.Tick(); s.Dispatch(nil); s.Work(nil) })
	// Not on a terminal (a pipe, a log): no bar; nothing left to do.
	r = h.run(t, "dlq", "redrive", "--all")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.NotContains(t, r.stderr, "redriving [")
	assert.Contains(t, r.stderr, "no FAILED tasks")
}

// TestBinary builds the command as go install would and runs it as a
// process: its exit codes are the process's.
func TestBinary(t *testing.T) {
	t.Parallel()
	h := setup(t)
	bin := filepath.Join(t.TempDir(), "hourglass")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	exe := func(args ...string) (int, string, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "HOURGLASS_API="+h.base, "HOURGLASS_TOKEN=dev-acme")
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return code, o.String(), e.String()
	}
	code, stdout, _ := exe("tasks", "create", "--due", "+1h", "--webhook", h.s.Sink.URL+"/hook", "-o", "json")
	require.Equal(t, 0, code)
	var tk taskJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &tk))
	code, stdout, _ = exe("tasks", "list", "-o", "json")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, tk.ID)
	code, _, stderr := exe("tasks", "get", "06h3nhoc4s002na8729jgo8c70")
	assert.Equal(t, 3, code, stderr)
	code, _, _ = exe("tasks", "create", "--due", "+1h", "--webhook", "ftp://x")
	assert.Equal(t, 1, code)
	code, _, _ = exe("tasks", "nope")
	assert.Equal(t, 2, code)
	code, stdout, _ = exe("--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "Exit codes")
}

// hourglass console serves the web console on loopback with the CLI's
// credentials; its dead-letter page lists the tenant's FAILED tasks
// through the real API (GET /v1/tasks?state=FAILED, list index off).
func TestConsole(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{}) // list index off
	srv := httptest.NewServer(s.Comps.HTTP(api.DevAuth{}, nil))
	t.Cleanup(srv.Close)
	h := &harness{s: s, base: srv.URL}
	s.Sink.SetStatus(func(stacktest.Call) int { return http.StatusBadRequest })
	s.Tick()
	id := s.Create("acme", time.Now().Add(time.Second), nil)
	s.Until(30*time.Second, "a dead letter", func() bool { return s.Get(id).State == task.Failed },
		func() { s.Tick(); s.Dispatch(nil); s.Work(nil) })

	r := h.run(t, "console", "--addr", "0.0.0.0:0")
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "not a loopback address")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		env := map[string]string{"HOURGLASS_API": h.base, "HOURGLASS_TOKEN": "dev-acme"}
		done <- run(ctx, []string{"console", "--addr", addr}, io.Discard, &errb, func(k string) string { return env[k] }, false)
	}()
	var body string
	s.Until(20*time.Second, "the console's dead-letter page to list the task", func() bool {
		resp, err := http.Get("http://" + addr + "/dlq")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK && strings.Contains(body, id)
	}, nil)
	assert.Contains(t, body, "FAILED")
	cancel()
	select {
	case code := <-done:
		assert.Equal(t, exitOK, code, errb.String())
	case <-time.After(10 * time.Second):
		t.Fatal("hourglass console did not stop when its context ended")
	}
	assert.Contains(t, errb.String(), "console on http://"+addr)
}
