// Package loadtest is the load generator's engine, shared by scripts/loadgen
// and the benchmark driver (scripts/bench): it starts a webhook sink on
// loopback, creates tasks due at known times (through Hourglass's HTTP API,
// or through any other scheduler via Options.Submit), waits for them to
// arrive at the sink and summarises lateness, losses, duplicates and — when
// the API serves /debug/usage — AWS usage per task priced by pkg/testkit/cost.
//
// Tasks are created in batches (POST /v1/tasks:batch, Options.Batch tasks a
// request, 100 by default), as a client creating many tasks would: one API
// Gateway request then serves a hundred tasks instead of one. Batch 1
// measures single creates (POST /v1/tasks per task).
//
// Lateness is arrival at the sink minus due time, for every system measured
// the same way. Load runs only ever target loopback addresses.
package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/client"
	"github.com/hourglass-sched/hourglass/pkg/target/webhook"
	"github.com/hourglass-sched/hourglass/pkg/testkit/cost"
	"github.com/hourglass-sched/hourglass/pkg/usage"
)

// TaskIDHeader names the task at the sink; Hourglass's webhook sends it, and
// other systems' handlers must send it too.
const TaskIDHeader = "Hourglass-Task-Id"

type arrival struct {
	at  time.Time
	key string
	d   Delivery
}

type sink struct {
	mu       sync.Mutex
	arrivals map[string][]arrival // task ID → arrivals
	// every is each call's arrival, duplicates included; inflight and
	// maxInflight count calls not yet answered (see Options.SinkHold).
	every       []time.Time
	inflight    int
	maxInflight int
	hold        time.Duration
	total       atomic.Int64
	badSig      atomic.Int64
	// keys are the run's tenants' signing keys (nil: signatures not
	// checked), set before the first task is created. A delivery passes
	// when one of them verifies it (one key unless Options.Tenants).
	keys atomic.Pointer[[][]byte]
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	id := r.Header.Get(TaskIDHeader)
	if ks := s.keys.Load(); ks != nil {
		h := r.Header
		ok := false
		for _, k := range *ks {
			if webhook.Verify(k, h.Get(webhook.HeaderWebhookID), h.Get(webhook.HeaderWebhookTimestamp), body, h.Get(webhook.HeaderWebhookSignature), now, 5*time.Minute) == nil {
				ok = true
				break
			}
		}
		if !ok {
			s.badSig.Add(1)
		}
	}
	s.mu.Lock()
	s.arrivals[id] = append(s.arrivals[id], arrival{at: now, key: r.Header.Get("Idempotency-Key"), d: DeliveryFrom(r.Header, now)})
	s.every = append(s.every, now)
	s.inflight++
	s.maxInflight = max(s.maxInflight, s.inflight)
	s.mu.Unlock()
	s.total.Add(1)
	if s.hold > 0 {
		time.Sleep(s.hold)
	}
	s.mu.Lock()
	s.inflight--
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// PerTask is AWS usage divided by the number of tasks created.
type PerTask struct {
	DDBWRU            float64 `json:"ddb_wru"`
	DDBRRU            float64 `json:"ddb_rru"`
	SQSRequests       float64 `json:"sqs_requests"`
	LambdaInvocations float64 `json:"lambda_invocations"`
	APIRequests       float64 `json:"api_requests"`
}

// Summary is the JSON the load generator prints.
type Summary struct {
	Tasks        int `json:"tasks"`
	Created      int `json:"created"`
	CreateErrors int `json:"create_errors"`
	// CreateErrorsByCause splits CreateErrors by what the last attempt
	// got: an HTTP status ("429": refused by a quota after every retry,
	// "400", "503", …), "timeout" (no answer within the client's
	// timeout) or "network" (any other failure to get an answer). Absent
	// when every create succeeded.
	CreateErrorsByCause map[string]int `json:"create_errors_by_cause,omitempty"`
	Executed            int            `json:"executed"`
	// Pending counts tasks not yet run when the run stopped waiting that
	// can still run (read back through the API: SCHEDULED, DISPATCHED or
	// RUNNING). Lost counts only tasks that never arrived and never will:
	// their state is final (SUCCEEDED without a delivery, FAILED,
	// CANCELLED) or they are gone. Without an API to read back (other
	// schedulers, Options.Submit), every task that did not arrive is lost.
	Pending    int `json:"pending"`
	Lost       int `json:"lost"`
	Early      int `json:"early"`
	Duplicates int `json:"duplicates"`
	// DuplicatesByCause names the cause of each duplicate (see Classify).
	DuplicatesByCause DuplicateCauses `json:"duplicates_by_cause"`
	BadSignature      int64           `json:"bad_signatures"`
	CreatedLate       int             `json:"created_late"` // created after (due − 1s): lateness then measures create speed, not Hourglass
	Lateness          Latency         `json:"lateness_ms"`
	CreatePerS        float64         `json:"create_per_s"`
	// ExecutedPerS is executed tasks over the span from the first due time
	// to the last first arrival.
	ExecutedPerS float64 `json:"executed_per_s"`
	// FellBehindAtS is the seconds from the run's start until lateness
	// first passed 1 s (the due time of the earliest task that arrived
	// more than 1 s late, or is pending, plus 1 s); absent if it never did.
	FellBehindAtS *float64        `json:"fell_behind_at_s,omitempty"`
	PerTask       *PerTask        `json:"per_task,omitempty"`
	USDPerMillion float64         `json:"usd_per_million,omitempty"`
	USDBreakdown  *cost.Breakdown `json:"usd_per_million_breakdown,omitempty"`
	PricesAsOf    string          `json:"prices_as_of,omitempty"`
	WindowS       float64         `json:"window_s"`

	// CreateBatch is the most tasks one create request carried (1: a
	// POST /v1/tasks per task; more: POST /v1/tasks:batch).
	CreateBatch int `json:"create_batch"`
	// CreateRequests counts the create requests sent, retries included.
	CreateRequests int64 `json:"create_requests"`
}

// Latency summarises lateness in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Sample is one executed task: when it was due and when it first arrived,
// with the stages between, to tell where a late task waited: when its
// create was answered, when the worker that executed it first received
// its message (zero if the delivery did not say), and the message's origin
// ("fast", "dispatch", …).
type Sample struct {
	Due      time.Time
	Arrived  time.Time
	Created  time.Time
	Received time.Time
	Origin   string
}

// LatenessMs is the sample's lateness in milliseconds.
func (s Sample) LatenessMs() float64 { return float64(s.Arrived.Sub(s.Due).Microseconds()) / 1000 }

// Result is a Summary plus what the benchmark driver needs beyond it.
type Result struct {
	Summary Summary
	// Samples are the executed tasks, in creation order.
	Samples []Sample
	// Refused counts create requests answered 429 (each retried up to 3
	// times); a refused batch request counts once.
	Refused int64
	// Usage is the AWS usage between the start and the end of the run
	// (zero when the API does not serve /debug/usage).
	Usage usage.Snapshot
	// CreateStart and CreateEnd bracket the create phase.
	CreateStart, CreateEnd time.Time
	// CreateErrorExamples holds, for each cause of Summary's
	// create_errors_by_cause, the first such error's text (a problem's
	// detail says what the API ran out of).
	CreateErrorExamples map[string]string
	// OtherDuplicates counts the duplicates classified Other by what the
	// deliveries reported ("dispatch then sweep", …), to name their cause.
	OtherDuplicates map[string]int
	// Arrivals is every call's arrival at the sink, duplicates included,
	// in arrival order; MaxInFlight is the most calls the sink had
	// unanswered at once.
	Arrivals    []time.Time
	MaxInFlight int
}

// SubmitFunc schedules task i, due at due, to POST to hookURL with the
// TaskIDHeader set to the returned ID. It replaces the Hourglass API create
// (Options.API) for other schedulers.
type SubmitFunc func(ctx context.Context, i int, due time.Time, hookURL string) (id string, err error)

// Options configures a run. Zero values take the load generator's defaults.
type Options struct {
	API    string        // Hourglass API base URL (loopback only); ignored when Submit is set
	Tasks  int           // number of tasks (default 1000)
	Spread time.Duration // window the due times are spread over
	Lead   time.Duration // delay before the first due time (default 10s)
	Tenant string        // tenant (dev token; default "loadgen")
	// Tenants, above 1, spreads the tasks over that many tenants, named
	// Tenant-0 … Tenant-(Tenants−1), a create request each in turn (task
	// i belongs to tenant (i / Batch) mod Tenants), so that no per-tenant
	// quota or pacing binds a run that measures the whole stack.
	Tenants     int
	Concurrency int           // concurrent create requests (default 16)
	Grace       time.Duration // wait after the last due time (default 30s)
	SinkAddr    string        // webhook sink listen address (default 127.0.0.1:0)
	// VerifySignatures makes the sink check every delivery's Standard
	// Webhooks signature with the tenant's secret, read from the API
	// (GET /v1/signing-secret) before the first create; failures count
	// as bad_signatures. Ignored with Submit.
	VerifySignatures bool
	Verbose          bool // the first create error on stderr
	Progress         bool // progress bars on stderr
	// Submit, when set, creates tasks instead of the Hourglass API.
	Submit SubmitFunc
	// Visibility is the task queue's visibility timeout, used to classify
	// a redelivered message whose worker reported no visibility deadline
	// (zero: unknown; see Classify).
	Visibility time.Duration
	// Due, when set, gives task i's due time as an offset from the start
	// (instead of Lead + an even spread); SendAt, when set, delays task i's
	// create until that offset from the start (pacing, e.g. a spike).
	Due    func(i int) time.Duration
	SendAt func(i int) time.Duration

	// Batch is how many tasks one create request carries: up to MaxBatch
	// in a POST /v1/tasks:batch, or 1 for a POST /v1/tasks per task. Zero
	// takes DefaultBatch. With SendAt, a request carries only tasks whose
	// send time has come. Submit creates one task a call whatever Batch is.
	Batch int
	// LimitKey, when set, is every task's limit_key.
	LimitKey string
	// SinkHold makes the sink answer each call this long after it arrived
	// (a slow target), so that Result.MaxInFlight measures concurrency.
	SinkHold time.Duration
	// RefusedRetries is how many more times a create request refused
	// with 429 after the client's own retries (3) is sent again, after
	// its Retry-After: a load run offers its tasks faster than the
	// tenant's create rate (HOURGLASS_TENANT_CREATE_RATE, 500 a second)
	// in bursts of Concurrency × Batch, and a quota that says "later" is
	// not a failure to create. 0: none (the benchmark's spike counts
	// refusals).
	RefusedRetries int
}

// DefaultBatch is Options.Batch's default, and MaxBatch its ceiling: the
// most tasks POST /v1/tasks:batch accepts (api.MaxBatch).
const (
	DefaultBatch = 100
	MaxBatch     = 100
)

func (o *Options) defaults() {
	if o.Tasks <= 0 {
		o.Tasks = 1000
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	o.Batch = min(o.Batch, MaxBatch)
	if o.Submit != nil {
		o.Batch = 1
	}
	if o.Lead == 0 {
		o.Lead = 10 * time.Second
	}
	if o.Tenant == "" {
		o.Tenant = "loadgen"
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.Grace == 0 {
		o.Grace = 30 * time.Second
	}
	if o.SinkAddr == "" {
		o.SinkAddr = "127.0.0.1:0"
	}
}

// tenants names the run's tenants: Tenant, or Tenant-0 … with Tenants.
func (o *Options) tenants() []string {
	if o.Tenants <= 1 {
		return []string{o.Tenant}
	}
	out := make([]string, o.Tenants)
	for k := range out {
		out[k] = fmt.Sprintf("%s-%d", o.Tenant, k)
	}
	return out
}

// Loopback reports whether host names a loopback address.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Run performs one load run.
func Run(ctx context.Context, o Options) (Result, error) {
	o.defaults()
	n := o.Tasks
	if o.Submit == nil {
		u, err := url.Parse(o.API)
		if err != nil || !Loopback(u.Hostname()) {
			return Result{}, fmt.Errorf("-api %q: load runs only target loopback addresses", o.API)
		}
	}
	sh, _, _ := net.SplitHostPort(o.SinkAddr)
	if !Loopback(sh) {
		return Result{}, fmt.Errorf("-sink %q must be a loopback address", o.SinkAddr)
	}
	sk := &sink{arrivals: make(map[string][]arrival, n), hold: o.SinkHold}
	ln, err := net.Listen("tcp", o.SinkAddr)
	if err != nil {
		return Result{}, fmt.Errorf("sink: %w", err)
	}
	srv := &http.Server{Handler: sk, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close() }()
	hookURL := "http://" + ln.Addr().String() + "/hook"

	httpc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency}}
	var before usage.Snapshot
	haveUsage := false
	if o.Submit == nil {
		before, haveUsage = fetchUsage(httpc, o.API)
	}

	t0 := time.Now()
	dues := make([]time.Time, n)
	for i := range dues {
		var off time.Duration
		if o.Due != nil {
			off = o.Due(i)
		} else {
			step := time.Duration(0)
			if n > 1 {
				step = o.Spread * time.Duration(i) / time.Duration(n-1)
			}
			off = o.Lead + step
		}
		dues[i] = t0.Add(off).Truncate(time.Millisecond)
	}
	ids := make([]string, n)
	createdAt := make([]time.Time, n)
	var created, createErrs, createdLate, refused, requests atomic.Int64
	var firstErr atomic.Value
	var causesMu sync.Mutex
	causes, examples := map[string]int{}, map[string]string{}
	done := func(i int, id string, err error) {
		if err != nil {
			createErrs.Add(1)
			firstErr.CompareAndSwap(nil, err)
			cause := CreateErrorCause(err)
			causesMu.Lock()
			if causes[cause]++; causes[cause] == 1 {
				examples[cause] = err.Error()
			}
			causesMu.Unlock()
			return
		}
		now := time.Now()
		if now.After(dues[i].Add(-time.Second)) {
			createdLate.Add(1)
		}
		ids[i], createdAt[i] = id, now
		created.Add(1)
	}
	var hcs []*client.Client // one per tenant
	if o.Submit == nil {
		var keys [][]byte
		for _, tenant := range o.tenants() {
			// pkg/client: 3 retries with backoff on 429 (honouring
			// Retry-After), and on 5xx and network errors too (no
			// Idempotency-Key: a key would add a transaction and a write
			// per task to what the run measures).
			hc, err := client.New(o.API, client.Options{HTTPClient: httpc, DevTenant: tenant, MaxRetries: 3, RetryUnkeyedCreates: true,
				OnRetry: func(status int, _ time.Duration) {
					requests.Add(1)
					if status == http.StatusTooManyRequests {
						refused.Add(1)
					}
				}})
			if err != nil {
				return Result{}, fmt.Errorf("create: %w", err)
			}
			hcs = append(hcs, hc)
			if o.VerifySignatures {
				sec, err := hc.SigningSecret(ctx)
				if err != nil {
					return Result{}, fmt.Errorf("read tenant %s's signing secret: %w", tenant, err)
				}
				key, err := webhook.ParseSecret(sec.Secret)
				if err != nil {
					return Result{}, fmt.Errorf("signing secret: %w", err)
				}
				keys = append(keys, key)
			}
		}
		if o.VerifySignatures {
			sk.keys.Store(&keys)
		}
	}
	clientOf := func(i int) *client.Client { return hcs[(i/o.Batch)%len(hcs)] }
	spec := func(i int) client.CreateTask {
		return client.CreateTask{DueAt: dues[i], Target: client.Webhook(hookURL),
			Payload: map[string]any{"n": i, "note": "loadgen"}, Retry: &client.Retry{MaxAttempts: 5}, LimitKey: o.LimitKey}
	}
	var sendAt func(i int) time.Time
	if o.SendAt != nil {
		sendAt = func(i int) time.Time { return t0.Add(o.SendAt(i)) }
	}
	groups := make(chan []int)
	go batches(ctx, n, o.Batch, sendAt, groups)
	var wg sync.WaitGroup
	stopBar := progress(o.Progress, "create", n, func() int { return int(created.Load() + createErrs.Load()) })
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range groups {
				switch {
				case o.Submit != nil:
					for _, i := range g {
						requests.Add(1)
						id, err := o.Submit(ctx, i, dues[i], hookURL)
						done(i, id, err)
					}
				case len(g) == 1 && o.Batch == 1:
					i := g[0]
					hc := clientOf(i)
					body, _ := json.Marshal(spec(i))
					requests.Add(1)
					id, err := create(ctx, hc, body, &refused)
					for r := 0; r < o.RefusedRetries && errors.Is(err, errRefused) && ctx.Err() == nil; r++ {
						sleep(ctx, retryAfter(err))
						requests.Add(1)
						id, err = create(ctx, hc, body, &refused)
					}
					done(i, id, err)
				default:
					// A request is one tenant's (a paced group need not
					// start at a multiple of Batch).
					for len(g) > 0 {
						hc, k := clientOf(g[0]), 1
						for k < len(g) && clientOf(g[k]) == hc {
							k++
						}
						createBatch(ctx, hc, g[:k], spec, &requests, &refused, o.RefusedRetries, done)
						g = g[k:]
					}
				}
			}
		}()
	}
	wg.Wait()
	createEnd := time.Now()
	createDur := createEnd.Sub(t0)
	stopBar()
	if e, ok := firstErr.Load().(error); ok && o.Verbose {
		fmt.Fprintln(os.Stderr, "first create error:", e)
	}
	if created.Load() == 0 {
		return Result{}, fmt.Errorf("no task could be created: %v", firstErr.Load())
	}

	// Wait for every created task to arrive, or the grace after the last due.
	last := dues[0]
	for _, d := range dues {
		if d.After(last) {
			last = d
		}
	}
	deadline := last.Add(o.Grace)
	want := int(created.Load())
	arrived := func() int {
		sk.mu.Lock()
		defer sk.mu.Unlock()
		return len(sk.arrivals)
	}
	stopBar = progress(o.Progress, "execute", want, arrived)
	for time.Now().Before(deadline) && arrived() < want && ctx.Err() == nil {
		sleep(ctx, 100*time.Millisecond)
	}
	// A short settle catches late duplicates.
	sleep(ctx, 2*time.Second)
	stopBar()

	res := Result{Refused: refused.Load(), CreateStart: t0, CreateEnd: createEnd}
	if len(examples) > 0 {
		res.CreateErrorExamples = examples
	}
	sum := Summary{Tasks: n, Created: want, CreateErrors: int(createErrs.Load()), CreatedLate: int(createdLate.Load()),
		CreatePerS: float64(want) / createDur.Seconds(), CreateBatch: o.Batch, CreateRequests: requests.Load(),
		BadSignature: sk.badSig.Load(), WindowS: o.Spread.Seconds()}
	if len(causes) > 0 {
		sum.CreateErrorsByCause = causes
	}
	sk.mu.Lock()
	var missing []int // created tasks that never arrived
	for i, id := range ids {
		if id != "" && len(sk.arrivals[id]) == 0 {
			missing = append(missing, i)
		}
	}
	sk.mu.Unlock()
	pending := map[int]bool{}
	if len(hcs) > 0 && len(missing) > 0 {
		pending = stillPending(ctx, clientOf, ids, missing, o.Concurrency)
	}
	sk.mu.Lock()
	res.Arrivals, res.MaxInFlight = append([]time.Time(nil), sk.every...), sk.maxInflight
	var late []float64
	behind := time.Time{} // the earliest due time of a task more than 1 s late
	fellBehind := func(due time.Time) {
		if behind.IsZero() || due.Before(behind) {
			behind = due
		}
	}
	var firstDue, lastArrival time.Time
	for i, id := range ids {
		if id == "" {
			continue
		}
		if firstDue.IsZero() || dues[i].Before(firstDue) {
			firstDue = dues[i]
		}
		arr := sk.arrivals[id]
		if len(arr) == 0 {
			if pending[i] {
				sum.Pending++
				if time.Now().After(dues[i].Add(time.Second)) {
					fellBehind(dues[i])
				}
			} else {
				sum.Lost++
			}
			continue
		}
		sum.Executed++
		sum.Duplicates += len(arr) - 1
		if len(arr) > 1 {
			ds := make([]Delivery, len(arr))
			for j, a := range arr {
				ds[j] = a.d
			}
			sum.DuplicatesByCause.Add(classify(ds, o.Visibility, func(why string) {
				if res.OtherDuplicates == nil {
					res.OtherDuplicates = map[string]int{}
				}
				res.OtherDuplicates[why]++
			}))
		}
		first, fd := arr[0].at, arr[0].d
		for _, a := range arr[1:] {
			if a.at.Before(first) {
				first, fd = a.at, a.d
			}
		}
		if first.Before(dues[i]) {
			sum.Early++
		}
		s := Sample{Due: dues[i], Arrived: first, Created: createdAt[i], Received: fd.ReceivedAt, Origin: rootOrigin(fd.Origin)}
		res.Samples = append(res.Samples, s)
		late = append(late, s.LatenessMs())
		if first.After(lastArrival) {
			lastArrival = first
		}
		if first.Sub(dues[i]) > time.Second {
			fellBehind(dues[i])
		}
	}
	sk.mu.Unlock()
	sum.Lateness = Percentiles(late)
	if span := lastArrival.Sub(firstDue); sum.Executed > 0 && span > 0 {
		sum.ExecutedPerS = Round(float64(sum.Executed)/span.Seconds(), 2)
	}
	if !behind.IsZero() {
		at := Round(behind.Add(time.Second).Sub(t0).Seconds(), 2)
		sum.FellBehindAtS = &at
	}
	if haveUsage {
		after, _ := fetchUsage(httpc, o.API)
		d := after.Sub(before)
		res.Usage = d
		f := float64(want)
		sum.PerTask = &PerTask{d.DynamoDBWRU / f, d.DynamoDBRRU / f, float64(d.SQSRequests) / f, float64(d.TotalInvocations()) / f, float64(d.APIRequests) / f}
		b := cost.List.PerMillion(d, want)
		sum.USDPerMillion = Round(b.Total, 4)
		sum.USDBreakdown = &b
		sum.PricesAsOf = cost.List.Region + " " + cost.List.AsOf
	}
	res.Summary = sum
	return res, nil
}

// stillPending reads back the tasks at missing (indexes into ids) and
// returns those whose state says they can still run. A task that cannot be
// read for another reason than 404 counts as pending: the run cannot tell.
func stillPending(ctx context.Context, clientOf func(i int) *client.Client, ids []string, missing []int, concurrency int) map[int]bool {
	out := map[int]bool{}
	var mu sync.Mutex
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < max(1, concurrency); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				t, err := clientOf(i).Get(ctx, ids[i])
				var ce *client.Error
				can := false
				switch {
				case errors.As(err, &ce) && ce.Status == http.StatusNotFound:
				case err != nil:
					can = true
				default:
					can = t.State == "SCHEDULED" || t.State == "DISPATCHED" || t.State == "RUNNING"
				}
				if can {
					mu.Lock()
					out[i] = true
					mu.Unlock()
				}
			}
		}()
	}
	for _, i := range missing {
		work <- i
	}
	close(work)
	wg.Wait()
	return out
}

// Round rounds v to digits decimal places.
func Round(v float64, digits int) float64 {
	p := 1.0
	for i := 0; i < digits; i++ {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

// CreateErrorCause names what a failed create got (see
// Summary.CreateErrorsByCause): the HTTP status of its last answer,
// "bad_answer" for a success the load generator cannot use (no task ID,
// too few results), or "timeout" or "network" when there was no answer.
func CreateErrorCause(err error) string {
	var ce *client.Error
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return strconv.Itoa(ce.Status)
	case errors.Is(err, errRefused):
		return strconv.Itoa(http.StatusTooManyRequests)
	case errors.Is(err, errBadAnswer):
		return "bad_answer"
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "timeout"
	default:
		return "network"
	}
}

// errRefused marks a create the API refused with 429 after every retry.
var errRefused = errors.New("refused (429)")

// retryAfter is how long to wait before sending a refused create again:
// its Retry-After, at least a second.
func retryAfter(err error) time.Duration {
	var ce *client.Error
	if errors.As(err, &ce) {
		return max(ce.RetryAfter, time.Second)
	}
	return time.Second
}

// errBadAnswer marks a 2xx answer without what a create must return.
var errBadAnswer = errors.New("unusable answer")

// create creates one task with POST /v1/tasks.
func create(ctx context.Context, hc *client.Client, body []byte, refused *atomic.Int64) (string, error) {
	t, _, err := hc.CreateJSON(ctx, body, "")
	var ce *client.Error
	if errors.As(err, &ce) && ce.Status == http.StatusTooManyRequests {
		refused.Add(1)
		return "", fmt.Errorf("create: %w (%w): %s", errRefused, ce, ce.Detail)
	}
	if err != nil {
		return "", fmt.Errorf("create: %w", err)
	}
	if t.ID == "" {
		return "", fmt.Errorf("create: %w: no task ID", errBadAnswer)
	}
	return t.ID, nil
}

// batchRetries is how many times a batch's tasks answered 5xx (each is
// created on its own in the batch) are sent again, as pkg/client retries a
// single create on 5xx.
const batchRetries = 3

// createBatch creates tasks idx with POST /v1/tasks:batch and reports each
// to done. Tasks answered 5xx are sent again, in one request, up to
// batchRetries times, and tasks refused 429 on their own item (nothing of
// them written) after a second, up to refusedRetries times, as a request
// refused 429 is; a request that fails as a whole (after the client's own
// retries) fails all its tasks.
func createBatch(ctx context.Context, hc *client.Client, idx []int, spec func(i int) client.CreateTask, requests, refused *atomic.Int64, refusedRetries int, done func(i int, id string, err error)) {
	pending := idx
	for attempt, refusals := 0, 0; ; attempt++ {
		tasks := make([]client.CreateTask, len(pending))
		for j, i := range pending {
			tasks[j] = spec(i)
		}
		requests.Add(1)
		res, err := hc.CreateBatch(ctx, tasks, "")
		var ce *client.Error
		if errors.As(err, &ce) && ce.Status == http.StatusTooManyRequests {
			refused.Add(1)
			if refusals < refusedRetries && ctx.Err() == nil {
				refusals++
				attempt--
				sleep(ctx, max(ce.RetryAfter, time.Second))
				continue
			}
			err = fmt.Errorf("%w (%w): %s", errRefused, ce, ce.Detail)
		}
		if err == nil && len(res) != len(pending) {
			err = fmt.Errorf("%w: %d results for %d tasks", errBadAnswer, len(res), len(pending))
		}
		if err != nil {
			for _, i := range pending {
				done(i, "", fmt.Errorf("create batch: %w", err))
			}
			return
		}
		var again []int
		itemsRefused, itemsFailed := false, false
		for j, r := range res {
			i := pending[j]
			switch {
			case (r.Status == http.StatusCreated || r.Status == http.StatusOK) && r.Task != nil && r.Task.ID != "":
				done(i, r.Task.ID, nil)
			case r.Status == http.StatusTooManyRequests && refusals < refusedRetries && ctx.Err() == nil:
				// Refused unwritten on its own (the API instance's create
				// writers were busy after the batch's first tasks): sent
				// again after a second, as a refused request is.
				again = append(again, i)
				itemsRefused = true
			case r.Status >= 500 && attempt < batchRetries && ctx.Err() == nil:
				again = append(again, i)
				itemsFailed = true
			case r.Err != nil:
				done(i, "", fmt.Errorf("create batch: task %d: %w", i, r.Err))
			default:
				done(i, "", fmt.Errorf("create batch: task %d: %w: status %d without a task ID", i, errBadAnswer, r.Status))
			}
		}
		if len(again) == 0 {
			return
		}
		pending = again
		if itemsRefused {
			refused.Add(1)
			refusals++
			if !itemsFailed {
				attempt-- // a refusal is not a failed attempt
			}
			sleep(ctx, time.Second)
			continue
		}
		sleep(ctx, time.Duration(200<<attempt)*time.Millisecond)
	}
}

// batches hands the task indexes 0..n-1 to out in order, in groups of at
// most size, then closes out. With sendAt, a task joins a group only once
// its send time has come, and a group goes out as soon as a sender takes
// it: pacing holds, and groups fill only as fast as tasks come due (a
// steady trickle goes one by one, a burst in full batches).
func batches(ctx context.Context, n, size int, sendAt func(i int) time.Time, out chan<- []int) {
	defer close(out)
	var group []int
	next := 0
	for next < n || len(group) > 0 {
		for next < n && len(group) < size && (sendAt == nil || !time.Now().Before(sendAt(next))) {
			group = append(group, next)
			next++
		}
		var send chan<- []int
		if len(group) > 0 {
			send = out
		}
		var wake <-chan time.Time
		var timer *time.Timer
		if next < n && len(group) < size && sendAt != nil {
			timer = time.NewTimer(time.Until(sendAt(next)))
			wake = timer.C
		}
		select {
		case send <- group:
			group = nil
		case <-wake:
		case <-ctx.Done():
			return
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// FetchUsage reads the local host's usage counters from /debug/usage.
func FetchUsage(apiURL string) (usage.Snapshot, bool) {
	return fetchUsage(&http.Client{Timeout: 10 * time.Second}, apiURL)
}

func fetchUsage(c *http.Client, apiURL string) (usage.Snapshot, bool) {
	resp, err := c.Get(strings.TrimRight(apiURL, "/") + "/debug/usage")
	if err != nil {
		return usage.Snapshot{}, false
	}
	defer func() { _ = resp.Body.Close() }()
	var s usage.Snapshot
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&s) != nil {
		return usage.Snapshot{}, false
	}
	return s, true
}

// Percentiles summarises v (sorted in place) by nearest rank.
func Percentiles(v []float64) Latency {
	if len(v) == 0 {
		return Latency{}
	}
	sort.Float64s(v)
	at := func(p float64) float64 {
		i := int(p*float64(len(v))+0.5) - 1
		i = max(0, min(i, len(v)-1))
		return v[i]
	}
	return Latency{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: v[len(v)-1]}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// progress draws a bar on stderr until the returned stop is called.
func progress(on bool, label string, total int, done func() int) (stop func()) {
	if !on {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	draw := func() {
		d := done()
		width := 30
		fill := 0
		if total > 0 {
			fill = d * width / total
		}
		fmt.Fprintf(os.Stderr, "\r%-8s [%s%s] %d/%d", label, strings.Repeat("#", min(fill, width)), strings.Repeat(".", width-min(fill, width)), d, total)
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				draw()
				fmt.Fprintln(os.Stderr)
				return
			case <-t.C:
				draw()
			}
		}
	}()
	return func() { cancel(); <-finished }
}

// DescribeCauses spells out create_errors_by_cause for a person, most
// frequent first: "400 × 429 (refused by a quota after every retry), 3 × 503
// (server error: a bug)".
func DescribeCauses(causes map[string]int) string {
	keys := make([]string, 0, len(causes))
	for k := range causes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if causes[keys[i]] != causes[keys[j]] {
			return causes[keys[i]] > causes[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d × %s", causes[k], k)
		code, err := strconv.Atoi(k)
		switch {
		case k == "429":
			parts[i] += " (refused by a quota after every retry: the tenant's create rate, HOURGLASS_TENANT_CREATE_RATE, or the API's create writers, HOURGLASS_CREATE_WRITERS)"
		case k == "503":
			parts[i] += " (unavailable after every retry: the API's store calls did not finish within its request timeout — the store is overloaded)"
		case err == nil && code >= 500:
			parts[i] += " (server error after every retry: a bug)"
		case err == nil && code >= 400:
			parts[i] += " (rejected request)"
		case k == "timeout":
			parts[i] += " (no answer within the client's timeout)"
		}
	}
	return strings.Join(parts, ", ")
}
