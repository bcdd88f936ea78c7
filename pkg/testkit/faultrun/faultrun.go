// Package faultrun is the harness the fault-injection runs share
// (scripts/chaos: host crashes and injected AWS faults; scripts/outage:
// whole AWS services unavailable): their own emulator, a fault proxy in
// front of it in a fresh emulator account, fault-free clients for the
// run's own checks, local HTTP servers (the proxy, the webhook sink), and
// the local host run as a child process (Host).
package faultrun

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/hourglass-sched/hourglass/pkg/sdkhttp"
)

// Emulator makes sure an emulator answers on port (scripts/emulator.sh,
// run from the repository root) and returns its URL and a stop function
// that stops it only if this call started it.
func Emulator(port int) (url string, stop func(), err error) {
	p := strconv.Itoa(port)
	// The script path is fixed and the port is an integer: nothing tainted.
	wasRunning := exec.Command("scripts/emulator.sh", "status", p).Run() == nil                   //nolint:gosec // see above
	if out, err := exec.Command("scripts/emulator.sh", "start", p).CombinedOutput(); err != nil { //nolint:gosec // see above
		return "", nil, fmt.Errorf("start emulator on %d: %w\n%s", port, err, out)
	}
	stop = func() {}
	if !wasRunning {
		stop = func() { _ = exec.Command("scripts/emulator.sh", "stop", p).Run() } //nolint:gosec // fixed script, integer port
	}
	return "http://127.0.0.1:" + p, stop, nil
}

// Serve serves h on a free 127.0.0.1 port and returns its base URL and a
// close function.
func Serve(h http.Handler, readHeaderTimeout time.Duration) (url string, closeFn func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// InAccount sends every request h serves to moto's account (moto keeps one
// set of resources per account ID), so that a run's resources are its own
// even on an emulator reused from an earlier run.
func InAccount(h http.Handler, account string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("x-moto-account-id", account)
		h.ServeHTTP(w, r)
	})
}

// Direct is an SDK configuration straight to the emulator at emu, in
// account, with no fault in the way: for the run's own resources and
// checks.
func Direct(ctx context.Context, emu, account string) (aws.Config, error) {
	return awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("us-east-1"),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		awsconfig.WithAPIOptions([]func(*middleware.Stack) error{smithyhttp.AddHeaderValue("x-moto-account-id", account), sdkhttp.PlainRequestBody}),
		awsconfig.WithBaseEndpoint(emu))
}
