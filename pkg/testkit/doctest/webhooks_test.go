package doctest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/target/webhook"
)

// webhooksDoc is the page whose verification examples run here.
const webhooksDoc = "docs/webhooks.md"

// delivery is one webhook request as a receiver gets it.
type delivery struct {
	header http.Header
	body   []byte
}

// TestWebhookVerifiersAsDocumented runs the Go and Node examples of
// docs/webhooks.md as written — the Go one as a module of its own with
// the official library, the Node one after `npm install standardwebhooks`
// — against a delivery Hourglass's webhook target signed: it must be
// accepted (204), and the same delivery with another body, webhook-id or
// timestamp refused (401).
func TestWebhookVerifiersAsDocumented(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go module and installs an npm package")
	}
	root := repoRoot(t)
	blocks, _ := parse(t, root, webhooksDoc)
	code := map[string]string{}
	for _, b := range blocks {
		if b.lang == "go" || b.lang == "js" {
			require.NotContains(t, code, b.lang, "%s: one %s example", b, b.lang)
			code[b.lang] = b.text
		}
	}
	require.Contains(t, code, "go")
	require.Contains(t, code, "js")

	key, err := webhook.NewSecret()
	require.NoError(t, err)
	secret := webhook.FormatSecret(key)
	d := capture(t, key)

	t.Run("go", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(code["go"]), 0o644))
		mod := "module example.com/receiver\n\ngo 1.26\n\nrequire github.com/standard-webhooks/standard-webhooks/libraries v1.3.0\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), sumLines(t, root, "github.com/standard-webhooks/"), 0o644))
		bin := filepath.Join(dir, "receiver")
		run(t, dir, nil, 5*time.Minute, "go", "build", "-o", bin, ".")
		addr := freeAddr(t)
		start(t, dir, []string{"WEBHOOK_SECRET=" + secret, "ADDR=" + addr}, bin)
		checkReceiver(t, "http://"+addr+"/hook", d)
	})
	t.Run("node", func(t *testing.T) {
		t.Parallel()
		node, err := exec.LookPath("node")
		require.NoError(t, err, "the Node example needs node")
		dir := t.TempDir()
		run(t, dir, nil, 5*time.Minute, "npm", "install", "--no-audit", "--no-fund", "--silent", "standardwebhooks@1.3.0")
		require.NoError(t, os.WriteFile(filepath.Join(dir, "receiver.js"), []byte(code["js"]), 0o644))
		addr := freeAddr(t)
		_, port, _ := net.SplitHostPort(addr)
		start(t, dir, []string{"WEBHOOK_SECRET=" + secret, "PORT=" + port}, node, "receiver.js")
		checkReceiver(t, "http://"+addr+"/hook", d)
	})
}

// capture has Hourglass's webhook target deliver one task, signed with
// key, to a local server and returns the request it got.
func capture(t *testing.T, key []byte) delivery {
	t.Helper()
	got := make(chan delivery, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Clone(), b}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	e, err := webhook.New(webhook.Config{Secret: webhook.StaticSecrets(key), Allow: []string{srv.Listener.Addr().String()}})
	require.NoError(t, err)
	defer e.CloseIdleConnections()
	spec, _ := json.Marshal(map[string]string{"kind": "webhook", "url": srv.URL + "/hook"})
	_, err = e.Execute(context.Background(), target.Invocation{TaskID: "06h2b3c4d5e6f7g8h9j0k1m2n3", Tenant: "acme", Attempt: 1,
		IdempotencyKey: "order-42", Payload: json.RawMessage(`{"order": 42, "note": "é"}`), Spec: spec})
	require.NoError(t, err)
	return <-got
}

// checkReceiver posts the delivery and three altered copies.
func checkReceiver(t *testing.T, url string, d delivery) {
	t.Helper()
	post := func(body []byte, h http.Header) int {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		require.NoError(t, err)
		for k, v := range h {
			if k != "Content-Length" {
				req.Header[k] = v
			}
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	with := func(name, value string) http.Header {
		h := d.header.Clone()
		h.Set(name, value)
		return h
	}
	// The receiver may still be starting: retry the first post until it answers.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(strings.TrimSuffix(url, "/hook"), "http://"), time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		require.True(t, time.Now().Before(deadline), "the receiver never listened: %v", err)
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, http.StatusNoContent, post(d.body, d.header), "the delivery verifies")
	require.Equal(t, http.StatusUnauthorized, post([]byte(`{"order": 43, "note": "é"}`), d.header), "another body")
	require.Equal(t, http.StatusUnauthorized, post(d.body, with("webhook-id", webhook.MessageID("acme", "order-43"))), "another webhook-id")
	ts := d.header.Get("webhook-timestamp")
	other := []byte(ts)
	other[len(other)-1] = '0' + (other[len(other)-1]-'0'+1)%10
	require.Equal(t, http.StatusUnauthorized, post(d.body, with("webhook-timestamp", string(other))), "another timestamp")
	require.Equal(t, http.StatusNoContent, post(d.body, d.header), "the delivery still verifies")
}

// sumLines returns the lines of the repository's go.sum for modules
// starting with prefix.
func sumLines(t *testing.T, root, prefix string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "go.sum"))
	require.NoError(t, err)
	var out []string
	for l := range strings.SplitSeq(string(raw), "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	require.NotEmpty(t, out)
	return []byte(strings.Join(out, "\n") + "\n")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// run runs a command to completion in dir, failing the test on error.
func run(t *testing.T, dir string, env []string, timeout time.Duration, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod"), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %v:\n%s", name, args, out)
}

// start runs a receiver in the background until the test ends.
func start(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Logf("%s said:\n%s", name, out.String())
	})
}
