package console_test

import (
	"net/http"
	"testing"

	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// TestMain fails the package if a test leaves a goroutine behind (host,
// console or browser connection); the tests' own pooled connections of
// http.DefaultClient are closed first.
func TestMain(m *testing.M) {
	awstest.VerifyTestMainPooled(m, http.DefaultClient.CloseIdleConnections)
}
