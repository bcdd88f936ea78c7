package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/client"
	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/loadtest"
	"github.com/hourglass-sched/hourglass/pkg/usage"
	"github.com/hourglass-sched/hourglass/pkg/wire"
)

// CreateLadder is the create scenario (issue 18, item 1): the create path
// measured step by step against the same emulator, each step timed as
// measureRaw times PutItem (a steady phase of Seconds, Writers PutItems in
// flight at most, rate = tasks written ÷ time until the last call
// returned), one step after the other while a local host of its own is up
// and idle otherwise, on a fresh table kept as small as measureRaw's: the
// tasks a step wrote are deleted after it, outside its timed phase, as
// moto's Query reads every item of the table whatever the key, so the
// host's idle scanner and dispatcher Queries would cost the emulator more
// with every step's tasks left in it (a run with the bench's earlier
// scenarios' tasks in the table: the raw step at 287/s beside the host
// against measureRaw's 477/s alone):
//
//   - RawPutItemPerS: measureRaw's call (3 attributes, attribute_not_exists),
//     Writers clients;
//   - StoreCreatePerS: ddbstore's Create of the task a bench create stores
//     (decoded from the bench's own create document), Writers clients;
//   - ServiceBatchPerS: app.Tasks.CreateBatch of Batch such documents, two
//     batches at a time (the service's create writers, HOURGLASS_CREATE_
//     WRITERS = Writers as in make dev, bound the PutItems in flight to
//     Writers across both: the next batch's decoding overlaps the last
//     writes of the one before, as with any steady stream of requests);
//   - HTTPBatchPerS: POST /v1/tasks:batch of Batch tasks to the local
//     host through pkg/client, two requests at a time (likewise bounded).
//
// Every task is due DueAheadS after its create, past the look-ahead, so
// nothing dispatches it while the steps run (a task past the horizon also
// needs no cursor read: see app's pastHorizon). HTTPBatchPerS is the
// product's create rate; ratios.create_over_raw_putitem is HTTPBatchPerS
// over RawPutItemPerS (side by side), and
// create_over_raw_putitem_vs_measure_raw over raw.emulator.putitem_per_s
// (measureRaw's single phase before the host started).
type CreateLadder struct {
	Writers          int     `json:"writers"`
	Batch            int     `json:"batch"`
	Seconds          float64 `json:"seconds_each"`
	Rounds           int     `json:"rounds"`
	DueAheadS        float64 `json:"due_ahead_s"`
	RawPutItemPerS   float64 `json:"raw_putitem_per_s"`
	StoreCreatePerS  float64 `json:"store_create_per_s"`
	ServiceBatchPerS float64 `json:"service_batch_per_s"`
	HTTPBatchPerS    float64 `json:"http_batch_per_s"`
	// EmulatorCPUms is the DynamoDB emulator's CPU time per task written
	// in each step (ms, from /proc; absent when its process is unknown):
	// unlike the rates, little disturbed by other load on the machine.
	EmulatorCPUms map[string]float64 `json:"emulator_cpu_ms_per_task,omitempty"`
	// HostCPUms is this process's CPU time per task in each step (ms): the
	// bench's client and, in the service and HTTP steps, the host's work.
	HostCPUms map[string]float64 `json:"bench_process_cpu_ms_per_task"`
	// DynamoDBCalls counts, per task written, the DynamoDB calls of the
	// service step (its own counters) and of the HTTP step (the host's
	// /debug/usage: the host's scanner and dispatcher ticks included).
	DynamoDBCalls map[string]map[string]float64 `json:"dynamodb_calls_per_task,omitempty"`
	// IdleShare is, per step, the share of its time with no DynamoDB
	// request of this process (the bench and the in-process host) in
	// flight: time the serialised emulator could have spent on a write and
	// did not (in the HTTP step: the requests' JSON, and the batch's
	// decoding and validation before its first write).
	IdleShare map[string]float64 `json:"emulator_idle_share,omitempty"`
	// NewConnsPerTask is, per step, TCP connections this process
	// opened to the emulator per task written: about one per call, as
	// moto's server (werkzeug) answers every request "Connection: close",
	// a cost the raw PutItem pays alike.
	NewConnsPerTask map[string]float64 `json:"new_connections_per_task,omitempty"`
	// MaxInFlight and MeanInFlight are, per step, the most DynamoDB calls
	// of this process (the bench and the in-process host) in flight at
	// once, and their mean over the step: the writes' concurrency is 8 in
	// every step, and the idle host's own calls (scanner, dispatcher,
	// pollers) add to it alike.
	MaxInFlight  map[string]int     `json:"max_dynamodb_calls_in_flight,omitempty"`
	MeanInFlight map[string]float64 `json:"mean_dynamodb_calls_in_flight,omitempty"`
	// Purged counts the items deleted between steps (see createLadder):
	// the tasks and the raw step's items.
	Purged int64 `json:"items_deleted_between_steps"`
	Errors int64 `json:"errors"`
	// ErrorsByCause splits Errors: "http <status>" for a batch item
	// refused, else the error's type.
	ErrorsByCause map[string]int64 `json:"errors_by_cause,omitempty"`
	Note          string           `json:"note"`
}

const createLadderNote = "each step a steady phase of seconds_each × rounds (steps alternated by round) against the DynamoDB emulator with a local host of its own up, on a fresh table from which the tasks each step wrote are deleted after it (outside the timed phase: moto's Query reads every item of the table, so the host's idle Queries cost more as its table grows, which measureRaw's empty table does not pay): " +
	"raw_putitem_per_s is measureRaw's 3-attribute conditional PutItem from `writers` clients; store_create_per_s ddbstore's Create of the bench's task from `writers` clients; " +
	"service_batch_per_s app.Tasks.CreateBatch of `batch` tasks, two batches at a time, and http_batch_per_s POST /v1/tasks:batch of `batch` tasks, two requests at a time: both bounded to `writers` PutItems in flight by the service's shared create writers (HOURGLASS_CREATE_WRITERS, make dev's 8; see max_dynamodb_calls_in_flight). " +
	"Tasks are due due_ahead_s ahead, so none is dispatched during the phase. ratios.create_over_raw_putitem = http_batch_per_s ÷ raw_putitem_per_s, create_over_raw_putitem_vs_measure_raw = http_batch_per_s ÷ raw.emulator.putitem_per_s; " +
	"raw.throughput.create_per_s is the throughput scenario's 300 tasks (3 requests) including start-up, while the dispatcher sends them"

// createRounds is how many rounds the create scenario alternates its
// steps over: a 2 s step's rate varies by ±20 % on the shared machine.
const createRounds = 8

// createTenants is how many tenants the service and HTTP steps rotate over.
const createTenants = 4

// createLadder runs the create scenario against the local host at base
// (its table is prefix's) for rounds rounds of d a step.
func createLadder(ctx context.Context, cfg config.Config, awsCfg aws.Config, flight *inFlight, prefix, base string, writers, batch int, d time.Duration, rounds int, emulatorPid int) (CreateLadder, error) {
	const ahead = 10 * time.Minute
	l := CreateLadder{Writers: writers, Batch: batch, Seconds: d.Seconds(), Rounds: rounds, DueAheadS: ahead.Seconds(), Note: createLadderNote}
	if cfg.CreateWriters != writers {
		// The service and HTTP steps' bound on writes in flight.
		return l, fmt.Errorf("create ladder: HOURGLASS_CREATE_WRITERS is %d, the raw step's clients %d", cfg.CreateWriters, writers)
	}
	res, err := provision.Ensure(ctx, awsCfg, provision.Spec{Prefix: prefix, Bus: cfg.BusName})
	if err != nil {
		return l, err
	}
	cfg.Table, cfg.ScanQueueURL, cfg.TaskQueueURL, cfg.TaskDLQURL = res.Table, res.ScanQueueURL, res.TaskQueueURL, res.TaskDLQURL
	svcUsage := &usage.Counters{Minimums: true} // as the local host's
	comps, err := wire.BuildWith(ctx, cfg, awsCfg, nil, svcUsage)
	if err != nil {
		return l, err
	}
	svc := comps.NewTasks()
	// The store step writes as one tenant; the service and HTTP steps
	// rotate over createTenants tenants, so that the per-tenant create
	// rate (HOURGLASS_TENANT_CREATE_RATE, 500/s by default) does not bind:
	// it is the store's rate being measured, not the quota's. All share
	// the prefix tenant, which the clean-up between steps matches.
	const tenant = "bench-create"
	validate := comps.Validator().For(tenant)
	tenants := make([]string, createTenants)
	hcs := make([]*client.Client, createTenants)
	for k := range tenants {
		tenants[k] = fmt.Sprintf("%s-%d", tenant, k)
		if hcs[k], err = client.New(base, client.Options{HTTPClient: &http.Client{Timeout: 60 * time.Second}, DevTenant: tenants[k], MaxRetries: -1}); err != nil {
			return l, err
		}
	}
	var causesMu sync.Mutex
	cause := func(c string) {
		causesMu.Lock()
		if l.ErrorsByCause == nil {
			l.ErrorsByCause = map[string]int64{}
		}
		l.ErrorsByCause[c]++
		causesMu.Unlock()
	}
	// The bench's create document (loadtest's), due ahead of now.
	hook := "http://127.0.0.1:9/hook"
	spec := func(i int) client.CreateTask {
		return client.CreateTask{DueAt: time.Now().Add(ahead).Truncate(time.Millisecond), Target: client.Webhook(hook),
			Payload: map[string]any{"n": i, "note": "loadgen"}, Retry: &client.Retry{MaxAttempts: 5}}
	}
	db := dynamodb.NewFromConfig(awsCfg)
	rawTable := prefix + "-create-raw"
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: &rawTable, BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}, {AttributeName: aws.String("sk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange}},
	}); err != nil {
		return l, fmt.Errorf("create ladder: raw table: %w", err)
	}
	defer func() {
		_, _ = db.DeleteTable(context.WithoutCancel(ctx), &dynamodb.DeleteTableInput{TableName: &rawTable})
	}()
	var errs atomic.Int64
	var round atomic.Int64 // the raw step's keys differ by round
	count := func(err error) int64 {
		if err != nil {
			errs.Add(1)
			cause(fmt.Sprintf("%T", err))
			return 0
		}
		return 1
	}
	steps := []struct {
		name, key string
		clients   int
		rate      *float64
		call      func(c, i int) int64 // tasks written
	}{
		{"raw PutItem", "raw_putitem", writers, &l.RawPutItemPerS, func(c, i int) int64 {
			return count(rawPutItem(ctx, db, rawTable, c, i, int(round.Load())))
		}},
		{"ddbstore Create", "store_create", writers, &l.StoreCreatePerS, func(_, i int) int64 {
			t, err := benchTask(spec(i), tenant, validate, cfg)
			if err != nil {
				return count(err)
			}
			_, _, err = comps.Store.Create(ctx, t, "", "")
			return count(err)
		}},
		{"app CreateBatch", "service_batch", 2, &l.ServiceBatchPerS, func(c, i int) int64 {
			ts := make([]client.CreateTask, batch)
			for j := range ts {
				ts[j] = spec(i*batch + j)
			}
			body, _ := json.Marshal(map[string]any{"tasks": ts})
			items, err := svc.CreateBatch(ctx, zerolog.Nop(), tenants[(2*i+c)%createTenants], app.CreateBatch{Body: body})
			if err != nil {
				return count(err)
			}
			var n int64
			for _, it := range items {
				n += count(it.Err)
			}
			return n
		}},
		{"POST /v1/tasks:batch", "http_batch", 2, &l.HTTPBatchPerS, func(c, i int) int64 {
			ts := make([]client.CreateTask, batch)
			for j := range ts {
				ts[j] = spec(i*batch + j)
			}
			rs, err := hcs[(2*i+c)%createTenants].CreateBatch(ctx, ts, "")
			if err != nil {
				return count(err)
			}
			var n int64
			for _, r := range rs {
				if r.Status == http.StatusCreated {
					n++
				} else {
					errs.Add(1)
					cause(fmt.Sprintf("http %d", r.Status))
				}
			}
			return n
		}},
	}
	totals := make([]float64, len(steps))
	elapsed := make([]float64, len(steps))
	emuCPU := make([]float64, len(steps))
	calls := make([]map[string]int64, len(steps))
	usageOf := map[string]func() (usage.Snapshot, bool){
		"service_batch": func() (usage.Snapshot, bool) { return svcUsage.Snapshot(), true },
		"http_batch":    func() (usage.Snapshot, bool) { return loadtest.FetchUsage(base) },
	}
	hostCPU := make([]float64, len(steps))
	idle := make([]time.Duration, len(steps))
	conns := make([]int64, len(steps))
	maxIn := make([]int, len(steps))
	inArea := make([]time.Duration, len(steps))
	for r := 0; r < rounds; r++ {
		round.Store(int64(r + 1))
		for k := range steps {
			// Alternate the order by round, so drift in the emulator's
			// speed (a table that grows, other load) favours no step.
			if r%2 == 1 {
				k = len(steps) - 1 - k
			}
			st := steps[k]
			e0, h0 := procCPU(emulatorPid), procCPU(os.Getpid())
			u0, counted := usageAt(usageOf[st.key])
			i0, d0 := flight.idleSoFar(), flight.dials.Load()
			flight.startWindow()
			n, el := timed(ctx, st.clients, d, st.call)
			m, area := flight.window()
			maxIn[k] = max(maxIn[k], m)
			inArea[k] += area
			idle[k] += flight.idleSoFar() - i0
			conns[k] += flight.dials.Load() - d0
			if u1, ok := usageAt(usageOf[st.key]); counted && ok {
				if calls[k] == nil {
					calls[k] = map[string]int64{}
				}
				for op, c := range u1.Sub(u0).Calls {
					if strings.HasPrefix(op, "DynamoDB.") {
						calls[k][op] += c
					}
				}
			}
			emuCPU[k] += procCPU(emulatorPid) - e0
			hostCPU[k] += procCPU(os.Getpid()) - h0
			totals[k] += float64(n)
			elapsed[k] += el.Seconds()
			// Outside the timed phase: delete what the step wrote, so
			// every step writes into a table as small as measureRaw's.
			table, of := cfg.Table, tenant
			if st.key == "raw_putitem" {
				table, of = rawTable, ""
			}
			removed, err := purgeTasks(ctx, db, table, of)
			if err != nil {
				return l, fmt.Errorf("create ladder: clearing the table: %w", err)
			}
			l.Purged += removed
			logf("create ladder: round %d, %s: %.0f tasks/s (%d items deleted after it)", r+1, st.name, float64(n)/el.Seconds(), removed)
		}
	}
	l.HostCPUms = map[string]float64{}
	l.IdleShare = map[string]float64{}
	l.NewConnsPerTask = map[string]float64{}
	l.MaxInFlight = map[string]int{}
	l.MeanInFlight = map[string]float64{}
	if emulatorPid > 0 {
		l.EmulatorCPUms = map[string]float64{}
	}
	for k, st := range steps {
		if elapsed[k] > 0 {
			*st.rate = loadtest.Round(totals[k]/elapsed[k], 1)
		}
		if totals[k] > 0 && calls[k] != nil {
			if l.DynamoDBCalls == nil {
				l.DynamoDBCalls = map[string]map[string]float64{}
			}
			m := map[string]float64{}
			for op, c := range calls[k] {
				m[op] = round3(float64(c) / totals[k])
			}
			l.DynamoDBCalls[st.key] = m
		}
		if elapsed[k] > 0 {
			l.MaxInFlight[st.key] = maxIn[k]
			l.MeanInFlight[st.key] = round3(inArea[k].Seconds() / elapsed[k])
			l.IdleShare[st.key] = round3(idle[k].Seconds() / elapsed[k])
			if totals[k] > 0 {
				l.NewConnsPerTask[st.key] = round3(float64(conns[k]) / totals[k])
			}
		}
		if totals[k] > 0 {
			l.HostCPUms[st.key] = loadtest.Round(1000*hostCPU[k]/totals[k], 3)
			if emulatorPid > 0 {
				l.EmulatorCPUms[st.key] = loadtest.Round(1000*emuCPU[k]/totals[k], 3)
			}
		}
	}
	l.Errors = errs.Load()
	return l, ctx.Err()
}

// timed calls call from clients goroutines until d passes and returns
// the sum of what the calls returned and the time until the last call
// returned (a call begun before d ends is waited for and counted).
func timed(ctx context.Context, clients int, d time.Duration, call func(client, i int) int64) (int64, time.Duration) {
	var n atomic.Int64
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				n.Add(call(c, i))
			}
		}(c)
	}
	wg.Wait()
	return n.Load(), time.Since(start)
}

// benchTask is the task the task service would store for the create
// document of c (as app.Tasks' write builds it).
func benchTask(c client.CreateTask, tenant string, validate task.TargetValidator, cfg config.Config) (*task.Task, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	req, fe := task.DecodeCreate(body, "", now, cfg.Limits, validate)
	if len(fe) > 0 {
		return nil, fmt.Errorf("bench task: %s %s", fe[0].Field, fe[0].Reason)
	}
	id, err := task.NewID(req.DueAt, cfg.Shards)
	if err != nil {
		return nil, err
	}
	return &task.Task{ID: id, Tenant: tenant, DueAt: req.DueAt, Target: req.Target, Payload: req.Payload, Retry: req.Retry,
		State: task.Scheduled, Version: 1, PayloadHash: task.PayloadHash(req.Target, req.Payload), CreatedAt: now, UpdatedAt: now}, nil
}

// usageAt calls f, if set.
func usageAt(f func() (usage.Snapshot, bool)) (usage.Snapshot, bool) {
	if f == nil {
		return usage.Snapshot{}, false
	}
	return f()
}

// inFlight is the bench's HTTP client for AWS: it passes every request on
// and, for those to the DynamoDB endpoint (host), counts them in flight,
// the time none was, and the TCP connections it opened there.
type inFlight struct {
	base  aws.HTTPClient
	host  string
	dials atomic.Int64
	mu    sync.Mutex
	n     int
	max   int           // the most in flight since startWindow
	area  time.Duration // ∫ n dt since startWindow (calls × time)
	at    time.Time     // when n last changed, or startWindow
	from  time.Time     // when n last became 0
	idle  time.Duration
}

// newInFlight returns an inFlight for the DynamoDB endpoint host
// ("127.0.0.1:4591").
func newInFlight(host string) *inFlight {
	f := &inFlight{host: host}
	f.base = awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			if address == f.host {
				f.dials.Add(1)
			}
			return nil
		}
	})
	return f
}

func (f *inFlight) Do(r *http.Request) (*http.Response, error) {
	if r.URL.Host != f.host {
		return f.base.Do(r)
	}
	f.mu.Lock()
	if f.n == 0 && !f.from.IsZero() {
		f.idle += time.Since(f.from)
	}
	f.tick()
	f.n++
	f.max = max(f.max, f.n)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.tick()
		f.n--
		if f.n == 0 {
			f.from = time.Now()
		}
		f.mu.Unlock()
	}()
	return f.base.Do(r)
}

// tick adds the time since the last change at the current count to area
// (f.mu held).
func (f *inFlight) tick() {
	now := time.Now()
	if !f.at.IsZero() {
		f.area += time.Duration(f.n) * now.Sub(f.at)
	}
	f.at = now
}

// startWindow starts counting the most and the mean calls in flight afresh.
func (f *inFlight) startWindow() {
	f.mu.Lock()
	f.max, f.area, f.at = f.n, 0, time.Now()
	f.mu.Unlock()
}

// window is the most calls in flight since startWindow, and the sum of
// calls × time in flight since (their mean in flight times the time).
func (f *inFlight) window() (int, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tick()
	return f.max, f.area
}

// idleSoFar is the time with nothing in flight until now.
func (f *inFlight) idleSoFar() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.idle
	if f.n == 0 && !f.from.IsZero() {
		d += time.Since(f.from)
	}
	return d
}

// purgeTasks deletes the task items of tenant, and of every tenant whose
// name begins with it, from table (a Scan of items with a packed body,
// then BatchWriteItem deletes), or every item with tenant "", and returns
// how many.
func purgeTasks(ctx context.Context, db *dynamodb.Client, table, tenant string) (int64, error) {
	var keys []map[string]ddbtypes.AttributeValue
	in := &dynamodb.ScanInput{TableName: &table, ProjectionExpression: aws.String("pk, sk")}
	if tenant != "" {
		in.FilterExpression = aws.String("begins_with(#t, :t) AND attribute_exists(d) AND attribute_exists(due_ms)")
		in.ExpressionAttributeNames = map[string]string{"#t": "tenant"}
		in.ExpressionAttributeValues = map[string]ddbtypes.AttributeValue{":t": &ddbtypes.AttributeValueMemberS{Value: tenant}}
	}
	p := dynamodb.NewScanPaginator(db, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, err
		}
		keys = append(keys, page.Items...)
	}
	var n int64
	for len(keys) > 0 {
		k := min(25, len(keys))
		reqs := make([]ddbtypes.WriteRequest, 0, k)
		for _, key := range keys[:k] {
			reqs = append(reqs, ddbtypes.WriteRequest{DeleteRequest: &ddbtypes.DeleteRequest{Key: key}})
		}
		keys = keys[k:]
		pending := map[string][]ddbtypes.WriteRequest{table: reqs}
		for tries := 0; len(pending[table]) > 0; tries++ {
			if tries == 5 {
				return n, fmt.Errorf("%d deletes unprocessed after 5 tries", len(pending[table]))
			}
			out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return n, err
			}
			n += int64(len(pending[table]) - len(out.UnprocessedItems[table]))
			pending = out.UnprocessedItems
		}
	}
	return n, nil
}
