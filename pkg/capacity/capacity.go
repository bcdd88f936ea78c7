// Package capacity is Hourglass's capacity and cost model: given a target
// task rate and payload size, and the AWS calls one task costs (measured by
// the benchmark driver, scripts/bench), it says how many shards and DynamoDB
// partitions the table needs, how much Lambda concurrency the worker and
// dispatcher take, how the queues must be set, and what a month costs at the
// prices in pkg/cost.
//
// The formulas, and the AWS limits they respect, are spelled out on Plan's
// fields and in the README's "Capacity model" section. The model is
// deliberately simple and pessimistic: every create, claim and outcome write
// of one bucket is assumed to land on that bucket's shards at the same time
// (a burst of tasks all due at once), and nothing is cached.
package capacity

import (
	"errors"
	"fmt"
	"math"

	"github.com/hourglass-sched/hourglass/pkg/cost"
)

// AWS limits the model respects.
const (
	PartitionWCU       = 1000 // write capacity units per second one DynamoDB partition serves
	PartitionRCU       = 3000 // read capacity units per second one DynamoDB partition serves
	PartitionGB        = 10   // GB one DynamoDB partition stores
	SQSBatch           = 10   // messages per SendMessageBatch / ReceiveMessage / DeleteMessageBatch
	SQSMaxDelaySeconds = 900  // longest DelaySeconds
	SQSMaxInFlight     = 120000
	LambdaConcurrency  = 1000 // default account concurrency per region
	secondsPerMonth    = 30 * 24 * 3600
)

// PerTask is what one one-off task costs in AWS calls, as measured (see
// scripts/bench) or as designed. Unit counts are per 1 KB item; Plan scales
// them by the item size.
type PerTask struct {
	Writes      float64 `json:"writes"`             // DynamoDB item writes: create, claim, outcome = 3
	Reads       float64 `json:"reads"`              // strongly consistent item reads: the worker's Get, the dispatcher's Query share
	SQSRequests float64 `json:"sqs_requests"`       // billed SQS requests (send + receive + delete batches, idle polls amortised)
	Invocations float64 `json:"invocations"`        // Lambda invocations besides the api function's (worker batch share, dispatcher and scanner shares)
	APIRequests float64 `json:"api_requests"`       // API Gateway requests, each invoking the api function (1 per create; 0 for EventBridge ingest)
	Events      float64 `json:"eventbridge_events"` // lifecycle events published to EventBridge (1: succeeded or failed)
}

// Designed is the per-task cost the design aims at when queues run full
// batches: 3 writes; 1 read by the worker plus the dispatcher's query
// share; one tenth each of a send, a receive and a delete batch; one tenth of
// a worker invocation; one API request; one lifecycle event.
var Designed = PerTask{Writes: 3, Reads: 1.1, SQSRequests: 0.3, Invocations: 0.1, APIRequests: 1, Events: 1}

// Inputs are the model's parameters. Zero values take the defaults noted.
type Inputs struct {
	RatePerS     float64 // tasks created and executed per second, sustained (required)
	PayloadBytes int     // payload size
	// ItemOverheadBytes is what a task item holds beyond its payload: keys,
	// target, state, lease, one attempt record (default 600).
	ItemOverheadBytes int
	PerTask           PerTask // default Designed
	// InvocationSeconds is a worker invocation's duration: the sub-second
	// hold (0.5 s on average, as DelaySeconds rounds down) plus the target
	// call and three DynamoDB calls (default 0.7).
	InvocationSeconds float64
	// APIInvocationSeconds is the api function's duration per create: one
	// PutItem and one GetItem of the scanner's cursor (default 0.03).
	APIInvocationSeconds float64
	MemoryMB             int     // worker and api memory (default 256)
	BucketSeconds        int     // bucket width (default 60)
	LookaheadSeconds     int     // look-ahead (default 180)
	RetentionDays        float64 // finished tasks kept before TTL deletes them (default 30)
	// Headroom is the share of a partition's capacity the model plans to
	// use (default 0.8), leaving room for uneven hashing and bursts.
	Headroom float64
	// DispatchPerS is what one dispatcher sends per second: sequential
	// batches of 10 at ~20 ms each in AWS (default 500).
	DispatchPerS float64
	LeaseSeconds int         // worker lease (default 60)
	Prices       cost.Prices // default cost.List
}

// Plan is the model's answer.
type Plan struct {
	Inputs Inputs `json:"-"`

	ItemBytes   int     `json:"item_bytes"`    // payload + overhead
	WRUPerWrite float64 `json:"wru_per_write"` // ⌈item / 1 KB⌉
	RRUPerRead  float64 `json:"rru_per_read"`  // ⌈item / 4 KB⌉, strongly consistent
	WRUPerTask  float64 `json:"wru_per_task"`
	RRUPerTask  float64 `json:"rru_per_task"`

	// WCU and RCU are the table's sustained capacity (units per second).
	WCU float64 `json:"wcu"`
	RCU float64 `json:"rcu"`
	// Shards per bucket: the writes of one bucket (creates, claims and
	// outcomes of tasks due in it) spread over its shards, each at most
	// Headroom × 1,000 WCU (and × 3,000 RCU for the dispatcher's queries).
	Shards int `json:"shards"`
	// StorageGB is the table's size with RetentionDays of finished tasks.
	StorageGB float64 `json:"storage_gb"`
	// Partitions is the number of physical DynamoDB partitions the table
	// grows to: the most of WCU / 1,000, RCU / 3,000 and StorageGB / 10.
	Partitions int `json:"partitions"`

	// WorkerInvocationsPerS = rate / 10 (full SQS batches).
	WorkerInvocationsPerS float64 `json:"worker_invocations_per_s"`
	// WorkerConcurrency = invocations per second × InvocationSeconds.
	WorkerConcurrency int `json:"worker_concurrency"`
	// APIConcurrency: every create invokes the api function behind API
	// Gateway; rate × API requests per task × APIInvocationSeconds.
	APIConcurrency int `json:"api_concurrency"`
	// DispatcherConcurrency: each bucket's shards are dispatched in
	// parallel, one unit each, taking tasks-per-unit / DispatchPerS seconds.
	DispatcherConcurrency int     `json:"dispatcher_concurrency"`
	TasksPerUnit          float64 `json:"tasks_per_unit"`
	UnitSeconds           float64 `json:"unit_seconds"`
	// TotalConcurrency against the account's default 1,000.
	TotalConcurrency int  `json:"total_concurrency"`
	QuotaIncrease    bool `json:"needs_concurrency_increase"`
	// InFlight is the task queue's in-flight messages (≤ 120,000).
	InFlight int `json:"task_queue_in_flight"`

	// Queue settings.
	MaxDelaySeconds          int `json:"max_delay_seconds"` // look-ahead + bucket, ≤ 900
	VisibilityTimeoutSeconds int `json:"visibility_timeout_seconds"`
	BatchSize                int `json:"batch_size"`

	// Cost.
	USDPerMillion      cost.Breakdown `json:"usd_per_million"`
	StorageUSDPerMonth float64        `json:"storage_usd_per_month"`
	USDPerMonth        float64        `json:"usd_per_month"` // requests + storage
	Warnings           []string       `json:"warnings,omitempty"`
}

func (in *Inputs) defaults() {
	if in.ItemOverheadBytes <= 0 {
		in.ItemOverheadBytes = 600
	}
	if in.PerTask == (PerTask{}) {
		in.PerTask = Designed
	}
	if in.InvocationSeconds <= 0 {
		in.InvocationSeconds = 0.7
	}
	if in.APIInvocationSeconds <= 0 {
		in.APIInvocationSeconds = 0.03
	}
	if in.MemoryMB <= 0 {
		in.MemoryMB = 256
	}
	if in.BucketSeconds <= 0 {
		in.BucketSeconds = 60
	}
	if in.LookaheadSeconds <= 0 {
		in.LookaheadSeconds = 180
	}
	if in.RetentionDays <= 0 {
		in.RetentionDays = 30
	}
	if in.Headroom <= 0 || in.Headroom > 1 {
		in.Headroom = 0.8
	}
	if in.DispatchPerS <= 0 {
		in.DispatchPerS = 500
	}
	if in.LeaseSeconds <= 0 {
		in.LeaseSeconds = 60
	}
	if in.Prices == (cost.Prices{}) {
		in.Prices = cost.List
	}
}

// StorageUSDPerGBMonth is DynamoDB Standard table storage in us-east-1
// (aws.amazon.com/dynamodb/pricing, same date as cost.List), after the first
// 25 GB free, which the model ignores.
const StorageUSDPerGBMonth = 0.25

// Compute plans for in.
func Compute(in Inputs) (Plan, error) {
	if in.RatePerS <= 0 || math.IsInf(in.RatePerS, 0) || math.IsNaN(in.RatePerS) {
		return Plan{}, errors.New("capacity: rate must be a positive number of tasks per second")
	}
	if in.PayloadBytes < 0 || in.PayloadBytes > 256*1024 {
		return Plan{}, fmt.Errorf("capacity: payload %d bytes: must be 0–256 KiB", in.PayloadBytes)
	}
	in.defaults()
	p := Plan{Inputs: in, BatchSize: SQSBatch}
	r := in.RatePerS
	p.ItemBytes = in.PayloadBytes + in.ItemOverheadBytes
	p.WRUPerWrite = math.Ceil(float64(p.ItemBytes) / 1024)
	p.RRUPerRead = math.Ceil(float64(p.ItemBytes) / 4096)
	p.WRUPerTask = in.PerTask.Writes * p.WRUPerWrite
	p.RRUPerTask = in.PerTask.Reads * p.RRUPerRead
	p.WCU = r * p.WRUPerTask
	p.RCU = r * p.RRUPerTask

	shardsW := math.Ceil(p.WCU / (PartitionWCU * in.Headroom))
	shardsR := math.Ceil(p.RCU / (PartitionRCU * in.Headroom))
	p.Shards = int(max(1, shardsW, shardsR))

	p.StorageGB = r * 86400 * in.RetentionDays * float64(p.ItemBytes) / 1e9
	p.Partitions = int(max(1, math.Ceil(p.WCU/PartitionWCU), math.Ceil(p.RCU/PartitionRCU), math.Ceil(p.StorageGB/PartitionGB)))

	p.WorkerInvocationsPerS = r / SQSBatch
	p.WorkerConcurrency = int(math.Ceil(p.WorkerInvocationsPerS * in.InvocationSeconds))
	p.TasksPerUnit = r * float64(in.BucketSeconds) / float64(p.Shards)
	p.UnitSeconds = p.TasksPerUnit / in.DispatchPerS
	// Every bucket's units run together once a bucket; a unit longer than a
	// bucket overlaps the next bucket's.
	p.DispatcherConcurrency = int(math.Ceil(float64(p.Shards) * max(1, p.UnitSeconds/float64(in.BucketSeconds))))
	p.APIConcurrency = int(math.Ceil(r * in.PerTask.APIRequests * in.APIInvocationSeconds))
	p.TotalConcurrency = p.WorkerConcurrency + p.APIConcurrency + p.DispatcherConcurrency + 1 // + the scanner
	p.QuotaIncrease = p.TotalConcurrency > LambdaConcurrency
	p.InFlight = int(math.Ceil(r * in.InvocationSeconds))

	p.MaxDelaySeconds = in.LookaheadSeconds + in.BucketSeconds
	p.VisibilityTimeoutSeconds = in.LeaseSeconds + 10

	pr := in.Prices
	// Each API request also invokes the api function.
	invocations := in.PerTask.Invocations + in.PerTask.APIRequests
	gbs := (in.PerTask.Invocations*in.InvocationSeconds + in.PerTask.APIRequests*in.APIInvocationSeconds) * float64(in.MemoryMB) / 1024
	per := cost.Breakdown{
		DynamoDB:    (p.WRUPerTask*pr.DDBWRU + p.RRUPerTask*pr.DDBRRU) * 1e6,
		SQS:         in.PerTask.SQSRequests * pr.SQSReq * 1e6,
		Lambda:      (invocations*pr.LambdaReq + gbs*pr.LambdaGBs) * 1e6,
		APIGateway:  in.PerTask.APIRequests * pr.APIReq * 1e6,
		EventBridge: in.PerTask.Events * pr.EBEvent * 1e6,
	}
	per.Total = per.DynamoDB + per.SQS + per.Lambda + per.APIGateway + per.EventBridge
	p.USDPerMillion = per
	p.StorageUSDPerMonth = p.StorageGB * StorageUSDPerGBMonth
	p.USDPerMonth = r*secondsPerMonth/1e6*per.Total + p.StorageUSDPerMonth

	if p.MaxDelaySeconds > SQSMaxDelaySeconds {
		p.Warnings = append(p.Warnings, fmt.Sprintf("look-ahead + bucket = %d s exceeds SQS's %d s maximum delay", p.MaxDelaySeconds, SQSMaxDelaySeconds))
	}
	if p.QuotaIncrease {
		p.Warnings = append(p.Warnings, fmt.Sprintf("needs %d concurrent Lambda executions: ask for a concurrency quota above the default %d", p.TotalConcurrency, LambdaConcurrency))
	}
	if p.InFlight > SQSMaxInFlight {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%d messages in flight exceeds SQS's %d per standard queue: split the task queue", p.InFlight, SQSMaxInFlight))
	}
	if p.UnitSeconds > float64(in.LookaheadSeconds) {
		p.Warnings = append(p.Warnings, fmt.Sprintf("a unit takes %.0f s to dispatch, longer than the %d s look-ahead: add shards", p.UnitSeconds, in.LookaheadSeconds))
	}
	return p, nil
}
