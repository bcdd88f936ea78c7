//go:build unix

package doctest_test

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/devhost"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// sinkURL is the example webhook receiver's address (go run ./scripts/sink),
// which the blocks' targets use; the test swaps in its own receiver's.
const sinkURL = "http://127.0.0.1:9000"

// passes is how many times each block runs, in a row: a pasted example must
// work again (fresh idempotency keys, nothing left over that a rerun trips on).
const passes = 2

// blockTimeout bounds one run of one block (the longest waits 12 s for its
// task to run; `go run` may compile first).
const blockTimeout = 2 * time.Minute

var (
	// promised is a result a block's comment promises: "# → 201" or "# → SUCCEEDED".
	promised = regexp.MustCompile(`#\s*→\s*(\d{3}|[A-Z][A-Z_]{3,})\b`)
	// printed is a status a block printed with curl -w '→ %{http_code}\n'.
	printed = regexp.MustCompile(`(?m)^→ (\d{3})\b`)
)

// TestShellBlocksRun runs every sh block of README.md and docs/*.md that is
// not marked skip, twice in a row, against a dev host of its own (see the
// package doc). Files run side by side; a file's blocks run in order.
func TestShellBlocksRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a dev host on the emulator")
	}
	bash, err := exec.LookPath("bash")
	require.NoError(t, err, "the examples are bash")
	_, err = exec.LookPath("curl")
	require.NoError(t, err, "the examples use curl")

	root := repoRoot(t)
	type file struct {
		name string
		run  []block
	}
	var files []file
	for _, name := range manual(t, root) {
		blocks, _ := parse(t, root, name)
		f := file{name: name}
		for _, b := range blocks {
			switch {
			case b.lang != "sh":
			case b.skip != "":
				t.Logf("%s: skipped: %s", b, b.skip)
			default:
				f.run = append(f.run, b)
			}
		}
		if len(f.run) > 0 {
			files = append(files, f)
		}
	}
	require.NotEmpty(t, files, "no runnable sh block at all")

	env := awstest.New(t)
	receiver, deliveries := startReceiver(t)
	base := startDevHost(t, env)
	proxy := startAccountProxy(t, env)

	childEnv := append(os.Environ(),
		"HOURGLASS_API="+base,
		"AWS_ENDPOINT_URL="+proxy,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1",
	)
	t.Cleanup(func() { t.Logf("the receiver took %d deliveries", deliveries.Load()) })

	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			for pass := 1; pass <= passes; pass++ {
				for _, b := range f.run {
					runBlock(t, bash, root, childEnv, receiver, b, pass)
				}
			}
		})
	}
}

// runBlock runs b once and checks its exit status and promised results.
func runBlock(t *testing.T, bash, root string, env []string, receiver string, b block, pass int) {
	t.Helper()
	script := strings.ReplaceAll(b.text, sinkURL, receiver)
	ctx, cancel := context.WithTimeout(context.Background(), blockTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, "-euo", "pipefail", "-c", script)
	cmd.Dir = root
	cmd.Env = env
	// Its own process group, so that a timeout or the end of the block
	// also stops what it started (go run's child, anything in the
	// background).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers, if any; the group is usually gone
	}
	took := time.Since(start).Round(100 * time.Millisecond)
	if err != nil {
		t.Errorf("%s (pass %d, %s): %v\n--- output\n%s", b, pass, took, err, out.String())
		return
	}
	var statuses []string
	for _, m := range printed.FindAllStringSubmatch(out.String(), -1) {
		statuses = append(statuses, m[1])
	}
	next := 0
	for _, m := range promised.FindAllStringSubmatch(b.text, -1) {
		want := m[1]
		if want[0] >= 'A' && want[0] <= 'Z' {
			assert.Contains(t, out.String(), want, "%s (pass %d): a comment promises %s\n--- output\n%s", b, pass, want, out.String())
			continue
		}
		for next < len(statuses) && statuses[next] != want {
			next++
		}
		if next == len(statuses) {
			t.Errorf("%s (pass %d): a comment promises → %s, not printed in order (printed %v)\n--- output\n%s", b, pass, want, statuses, out.String())
			return
		}
		next++
	}
	t.Logf("%s (pass %d): ok in %s, statuses %v", b, pass, took, statuses)
}

// startReceiver stands in for go run ./scripts/sink: it answers every
// delivery 204 and counts them.
func startReceiver(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

// startDevHost runs what `make dev` runs — devhost.DevDefaults, with every
// lifecycle event published as docs/events.md asks — in env's account, on a
// free loopback port, and returns the API's base URL once it is ready.
func startDevHost(t *testing.T, env *awstest.Env) string {
	t.Helper()
	for k, v := range devhost.DevDefaults {
		t.Setenv(k, v)
	}
	t.Setenv("HOURGLASS_LOG_LEVEL", "warn")
	t.Setenv("HOURGLASS_LIFECYCLE_EVENTS", "all")
	cfg, err := config.Load()
	require.NoError(t, err)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- devhost.Run(ctx, cfg, devhost.Options{Prefix: env.Name("hourglass"), Listener: ln, AWS: &env.Config,
			Tick: 500 * time.Millisecond, PollWait: 2 * time.Second, Ready: func(base string) { ready <- base }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "the dev host's Run after cancel")
		case <-time.After(30 * time.Second):
			t.Error("the dev host did not stop within 30 s of cancel")
		}
	})
	select {
	case base := <-ready:
		return base
	case err := <-done:
		t.Fatalf("the dev host stopped before it was ready: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the dev host was not ready after 60 s")
	}
	return ""
}

// startAccountProxy returns an endpoint that forwards to the emulator with
// env's moto account header on every request, so that commands the blocks
// run (go run ./scripts/eventbus) reach the dev host's bus and queues.
func startAccountProxy(t *testing.T, env *awstest.Env) string {
	t.Helper()
	upstream, err := url.Parse(env.Endpoint)
	require.NoError(t, err)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(upstream)
			r.Out.Host = upstream.Host
			if env.Backend == awstest.Moto {
				r.Out.Header.Set(awstest.MotoAccountHeader, env.AccountID)
			}
		},
		Transport: transport,
		// Requests cut off when the test ends (a cancelled long poll) are
		// not failures; the commands report their own errors.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(func() {
		srv.Close()
		transport.CloseIdleConnections()
	})
	return srv.URL
}
