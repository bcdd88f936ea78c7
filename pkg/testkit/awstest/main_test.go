package awstest

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	// A LocalStack container and testcontainers' reaper live for the whole
	// process by design, so only the moto and AWS_ENDPOINT_URL paths are
	// checked for leaked goroutines.
	if code == 0 && resolved.Backend != LocalStack {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
