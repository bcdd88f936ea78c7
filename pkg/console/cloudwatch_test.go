package console_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/console"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// The overview of a deployed stack comes from its CloudWatch metrics: the
// counts the api function and the workers publish (namespace Hourglass)
// and the task DLQ's depth, read with GetMetricData on the emulator.
func TestCloudWatchStats(t *testing.T) {
	t.Parallel()
	env := awstest.New(t)
	cw := cloudwatch.NewFromConfig(env.Config)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Minute)
	m1, m2 := now.Add(-3*time.Minute), now.Add(-2*time.Minute)
	put := func(ns, name string, at time.Time, v float64, dims ...types.Dimension) {
		_, err := cw.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String(ns), MetricData: []types.MetricDatum{
			{MetricName: aws.String(name), Timestamp: aws.Time(at.Add(10 * time.Second)), Value: aws.Float64(v), Unit: types.StandardUnitCount, Dimensions: dims}}})
		require.NoError(t, err)
	}
	put("Hourglass", "TasksCreated", m1, 120)
	put("Hourglass", "TasksCreated", m1, 60) // a second api instance's line
	put("Hourglass", "TasksCreated", m2, 30)
	put("Hourglass", "TasksSucceeded", m1, 90)
	put("Hourglass", "TasksSucceeded", m2, 50)
	put("Hourglass", "TasksRetried", m2, 4)
	put("Hourglass", "TasksFailed", m2, 6)
	put("Other", "TasksCreated", m2, 1000) // another namespace: not ours
	put("AWS/SQS", "ApproximateNumberOfMessagesVisible", m2, 7, types.Dimension{Name: aws.String("QueueName"), Value: aws.String("hourglass-task-dlq")})

	src := &console.CloudWatchStats{CW: cw, DLQName: "hourglass-task-dlq", Window: 10 * time.Minute, Now: func() time.Time { return now }}
	s, err := src.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 60, s.StepSeconds)
	assert.EqualValues(t, 210, s.Totals.Created)
	assert.EqualValues(t, 140, s.Totals.Succeeded)
	assert.EqualValues(t, 4, s.Totals.Retried)
	assert.EqualValues(t, 6, s.Totals.Failed)
	assert.EqualValues(t, 150, s.Totals.Executed, "attempts finished: succeeded + retried + failed")
	require.NotNil(t, s.DLQDepth)
	assert.Equal(t, 7, *s.DLQDepth)
	got := map[time.Time][2]float64{}
	for _, p := range s.Series {
		got[p.T] = [2]float64{p.CreatedPerS, p.ExecutedPerS}
	}
	assert.Equal(t, [2]float64{3, 1.5}, got[m1], "180 created and 90 executed in a minute")
	assert.Equal(t, [2]float64{0.5, 1}, got[m2])
	assert.Len(t, s.Series, 10, "one point a minute over the window")
}
