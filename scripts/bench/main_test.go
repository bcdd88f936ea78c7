package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/testkit/loadtest"
	"github.com/hourglass-sched/hourglass/pkg/usage"
)

func TestCostOfSeparatesIdlePolls(t *testing.T) {
	t.Parallel()
	// 100 tasks: 30 receives of which 20 found nothing (counted by the
	// usage middleware), 10 delete and 10 send batches: 50 SQS requests,
	// 20 of them idle long polls.
	u := usage.Snapshot{
		Calls: map[string]int64{"SQS.ReceiveMessage": 30, "SQS.ReceiveMessage.empty": 20, "SQS.DeleteMessageBatch": 10, "SQS.SendMessageBatch": 10,
			"DynamoDB.PutItem": 100, "DynamoDB.UpdateItem": 200},
		DynamoDBWRU: 300, DynamoDBRRU: 150, SQSRequests: 50, EventBridgeEvents: 100,
		LambdaInvocations: map[string]int64{"api": 100, "worker": 10, "dispatcher": 2, "scanner": 30},
		APIRequests:       100,
	}
	c, per := costOf(u, 100)
	assert.InDelta(t, 0.5, c.SQSRequests, 1e-9)
	assert.InDelta(t, 0.2, c.SQSIdleReceives, 1e-9)
	assert.InDelta(t, 0.3, c.SQSBusy, 1e-9)
	assert.InDelta(t, 3, c.WRU, 1e-9)
	assert.InDelta(t, 3, per.Writes, 1e-9)
	assert.InDelta(t, 1.5, per.Reads, 1e-9)
	assert.InDelta(t, 0.3, per.SQSRequests, 1e-9)
	// The scanner is left out of the model's invocations; the api's are implied by API requests.
	assert.InDelta(t, 0.12, per.Invocations, 1e-9)
	assert.InDelta(t, 1, per.APIRequests, 1e-9)
	assert.InDelta(t, 1, per.Events, 1e-9)
	// Without the 20 idle receives the SQS share drops by 20 × $0.40 per million per 100 tasks.
	assert.InDelta(t, c.USDPerMillion.Total-0.08, c.USDPerMillionBusy, 1e-3)
}

func TestBudgetsAndRatios(t *testing.T) {
	t.Parallel()
	o := Output{Ratios: map[string]float64{},
		Hourglass: loadtest.Summary{Executed: 10, Lateness: loadtest.Latency{P50: 50, P99: 800}, CreatePerS: 100},
		Asynq:     loadtest.Summary{Executed: 10, Lateness: loadtest.Latency{P50: 2000, P99: 4000}, CreatePerS: 10000},
	}
	o.Raw.Emulator = Raw{PutItemPerS: 400, SendBatchMsgsPerS: 200}
	o.Raw.Throughput = Throughput{CreatePerS: 100, ExecutePerS: 50, EndToEndPerS: 40}
	ratios(&o)
	assert.InDelta(t, 0.2, o.Ratios["hourglass_p99_over_asynq_p99"], 1e-9)
	assert.InDelta(t, 0.25, o.Ratios["throughput_create_over_raw_putitem"], 1e-9)
	assert.NotContains(t, o.Ratios, "create_over_raw_putitem", "no create scenario, no create ratio")
	o.Raw.Create = &CreateLadder{HTTPBatchPerS: 320, RawPutItemPerS: 350, StoreCreatePerS: 340}
	ratios(&o)
	assert.InDelta(t, 320.0/350, o.Ratios["create_over_raw_putitem"], 1e-3)
	assert.InDelta(t, 0.8, o.Ratios["create_over_raw_putitem_vs_measure_raw"], 1e-9)
	assert.InDelta(t, 0.2, o.Ratios["end_to_end_over_raw_min"], 1e-9)
	b := budgets(o)
	require.Len(t, b, 2)
	assert.True(t, b[0].Met)
	assert.True(t, b[1].Met)
	o.Hourglass.Lateness.P99 = 1200
	assert.False(t, budgets(o)[1].Met)
}

func TestParseGoBench(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gobench.txt")
	require.NoError(t, os.WriteFile(path, []byte(`goos: linux
pkg: github.com/hourglass-sched/hourglass/pkg/dispatch
BenchmarkBuildMessages-2   	    2156	     95320 ns/op	       476.6 ns/task	   51334 B/op	     801 allocs/op
pkg: github.com/hourglass-sched/hourglass/pkg/task
BenchmarkNewID-2          	 4127695	        99.85 ns/op	       0 B/op	       0 allocs/op
PASS
`), 0o600))
	got, err := parseGoBench(path)
	require.NoError(t, err)
	assert.Equal(t, GoBench{NsPerOp: 95320, NsPerTask: 476.6, BytesPerOp: 51334, AllocsPerOp: 801}, got["pkg/dispatch.BenchmarkBuildMessages"])
	assert.Equal(t, GoBench{NsPerOp: 99.85}, got["pkg/task.BenchmarkNewID"])
}

func TestScenarioSet(t *testing.T) {
	t.Parallel()
	all, err := scenarioSet("")
	require.NoError(t, err)
	assert.Len(t, all, len(scenarios))
	some, err := scenarioSet("noisy_neighbour, spike")
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"noisy_neighbour": true, "spike": true}, some)
	_, err = scenarioSet("noisy,spike")
	assert.ErrorContains(t, err, `unknown scenario "noisy"`)
}

func TestNoisyBudgetCountsPendingAsNotMet(t *testing.T) {
	t.Parallel()
	o := Output{Raw: RawOut{Noisy: &Noisy{NoisyTasks: 10, QuietP99: 300, BudgetQuietP99: 1000, Pending: 1, QuietBudgetMet: false}}}
	b := budgets(o)
	require.Len(t, b, 2)
	assert.False(t, b[0].Met, "a quiet p99 within budget with a task still pending is not met")
	assert.True(t, b[1].Met)
}

// A run of one scenario (-scenarios) leaves the others empty: the report
// is still written, without the charts that have nothing to show.
func TestWriteResultsOfAPartialRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o := Output{Ratios: map[string]float64{}, Raw: RawOut{Mode: "quick", Noisy: &Noisy{NoisyTasks: 10, QuietTasks: 5, QuietP99: 120, BudgetQuietP99: 1000, QuietBudgetMet: true}}}
	o.Raw.Budgets = budgets(o)
	require.NoError(t, writeResults(dir, o, nil, nil, nil, nil, nil))
	_, err := os.Stat(filepath.Join(dir, "results.json"))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, "lateness_cdf.png"))
	assert.True(t, os.IsNotExist(err), "no lateness chart without lateness samples")
}

func TestBurstTenants(t *testing.T) {
	for _, c := range []struct{ n, rate, want int }{{300, 50, 6}, {301, 50, 7}, {50, 50, 1}, {300, 0, 1}, {30, 50, 1}} {
		assert.Equal(t, c.want, burstTenants(c.n, c.rate), "%d tasks at %d a tenant", c.n, c.rate)
	}
}
