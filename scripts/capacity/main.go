// Command capacity sizes an Hourglass deployment for a target task rate:
// shards, DynamoDB partitions, Lambda concurrency, queue settings and monthly
// cost, from the model in pkg/capacity.
//
//	go run ./scripts/capacity -rate 50000/s -payload 1KiB
//
// The per-task AWS calls come from the latest benchmark run
// (results/latest/results.json, written by scripts/bench) when it exists,
// else from the design's figures (capacity.Designed); -measured names
// another file, -measured "" forces the design figures.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/hourglass-sched/hourglass/pkg/capacity"
)

func main() {
	var (
		rate      = flag.String("rate", "1000/s", "target task rate, e.g. 50000/s, 3M/h")
		payload   = flag.String("payload", "1KiB", "payload size, e.g. 1KiB, 512B")
		measured  = flag.String("measured", "results/latest/results.json", "benchmark results to take per-task calls from (empty: design figures)")
		bucket    = flag.Int("bucket", 60, "bucket width, seconds")
		lookahead = flag.Int("lookahead", 180, "look-ahead, seconds")
		retention = flag.Float64("retention-days", 30, "days finished tasks are kept (TTL)")
		invSecs   = flag.Float64("invocation-seconds", 0.7, "worker invocation duration, seconds (hold + target call + DynamoDB)")
		overhead  = flag.Int("item-overhead", 600, "bytes a task item holds beside its payload (keys, target, state, lease, one attempt)")
		jsonOut   = flag.Bool("json", false, "print the plan as JSON")
	)
	flag.Parse()
	r, err := capacity.ParseRate(*rate)
	if err != nil {
		fail(err)
	}
	size, err := capacity.ParseSize(*payload)
	if err != nil {
		fail(err)
	}
	per, source, err := perTask(*measured)
	if err != nil {
		fail(err)
	}
	p, err := capacity.Compute(capacity.Inputs{RatePerS: r, PayloadBytes: size, PerTask: per, BucketSeconds: *bucket,
		LookaheadSeconds: *lookahead, RetentionDays: *retention, InvocationSeconds: *invSecs, ItemOverheadBytes: *overhead})
	if err != nil {
		fail(err)
	}
	if *jsonOut {
		out, _ := json.MarshalIndent(struct {
			RatePerS     float64          `json:"rate_per_s"`
			PayloadBytes int              `json:"payload_bytes"`
			PerTask      capacity.PerTask `json:"per_task"`
			Source       string           `json:"per_task_source"`
			capacity.Plan
		}{r, size, per, source, p}, "", "  ")
		fmt.Println(string(out))
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Hourglass capacity for %s tasks/s with %d-byte payloads\n", fmtNum(r), size)
	fmt.Fprintf(&b, "per-task calls (%s): %.2f writes, %.2f reads, %.2f SQS requests, %.3f invocations, %.1f API requests, %.1f events\n\n",
		source, per.Writes, per.Reads, per.SQSRequests, per.Invocations, per.APIRequests, per.Events)
	row := func(k, v string) { fmt.Fprintf(&b, "  %-38s %s\n", k, v) }
	row("item size", fmt.Sprintf("%d B → %.0f WRU a write, %.0f RRU a read", p.ItemBytes, p.WRUPerWrite, p.RRUPerRead))
	row("DynamoDB capacity", fmt.Sprintf("%s WCU/s, %s RCU/s (on demand)", fmtNum(p.WCU), fmtNum(p.RCU)))
	row("shards per bucket (HOURGLASS_SHARDS)", fmt.Sprintf("%d (≤ %d WCU each at 80%%)", p.Shards, capacity.PartitionWCU))
	row("table size at retention", fmt.Sprintf("%s GB", fmtNum(p.StorageGB)))
	row("physical partitions", fmt.Sprintf("%d (max of WCU/1000, RCU/3000, GB/10)", p.Partitions))
	row("worker invocations", fmt.Sprintf("%s/s (batches of %d)", fmtNum(p.WorkerInvocationsPerS), p.BatchSize))
	row("worker concurrency", fmt.Sprintf("%d", p.WorkerConcurrency))
	row("api concurrency", fmt.Sprintf("%d", p.APIConcurrency))
	row("dispatcher concurrency", fmt.Sprintf("%d (%s tasks a unit, %.1f s each)", p.DispatcherConcurrency, fmtNum(p.TasksPerUnit), p.UnitSeconds))
	row("Lambda concurrency, total", fmt.Sprintf("%d (default quota %d; increase needed: %v)", p.TotalConcurrency, capacity.LambdaConcurrency, p.QuotaIncrease))
	row("task queue", fmt.Sprintf("delays ≤ %d s (max %d), visibility %d s, batch %d, ReportBatchItemFailures, ~%d in flight (max %d)",
		p.MaxDelaySeconds, capacity.SQSMaxDelaySeconds, p.VisibilityTimeoutSeconds, p.BatchSize, p.InFlight, capacity.SQSMaxInFlight))
	u := p.USDPerMillion
	row("$ per million tasks", fmt.Sprintf("%.2f (DynamoDB %.2f, SQS %.2f, Lambda %.2f, API Gateway %.2f, EventBridge %.2f)", u.Total, u.DynamoDB, u.SQS, u.Lambda, u.APIGateway, u.EventBridge))
	row("$ per month", fmt.Sprintf("%s (requests %s + storage %s)", fmtUSD(p.USDPerMonth), fmtUSD(p.USDPerMonth-p.StorageUSDPerMonth), fmtUSD(p.StorageUSDPerMonth)))
	row("prices", p.Inputs.Prices.Region+" "+p.Inputs.Prices.AsOf)
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "\n  warning: %s", w)
	}
	fmt.Println(b.String())
}

// perTask reads the measured per-task calls from a results file.
func perTask(path string) (capacity.PerTask, string, error) {
	if path == "" {
		return capacity.Designed, "design figures", nil
	}
	data, err := os.ReadFile(path) //nolint:gosec // a path the user gave on the command line
	if errors.Is(err, fs.ErrNotExist) {
		return capacity.Designed, "design figures; no " + path + " yet", nil
	}
	if err != nil {
		return capacity.PerTask{}, "", err
	}
	var res struct {
		Raw struct {
			PerTaskCalls *capacity.PerTask `json:"per_task_calls"`
		} `json:"raw"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return capacity.PerTask{}, "", fmt.Errorf("%s: %w", path, err)
	}
	if res.Raw.PerTaskCalls == nil || res.Raw.PerTaskCalls.Writes == 0 {
		return capacity.Designed, "design figures; " + path + " has no raw.per_task_calls", nil
	}
	return *res.Raw.PerTaskCalls, "measured, " + path, nil
}

func fmtNum(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v == float64(int64(v)):
		return fmt.Sprintf("%d", int64(v))
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func fmtUSD(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("$%s", fmtNum(v))
	}
	return fmt.Sprintf("$%.2f", v)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "capacity:", err)
	os.Exit(2)
}
