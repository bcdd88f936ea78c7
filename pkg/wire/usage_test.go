package wire_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/usage"
	"github.com/hourglass-sched/hourglass/pkg/wire"
)

// Deployed functions build with no counters: their SDK clients carry no
// usage middleware (which would ask DynamoDB for consumed capacity on
// every call, for counters nobody reads). With counters, it is there.
func TestUsageMiddlewareOnlyWithCounters(t *testing.T) {
	t.Parallel()
	cfg := lifecycleConfig("hourglass", "failures")
	base := aws.Config{Region: "us-east-1"}
	c, err := wire.BuildWith(context.Background(), cfg, base, nil, nil)
	require.NoError(t, err)
	assert.Empty(t, c.AWS.APIOptions, "no counters, no middleware")
	assert.NotNil(t, c.Usage, "a Counters for what is recorded by hand")
	counted := &usage.Counters{}
	c, err = wire.BuildWith(context.Background(), cfg, base, nil, counted)
	require.NoError(t, err)
	assert.Len(t, c.AWS.APIOptions, 1)
	assert.Same(t, counted, c.Usage)
	assert.Empty(t, base.APIOptions, "the caller's configuration is left alone")
}
