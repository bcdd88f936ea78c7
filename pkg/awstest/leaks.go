package awstest

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// VerifyTestMain runs a package's tests and then fails the run if goroutines
// leaked, unless a test ran on LocalStack, whose container and
// testcontainers' reaper live for the whole process by design. On moto and
// AWS_ENDPOINT_URL nothing is ignored: each Env closes its SDK connections
// when its test ends. Use it as a package's TestMain body:
//
//	func TestMain(m *testing.M) { awstest.VerifyTestMain(m) }
func VerifyTestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && resolved.Backend != LocalStack {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
