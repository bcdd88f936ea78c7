// Package capacity is Hourglass's capacity and cost model: given a target
// task rate, a payload size and the settings that change what a task costs
// (HOURGLASS_CLAIM, HOURGLASS_LIST_INDEX, HOURGLASS_LIFECYCLE_EVENTS, the
// worker's event source batch, the create batch), it says how many shards and DynamoDB
// partitions the table needs, how much Lambda concurrency each function
// takes, how the queues must be set, and what a month costs at the prices in
// pkg/testkit/cost.
//
// The per-task AWS calls are the design's, derived from those settings
// (see design.go), or those a benchmark run measured: scripts/bench digests
// make bench-quick's cost run (raw.cost in results/latest/results.json) into
// raw.per_task_calls, which Inputs.Measured takes.
//
// The formulas, and the AWS limits they respect, are spelled out on Plan's
// fields and in docs/cost-and-capacity.md ("Capacity model"). The model is
// deliberately simple and pessimistic: every create, claim and outcome write
// of one bucket is assumed to land on that bucket's shards at the same time
// (a burst of tasks all due at once), and nothing is cached. It counts one
// attempt per task, which succeeds (a retry costs one more outcome write,
// read and task message).
package capacity

import (
	"errors"
	"fmt"
	"math"

	"github.com/hourglass-sched/hourglass/pkg/testkit/cost"
)

// AWS limits the model respects, and the deployment settings it assumes.
const (
	PartitionWCU       = 1000 // write capacity units per second one DynamoDB partition serves
	PartitionRCU       = 3000 // read capacity units per second one DynamoDB partition serves
	PartitionGB        = 10   // GB one DynamoDB partition stores
	SQSBatch           = 10   // messages per SendMessageBatch / ReceiveMessage / DeleteMessageBatch
	SQSMaxDelaySeconds = 900  // longest DelaySeconds
	SQSMaxInFlight     = 120000
	LambdaConcurrency  = 1000  // default account concurrency per region
	APIGatewayRPS      = 10000 // default API Gateway requests per second per account and region
	// TableQuotaUnits is DynamoDB's default per-table quota of write (and,
	// separately, read) capacity units a second, on demand or provisioned;
	// AWS raises it on request.
	TableQuotaUnits = 40000
	// WorkerBatch is the Lambda worker's SQS event source batch size
	// (infra/stack.go, with no maximum batching window; checked by
	// TestWorkerDefaultsAreTheStacks). WorkerBatchWindowSeconds is the
	// window a batch over 10 comes with: an event source mapping needs one
	// of at least 1 s, and the ECS long-poller (HOURGLASS_WORKER_MODE=poll)
	// and the local host gather up to PollerBatch messages for 1 s
	// (pkg/worker BatchMax and BatchWindow).
	WorkerBatch              = 10
	WorkerBatchWindowSeconds = 1
	PollerBatch              = 100
	// WorkerInvocationSeconds is the Lambda worker's invocation duration D:
	// the stack sets no HOURGLASS_EARLY_DELIVERY_MS (0), so a task message
	// becomes visible at most 1 s before due (DelaySeconds rounds down);
	// the function holds it until due, then calls its target. Without a
	// batching window the mapping invokes as soon as it receives, so an
	// invocation lasts the sub-second hold plus the target calls: about 1 s.
	WorkerInvocationSeconds = 1
	// CreateBatch is the tasks one create request carries: the load
	// generator's and the Go client's batches of 100 (POST /v1/tasks:batch),
	// the most one request takes (pkg/api MaxBatch). 1 is a single create.
	CreateBatch = 100
	// VisibilityFactor: AWS asks for a Lambda-consumed queue's visibility
	// timeout to be at least six times the function's timeout
	// (infra/stack.go visibilityFactor).
	VisibilityFactor = 6
	// ScanPasses is how often a (bucket, shard) partition is queried: its
	// dispatch, and its sweep 30 s after the bucket ends.
	ScanPasses      = 2
	secondsPerMonth = 30 * 24 * 3600
)

// Claim modes (HOURGLASS_CLAIM) and lifecycle event levels
// (HOURGLASS_LIFECYCLE_EVENTS).
const (
	BillingOnDemand    = "on-demand"
	BillingProvisioned = "provisioned"
	// DefaultTargetUtilization is the provisioned table's auto scaling
	// target (the stack's targetUtilization default, 70 %).
	DefaultTargetUtilization = 0.7
	ClaimNone                = "none"
	ClaimLease               = "lease"
	EventsFailures           = "failures"
	EventsAll                = "all"
	EventsOff                = "off"
)

// PerTask is what one one-off task costs in AWS calls: the design's figures
// (designPerTask and designShares, from the settings in Inputs) or a benchmark run's
// (raw.per_task_calls in results/latest/results.json, which scripts/bench
// derives from raw.cost, the counts of make bench-quick's cost run). Write
// and read counts are per item of at most 1 KB (writes) or 4 KB (reads);
// Compute scales them by the item size.
type PerTask struct {
	// Writes are item writes: create and outcome (2), plus a claim with
	// HOURGLASS_CLAIM=lease (3); each costs ⌈item / 1 KB⌉ WRU. Measured:
	// raw.cost.ddb_wru.
	Writes float64 `json:"writes"`
	// IndexWrites are by_tenant list index entries, 1 with
	// HOURGLASS_LIST_INDEX=1: keys only, so 1 WRU each whatever the payload,
	// on the index's own partitions. Not measured (moto does not report
	// index writes): Compute adds it from Inputs.ListIndex.
	IndexWrites float64 `json:"index_writes,omitempty"`
	// Reads are strongly consistent item reads (the worker's GetItem), each
	// ⌈item / 4 KB⌉ RRU. Measured: raw.cost.ddb_rru (query reads included).
	Reads float64 `json:"reads"`
	// QueryReads is how often a partition Query reads the task's item: its
	// dispatch and its sweep (ScanPasses). Query bills the summed size of
	// the items read, so each costs item / 4 KB RRU.
	QueryReads float64 `json:"query_reads,omitempty"`
	// SQSRequests are billed SQS requests, both queues (measured:
	// raw.cost.sqs_requests_busy, idle long polls excluded).
	SQSRequests float64 `json:"sqs_requests"`
	// Invocations are Lambda invocations besides the api function's: the
	// worker's, dispatcher's and scanner's shares (measured:
	// raw.cost.lambda_invocations worker + dispatcher).
	Invocations float64 `json:"invocations"`
	// APIRequests are API Gateway requests, each invoking the api function:
	// 1 per single create, 0.01 in batches of 100, 0 for EventBridge ingest
	// (measured: raw.cost.lambda_invocations.api).
	APIRequests float64 `json:"api_requests"`
	// Events are lifecycle events published to EventBridge: 0 for a task
	// that succeeds with HOURGLASS_LIFECYCLE_EVENTS=failures, 1 with all
	// (measured: raw.cost.usd_per_million.eventbridge / $1.00).
	Events float64 `json:"eventbridge_events"`
}

// Memory is each modelled function's Lambda memory, MB.
type Memory struct {
	API, Worker, Dispatcher, Scanner int
}

// DefaultMemory is infra/stack.go's functionMemoryMB (checked against it by
// TestDefaultMemoryIsTheStacks): 128 MB, Lambda's least, for all but the
// api function, which keeps 256 MB. (The ingest function, 128 MB too, is
// outside the model: it assumes creates through the API.)
var DefaultMemory = Memory{API: 256, Worker: 128, Dispatcher: 128, Scanner: 128}

// Inputs are the model's parameters. Zero values take the defaults noted.
type Inputs struct {
	RatePerS     float64 // R: tasks created and executed per second, sustained (required)
	PayloadBytes int     // payload size
	// ItemOverheadBytes is what a task item holds beside its payload: keys,
	// target, state, version, one attempt record (default 300).
	ItemOverheadBytes int
	// Claim is HOURGLASS_CLAIM: ClaimNone (default: create and outcome, two
	// writes) or ClaimLease (a claim write before the call: three).
	Claim string
	// ListIndex is HOURGLASS_LIST_INDEX=1: one by_tenant index entry
	// written at create (+1 WRU a task).
	ListIndex bool
	// LifecycleEvents is HOURGLASS_LIFECYCLE_EVENTS: EventsFailures
	// (default: a task that succeeds publishes nothing), EventsAll (one
	// event a task) or EventsOff.
	LifecycleEvents string
	// Measured, when set, replaces the design's per-task calls with a
	// benchmark run's (raw.per_task_calls): Claim and LifecycleEvents are
	// then whatever that run used; ListIndex still adds its index write,
	// which moto does not report.
	Measured *PerTask
	// WorkerBatch is the worker's batch size B (default WorkerBatch, 10:
	// the Lambda event source's, with no batching window). Over 10, a
	// batch comes with a 1 s window: B = PollerBatch (100) with D = 2 s
	// approximates the ECS long-poller's batches, though the model still
	// prices them as Lambda invocations.
	WorkerBatch int
	// InvocationSeconds is a worker invocation's duration D, from the
	// batch's receive to its delete (default WorkerInvocationSeconds, 1):
	// the sub-second hold until due plus the target calls. A batching
	// window's wait happens before the invocation, in the event source
	// mapping, which is not billed. Not measured locally (the dev host's
	// worker polls, with a 1 s early delivery): compare with the worker's
	// Duration metric once deployed.
	InvocationSeconds float64
	// CreateBatch is the tasks per create request (default CreateBatch,
	// 100: POST /v1/tasks:batch; 1: single creates, POST /v1/tasks): the
	// design's APIRequests per task is 1 / CreateBatch. Measured takes the
	// measured api_requests instead.
	CreateBatch int
	// APIInvocationSeconds is the api function's duration per create
	// request (default 0.03): its PutItems, now and then the scanner
	// cursor's GetItem, and the fast path's send.
	APIInvocationSeconds float64
	// ScannerSeconds is one scanner tick's duration (default 1), every
	// ScannerPeriodSeconds (default 60: rate(1 minute)).
	ScannerSeconds       float64
	ScannerPeriodSeconds float64
	Memory               Memory  // default DefaultMemory
	BucketSeconds        int     // bucket width (default 60)
	LookaheadSeconds     int     // look-ahead (default 180)
	RetentionDays        float64 // finished tasks kept before TTL deletes them (default 30)
	// Headroom is the share of a partition's capacity the model plans to
	// use (default 0.8), leaving room for uneven hashing and bursts.
	Headroom float64
	// DispatchPerS is what one dispatcher sends per second: sequential
	// batches of 10 at ~20 ms each in AWS (default 500).
	DispatchPerS float64
	// WorkerTimeoutSeconds is the worker function's timeout (default 60,
	// infra/stack.go workerTimeout).
	WorkerTimeoutSeconds int
	Prices               cost.Prices // default cost.List
	// Billing is the table's billing mode: BillingOnDemand (default: each
	// request unit priced) or BillingProvisioned (capacity units by the
	// hour, auto scaled to keep consumption at TargetUtilization of them).
	Billing string
	// TargetUtilization is the provisioned table's auto scaling target,
	// 0.2–0.9 (default 0.7): capacity is bought at consumption / target.
	TargetUtilization float64
}

// GBSeconds is Lambda compute per task, by function.
type GBSeconds struct {
	API        float64 `json:"api"`        // APIRequests × APIInvocationSeconds × api memory
	Worker     float64 `json:"worker"`     // worker memory × D / B
	Dispatcher float64 `json:"dispatcher"` // dispatcher memory × ScanPasses / DispatchPerS
	Scanner    float64 `json:"scanner"`    // scanner memory × ScannerSeconds / (R × ScannerPeriodSeconds)
	Total      float64 `json:"total"`
}

// Plan is the model's answer.
type Plan struct {
	Inputs  Inputs  `json:"-"`
	PerTask PerTask `json:"per_task"` // the calls priced: the design's, or the measured ones

	ItemBytes   int     `json:"item_bytes"`    // S = payload + overhead
	WRUPerWrite float64 `json:"wru_per_write"` // ⌈S / 1 KB⌉
	RRUPerRead  float64 `json:"rru_per_read"`  // ⌈S / 4 KB⌉, strongly consistent
	// WRUPerTask = Writes × WRUPerWrite + IndexWrites.
	WRUPerTask float64 `json:"wru_per_task"`
	// RRUPerTask = Reads × RRUPerRead + QueryReads × S / 4 KB.
	RRUPerTask float64 `json:"rru_per_task"`

	// WCU and RCU are the table's sustained capacity (units per second):
	// WCU = R × Writes × WRUPerWrite, RCU = R × RRUPerTask. IndexWCU =
	// R × IndexWrites lands on the by_tenant index's own partitions.
	WCU      float64 `json:"wcu"`
	IndexWCU float64 `json:"index_wcu"`
	RCU      float64 `json:"rcu"`
	// Shards per bucket: the writes of one bucket (creates, claims and
	// outcomes of tasks due in it) spread over its shards, each at most
	// Headroom × 1,000 WCU (and × 3,000 RCU for reads).
	Shards int `json:"shards"`
	// StorageGB is the table's size with RetentionDays of finished tasks:
	// R × 86,400 × days × S.
	StorageGB float64 `json:"storage_gb"`
	// Partitions is the number of physical DynamoDB partitions the table
	// grows to: the most of WCU / 1,000, RCU / 3,000 and StorageGB / 10.
	Partitions int `json:"partitions"`

	// WorkerInvocationsPerS = R / B (full batches).
	WorkerInvocationsPerS float64 `json:"worker_invocations_per_s"`
	// WorkerConcurrency = ⌈R × D / B⌉.
	WorkerConcurrency int `json:"worker_concurrency"`
	// APIRequestsPerS = R × APIRequests, against API Gateway's 10,000 a
	// second; APIConcurrency = ⌈R × APIRequests × APIInvocationSeconds⌉.
	APIRequestsPerS float64 `json:"api_requests_per_s"`
	APIConcurrency  int     `json:"api_concurrency"`
	// DispatcherConcurrency: each tick fans one bucket's dispatch units
	// and an earlier bucket's sweep units, one per shard each, all at
	// once; a unit takes TasksPerUnit / DispatchPerS seconds (the sweep,
	// pessimistically, as long). ⌈ScanPasses × shards × max(1, unit /
	// bucket)⌉.
	DispatcherConcurrency int     `json:"dispatcher_concurrency"`
	TasksPerUnit          float64 `json:"tasks_per_unit"` // R × bucket / shards
	UnitSeconds           float64 `json:"unit_seconds"`
	// TotalConcurrency (worker + api + dispatcher + 1 scanner) against the
	// account's default 1,000.
	TotalConcurrency int  `json:"total_concurrency"`
	QuotaIncrease    bool `json:"needs_concurrency_increase"`
	// InFlight is the task queue's in-flight messages, ⌈R × D⌉ (≤
	// 120,000): a message is in flight from its receive to the end of its
	// invocation. Without a batching window (B ≤ 10) the batch is handed
	// over as received; with one, at volume a batch fills at once, so the
	// window adds nothing.
	InFlight int `json:"task_queue_in_flight"`

	// Queue settings.
	MaxDelaySeconds          int `json:"max_delay_seconds"`          // look-ahead + bucket, ≤ 900
	VisibilityTimeoutSeconds int `json:"visibility_timeout_seconds"` // 6 × worker timeout
	BatchSize                int `json:"batch_size"`                 // B
	BatchWindowSeconds       int `json:"batch_window_seconds"`       // 0 for B ≤ 10, else 1

	// Lambda per task: InvocationsPerTask = Invocations + APIRequests
	// (each API request invokes the api function).
	InvocationsPerTask float64   `json:"invocations_per_task"`
	GBSecondsPerTask   GBSeconds `json:"gb_seconds_per_task"`

	// Billing is the table's billing mode priced; with provisioned
	// capacity, ProvisionedWCU and ProvisionedRCU are what auto scaling
	// holds at the target utilisation: ⌈(WCU + IndexWCU) / target⌉ and
	// ⌈RCU / target⌉.
	Billing           string  `json:"billing"`
	TargetUtilization float64 `json:"target_utilization,omitempty"`
	ProvisionedWCU    int     `json:"provisioned_wcu,omitempty"`
	ProvisionedRCU    int     `json:"provisioned_rcu,omitempty"`

	// Cost: USDPerMillionTotal is USDPerMillion.Total, the one figure.
	USDPerMillionTotal float64        `json:"usd_per_million"`
	USDPerMillion      cost.Breakdown `json:"usd_per_million_breakdown"`
	StorageUSDPerMonth float64        `json:"storage_usd_per_month"`
	USDPerMonth        float64        `json:"usd_per_month"` // requests + storage
	Warnings           []string       `json:"warnings,omitempty"`
}

func (in *Inputs) defaults() {
	if in.ItemOverheadBytes <= 0 {
		in.ItemOverheadBytes = 300
	}
	if in.Claim == "" {
		in.Claim = ClaimNone
	}
	if in.LifecycleEvents == "" {
		in.LifecycleEvents = EventsFailures
	}
	if in.WorkerBatch <= 0 {
		in.WorkerBatch = WorkerBatch
	}
	if in.InvocationSeconds <= 0 {
		in.InvocationSeconds = WorkerInvocationSeconds
	}
	if in.CreateBatch <= 0 {
		in.CreateBatch = CreateBatch
	}
	if in.APIInvocationSeconds <= 0 {
		in.APIInvocationSeconds = 0.03
	}
	if in.ScannerSeconds <= 0 {
		in.ScannerSeconds = 1
	}
	if in.ScannerPeriodSeconds <= 0 {
		in.ScannerPeriodSeconds = 60
	}
	if in.Memory == (Memory{}) {
		in.Memory = DefaultMemory
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
	if in.WorkerTimeoutSeconds <= 0 {
		in.WorkerTimeoutSeconds = 60
	}
	if in.Prices == (cost.Prices{}) {
		in.Prices = cost.List
	}
	if in.Billing == "" {
		in.Billing = BillingOnDemand
	}
	if in.TargetUtilization <= 0 {
		in.TargetUtilization = DefaultTargetUtilization
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
	if in.Claim != ClaimNone && in.Claim != ClaimLease {
		return Plan{}, fmt.Errorf("capacity: claim %q: want %s or %s", in.Claim, ClaimNone, ClaimLease)
	}
	switch in.LifecycleEvents {
	case EventsFailures, EventsAll, EventsOff:
	default:
		return Plan{}, fmt.Errorf("capacity: lifecycle events %q: want %s, %s or %s", in.LifecycleEvents, EventsFailures, EventsAll, EventsOff)
	}
	if in.WorkerBatch > 10000 {
		return Plan{}, fmt.Errorf("capacity: worker batch %d: an SQS event source takes at most 10,000", in.WorkerBatch)
	}
	if in.Billing != BillingOnDemand && in.Billing != BillingProvisioned {
		return Plan{}, fmt.Errorf("capacity: billing %q: want %s or %s", in.Billing, BillingOnDemand, BillingProvisioned)
	}
	if in.TargetUtilization < 0.2 || in.TargetUtilization > 0.9 {
		return Plan{}, fmt.Errorf("capacity: target utilisation %g: DynamoDB auto scaling takes 0.2 to 0.9", in.TargetUtilization)
	}
	if in.CreateBatch > CreateBatch {
		return Plan{}, fmt.Errorf("capacity: create batch %d: POST /v1/tasks:batch takes at most %d tasks", in.CreateBatch, CreateBatch)
	}
	r := in.RatePerS
	p := Plan{Inputs: in, BatchSize: in.WorkerBatch}
	if in.WorkerBatch > SQSBatch {
		p.BatchWindowSeconds = WorkerBatchWindowSeconds
	}
	per := designPerTask(in)
	if in.Measured != nil {
		per = *in.Measured
		if in.ListIndex && per.IndexWrites == 0 {
			per.IndexWrites = 1
		}
	}

	p.ItemBytes = in.PayloadBytes + in.ItemOverheadBytes
	p.WRUPerWrite = math.Ceil(float64(p.ItemBytes) / 1024)
	p.RRUPerRead = math.Ceil(float64(p.ItemBytes) / 4096)
	p.WRUPerTask = per.Writes*p.WRUPerWrite + per.IndexWrites
	p.RRUPerTask = per.Reads*p.RRUPerRead + per.QueryReads*float64(p.ItemBytes)/4096
	p.WCU = r * per.Writes * p.WRUPerWrite
	p.IndexWCU = r * per.IndexWrites
	p.RCU = r * p.RRUPerTask

	shardsW := math.Ceil(p.WCU / (PartitionWCU * in.Headroom))
	shardsR := math.Ceil(p.RCU / (PartitionRCU * in.Headroom))
	p.Shards = int(max(1, shardsW, shardsR))
	if in.Measured == nil {
		designShares(in, p.Shards, &per)
	}
	p.PerTask = per

	p.StorageGB = r * 86400 * in.RetentionDays * float64(p.ItemBytes) / 1e9
	p.Partitions = int(max(1, math.Ceil(p.WCU/PartitionWCU), math.Ceil(p.RCU/PartitionRCU), math.Ceil(p.StorageGB/PartitionGB)))

	b := float64(in.WorkerBatch)
	p.WorkerInvocationsPerS = r / b
	p.WorkerConcurrency = int(math.Ceil(r * in.InvocationSeconds / b))
	p.TasksPerUnit = r * float64(in.BucketSeconds) / float64(p.Shards)
	p.UnitSeconds = p.TasksPerUnit / in.DispatchPerS
	// Every bucket's units run together once a bucket, with an earlier
	// bucket's sweep units; a unit longer than a bucket overlaps the next
	// bucket's.
	p.DispatcherConcurrency = int(math.Ceil(ScanPasses * float64(p.Shards) * max(1, p.UnitSeconds/float64(in.BucketSeconds))))
	p.APIRequestsPerS = r * per.APIRequests
	p.APIConcurrency = int(math.Ceil(p.APIRequestsPerS * in.APIInvocationSeconds))
	p.TotalConcurrency = p.WorkerConcurrency + p.APIConcurrency + p.DispatcherConcurrency + 1 // + the scanner
	p.QuotaIncrease = p.TotalConcurrency > LambdaConcurrency
	p.InFlight = int(math.Ceil(r * in.InvocationSeconds))

	p.MaxDelaySeconds = in.LookaheadSeconds + in.BucketSeconds
	p.VisibilityTimeoutSeconds = VisibilityFactor * in.WorkerTimeoutSeconds

	gb := func(mb int) float64 { return float64(mb) / 1024 }
	g := GBSeconds{
		API:        per.APIRequests * in.APIInvocationSeconds * gb(in.Memory.API),
		Worker:     gb(in.Memory.Worker) * in.InvocationSeconds / b,
		Dispatcher: gb(in.Memory.Dispatcher) * ScanPasses / in.DispatchPerS,
		Scanner:    gb(in.Memory.Scanner) * in.ScannerSeconds / (r * in.ScannerPeriodSeconds),
	}
	g.Total = g.API + g.Worker + g.Dispatcher + g.Scanner
	p.GBSecondsPerTask = g
	p.InvocationsPerTask = per.Invocations + per.APIRequests

	pr := in.Prices
	p.Billing = in.Billing
	ddb := (p.WRUPerTask*pr.DDBWRU + p.RRUPerTask*pr.DDBRRU) * 1e6
	if in.Billing == BillingProvisioned {
		// A unit-hour serves 3,600 units, of which auto scaling keeps the
		// target share in use.
		u := in.TargetUtilization
		p.TargetUtilization = u
		p.ProvisionedWCU = int(math.Ceil((p.WCU + p.IndexWCU) / u))
		p.ProvisionedRCU = int(math.Ceil(p.RCU / u))
		ddb = (p.WRUPerTask*pr.DDBWCUHour + p.RRUPerTask*pr.DDBRCUHour) / 3600 / u * 1e6
	}
	usd := cost.Breakdown{
		DynamoDB:    ddb,
		SQS:         per.SQSRequests * pr.SQSReq * 1e6,
		Lambda:      (p.InvocationsPerTask*pr.LambdaReq + g.Total*pr.LambdaGBs) * 1e6,
		APIGateway:  per.APIRequests * pr.APIReq * 1e6,
		EventBridge: per.Events * pr.EBEvent * 1e6,
	}
	usd.Total = usd.DynamoDB + usd.SQS + usd.Lambda + usd.APIGateway + usd.EventBridge
	p.USDPerMillion = usd
	p.USDPerMillionTotal = usd.Total
	p.StorageUSDPerMonth = p.StorageGB * StorageUSDPerGBMonth
	p.USDPerMonth = r*secondsPerMonth/1e6*usd.Total + p.StorageUSDPerMonth

	p.Warnings = warnings(in, p)
	return p, nil
}

func warnings(in Inputs, p Plan) []string {
	var w []string
	if p.MaxDelaySeconds > SQSMaxDelaySeconds {
		w = append(w, fmt.Sprintf("look-ahead + bucket = %d s exceeds SQS's %d s maximum delay", p.MaxDelaySeconds, SQSMaxDelaySeconds))
	}
	if p.WCU+p.IndexWCU > TableQuotaUnits || p.RCU > TableQuotaUnits {
		w = append(w, fmt.Sprintf("%.0f WCU/s and %.0f RCU/s exceed DynamoDB's default per-table quota of %d each: ask for an increase before the rate gets there", p.WCU+p.IndexWCU, p.RCU, TableQuotaUnits))
	}
	if p.QuotaIncrease {
		w = append(w, fmt.Sprintf("needs %d concurrent Lambda executions: ask for a concurrency quota above the default %d", p.TotalConcurrency, LambdaConcurrency))
	}
	if p.APIRequestsPerS > APIGatewayRPS {
		fix := "ask for a quota increase"
		if p.PerTask.APIRequests > 1.0/CreateBatch {
			fix = fmt.Sprintf("create in larger batches (POST /v1/tasks:batch, up to %d tasks) or ask for a quota increase", CreateBatch)
		}
		w = append(w, fmt.Sprintf("%.0f API requests/s exceeds API Gateway's default %d per account and region: %s", p.APIRequestsPerS, APIGatewayRPS, fix))
	}
	if p.InFlight > SQSMaxInFlight {
		w = append(w, fmt.Sprintf("%d messages in flight exceeds SQS's %d per standard queue: split the task queue", p.InFlight, SQSMaxInFlight))
	}
	if p.UnitSeconds > float64(in.LookaheadSeconds) {
		w = append(w, fmt.Sprintf("a unit takes %.0f s to dispatch, longer than the %d s look-ahead: add shards", p.UnitSeconds, in.LookaheadSeconds))
	}
	if in.ListIndex && in.RatePerS > PartitionWCU {
		w = append(w, fmt.Sprintf("the list index keys its entries by tenant: one tenant creating over %d tasks/s relies on DynamoDB splitting that index partition", PartitionWCU))
	}
	return w
}
