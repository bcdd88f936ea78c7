package chain_test

import (
	"testing"

	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// TestMain fails the package if a test leaves a goroutine behind (the
// dispatchers' chain calls, the worker, the sink).
func TestMain(m *testing.M) { awstest.VerifyTestMain(m) }
