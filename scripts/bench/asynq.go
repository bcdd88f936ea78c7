package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/hourglass-sched/hourglass/pkg/testkit/loadtest"
)

// redisServer is a redis-server child process on a free loopback port,
// without persistence.
type redisServer struct {
	cmd  *exec.Cmd
	addr string
}

// ensureRedis installs Debian's redis-server with apt-get when it is
// missing (as root; `apt-get update` first).
func ensureRedis() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	fmt.Fprintln(os.Stderr, "bench: redis-server missing; installing Debian's package with apt-get")
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "redis-server"}} {
		cmd := exec.Command("apt-get", args...) //nolint:gosec // fixed arguments
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("apt-get %v: %w (install redis-server yourself, or run as root)", args, err)
		}
	}
	return exec.LookPath("redis-server")
}

func startRedis(ctx context.Context) (*redisServer, error) {
	bin, err := ensureRedis()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	//nolint:gosec // bin is redis-server from PATH; the arguments are fixed
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no",
		"--protected-mode", "yes", "--daemonize", "no", "--loglevel", "warning")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	r := &redisServer{cmd: cmd, addr: "127.0.0.1:" + strconv.Itoa(port)}
	c := redis.NewClient(&redis.Options{Addr: r.addr})
	defer func() { _ = c.Close() }()
	for deadline := time.Now().Add(15 * time.Second); ; {
		if c.Ping(ctx).Err() == nil {
			return r, nil
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("redis-server on %s did not answer", r.addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *redisServer) stop() {
	if r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
}

// hookJob is the asynq task's payload: where to POST and which ID to name.
type hookJob struct {
	URL string `json:"url"`
	ID  string `json:"id"`
	N   int    `json:"n"`
}

// runAsynq runs the precision workload on asynq: each task is enqueued with
// ProcessAt(due) and its handler POSTs to the same sink Hourglass's webhook
// target calls, with the same task-ID header and a same-sized body, so the
// sink's arrival time measures both systems alike. The server has the same
// concurrency as the local host's worker pollers, asynq's default
// 5 s DelayedTaskCheckInterval unless checkEvery is set.
func runAsynq(ctx context.Context, addr string, o loadtest.Options, concurrency int, checkEvery time.Duration) (loadtest.Result, error) {
	opt := asynq.RedisClientOpt{Addr: addr}
	client := asynq.NewClient(opt)
	defer func() { _ = client.Close() }()
	hc := &http.Client{Timeout: 10 * time.Second}
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: concurrency, LogLevel: asynq.WarnLevel, DelayedTaskCheckInterval: checkEvery})
	mux := asynq.NewServeMux()
	mux.HandleFunc("hook", func(ctx context.Context, t *asynq.Task) error {
		var j hookJob
		if err := json.Unmarshal(t.Payload(), &j); err != nil {
			return fmt.Errorf("decode: %w", errors.Join(err, asynq.SkipRetry))
		}
		body, _ := json.Marshal(map[string]any{"n": j.N, "note": "loadgen"})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.URL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(loadtest.TaskIDHeader, j.ID)
		req.Header.Set("Idempotency-Key", j.ID)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode >= 300 {
			return fmt.Errorf("sink: %s", resp.Status)
		}
		return nil
	})
	if err := srv.Start(mux); err != nil {
		return loadtest.Result{}, fmt.Errorf("asynq server: %w", err)
	}
	defer srv.Shutdown()
	o.VerifySignatures = false
	run := time.Now().UnixNano() // task IDs unique across runs on one redis
	o.Submit = func(ctx context.Context, i int, due time.Time, hookURL string) (string, error) {
		id := fmt.Sprintf("asynq-%d-%06d", run, i)
		payload, _ := json.Marshal(hookJob{URL: hookURL, ID: id, N: i})
		_, err := client.EnqueueContext(ctx, asynq.NewTask("hook", payload), asynq.ProcessAt(due), asynq.TaskID(id), asynq.MaxRetry(5))
		return id, err
	}
	return loadtest.Run(ctx, o)
}
