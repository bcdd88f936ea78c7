package awstest_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests drive scripts/emulator.sh on spare ports, so they never touch
// the emulator other tests use.

// emulatorScript returns the script's path, skipping where it cannot run.
func emulatorScript(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts moto_server processes")
	}
	if _, err := exec.LookPath("moto_server"); err != nil {
		t.Skip("moto_server is not on PATH")
	}
	path, err := filepath.Abs(filepath.Join("..", "..", "..", "scripts", "emulator.sh"))
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// removeRunFiles deletes the log and lock the script leaves in .run/ for port.
func removeRunFiles(t *testing.T, scriptPath, port string) {
	t.Helper()
	run := filepath.Join(filepath.Dir(filepath.Dir(scriptPath)), ".run")
	t.Cleanup(func() {
		for _, f := range []string{"moto-" + port + ".log", "moto-" + port + ".lock"} {
			_ = os.Remove(filepath.Join(run, f))
		}
	})
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// script runs the emulator script and returns its stdout, stderr and exit code.
func script(t *testing.T, path string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "HOURGLASS_EMULATOR_WAIT=30")
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("run %s %v: %v", path, args, err)
	}
	return out.String(), errOut.String(), code
}

// answers reports whether moto answers on port.
func answers(port string) bool {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://127.0.0.1:" + port + "/moto-api/")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func TestScriptStartsAndStopsItsOwnServer(t *testing.T) {
	t.Parallel()
	path, port := emulatorScript(t), freePort(t)
	removeRunFiles(t, path, port)
	t.Cleanup(func() { script(t, path, "stop", port) })

	out, errOut, code := script(t, path, "start", port)
	if want := "http://127.0.0.1:" + port + "\n"; code != 0 || out != want {
		t.Fatalf("start = %q (exit %d), want %q; stderr:\n%s", out, code, want, errOut)
	}
	if !answers(port) {
		t.Fatalf("nothing answers on port %s after start", port)
	}
	if _, errOut, code := script(t, path, "ensure", port); code != 0 || !strings.Contains(errOut, "started by this script") {
		t.Fatalf("ensure on a running server: exit %d, stderr %q; want exit 0, reused", code, errOut)
	}
	if _, errOut, code := script(t, path, "status", port); code != 0 {
		t.Fatalf("status = exit %d, want 0; stderr %q", code, errOut)
	}
	if _, errOut, code := script(t, path, "stop", port); code != 0 {
		t.Fatalf("stop = exit %d; stderr %q", code, errOut)
	}
	if answers(port) {
		t.Fatalf("port %s still answers after stop", port)
	}
	if _, _, code := script(t, path, "status", port); code != 1 {
		t.Fatalf("status after stop = exit %d, want 1", code)
	}
}

func TestScriptLeavesForeignServerAlone(t *testing.T) {
	t.Parallel()
	path, port := emulatorScript(t), freePort(t)
	removeRunFiles(t, path, port)

	// A server this script did not start, as the lead's shell might have.
	srv := exec.Command("moto_server", "-H", "127.0.0.1", "-p", port)
	if err := srv.Start(); err != nil {
		t.Fatalf("start moto_server: %v", err)
	}
	t.Cleanup(func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for !answers(port) {
		if time.Now().After(deadline) {
			t.Fatalf("moto_server on port %s never answered", port)
		}
		time.Sleep(100 * time.Millisecond) // polling with a deadline, not waiting blind
	}

	if out, errOut, code := script(t, path, "start", port); code != 0 || !strings.Contains(errOut, "not started by this script") || !strings.HasSuffix(out, ":"+port+"\n") {
		t.Fatalf("start on a foreign server: exit %d, stdout %q, stderr %q; want reuse", code, out, errOut)
	}
	if _, errOut, code := script(t, path, "stop", port); code != 0 || !strings.Contains(errOut, "leaving it alone") {
		t.Fatalf("stop on a foreign server: exit %d, stderr %q", code, errOut)
	}
	if !answers(port) {
		t.Fatalf("stop killed a server the script did not start")
	}
}
