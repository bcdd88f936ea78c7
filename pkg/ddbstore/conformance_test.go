package ddbstore_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/ddbstore"
	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
	"github.com/hourglass-sched/hourglass/pkg/testkit/storetest"
)

// TestConformance runs the store conformance suite against the DynamoDB
// store on the emulator: each case gets a fresh table in its own account.
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, o storetest.Options) storetest.Store {
		env := awstest.New(t)
		res, err := provision.Ensure(context.Background(), env.Config, provision.Spec{Prefix: env.Name("conf")})
		require.NoError(t, err)
		return ddbstore.New(dynamodb.NewFromConfig(env.Config), res.Table, o.Layout,
			ddbstore.Options{CancelCutoff: o.CancelCutoff, ListIndex: o.ListIndex})
	})
}
