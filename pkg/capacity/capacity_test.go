package capacity_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/capacity"
)

// The expectations below were computed by hand from the formulas in the
// README's "Capacity model" section, not by running the code.

func TestComputeFiftyThousandPerSecondOneKiB(t *testing.T) {
	t.Parallel()
	p, err := capacity.Compute(capacity.Inputs{RatePerS: 50000, PayloadBytes: 1024})
	require.NoError(t, err)
	// item 1024 + 600 = 1624 B → 2 WRU per write, 1 RRU per read.
	assert.Equal(t, 1624, p.ItemBytes)
	assert.InDelta(t, 2, p.WRUPerWrite, 1e-9)
	assert.InDelta(t, 1, p.RRUPerRead, 1e-9)
	assert.InDelta(t, 6, p.WRUPerTask, 1e-9)
	assert.InDelta(t, 300000, p.WCU, 1e-6)
	assert.InDelta(t, 55000, p.RCU, 1e-6)
	// 300,000 / (0.8 × 1,000) = 375 shards; reads need only 23.
	assert.Equal(t, 375, p.Shards)
	// 50,000 × 86,400 × 30 × 1,624 B = 210,470.4 GB → 21,048 partitions of 10 GB.
	assert.InDelta(t, 210470.4, p.StorageGB, 1e-6)
	assert.Equal(t, 21048, p.Partitions)
	assert.InDelta(t, 5000, p.WorkerInvocationsPerS, 1e-9)
	assert.Equal(t, 3500, p.WorkerConcurrency)
	// 50,000 × 60 / 375 = 8,000 tasks a unit, 16 s at 500/s: one dispatcher per shard.
	assert.InDelta(t, 8000, p.TasksPerUnit, 1e-9)
	assert.InDelta(t, 16, p.UnitSeconds, 1e-9)
	assert.Equal(t, 375, p.DispatcherConcurrency)
	// api: 50,000 × 1 × 0.03 s = 1,500; + worker 3,500 + dispatcher 375 + scanner 1.
	assert.Equal(t, 1500, p.APIConcurrency)
	assert.Equal(t, 5376, p.TotalConcurrency)
	assert.True(t, p.QuotaIncrease)
	assert.Equal(t, 35000, p.InFlight)
	assert.Equal(t, 240, p.MaxDelaySeconds)
	assert.Equal(t, 70, p.VisibilityTimeoutSeconds)
	// $ per million: DynamoDB 6 × 0.625 + 1.1 × 0.125 = 3.8875; SQS 0.3 × 0.40 = 0.12;
	// Lambda (0.1 + 1 api) × 0.20 + (0.1 × 0.7 + 1 × 0.03) × 0.25 GB × 13.3334 = 0.22 + 0.333335; API 1.00.
	assert.InDelta(t, 3.8875, p.USDPerMillion.DynamoDB, 1e-9)
	assert.InDelta(t, 0.12, p.USDPerMillion.SQS, 1e-9)
	assert.InDelta(t, 0.553335, p.USDPerMillion.Lambda, 1e-6)
	assert.InDelta(t, 1.0, p.USDPerMillion.APIGateway, 1e-9)
	// One lifecycle event at $1.00 per million.
	assert.InDelta(t, 1.0, p.USDPerMillion.EventBridge, 1e-9)
	assert.InDelta(t, 6.560835, p.USDPerMillion.Total, 1e-6)
	// 129,600 million tasks a month × 6.560835 + 210,470.4 GB × 0.25.
	assert.InDelta(t, 52617.6, p.StorageUSDPerMonth, 1e-6)
	assert.InDelta(t, 902901.816, p.USDPerMonth, 0.01)
	assert.NotEmpty(t, p.Warnings)
}

func TestComputeSmallRateFitsOneShard(t *testing.T) {
	t.Parallel()
	p, err := capacity.Compute(capacity.Inputs{RatePerS: 10, PayloadBytes: 100})
	require.NoError(t, err)
	assert.Equal(t, 700, p.ItemBytes)
	assert.InDelta(t, 3, p.WRUPerTask, 1e-9)
	assert.Equal(t, 1, p.Shards)
	assert.InDelta(t, 18.144, p.StorageGB, 1e-9)
	assert.Equal(t, 2, p.Partitions)
	assert.Equal(t, 1, p.WorkerConcurrency)
	assert.Equal(t, 1, p.DispatcherConcurrency)
	assert.Equal(t, 4, p.TotalConcurrency)
	assert.False(t, p.QuotaIncrease)
	assert.InDelta(t, 4.685835, p.USDPerMillion.Total, 1e-6)
	assert.Empty(t, p.Warnings)
}

func TestComputeUsesMeasuredPerTask(t *testing.T) {
	t.Parallel()
	// Measured: 3 writes, 2 reads, 1.5 SQS requests, 0.5 invocations, no API.
	p, err := capacity.Compute(capacity.Inputs{RatePerS: 1000, PayloadBytes: 0,
		PerTask: capacity.PerTask{Writes: 3, Reads: 2, SQSRequests: 1.5, Invocations: 0.5}})
	require.NoError(t, err)
	// item 600 B → 1 WRU a write: 3,000 WCU → ⌈3,000 / 800⌉ = 4 shards.
	assert.Equal(t, 4, p.Shards)
	// DynamoDB 3 × 0.625 + 2 × 0.125 = 2.125; SQS 1.5 × 0.4 = 0.6;
	// Lambda 0.5 × 0.2 + 0.5 × 0.7 × 0.25 × 13.3334 = 0.1 + 1.16667 = 1.2666725.
	assert.InDelta(t, 2.125, p.USDPerMillion.DynamoDB, 1e-9)
	assert.InDelta(t, 0.6, p.USDPerMillion.SQS, 1e-9)
	assert.InDelta(t, 1.2666725, p.USDPerMillion.Lambda, 1e-6)
	assert.InDelta(t, 0, p.USDPerMillion.APIGateway, 1e-12)
	assert.InDelta(t, 0, p.USDPerMillion.EventBridge, 1e-12)
}

func TestComputeWarnsPastSQSMaxDelay(t *testing.T) {
	t.Parallel()
	p, err := capacity.Compute(capacity.Inputs{RatePerS: 1, BucketSeconds: 60, LookaheadSeconds: 900})
	require.NoError(t, err)
	assert.Equal(t, 960, p.MaxDelaySeconds)
	require.Len(t, p.Warnings, 1)
	assert.Contains(t, p.Warnings[0], "900 s maximum delay")
}

func TestComputeRejectsBadInput(t *testing.T) {
	t.Parallel()
	for _, in := range []capacity.Inputs{{RatePerS: 0}, {RatePerS: -1}, {RatePerS: 1, PayloadBytes: 300 * 1024}} {
		_, err := capacity.Compute(in)
		assert.Error(t, err, "%+v", in)
	}
}

func TestParseRateAndSize(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]float64{"50000/s": 50000, "50k/s": 50000, "3000/min": 50, "1.2M/h": 1.2e6 / 3600, "42": 42} {
		got, err := capacity.ParseRate(s)
		require.NoError(t, err, s)
		assert.InDelta(t, want, got, 1e-9, s)
	}
	for s, want := range map[string]int{"1KiB": 1024, "1KB": 1000, "512": 512, "256KiB": 262144, "2MiB": 2 << 20} {
		got, err := capacity.ParseSize(s)
		require.NoError(t, err, s)
		assert.Equal(t, want, got, s)
	}
	for _, s := range []string{"", "fast", "10/fortnight", "-5/s"} {
		_, err := capacity.ParseRate(s)
		assert.Error(t, err, s)
	}
	_, err := capacity.ParseSize("lots")
	assert.Error(t, err)
}
