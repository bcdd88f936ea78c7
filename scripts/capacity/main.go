// Command capacity sizes an Hourglass deployment for a target task rate:
// shards, DynamoDB partitions, Lambda concurrency, queue settings and monthly
// cost, from the model in pkg/testkit/capacity.
//
//	go run ./scripts/capacity -rate 50000/s -payload 1KiB
//
// The per-task AWS calls are the design's for the settings given
// (-claim, -list-index, -events, -worker-batch, -create-batch); -measured
// results/latest/results.json takes them from a benchmark run instead
// (raw.per_task_calls, which scripts/bench derives from raw.cost).
//
// The worker defaults are the Lambda worker's (batches of 10, no batching
// window, 1 s an invocation); -worker-batch 100 -invocation-seconds 2
// approximates the ECS long-poller's batches of 100 over a 1 s window.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hourglass-sched/hourglass/pkg/testkit/capacity"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fail(err)
	}
}

// run parses args, plans, and prints the plan to w.
func run(args []string, w io.Writer) error {
	o, err := parseArgs(flag.NewFlagSet("capacity", flag.ExitOnError), args)
	if err != nil {
		return err
	}
	p, err := capacity.Compute(o.in)
	if err != nil {
		return err
	}
	// The same deployment with 1 KiB payloads: items over 1 KB, two write
	// units a write.
	in1k := o.in
	in1k.PayloadBytes = 1024
	p1k, err := capacity.Compute(in1k)
	if err != nil {
		return err
	}
	at1k := kib{ItemBytes: p1k.ItemBytes, WRUPerWrite: p1k.WRUPerWrite, USDPerMillion: p1k.USDPerMillionTotal}
	if o.json {
		out, _ := json.MarshalIndent(struct {
			RatePerS     float64 `json:"rate_per_s"`
			PayloadBytes int     `json:"payload_bytes"`
			Source       string  `json:"per_task_source"`
			capacity.Plan
			At1KiB      kib      `json:"at_1kib"`
			Assumptions []string `json:"assumptions"`
		}{o.in.RatePerS, o.in.PayloadBytes, o.source, p, at1k, assumptions(o, p)}, "", "  ")
		_, err := fmt.Fprintln(w, string(out))
		return err
	}
	fmt.Fprintln(w, render(o.in.RatePerS, o.in.PayloadBytes, o.source, p, at1k))
	fmt.Fprintln(w, "\nassumptions:")
	for _, a := range assumptions(o, p) {
		fmt.Fprintln(w, "  - "+a)
	}
	return nil
}

// kib is the plan's cost with 1 KiB payloads.
type kib struct {
	ItemBytes     int     `json:"item_bytes"`
	WRUPerWrite   float64 `json:"wru_per_write"`
	USDPerMillion float64 `json:"usd_per_million"`
}

// assumptions lists what the figures rest on, for the reader to check
// against their deployment.
func assumptions(o options, p capacity.Plan) []string {
	in := p.Inputs
	a := []string{
		fmt.Sprintf("per-task AWS calls: %s", o.source),
		fmt.Sprintf("a task item is its payload + %d bytes (keys, target, state, version, one attempt): %d B here", in.ItemOverheadBytes, p.ItemBytes),
		fmt.Sprintf("one attempt per task, which succeeds; HOURGLASS_CLAIM=%s, HOURGLASS_LIFECYCLE_EVENTS=%s, list index %v", in.Claim, in.LifecycleEvents, in.ListIndex),
		fmt.Sprintf("creates in batches of %d (POST /v1/tasks:batch); Lambda workers take batches of %d, %.1f s an invocation, at %d MB", in.CreateBatch, in.WorkerBatch, in.InvocationSeconds, in.Memory.Worker),
		fmt.Sprintf("the rate is sustained: %s tasks/s created and executed around the clock", fmtNum(in.RatePerS)),
		"prices: " + in.Prices.Region + " " + in.Prices.AsOf + "; no free tier, no Savings Plans; storage is in the monthly figure, not the per-million one",
	}
	if in.Billing == capacity.BillingProvisioned {
		a = append(a, fmt.Sprintf("provisioned capacity (standard table class, $%.5f per WCU-hour, $%.5f per RCU-hour), auto scaled to keep consumption at %.0f%% of it: %s WCU and %s RCU at this rate (the stack: billingMode=PROVISIONED, targetUtilization=%.0f, maxWriteCapacity ≥ %d, maxReadCapacity ≥ %d)",
			in.Prices.DDBWCUHour, in.Prices.DDBRCUHour, in.TargetUtilization*100, fmtNum(float64(p.ProvisionedWCU)), fmtNum(float64(p.ProvisionedRCU)), in.TargetUtilization*100, p.ProvisionedWCU, p.ProvisionedRCU),
			"auto scaling follows load within minutes, not seconds: a spike above the provisioned capacity is throttled (the SDK retries, creates may be refused with 503 and Retry-After) until it scales; reserved capacity (1 or 3 years) would cut the DynamoDB figure further and is not assumed")
	} else {
		a = append(a, "on-demand capacity: every request unit priced, no capacity planning, spikes absorbed up to the table's previous peak ×2 at once")
	}
	return a
}

// options are the command line's: the model's inputs, where the per-task
// calls come from, and the output format.
type options struct {
	in     capacity.Inputs
	source string
	json   bool
}

// parseArgs reads the command line into the model's inputs.
func parseArgs(fs *flag.FlagSet, args []string) (options, error) {
	var (
		rate      = fs.String("rate", "1000/s", "target task rate, e.g. 50000/s, 3M/h")
		payload   = fs.String("payload", "1KiB", "payload size, e.g. 1KiB, 512B")
		claim     = fs.String("claim", capacity.ClaimNone, "HOURGLASS_CLAIM: none (create + outcome: 2 writes) or lease (+ a claim: 3)")
		listIndex = fs.Bool("list-index", false, "HOURGLASS_LIST_INDEX=1: + 1 index write unit a task")
		events    = fs.String("events", capacity.EventsFailures, "HOURGLASS_LIFECYCLE_EVENTS: failures (none for a task that succeeds), all (+1 event a task) or off")
		measured  = fs.String("measured", "", "benchmark results to take per-task calls from, e.g. results/latest/results.json (empty: the design's)")
		batch     = fs.Int("worker-batch", capacity.WorkerBatch, "worker batch size: the Lambda worker's SQS event source takes 10, with no batching window; over 10 comes with a 1 s window, "+
			"so 100 (with -invocation-seconds 2) models the ECS long-poller (HOURGLASS_WORKER_MODE=poll), still priced as Lambda invocations")
		invSecs = fs.Float64("invocation-seconds", capacity.WorkerInvocationSeconds, "worker invocation duration, receive to delete, seconds: the Lambda worker holds messages, "+
			"visible at most 1 s before due (DelaySeconds rounds down), until due, then calls the targets; 2 models the ECS long-poller's windowed batches")
		createBatch = fs.Int("create-batch", capacity.CreateBatch, "tasks per create request, 1 to 100: 100 is POST /v1/tasks:batch as the load generator and Go client send it, 1 single creates (ignored with -measured)")
		overhead    = fs.Int("item-overhead", 300, "bytes a task item holds beside its payload (keys, target, state, version, one attempt)")
		bucket      = fs.Int("bucket", 60, "bucket width, seconds")
		lookahead   = fs.Int("lookahead", 180, "look-ahead, seconds")
		retention   = fs.Float64("retention-days", 30, "days finished tasks are kept (TTL)")
		billing     = fs.String("billing", capacity.BillingOnDemand, "the table's billing mode: on-demand (request units) or provisioned (capacity units by the hour, auto scaled to -target-utilization)")
		target      = fs.Float64("target-utilization", capacity.DefaultTargetUtilization, "with -billing provisioned: the auto scaling target, 0.2 to 0.9")
		jsonOut     = fs.Bool("json", false, "print the plan as JSON")
	)
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if *createBatch < 1 {
		return options{}, fmt.Errorf("-create-batch %d: want 1 to %d", *createBatch, capacity.CreateBatch)
	}
	r, err := capacity.ParseRate(*rate)
	if err != nil {
		return options{}, err
	}
	size, err := capacity.ParseSize(*payload)
	if err != nil {
		return options{}, err
	}
	per, source, err := perTask(*measured)
	if err != nil {
		return options{}, err
	}
	return options{in: capacity.Inputs{RatePerS: r, PayloadBytes: size, Claim: *claim, ListIndex: *listIndex,
		LifecycleEvents: *events, Measured: per, WorkerBatch: *batch, InvocationSeconds: *invSecs, CreateBatch: *createBatch,
		ItemOverheadBytes: *overhead, BucketSeconds: *bucket, LookaheadSeconds: *lookahead, RetentionDays: *retention,
		Billing: *billing, TargetUtilization: *target},
		source: source, json: *jsonOut}, nil
}

// render prints a plan for people.
func render(r float64, size int, source string, p capacity.Plan, at1k kib) string {
	in, per := p.Inputs, p.PerTask
	var b strings.Builder
	fmt.Fprintf(&b, "Hourglass capacity for %s tasks/s with %d-byte payloads\n", fmtNum(r), size)
	index := 0
	if in.ListIndex {
		index = 1
	}
	claim, events, creates := in.Claim, in.LifecycleEvents, fmt.Sprintf("create batches of %d", in.CreateBatch)
	if in.Measured != nil {
		claim, events, creates = "(as measured)", "(as measured)", "create batches as measured"
	}
	fmt.Fprintf(&b, "settings: HOURGLASS_CLAIM=%s, HOURGLASS_LIST_INDEX=%d, HOURGLASS_LIFECYCLE_EVENTS=%s; %s; worker batches of %d, %.1f s an invocation\n",
		claim, index, events, creates, p.BatchSize, in.InvocationSeconds)
	fmt.Fprintf(&b, "per-task calls (%s): %.3g item writes + %.3g index writes, %.3g item reads + %.3g query reads, %.5f SQS requests, %.6f invocations + %.3g API requests, %.3g events\n\n",
		source, per.Writes, per.IndexWrites, per.Reads, per.QueryReads, per.SQSRequests, per.Invocations, per.APIRequests, per.Events)
	row := func(k, v string) { fmt.Fprintf(&b, "  %-38s %s\n", k, v) }
	row("item size", fmt.Sprintf("%d B → %.0f WRU a write, %.0f RRU a read", p.ItemBytes, p.WRUPerWrite, p.RRUPerRead))
	row("DynamoDB units per task", fmt.Sprintf("%.4g WRU, %.4g RRU", p.WRUPerTask, p.RRUPerTask))
	row("DynamoDB capacity", fmt.Sprintf("%s WCU/s (+ %s on the list index), %s RCU/s consumed", fmtNum(p.WCU), fmtNum(p.IndexWCU), fmtNum(p.RCU)))
	if p.Billing == capacity.BillingProvisioned {
		row("provisioned (auto scaled)", fmt.Sprintf("%s WCU, %s RCU = consumed / %.0f%% target utilisation", fmtNum(float64(p.ProvisionedWCU)), fmtNum(float64(p.ProvisionedRCU)), p.TargetUtilization*100))
	} else {
		row("billing", "on demand (request units)")
	}
	row("shards per bucket (HOURGLASS_SHARDS)", fmt.Sprintf("%d = ⌈max(%s WCU / (%.0f%% × %d), %s RCU / (%.0f%% × %d))⌉: a bucket's writes land on its shards at once",
		p.Shards, fmtNum(p.WCU), in.Headroom*100, capacity.PartitionWCU, fmtNum(p.RCU), in.Headroom*100, capacity.PartitionRCU))
	row("table size at retention", fmt.Sprintf("%s GB", fmtNum(p.StorageGB)))
	row("physical partitions", fmt.Sprintf("%d = max(%s WCU / %d, %s RCU / %d, %s GB / %d)",
		p.Partitions, fmtNum(p.WCU), capacity.PartitionWCU, fmtNum(p.RCU), capacity.PartitionRCU, fmtNum(p.StorageGB), capacity.PartitionGB))
	row("worker", fmt.Sprintf("%s invocations/s, concurrency %d = R × %.1f s / %d", fmtNum(p.WorkerInvocationsPerS), p.WorkerConcurrency, in.InvocationSeconds, p.BatchSize))
	row("api", fmt.Sprintf("%s requests/s (API Gateway quota %d), concurrency %d = requests/s × %.2f s",
		fmtNum(p.APIRequestsPerS), capacity.APIGatewayRPS, p.APIConcurrency, in.APIInvocationSeconds))
	row("dispatcher", fmt.Sprintf("concurrency %d = %d passes × %d shards (%s tasks a unit, %.1f s each)",
		p.DispatcherConcurrency, capacity.ScanPasses, p.Shards, fmtNum(p.TasksPerUnit), p.UnitSeconds))
	row("Lambda concurrency, total", fmt.Sprintf("%d (default quota %d; increase needed: %v)", p.TotalConcurrency, capacity.LambdaConcurrency, p.QuotaIncrease))
	g := p.GBSecondsPerTask
	row("Lambda per task", fmt.Sprintf("%.6f invocations, %.6f GB-s (api %.6f at %d MB, worker %.6f at %d MB, dispatcher %.6f, scanner %.2g at %d MB)",
		p.InvocationsPerTask, g.Total, g.API, in.Memory.API, g.Worker, in.Memory.Worker, g.Dispatcher, g.Scanner, in.Memory.Scanner))
	window := "no batching window"
	if p.BatchWindowSeconds > 0 {
		window = fmt.Sprintf("a %d s window", p.BatchWindowSeconds)
	}
	row("task queue", fmt.Sprintf("delays ≤ %d s (max %d), visibility %d s, batch %d with %s, ReportBatchItemFailures, ~%s in flight (max %d)",
		p.MaxDelaySeconds, capacity.SQSMaxDelaySeconds, p.VisibilityTimeoutSeconds, p.BatchSize, window, fmtNum(float64(p.InFlight)), capacity.SQSMaxInFlight))
	u := p.USDPerMillion
	row("$ per million tasks", fmt.Sprintf("%.2f (DynamoDB %.2f, SQS %.2f, Lambda %.2f, API Gateway %.2f, EventBridge %.2f)", u.Total, u.DynamoDB, u.SQS, u.Lambda, u.APIGateway, u.EventBridge))
	row("$ per million, 1 KiB payloads", fmt.Sprintf("%.2f (%d B items: %.0f WRU a write)", at1k.USDPerMillion, at1k.ItemBytes, at1k.WRUPerWrite))
	row("$ per month", fmt.Sprintf("%s (requests %s + storage %s)", fmtUSD(p.USDPerMonth), fmtUSD(p.USDPerMonth-p.StorageUSDPerMonth), fmtUSD(p.StorageUSDPerMonth)))
	row("prices", in.Prices.Region+" "+in.Prices.AsOf)
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "\n  warning: %s", w)
	}
	return b.String()
}

// perTask reads the measured per-task calls from a results file; nil (the
// design's figures) for no file.
func perTask(path string) (*capacity.PerTask, string, error) {
	if path == "" {
		return nil, "design figures", nil
	}
	data, err := os.ReadFile(path) //nolint:gosec // a path the user gave on the command line
	if err != nil {
		return nil, "", err
	}
	var res struct {
		Raw struct {
			Date         string            `json:"date"`
			PerTaskCalls *capacity.PerTask `json:"per_task_calls"`
		} `json:"raw"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	if res.Raw.PerTaskCalls == nil || res.Raw.PerTaskCalls.Writes == 0 {
		return nil, "", errors.New(path + " has no raw.per_task_calls: run make bench-quick")
	}
	return res.Raw.PerTaskCalls, "measured, " + path + " of " + res.Raw.Date, nil
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
