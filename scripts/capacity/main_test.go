package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/capacity"
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
	out := render(50000, 1024, "design figures", p)
	for _, want := range []string{
		"HOURGLASS_CLAIM=none, HOURGLASS_LIST_INDEX=0, HOURGLASS_LIFECYCLE_EVENTS=failures; worker batches of 100",
		"2 item writes + 0 index writes",
		"1324 B → 2 WRU a write",
		"4 WRU, 1.646 RRU",
		"concurrency 1000 = R × 2.0 s / 100",
		"api 0.007500 at 256 MB, worker 0.002500 at 128 MB",
		"$ per million tasks                    4.17 (DynamoDB 2.71, SQS 0.12, Lambda 0.34, API Gateway 1.00, EventBridge 0.00)",
		"$583.1k (requests $540.2k + storage $42.9k)",
	} {
		assert.Contains(t, out, want)
	}
}
