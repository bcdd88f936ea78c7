package devhost_test

import (
	"net/http"
	"testing"

	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// TestMain fails the package if the host leaves a goroutine behind after
// Run returned (server, scanner ticker, pollers) — awstest closes the SDK's
// idle connections when each test ends. The tests call the host's API with
// http.DefaultClient; its idle keep-alive connections belong to the tests,
// not to the host, so they are closed before the check.
func TestMain(m *testing.M) {
	awstest.VerifyTestMainPooled(m, http.DefaultClient.CloseIdleConnections)
}
