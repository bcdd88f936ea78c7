package worker_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind (a
// HandleSQS record goroutine or a held-message timer).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
