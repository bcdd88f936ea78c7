package doctest_test

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if the dev host, the receiver or the account
// proxy leaves a goroutine behind. Where awstest may have chosen LocalStack
// (no AWS_ENDPOINT_URL and a Docker engine configured), the container's
// reaper goroutines live for the whole process by design, so the check is
// left out there.
func TestMain(m *testing.M) {
	code := m.Run()
	http.DefaultClient.CloseIdleConnections()
	if code == 0 && !mayUseLocalStack() {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func mayUseLocalStack() bool {
	if os.Getenv("AWS_ENDPOINT_URL") != "" {
		return false
	}
	if os.Getenv("DOCKER_HOST") != "" {
		return true
	}
	_, err := os.Stat("/var/run/docker.sock")
	return err == nil
}
