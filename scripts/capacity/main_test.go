package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/testkit/capacity"
)

func TestPerTaskDesignByDefault(t *testing.T) {
	t.Parallel()
	per, source, err := perTask("")
	require.NoError(t, err)
	assert.Nil(t, per)
	assert.Equal(t, "design figures", source)
}

func TestPerTaskReadsABenchmarkRun(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "results.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"raw": {"date": "2026-11-29T00:18:08Z", "cost": {"ddb_wru": 2.01},
		"per_task_calls": {"writes": 2.01, "reads": 1.2, "sqs_requests": 0.4, "invocations": 0.02, "api_requests": 0.01, "eventbridge_events": 0}}}`), 0o600))
	per, source, err := perTask(path)
	require.NoError(t, err)
	assert.Equal(t, &capacity.PerTask{Writes: 2.01, Reads: 1.2, SQSRequests: 0.4, Invocations: 0.02, APIRequests: 0.01}, per)
	assert.Equal(t, "measured, "+path+" of 2026-11-29T00:18:08Z", source)
}

func TestPerTaskRefusesWhatItCannotUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, _, err := perTask(filepath.Join(dir, "missing.json"))
	require.Error(t, err)
	empty := filepath.Join(dir, "empty.json")
	require.NoError(t, os.WriteFile(empty, []byte(`{"raw": {}}`), 0o600))
	_, _, err = perTask(empty)
	require.ErrorContains(t, err, "no raw.per_task_calls")
}

func TestRenderShowsTheDefaults(t *testing.T) {
	t.Parallel()
	p, err := capacity.Compute(capacity.Inputs{RatePerS: 50000, PayloadBytes: 1024})
	require.NoError(t, err)
	out := render(50000, 1024, "design figures", p, kib{ItemBytes: 1324, WRUPerWrite: 2, USDPerMillion: 3.03})
	for _, want := range []string{
		"HOURGLASS_CLAIM=none, HOURGLASS_LIST_INDEX=0, HOURGLASS_LIFECYCLE_EVENTS=failures; create batches of 100; worker batches of 10, 1.0 s an invocation",
		"2 item writes + 0 index writes",
		"0.100167 invocations + 0.01 API requests",
		"1324 B → 2 WRU a write",
		"4 WRU, 1.646 RRU",
		"5000 invocations/s, concurrency 5000 = R × 1.0 s / 10",
		"500 requests/s (API Gateway quota 10000), concurrency 15",
		"api 0.000075 at 256 MB, worker 0.012500 at 128 MB",
		"batch 10 with no batching window, ReportBatchItemFailures, ~50.0k in flight",
		"$ per million tasks                    3.03 (DynamoDB 2.71, SQS 0.12, Lambda 0.20, API Gateway 0.01, EventBridge 0.00)",
		"$435.9k (requests $393.0k + storage $42.9k)",
	} {
		assert.Contains(t, out, want)
	}
}

func TestParseArgsDefaultsAreTheLambdaStacks(t *testing.T) {
	t.Parallel()
	o, err := parseArgs(flag.NewFlagSet("capacity", flag.ContinueOnError), []string{"-rate", "50000/s", "-payload", "1KiB"})
	require.NoError(t, err)
	assert.Equal(t, "design figures", o.source)
	assert.Equal(t, 10, o.in.WorkerBatch)
	assert.InDelta(t, 1, o.in.InvocationSeconds, 1e-12)
	assert.Equal(t, 100, o.in.CreateBatch)
	p, err := capacity.Compute(o.in)
	require.NoError(t, err)
	// The flags' defaults are the model's: the same plan as the zero inputs.
	zero, err := capacity.Compute(capacity.Inputs{RatePerS: 50000, PayloadBytes: 1024})
	require.NoError(t, err)
	assert.Equal(t, zero.PerTask, p.PerTask)
	assert.Equal(t, zero.USDPerMillion, p.USDPerMillion)
	assert.Equal(t, 0, p.BatchWindowSeconds)
	assert.InDelta(t, 0.01, p.PerTask.APIRequests, 1e-12)
}

func TestParseArgsModelsThePollerAndSingleCreates(t *testing.T) {
	t.Parallel()
	o, err := parseArgs(flag.NewFlagSet("capacity", flag.ContinueOnError),
		[]string{"-rate", "1000/s", "-worker-batch", "100", "-invocation-seconds", "2", "-create-batch", "1"})
	require.NoError(t, err)
	p, err := capacity.Compute(o.in)
	require.NoError(t, err)
	assert.Equal(t, 100, p.BatchSize)
	assert.Equal(t, 1, p.BatchWindowSeconds)
	assert.Equal(t, 20, p.WorkerConcurrency) // ⌈1,000 × 2 / 100⌉
	assert.InDelta(t, 1, p.PerTask.APIRequests, 1e-12)
	out := render(o.in.RatePerS, o.in.PayloadBytes, o.source, p, kib{})
	assert.Contains(t, out, "create batches of 1; worker batches of 100, 2.0 s an invocation")
	assert.Contains(t, out, "batch 100 with a 1 s window")

	for _, bad := range [][]string{{"-create-batch", "0"}, {"-create-batch", "-5"}, {"-rate", "fast"}} {
		_, err := parseArgs(flag.NewFlagSet("capacity", flag.ContinueOnError), bad)
		assert.Error(t, err, "%v", bad)
	}
	// Over 100 is the model's to refuse: POST /v1/tasks:batch takes at most 100.
	o, err = parseArgs(flag.NewFlagSet("capacity", flag.ContinueOnError), []string{"-create-batch", "101"})
	require.NoError(t, err)
	_, err = capacity.Compute(o.in)
	assert.ErrorContains(t, err, "at most 100")
}

// The configuration: 50,000 tasks/s, 256-byte payloads, a
// provisioned table auto scaled at 70 %: at most $1.00 per million, with
// the 1 KiB figure (two write units a write) and the assumptions beside it.
func TestProvisionedFiftyThousandADollarPerMillion(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run([]string{"-rate", "50000/s", "-payload", "256B", "-billing", "provisioned", "-json"}, &out))
	var v struct {
		USDPerMillion float64 `json:"usd_per_million"`
		Billing       string  `json:"billing"`
		Target        float64 `json:"target_utilization"`
		WCU           float64 `json:"wcu"`
		ProvWCU       int     `json:"provisioned_wcu"`
		At1KiB        kib     `json:"at_1kib"`
		Assumptions   []string
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &v))
	assert.Equal(t, "provisioned", v.Billing)
	assert.InDelta(t, 0.7, v.Target, 1e-9)
	assert.LessOrEqual(t, v.USDPerMillion, 1.00)
	assert.Greater(t, v.USDPerMillion, 0.5, "DynamoDB, SQS and Lambda still cost something")
	assert.Equal(t, int(math.Ceil(v.WCU/0.7)), v.ProvWCU)
	assert.InDelta(t, 2, v.At1KiB.WRUPerWrite, 1e-9)
	assert.Greater(t, v.At1KiB.USDPerMillion, v.USDPerMillion)
	assert.NotEmpty(t, v.Assumptions)

	// On demand with every default stays within its $2.00 budget.
	out.Reset()
	require.NoError(t, run([]string{"-rate", "50000/s", "-payload", "256B", "-json"}, &out))
	require.NoError(t, json.Unmarshal(out.Bytes(), &v))
	assert.Equal(t, "on-demand", v.Billing)
	assert.LessOrEqual(t, v.USDPerMillion, 2.00)
	assert.Greater(t, v.USDPerMillion, 1.00, "provisioned is the cheaper mode at a sustained rate")

	for _, bad := range [][]string{{"-billing", "free"}, {"-billing", "provisioned", "-target-utilization", "0.95"}} {
		assert.Error(t, run(append(bad, "-json"), &out), "%v", bad)
	}
}

// 100,000 tasks/s on paper: the partition arithmetic is printed.
func TestHundredThousandShowsThePartitionArithmetic(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run([]string{"-rate", "100000/s", "-payload", "256B"}, &out))
	s := out.String()
	assert.Contains(t, s, "shards per bucket (HOURGLASS_SHARDS)   250 = ⌈max(200.0k WCU / (80% × 1000)")
	assert.Contains(t, s, "physical partitions")
	assert.Contains(t, s, "assumptions:")
}
