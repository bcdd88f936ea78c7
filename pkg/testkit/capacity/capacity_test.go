package capacity_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/devhost"
	"github.com/hourglass-sched/hourglass/pkg/testkit/capacity"
)

// The expectations below were computed by hand from the formulas in the
// "Capacity model" section of docs/cost-and-capacity.md (and on Plan's fields and in design.go),
// not by running the code. Prices: cost.List (WRU $0.625, RRU $0.125, SQS
// $0.40, Lambda request $0.20 per million; GB-second $0.0000133334; API
// Gateway request and EventBridge event $1.00 per million).

func TestComputeFiftyThousandPerSecondOneKiB(t *testing.T) {
	t.Parallel()
	p, err := capacity.Compute(capacity.Inputs{RatePerS: 50000, PayloadBytes: 1024})
	require.NoError(t, err)
	// Design, defaults: 2 writes (create, outcome), no index write, 1 item
	// read + 2 query reads, 1/100 API request (creates in batches of 100),
	// no event for a task that succeeds.
	assert.Equal(t, capacity.PerTask{Writes: 2, Reads: 1, QueryReads: 2, APIRequests: 0.01,
		SQSRequests: p.PerTask.SQSRequests, Invocations: p.PerTask.Invocations}, p.PerTask)
	// item 1024 + 300 = 1324 B → ⌈1324 / 1024⌉ = 2 WRU a write, 1 RRU a read.
	assert.Equal(t, 1324, p.ItemBytes)
	assert.InDelta(t, 2, p.WRUPerWrite, 1e-9)
	assert.InDelta(t, 1, p.RRUPerRead, 1e-9)
	// 2 writes × 2 WRU = 4; reads 1 × 1 + 2 × 1324 / 4096 = 1.646484375.
	assert.InDelta(t, 4, p.WRUPerTask, 1e-9)
	assert.InDelta(t, 1.646484375, p.RRUPerTask, 1e-12)
	assert.InDelta(t, 200000, p.WCU, 1e-6)
	assert.InDelta(t, 0, p.IndexWCU, 1e-12)
	assert.InDelta(t, 82324.21875, p.RCU, 1e-6)
	// 200,000 / (0.8 × 1,000) = 250 shards; reads need only ⌈82,324 / 2,400⌉ = 35.
	assert.Equal(t, 250, p.Shards)
	// 50,000 × 86,400 × 30 × 1,324 B = 171,590.4 GB → 17,160 partitions of 10 GB.
	assert.InDelta(t, 171590.4, p.StorageGB, 1e-6)
	assert.Equal(t, 17160, p.Partitions)
	// Lambda worker: batches of 10, 1 s each: 50,000 / 10 = 5,000
	// invocations/s; 50,000 × 1 s / 10 = 5,000 concurrent.
	assert.InDelta(t, 5000, p.WorkerInvocationsPerS, 1e-9)
	assert.Equal(t, 5000, p.WorkerConcurrency)
	// 50,000 × 60 / 250 = 12,000 tasks a unit, 24 s at 500/s (< 60 s bucket):
	// 2 passes × 250 shards = 500 dispatchers.
	assert.InDelta(t, 12000, p.TasksPerUnit, 1e-9)
	assert.InDelta(t, 24, p.UnitSeconds, 1e-9)
	assert.Equal(t, 500, p.DispatcherConcurrency)
	// api: 50,000 × 0.01 = 500 requests/s × 0.03 s = 15; + worker 5,000 +
	// dispatcher 500 + scanner 1.
	assert.InDelta(t, 500, p.APIRequestsPerS, 1e-9)
	assert.Equal(t, 15, p.APIConcurrency)
	assert.Equal(t, 5516, p.TotalConcurrency)
	assert.True(t, p.QuotaIncrease)
	// In flight: 50,000 × 1 s = 50,000 ≤ 120,000.
	assert.Equal(t, 50000, p.InFlight)
	assert.Equal(t, 240, p.MaxDelaySeconds)
	assert.Equal(t, 360, p.VisibilityTimeoutSeconds) // 6 × 60 s
	assert.Equal(t, 10, p.BatchSize)
	assert.Equal(t, 0, p.BatchWindowSeconds) // batches of 10 need no window
	// SQS: 0.3 + 2 × 250 × 2.1 / (50,000 × 60) = 0.30035.
	assert.InDelta(t, 0.30035, p.PerTask.SQSRequests, 1e-12)
	// Invocations: 1/10 + 2 × 250 / 3,000,000 + 1 / 3,000,000 = 0.100167; + 0.01 api.
	assert.InDelta(t, 0.100167, p.PerTask.Invocations, 1e-12)
	assert.InDelta(t, 0.110167, p.InvocationsPerTask, 1e-12)
	// GB-s: api 0.01 × 0.03 × 0.25 = 0.000075; worker 0.125 × 1 / 10 = 0.0125;
	// dispatcher 0.125 × 2 / 500 = 0.0005; scanner 0.125 × 1 / 3,000,000.
	assert.InDelta(t, 0.000075, p.GBSecondsPerTask.API, 1e-12)
	assert.InDelta(t, 0.0125, p.GBSecondsPerTask.Worker, 1e-12)
	assert.InDelta(t, 0.0005, p.GBSecondsPerTask.Dispatcher, 1e-12)
	assert.InDelta(t, 0.125/3e6, p.GBSecondsPerTask.Scanner, 1e-15)
	assert.InDelta(t, 0.013075+0.125/3e6, p.GBSecondsPerTask.Total, 1e-12)
	// $ per million: DynamoDB 4 × 0.625 + 1.646484375 × 0.125 = 2.705810546875;
	// SQS 0.30035 × 0.40 = 0.12014; Lambda 0.110167 × 0.20 + 0.0130750416667 ×
	// 13.3334 = 0.0220334 + 0.1743347606 = 0.1963681606; API 0.01 × 1.00; events 0.
	assert.InDelta(t, 2.705810546875, p.USDPerMillion.DynamoDB, 1e-9)
	assert.InDelta(t, 0.12014, p.USDPerMillion.SQS, 1e-9)
	assert.InDelta(t, 0.1963681606, p.USDPerMillion.Lambda, 1e-9)
	assert.InDelta(t, 0.01, p.USDPerMillion.APIGateway, 1e-12)
	assert.InDelta(t, 0, p.USDPerMillion.EventBridge, 1e-12)
	assert.InDelta(t, 3.0323187074, p.USDPerMillion.Total, 1e-9)
	// 129,600 million tasks a month × 3.0323187074 = 392,988.50 + 171,590.4 GB × 0.25.
	assert.InDelta(t, 42897.6, p.StorageUSDPerMonth, 1e-6)
	assert.InDelta(t, 435886.10, p.USDPerMonth, 0.01)
	// The table and Lambda quotas: 500 API requests/s and 50,000 in
	// flight are within limits.
	require.Len(t, p.Warnings, 2)
	assert.Contains(t, p.Warnings[0], "200000 WCU/s and 82324 RCU/s exceed DynamoDB's default per-table quota of 40000")
	assert.Contains(t, p.Warnings[1], "5516 concurrent Lambda executions")
}

func TestComputeWriteUnits(t *testing.T) {
	t.Parallel()
	// R = 100. A 100-byte payload makes a 400-byte item (1 WRU a write); a
	// 1 KiB payload a 1,324-byte item (2 WRU a write). The index entry is
	// keys only: 1 WRU whatever the payload.
	for _, tc := range []struct {
		name      string
		in        capacity.Inputs
		wru, wcu  float64
		indexWCU  float64
		ddbPerMil float64 // WRU × 0.625 + RRU × 0.125
	}{
		// 2 × 1 WRU; reads 1 + 2 × 400 / 4096 = 1.1953125.
		{"default: create + outcome", capacity.Inputs{PayloadBytes: 100}, 2, 200, 0, 2*0.625 + 1.1953125*0.125},
		{"lease: + claim", capacity.Inputs{PayloadBytes: 100, Claim: capacity.ClaimLease}, 3, 300, 0, 3*0.625 + 1.1953125*0.125},
		{"list index: + 1", capacity.Inputs{PayloadBytes: 100, ListIndex: true}, 3, 200, 100, 3*0.625 + 1.1953125*0.125},
		{"lease and list index", capacity.Inputs{PayloadBytes: 100, Claim: capacity.ClaimLease, ListIndex: true}, 4, 300, 100, 4*0.625 + 1.1953125*0.125},
		// 1 KiB doubles every item write: 2 × 2; reads 1 + 2 × 1324 / 4096 = 1.646484375.
		{"1 KiB: default", capacity.Inputs{PayloadBytes: 1024}, 4, 400, 0, 4*0.625 + 1.646484375*0.125},
		{"1 KiB: lease", capacity.Inputs{PayloadBytes: 1024, Claim: capacity.ClaimLease}, 6, 600, 0, 6*0.625 + 1.646484375*0.125},
		{"1 KiB: list index, not doubled", capacity.Inputs{PayloadBytes: 1024, ListIndex: true}, 5, 400, 100, 5*0.625 + 1.646484375*0.125},
		// The 1 KB boundary: 724 + 300 = 1,024 B is 1 WRU, 725 + 300 = 1,025 B is 2.
		{"1,024-byte item", capacity.Inputs{PayloadBytes: 724}, 2, 200, 0, 2*0.625 + 1.5*0.125},
		{"1,025-byte item", capacity.Inputs{PayloadBytes: 725}, 4, 400, 0, 4*0.625 + (1+2*1025.0/4096)*0.125},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := tc.in
			in.RatePerS = 100
			p, err := capacity.Compute(in)
			require.NoError(t, err)
			assert.InDelta(t, tc.wru, p.WRUPerTask, 1e-12)
			assert.InDelta(t, tc.wcu, p.WCU, 1e-9)
			assert.InDelta(t, tc.indexWCU, p.IndexWCU, 1e-9)
			assert.InDelta(t, tc.ddbPerMil, p.USDPerMillion.DynamoDB, 1e-9)
		})
	}
}

func TestComputeLifecycleEvents(t *testing.T) {
	t.Parallel()
	plan := func(level string) capacity.Plan {
		p, err := capacity.Compute(capacity.Inputs{RatePerS: 1000, PayloadBytes: 1024, LifecycleEvents: level})
		require.NoError(t, err)
		return p
	}
	def, failures, all, off := plan(""), plan(capacity.EventsFailures), plan(capacity.EventsAll), plan(capacity.EventsOff)
	// A task that succeeds publishes nothing by default (failures) or off.
	assert.Equal(t, def, failures)
	assert.InDelta(t, 0, failures.PerTask.Events, 1e-12)
	assert.InDelta(t, 0, failures.USDPerMillion.EventBridge, 1e-12)
	assert.InDelta(t, 0, off.USDPerMillion.EventBridge, 1e-12)
	// all: one event a task, $1.00 per million, and nothing else changes.
	assert.InDelta(t, 1, all.PerTask.Events, 1e-12)
	assert.InDelta(t, 1.0, all.USDPerMillion.EventBridge, 1e-12)
	assert.InDelta(t, failures.USDPerMillion.Total+1.0, all.USDPerMillion.Total, 1e-9)
	// 1,000 tasks/s × 2,592,000 s = 2,592 million tasks a month: + $2,592.
	assert.InDelta(t, failures.USDPerMonth+2592, all.USDPerMonth, 1e-6)
}

func TestComputeWorkerBatching(t *testing.T) {
	t.Parallel()
	// R = 1,000. Invocations/s = R / B; concurrency = ⌈R × D / B⌉; GB-s a
	// task = 0.125 GB × D / B; in flight = ⌈R × D⌉; a window only over 10.
	for _, tc := range []struct {
		name        string
		batch       int
		seconds     float64
		invocations float64
		concurrency int
		gbs         float64
		window      int
		inFlight    int
	}{
		{"defaults: Lambda, B = 10, D = 1 s, no window", 0, 0, 100, 100, 0.0125, 0, 1000},
		{"ECS poller: B = 100, D = 2 s, 1 s window", 100, 2, 10, 20, 0.0025, 1, 2000},
		{"B = 100, D = 1 s", 100, 1, 10, 10, 0.00125, 1, 1000},
		{"B = 10, D = 2 s", 10, 2, 100, 200, 0.025, 0, 2000},
		{"B = 11 needs a window", 11, 0, 1000.0 / 11, 91, 0.125 / 11, 1, 1000},
	} {
		p, err := capacity.Compute(capacity.Inputs{RatePerS: 1000, WorkerBatch: tc.batch, InvocationSeconds: tc.seconds})
		require.NoError(t, err)
		assert.InDelta(t, tc.invocations, p.WorkerInvocationsPerS, 1e-9, tc.name)
		assert.Equal(t, tc.concurrency, p.WorkerConcurrency, tc.name)
		assert.InDelta(t, tc.gbs, p.GBSecondsPerTask.Worker, 1e-12, tc.name)
		assert.Equal(t, tc.window, p.BatchWindowSeconds, tc.name)
		assert.Equal(t, tc.inFlight, p.InFlight, tc.name)
		assert.InDelta(t, 1000/tc.invocations, float64(p.BatchSize), 1e-9, tc.name)
	}
}

func TestComputeCreateBatching(t *testing.T) {
	t.Parallel()
	// R = 1,000. API requests a task = 1 / create batch; requests/s = R ×
	// that; api concurrency = ⌈requests/s × 0.03 s⌉; api GB-s a task =
	// requests × 0.03 s × 0.25 GB; API Gateway $ per million = requests ×
	// $1.00; invocations a task = the others' + requests.
	plan := func(batch int) capacity.Plan {
		p, err := capacity.Compute(capacity.Inputs{RatePerS: 1000, PayloadBytes: 1024, CreateBatch: batch})
		require.NoError(t, err)
		return p
	}
	for _, tc := range []struct {
		name        string
		batch       int
		requests    float64
		concurrency int
	}{
		{"default: batches of 100", 0, 0.01, 1},
		{"batches of 100", 100, 0.01, 1},
		{"batches of 10", 10, 0.1, 3},
		{"single creates", 1, 1, 30},
	} {
		p := plan(tc.batch)
		assert.InDelta(t, tc.requests, p.PerTask.APIRequests, 1e-12, tc.name)
		assert.InDelta(t, 1000*tc.requests, p.APIRequestsPerS, 1e-9, tc.name)
		assert.Equal(t, tc.concurrency, p.APIConcurrency, tc.name)
		assert.InDelta(t, tc.requests*0.03*0.25, p.GBSecondsPerTask.API, 1e-12, tc.name)
		assert.InDelta(t, tc.requests, p.USDPerMillion.APIGateway, 1e-9, tc.name)
		assert.InDelta(t, p.PerTask.Invocations+tc.requests, p.InvocationsPerTask, 1e-12, tc.name)
	}
	// Single creates cost 0.99 more API requests a task than batches of
	// 100: API Gateway 0.99 × $1.00, Lambda 0.99 × ($0.20 + 0.03 s × 0.25 GB
	// × $13.3334) = 0.99 × 0.3000005 = 0.297000495.
	single, batched := plan(1), plan(0)
	assert.InDelta(t, 0.99+0.297000495, single.USDPerMillion.Total-batched.USDPerMillion.Total, 1e-9)

	// The measured path keeps the run's api_requests, whatever the create batch.
	measured := capacity.PerTask{Writes: 2, Reads: 1, APIRequests: 0.5}
	p, err := capacity.Compute(capacity.Inputs{RatePerS: 1000, Measured: &measured, CreateBatch: 1})
	require.NoError(t, err)
	assert.InDelta(t, 0.5, p.PerTask.APIRequests, 1e-12)
	assert.InDelta(t, 500, p.APIRequestsPerS, 1e-9)
}

func TestComputeWarnsPastAPIGatewayRate(t *testing.T) {
	t.Parallel()
	measured := &capacity.PerTask{Writes: 2, Reads: 1} // keeps the warnings to the API's
	// Single creates at 20,000/s: 20,000 requests/s; batching would help.
	p, err := capacity.Compute(capacity.Inputs{RatePerS: 20000, CreateBatch: 1})
	require.NoError(t, err)
	assert.InDelta(t, 20000, p.APIRequestsPerS, 1e-9)
	assert.Contains(t, p.Warnings, "20000 API requests/s exceeds API Gateway's default 10000 per account and region: "+
		"create in larger batches (POST /v1/tasks:batch, up to 100 tasks) or ask for a quota increase")
	// Batches of 100 at 1,000,000/s: 10,000 requests/s, at the quota, no warning.
	p, err = capacity.Compute(capacity.Inputs{RatePerS: 1e6})
	require.NoError(t, err)
	assert.InDelta(t, 10000, p.APIRequestsPerS, 1e-6)
	for _, w := range p.Warnings {
		assert.NotContains(t, w, "API requests/s")
	}
	// Batches of 100 at 2,000,000/s: 20,000 requests/s; only a quota increase helps.
	p, err = capacity.Compute(capacity.Inputs{RatePerS: 2e6})
	require.NoError(t, err)
	assert.Contains(t, p.Warnings, "20000 API requests/s exceeds API Gateway's default 10000 per account and region: ask for a quota increase")
	// Measured 0.5 requests a task at 30,000/s: 15,000 requests/s, batch larger.
	measured.APIRequests = 0.5
	p, err = capacity.Compute(capacity.Inputs{RatePerS: 30000, Measured: measured})
	require.NoError(t, err)
	assert.Contains(t, p.Warnings, "15000 API requests/s exceeds API Gateway's default 10000 per account and region: "+
		"create in larger batches (POST /v1/tasks:batch, up to 100 tasks) or ask for a quota increase")
}

func TestComputeSmallRateFitsOneShard(t *testing.T) {
	t.Parallel()
	p, err := capacity.Compute(capacity.Inputs{RatePerS: 10, PayloadBytes: 100})
	require.NoError(t, err)
	assert.Equal(t, 400, p.ItemBytes)
	assert.InDelta(t, 2, p.WRUPerTask, 1e-9)
	assert.Equal(t, 1, p.Shards)
	// 10 × 86,400 × 30 × 400 B = 10.368 GB → 2 partitions.
	assert.InDelta(t, 10.368, p.StorageGB, 1e-9)
	assert.Equal(t, 2, p.Partitions)
	assert.Equal(t, 1, p.WorkerConcurrency) // ⌈10 × 1 / 10⌉
	assert.Equal(t, 1, p.APIConcurrency)    // ⌈10 × 0.01 × 0.03⌉
	assert.Equal(t, 2, p.DispatcherConcurrency)
	assert.Equal(t, 5, p.TotalConcurrency) // worker 1 + api 1 + dispatcher 2 + scanner 1
	assert.False(t, p.QuotaIncrease)
	assert.Equal(t, 10, p.InFlight) // ⌈10 × 1 s⌉
	// The scan queue's share: 0.3 + 2 × 1 × 2.1 / 600 = 0.307; invocations
	// 1/10 + 2 / 600 + 1 / 600 = 0.105.
	assert.InDelta(t, 0.307, p.PerTask.SQSRequests, 1e-12)
	assert.InDelta(t, 0.105, p.PerTask.Invocations, 1e-12)
	// GB-s: api 0.01 × 0.03 × 0.25 = 0.000075, worker 0.0125, dispatcher
	// 0.0005, scanner 0.125 / 600 = 0.0002083333: 0.0132833333.
	assert.InDelta(t, 0.0132833333, p.GBSecondsPerTask.Total, 1e-9)
	// DynamoDB 1.3994140625 + SQS 0.1228 + Lambda (0.115 × 0.2 + 0.0132833333
	// × 13.3334 = 0.2001119967) + API 0.01.
	assert.InDelta(t, 0.2001119967, p.USDPerMillion.Lambda, 1e-9)
	assert.InDelta(t, 1.7323260592, p.USDPerMillion.Total, 1e-9)
	assert.Empty(t, p.Warnings)
}

func TestComputeUsesMeasuredPerTask(t *testing.T) {
	t.Parallel()
	// Measured: 3 writes, 2 reads, 1.5 SQS requests, 0.5 invocations, no API.
	measured := capacity.PerTask{Writes: 3, Reads: 2, SQSRequests: 1.5, Invocations: 0.5}
	p, err := capacity.Compute(capacity.Inputs{RatePerS: 1000, PayloadBytes: 0, Measured: &measured,
		LifecycleEvents: capacity.EventsAll, // ignored: the measured run's events count
		CreateBatch:     1})                 // ignored too: the measured run's API requests count
	require.NoError(t, err)
	assert.Equal(t, measured, p.PerTask)
	// item 300 B → 1 WRU a write: 3,000 WCU → ⌈3,000 / 800⌉ = 4 shards.
	assert.Equal(t, 4, p.Shards)
	// DynamoDB 3 × 0.625 + 2 × 0.125 = 2.125; SQS 1.5 × 0.4 = 0.6; Lambda
	// 0.5 × 0.2 + (0.0125 worker + 0.0005 dispatcher + 0.125 / 60,000 scanner) × 13.3334
	// = 0.1 + 0.1733619779 (no api: no API requests).
	assert.InDelta(t, 2.125, p.USDPerMillion.DynamoDB, 1e-9)
	assert.InDelta(t, 0.6, p.USDPerMillion.SQS, 1e-9)
	assert.InDelta(t, 0.2733619779, p.USDPerMillion.Lambda, 1e-9)
	assert.InDelta(t, 0, p.USDPerMillion.APIGateway, 1e-12)
	assert.InDelta(t, 0, p.USDPerMillion.EventBridge, 1e-12)

	// The list index adds its write to a measured run (moto does not count it).
	p, err = capacity.Compute(capacity.Inputs{RatePerS: 1000, Measured: &measured, ListIndex: true})
	require.NoError(t, err)
	assert.InDelta(t, 4, p.WRUPerTask, 1e-12)
	assert.InDelta(t, 1, p.PerTask.IndexWrites, 1e-12)
	assert.InDelta(t, 0, measured.IndexWrites, 1e-12) // the caller's copy is untouched
}

func TestComputeWarnsPastSQSMaxDelay(t *testing.T) {
	t.Parallel()
	p, err := capacity.Compute(capacity.Inputs{RatePerS: 1, BucketSeconds: 60, LookaheadSeconds: 900})
	require.NoError(t, err)
	assert.Equal(t, 960, p.MaxDelaySeconds)
	require.Len(t, p.Warnings, 1)
	assert.Contains(t, p.Warnings[0], "900 s maximum delay")
}

func TestComputeWarnsPastSQSInFlight(t *testing.T) {
	t.Parallel()
	measured := &capacity.PerTask{Writes: 2, Reads: 1}
	// The Lambda worker: 70,000 × 1 s = 70,000 in flight, within 120,000.
	p, err := capacity.Compute(capacity.Inputs{RatePerS: 70000, Measured: measured})
	require.NoError(t, err)
	assert.Equal(t, 70000, p.InFlight)
	require.Len(t, p.Warnings, 2) // the table's and Lambda's quotas only
	assert.Contains(t, p.Warnings[0], "per-table quota")
	assert.Contains(t, p.Warnings[1], "concurrent Lambda executions")
	// 2-second batches of 100 (the ECS poller): 70,000 × 2 s = 140,000 > 120,000.
	p, err = capacity.Compute(capacity.Inputs{RatePerS: 70000, Measured: measured, WorkerBatch: 100, InvocationSeconds: 2})
	require.NoError(t, err)
	assert.Equal(t, 140000, p.InFlight)
	require.Len(t, p.Warnings, 3) // and the table's and Lambda's quotas
	assert.Contains(t, p.Warnings[2], "140000 messages in flight exceeds SQS's 120000")
	// The Lambda worker at 130,000/s: 130,000 × 1 s > 120,000.
	p, err = capacity.Compute(capacity.Inputs{RatePerS: 130000, Measured: measured})
	require.NoError(t, err)
	assert.Equal(t, 130000, p.InFlight)
	require.Len(t, p.Warnings, 3)
	assert.Contains(t, p.Warnings[2], "130000 messages in flight exceeds SQS's 120000")
}

func TestComputeWarnsAboutTheListIndexHotTenant(t *testing.T) {
	t.Parallel()
	p, err := capacity.Compute(capacity.Inputs{RatePerS: 1001, ListIndex: true, Measured: &capacity.PerTask{Writes: 2, Reads: 1}})
	require.NoError(t, err)
	require.Len(t, p.Warnings, 1)
	assert.Contains(t, p.Warnings[0], "keys its entries by tenant")
}

func TestComputeRejectsBadInput(t *testing.T) {
	t.Parallel()
	for _, in := range []capacity.Inputs{{RatePerS: 0}, {RatePerS: -1}, {RatePerS: 1, PayloadBytes: 300 * 1024},
		{RatePerS: 1, Claim: "optimistic"}, {RatePerS: 1, LifecycleEvents: "some"}, {RatePerS: 1, WorkerBatch: 10001},
		{RatePerS: 1, CreateBatch: 101}} {
		_, err := capacity.Compute(in)
		assert.Error(t, err, "%+v", in)
	}
}

// TestDefaultMemoryIsTheStacks: the model prices GB-seconds with the memory
// sizes the CDK stack deploys. The local host's devhost.MemoryMB is checked
// against infra/stack.go's functionMemoryMB by the infra module's
// TestFunctionMemoryMatchesDevHost, so matching it here matches the stack.
func TestDefaultMemoryIsTheStacks(t *testing.T) {
	t.Parallel()
	m := capacity.DefaultMemory
	assert.Equal(t, map[string]int{"api": m.API, "worker": m.Worker, "dispatcher": m.Dispatcher,
		"scanner": m.Scanner, "ingest": 128}, devhost.MemoryMB)
}

// TestWorkerDefaultsAreTheStacks: the model's default worker batch is the
// Lambda worker's SQS event source in infra/stack.go (BatchSize, with no
// MaximumBatchingWindow), and its 1 s invocation assumes the stack leaves
// HOURGLASS_EARLY_DELIVERY_MS unset (0: messages visible at most 1 s early).
func TestWorkerDefaultsAreTheStacks(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "..", "infra", "stack.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	require.NoError(t, err)
	var props map[string]ast.Expr
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || !isSelector(call.Fun, "worker", "AddEventSource") || len(call.Args) != 1 {
			return true
		}
		source, ok := call.Args[0].(*ast.CallExpr)
		require.True(t, ok && isSelector(source.Fun, "awslambdaeventsources", "NewSqsEventSource") && len(source.Args) == 2,
			"worker.AddEventSource(awslambdaeventsources.NewSqsEventSource(queue, props))")
		unary, ok := source.Args[1].(*ast.UnaryExpr)
		require.True(t, ok, "the event source props are &SqsEventSourceProps{...}")
		lit, ok := unary.X.(*ast.CompositeLit)
		require.True(t, ok, "the event source props are &SqsEventSourceProps{...}")
		props = map[string]ast.Expr{}
		for _, e := range lit.Elts {
			kv := e.(*ast.KeyValueExpr)
			props[kv.Key.(*ast.Ident).Name] = kv.Value
		}
		return false
	})
	require.NotNil(t, props, "worker.AddEventSource in %s", path)
	size, ok := props["BatchSize"].(*ast.CallExpr) // jsii.Number(10)
	require.True(t, ok && len(size.Args) == 1, "BatchSize: jsii.Number(n)")
	lit, ok := size.Args[0].(*ast.BasicLit)
	require.True(t, ok, "BatchSize: jsii.Number(n)")
	batch, err := strconv.Atoi(lit.Value)
	require.NoError(t, err)
	assert.Equal(t, capacity.WorkerBatch, batch, "the worker event source's BatchSize")
	assert.NotContains(t, props, "MaxBatchingWindow", "the model assumes no batching window")

	p, err := capacity.Compute(capacity.Inputs{RatePerS: 1000})
	require.NoError(t, err)
	assert.Equal(t, batch, p.BatchSize)
	assert.Equal(t, 0, p.BatchWindowSeconds)
	assert.InDelta(t, 1, p.Inputs.InvocationSeconds, 1e-12)

	// No early delivery in AWS, for the Lambda worker or the ECS one.
	sources, err := filepath.Glob(filepath.Join("..", "..", "..", "infra", "*.go"))
	require.NoError(t, err)
	require.NotEmpty(t, sources)
	for _, src := range sources {
		data, err := os.ReadFile(src) //nolint:gosec // the repository's own files
		require.NoError(t, err)
		assert.NotContains(t, string(data), "HOURGLASS_EARLY_DELIVERY_MS", "%s sets an early delivery: revisit WorkerInvocationSeconds", src)
	}
}

func isSelector(e ast.Expr, x, sel string) bool {
	s, ok := e.(*ast.SelectorExpr)
	if !ok || s.Sel.Name != sel {
		return false
	}
	id, ok := s.X.(*ast.Ident)
	return ok && id.Name == x
}

// TestCreateBatchIsTheAPIs: the default create batch is the most one
// POST /v1/tasks:batch takes (pkg/app MaxBatch, which api.MaxBatch names),
// which the load generator and the Go client send.
func TestCreateBatchIsTheAPIs(t *testing.T) {
	t.Parallel()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "..", "app", "batch.go"), nil, 0)
	require.NoError(t, err)
	maxBatch := -1
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "MaxBatch" || len(vs.Values) != 1 {
			return true
		}
		lit, ok := vs.Values[0].(*ast.BasicLit)
		require.True(t, ok, "MaxBatch is a literal")
		maxBatch, err = strconv.Atoi(lit.Value)
		require.NoError(t, err)
		return false
	})
	assert.Equal(t, capacity.CreateBatch, maxBatch)
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
