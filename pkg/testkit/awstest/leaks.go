package awstest

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// VerifyTestMain runs a package's tests and then fails the run if goroutines
// leaked, unless a test ran on LocalStack, whose container and
// testcontainers' reaper live for the whole process by design. On moto and
// AWS_ENDPOINT_URL nothing is ignored: each Env closes its SDK connections
// when its test ends. Use it as a package's TestMain body:
//
//	func TestMain(m *testing.M) { awstest.VerifyTestMain(m) }
func VerifyTestMain(m *testing.M, beforeCheck ...func()) {
	verify(m, beforeCheck)
}

// VerifyTestMainPooled is VerifyTestMain for packages that run a whole
// local host, whose own HTTP clients (the webhook executor's, say) keep
// pooled keep-alive connections the harness cannot reach: the goroutines
// of such a connection (net/http's persistConn read and write loops) are
// not counted; every other goroutine still is. pkg/devhost and pkg/poll failed
// fresh-clone runs on one such idle connection whose transport was
// neither the harness's nor http.DefaultTransport.
func VerifyTestMainPooled(m *testing.M, beforeCheck ...func()) {
	verify(m, beforeCheck,
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"))
}

func verify(m *testing.M, beforeCheck []func(), opts ...goleak.Option) {
	code := m.Run()
	for _, f := range beforeCheck {
		f()
	}
	if code == 0 && resolved.Backend != LocalStack {
		// goleak retries for about 2 s; a connection whose request a test
		// cancelled can take longer to be torn down against a loaded
		// emulator (seen on a busy machine in pkg/poll and pkg/devhost), so
		// look for up to about 10 s before calling it a leak.
		var err error
		for range 5 {
			allTransports.closeIdle()
			if err = goleak.Find(opts...); err == nil {
				break
			}
			time.Sleep(2 * time.Second)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
