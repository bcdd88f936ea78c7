package redrive_test

import (
	"testing"

	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// TestMain fails the run on leaked goroutines (see awstest.VerifyTestMain).
func TestMain(m *testing.M) { awstest.VerifyTestMain(m) }
