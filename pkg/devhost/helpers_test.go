package devhost_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/devhost"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// testConfig is the host configuration the tests share: short buckets and
// look-ahead, dev mode, webhooks allowed to loopback sinks.
func testConfig() config.Config {
	return config.Config{Table: "unused", Shards: 2, Bucket: 2 * time.Second, Lookahead: 3 * time.Second, Lease: 5 * time.Second,
		SweepDelay: 5 * time.Second, EarlyDelivery: time.Second, LogLevel: "warn", Dev: true, SigningKey: "devhost-test-signing-key",
		Limits: task.DefaultLimits(), WebhookAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
}

// startHost runs devhost.Run with cfg on a loopback listener in env's
// isolated account and returns the API's base URL once the host is ready.
// stop cancels the host and fails the test unless Run returns nil within
// 30 s; it is also registered as cleanup (a second call does nothing).
func startHost(t *testing.T, env *awstest.Env, cfg config.Config, prefix string) (base string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- devhost.Run(ctx, cfg, devhost.Options{Prefix: prefix, Tick: 500 * time.Millisecond, Listener: ln, AWS: &env.Config, PollWait: 2 * time.Second,
			Ready: func(base string) { ready <- base }})
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "Run's result after cancel")
		case <-time.After(30 * time.Second):
			t.Error("host did not stop within 30s of cancel")
		}
	}
	t.Cleanup(stop)
	select {
	case base = <-ready:
	case err := <-done:
		stopped = true
		t.Fatalf("host stopped before ready: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("host not ready after 60s")
	}
	return base, stop
}
