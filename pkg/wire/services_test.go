package wire_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/wire"
)

// The composition root builds each service once per process and hands the
// same one to every door: the HTTP API, the schedule API and ingest share
// one task service (one rate limiter, one cursor cache) and one schedule
// service. A test's options get a task service of their own.
func TestDoorsShareTheServices(t *testing.T) {
	t.Parallel()
	cfg := config.Config{Table: "t", Shards: 4, Bucket: time.Minute, Lookahead: 3 * time.Minute, Lease: time.Minute, SigningKey: "0123456789abcdef-test", Dev: true,
		TaskQueueURL: "http://localhost:4566/000000000000/hg-tasks"}
	c, err := wire.BuildWith(context.Background(), cfg, aws.Config{Region: "us-east-1"}, nil, nil)
	require.NoError(t, err)

	assert.Same(t, c.Tasks(), c.API(api.DevAuth{}, nil).Tasks())
	assert.Same(t, c.Tasks(), c.API(api.DevAuth{}, nil).Tasks(), "every API instance of the process")
	assert.Same(t, c.ScheduleService(), c.Schedules(api.DevAuth{}).Service())
	assert.NotSame(t, c.Tasks(), c.API(api.DevAuth{}, nil, func(tc *app.TasksConfig) { tc.CreateRate = 1 }).Tasks())
	_, err = c.Ingest()
	require.NoError(t, err)
}
