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
	code := m.Run()
	for _, f := range beforeCheck {
		f()
	}
	if code == 0 && resolved.Backend != LocalStack {
		// goleak retries for about 2 s; a connection whose request a test
		// cancelled can take longer to be torn down against a loaded
		// emulator (seen on a busy machine in pkg/poll and pkg/devhost), so
		// look for up to about 15 s before calling it a leak.
		var err error
		for range 5 {
			allTransports.closeIdle()
			if err = goleak.Find(); err == nil {
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
