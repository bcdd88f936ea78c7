package memstore_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/hourglass-sched/hourglass/pkg/testkit/memstore"
	"github.com/hourglass-sched/hourglass/pkg/testkit/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestConformance runs the store conformance suite against the in-memory
// store (the DynamoDB store runs it in package ddbstore).
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(_ *testing.T, o storetest.Options) storetest.Store {
		return memstore.New(o.Layout, memstore.Options{CancelCutoff: o.CancelCutoff, ListIndex: o.ListIndex})
	})
}
