// Command faultproxy runs a fault-injecting proxy (package faults) in front
// of an AWS emulator, for poking at a running stack by hand:
//
//	go run ./scripts/faultproxy -upstream http://127.0.0.1:4566 -listen 127.0.0.1:4590 \
//	    -rules 'throttle:0.05,500:0.02,drop-after:0.01,latency:0.1:*:300ms'
//	AWS_ENDPOINT_URL=http://127.0.0.1:4590 make dev
//
// Rules are kind:rate[:operation[:delay]] (kinds: throttle, provisioned,
// 500, latency, drop-after, unavailable; operations as in X-Amz-Target, e.g.
// "DynamoDB_20120810.*" or "SendMessageBatch", or a whole service: dynamodb,
// sqs, eventbridge). 'unavailable:1:sqs' takes SQS down and leaves the
// emulator's other services up. It listens on loopback only,
// logs the injected faults every 10 s on stderr, and prints their counts as
// JSON on stdout when stopped (Ctrl-C).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/testkit/faults"
)

func main() {
	var (
		listen   = flag.String("listen", "127.0.0.1:4590", "address to listen on (loopback only)")
		upstream = flag.String("upstream", "http://127.0.0.1:4566", "emulator endpoint to forward to")
		spec     = flag.String("rules", "throttle:0.05,500:0.02,drop-after:0.01,latency:0.1:*:300ms", "fault rules, kind:rate[:op[:delay]],…")
		seed     = flag.Uint64("seed", uint64(time.Now().UnixNano()), "random seed")
	)
	flag.Parse()
	if err := run(*listen, *upstream, *spec, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "faultproxy:", err)
		os.Exit(1)
	}
}

func run(listen, upstream, spec string, seed uint64) error {
	host, _, err := net.SplitHostPort(listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-listen %q: only loopback addresses", listen)
	}
	rules, err := faults.ParseRules(spec)
	if err != nil {
		return err
	}
	p, err := faults.New(upstream, rules, seed)
	if err != nil {
		return err
	}
	defer p.Close()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				_ = srv.Close()
				return
			case <-t.C:
				fmt.Fprintf(os.Stderr, "faultproxy: %d forwarded, %d faults %v\n", p.Forwarded(), p.Injected(), p.Counts())
			}
		}
	}()
	fmt.Fprintf(os.Stderr, "faultproxy: http://%s → %s, rules %+v\n", ln.Addr(), upstream, rules)
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		return err
	}
	out, _ := json.Marshal(map[string]any{"forwarded": p.Forwarded(), "faults": p.Injected(), "by_kind": p.Counts()})
	fmt.Println(string(out))
	return nil
}
