package doctest_test

import (
	"net/http"
	"testing"

	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// TestMain fails the package if the dev host, the receiver or the account
// proxy leaves a goroutine behind. The blocks' own HTTP calls go through
// http.DefaultClient, whose idle connections are closed before the check;
// the host's own pooled keep-alive connections (its target executors'
// clients, which the harness cannot reach) are not counted, as in
// pkg/devhost: a fresh-clone run failed on one such idle connection after
// every test had passed.
func TestMain(m *testing.M) {
	awstest.VerifyTestMainPooled(m, http.DefaultClient.CloseIdleConnections)
}
