package doctest_test

import (
	"net/http"
	"testing"

	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// TestMain fails the package if the dev host, the receiver or the account
// proxy leaves a goroutine behind. The blocks' own HTTP calls go through
// http.DefaultClient, whose idle connections are closed before the check.
func TestMain(m *testing.M) {
	awstest.VerifyTestMain(m, http.DefaultClient.CloseIdleConnections)
}
