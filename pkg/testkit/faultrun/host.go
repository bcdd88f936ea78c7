package faultrun

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Build compiles functions/local into dir (run from the repository root)
// and returns the binary's path.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "hourglass-local")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./functions/local").CombinedOutput(); err != nil { //nolint:gosec // bin is the caller's own directory
		return "", fmt.Errorf("build functions/local: %w\n%s", err, out)
	}
	return bin, nil
}

// HostFiles builds the host binary into a fresh temporary directory and
// creates the host's log at logPath (default: hourglass-<name>-<seed>.log
// in the system's temporary directory). cleanup closes the log and removes
// the directory.
func HostFiles(ctx context.Context, name string, seed uint64, logPath string) (bin string, log *os.File, cleanup func(), err error) {
	tmp, err := os.MkdirTemp("", "hourglass-"+name+"-")
	if err != nil {
		return "", nil, nil, err
	}
	if bin, err = Build(ctx, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return "", nil, nil, err
	}
	if logPath == "" {
		logPath = filepath.Join(os.TempDir(), fmt.Sprintf("hourglass-%s-%d.log", name, seed))
	}
	if log, err = os.Create(logPath); err != nil {
		_ = os.RemoveAll(tmp)
		return "", nil, nil, err
	}
	return bin, log, func() { _ = log.Close(); _ = os.RemoveAll(tmp) }, nil
}

// FreeAddr returns a 127.0.0.1 address with a port free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr, nil
}

// HostConfig says how to run the host.
type HostConfig struct {
	Bin      string   // the binary Build made
	Endpoint string   // AWS_ENDPOINT_URL: every AWS call goes there
	Addr     string   // HOURGLASS_ADDR: where the host serves its API
	Env      []string // further "KEY=value" settings, on every start
	Log      *os.File // the host's stdout and stderr
}

// Host is the local host (functions/local) run as a child process: started
// against an AWS endpoint (the run's fault proxy) and waited for until its
// API answers, then killed (SIGKILL, a crash) or stopped (SIGTERM, then
// SIGKILL) — and on Linux killed with the run that started it, so that no
// orphan keeps its port. One Host it may be started again after a
// Kill or Stop.
type Host struct {
	cfg HostConfig

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// NewHost returns a Host that is not running yet.
func NewHost(cfg HostConfig) *Host { return &Host{cfg: cfg} }

// URL is the host's API base URL.
func (h *Host) URL() string { return "http://" + h.cfg.Addr }

// Pid is the running process's ID, 0 when none runs.
func (h *Host) Pid() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cmd == nil {
		return 0
	}
	return h.cmd.Process.Pid
}

// Start runs the host with cfg.Env and then env, and waits up to 90 s for
// its /healthz to answer 200. The inherited environment's HOURGLASS_*,
// AWS_ENDPOINT_URL* and AWS_PROFILE settings are dropped, so that only
// the run's own reach the host. On failure the process is killed.
func (h *Host) Start(ctx context.Context, env ...string) error {
	cmd := exec.Command(h.cfg.Bin) //nolint:gosec // the host binary this run built
	var base []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_ENDPOINT_URL") || strings.HasPrefix(kv, "HOURGLASS_") || strings.HasPrefix(kv, "AWS_PROFILE") {
			continue
		}
		base = append(base, kv)
	}
	base = append(base,
		"AWS_ENDPOINT_URL="+h.cfg.Endpoint, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1",
		"HOURGLASS_ADDR="+h.cfg.Addr, "HOURGLASS_LOG_LEVEL=warn")
	cmd.Env = append(append(base, h.cfg.Env...), env...)
	cmd.Stdout, cmd.Stderr = h.cfg.Log, h.cfg.Log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start host: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	h.mu.Lock()
	h.cmd, h.exited = cmd, exited
	h.mu.Unlock()
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("host exited during start-up (see its log %s)", h.cfg.Log.Name())
		default:
		}
		resp, err := http.Get(h.URL() + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || !SleepUntil(ctx, time.Now().Add(200*time.Millisecond)) {
			h.Kill()
			return fmt.Errorf("host not healthy after 90s (see %s)", h.cfg.Log.Name())
		}
	}
}

// take detaches the running process, if any.
func (h *Host) take() (*exec.Cmd, chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cmd, exited := h.cmd, h.exited
	h.cmd = nil
	return cmd, exited
}

// Kill SIGKILLs the host — no shutdown, in-flight work abandoned — and
// returns once the process is gone (or after 10 s).
func (h *Host) Kill() {
	cmd, exited := h.take()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	waitExit(exited, 10*time.Second)
}

// Stop ends the host gracefully (SIGTERM), then after 15 s forcibly.
func (h *Host) Stop() {
	cmd, exited := h.take()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if !waitExit(exited, 15*time.Second) {
		_ = cmd.Process.Kill()
		waitExit(exited, 10*time.Second)
	}
}

// waitExit waits up to d for the process behind exited to end.
func waitExit(exited <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-exited:
		return true
	case <-t.C:
		return false
	}
}

// SleepUntil waits until t; false when ctx ended first.
func SleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// Round rounds v to digits decimals, halves away from zero (the runs'
// JSON summaries).
func Round(v float64, digits int) float64 {
	p := 1.0
	for i := 0; i < digits; i++ {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}
