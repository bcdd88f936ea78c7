// Command chaos is Hourglass's chaos run: it starts its own emulator (moto
// on -port), a fault-injecting proxy in front of it (pkg/testkit/faults), a webhook
// sink and the local host (functions/local, built and run as a child
// process pointed at the proxy), creates -tasks tasks due across -spread,
// and meanwhile SIGKILLs and restarts the host at random points, restarts
// it with its clock skewed by ±2 s, stalls some of its pollers' visibility
// heartbeats past the visibility so deliveries duplicate, and injects
// throttles, 500s, latency and dropped-after-applied connections into
// every AWS call. It then checks every task and prints one JSON object as
// its last stdout line:
//
//	{"tasks","executed","lost","early","duplicate_deliveries","duplicate_effects",
//	 "crashes","faults_injected","max_lateness_ms","recovery_s", ...}
//
// duplicate_deliveries counts target calls beyond the first per task
// (at-least-once: expected under crashes); duplicate_effects counts tasks
// that reached the sink under more than one idempotency key or recorded more
// than one final outcome (must be 0); lost counts accepted tasks never
// executed; recovery_s is the longest time from a crash until every task due
// during the outage had run. Half the tasks name one of two limit keys
// (max_concurrency 3 and 2); key_max_concurrency reports the most calls the
// sink had in flight per key, beside key_limit_concurrency. It exits 1 when
// lost, early or duplicate_effects is not 0, when a key's calls in flight
// exceeded its limit, or when fewer crashes or faults happened than asked for.
//
//	go run ./scripts/chaos -tasks 1000 -spread 150s -crashes 4   # make chaos-quick
//
// Everything listens on 127.0.0.1 only, and every loop is bounded.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/hourglass-sched/hourglass/pkg/ddbstore"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/faultrun"
	"github.com/hourglass-sched/hourglass/pkg/testkit/faults"
)

// Summary is the JSON the chaos run prints.
type Summary struct {
	Tasks               int     `json:"tasks"`
	Executed            int     `json:"executed"`
	Lost                int     `json:"lost"`
	Early               int     `json:"early"`
	DuplicateDeliveries int     `json:"duplicate_deliveries"`
	DuplicateEffects    int     `json:"duplicate_effects"`
	Crashes             int     `json:"crashes"`
	FaultsInjected      int64   `json:"faults_injected"`
	MaxLatenessMS       float64 `json:"max_lateness_ms"`
	RecoveryS           float64 `json:"recovery_s"`
	// Detail beyond the list.
	Accepted     int `json:"accepted"`
	CreateErrors int `json:"create_errors"`
	NotSucceeded int `json:"not_succeeded"`
	// Orphans are executed tasks the run never got an ID for: the host
	// died after writing one but before answering, and the retried create
	// made another. Creates carry no Idempotency-Key here (see create).
	Orphans      int              `json:"orphans"`
	FaultsByKind map[string]int64 `json:"faults_by_kind"`
	SkewsMS      []int            `json:"skews_ms"`
	Claim        string           `json:"claim"` // the host's HOURGLASS_CLAIM
	DurationS    float64          `json:"duration_s"`
	// KeyMaxConcurrency is, per limit key of the workload, the most calls
	// the sink had in flight at once for the key's tasks, beside
	// KeyLimitConcurrency, the key's max_concurrency; the run fails if one
	// exceeds its limit.
	KeyMaxConcurrency   map[string]int `json:"key_max_concurrency"`
	KeyLimitConcurrency map[string]int `json:"key_limit_concurrency"`
}

// chaosKeys are the workload's limit keys (tenant "chaos") and their
// max_concurrency: a quarter of the tasks name each, the rest none.
var chaosKeys = []struct {
	name string
	conc int
}{{"chaos.a", 3}, {"chaos.b", 2}}

// keyOf is task i's limit key ("" for none).
func keyOf(i int) string {
	if j := i % 4; j < len(chaosKeys) {
		return chaosKeys[j].name
	}
	return ""
}

type options struct {
	tasks, crashes, port, concurrency int
	spread, lead, grace               time.Duration
	faultRate, heartbeatStall         float64
	minFaults                         int64
	seed                              uint64
	logPath                           string
	claim                             string
}

func main() {
	var o options
	flag.IntVar(&o.tasks, "tasks", 1000, "tasks to create")
	flag.DurationVar(&o.spread, "spread", 150*time.Second, "window the due times are spread over")
	flag.DurationVar(&o.lead, "lead", 20*time.Second, "delay before the first due time")
	flag.DurationVar(&o.grace, "grace", 150*time.Second, "longest wait after the last due time (covers visibility timeouts and the sweep)")
	flag.IntVar(&o.crashes, "crashes", 4, "SIGKILL-and-restart cycles of the local host (at least)")
	flag.IntVar(&o.port, "port", 4580, "port of the chaos run's own emulator")
	flag.IntVar(&o.concurrency, "concurrency", 8, "concurrent create requests")
	// The host's pollers receive with a short visibility (5 s) and extend
	// what they hold (package poll), so a queue's visibility timeout no
	// longer decides when a slow message is delivered again. Duplicates
	// are forced instead by stalling heartbeats: a stalled extension (the
	// call has 1.25 s) lets the visibility run out, and the message is
	// received again while its first delivery is still calling a slow
	// target (see sink; the host's lease, 10 s, lets a call run past the
	// visibility), so both call the target.
	flag.Float64Var(&o.heartbeatStall, "heartbeat-stall", 0.5, "share of visibility heartbeats (ChangeMessageVisibilityBatch) delayed by up to 20 s")
	flag.Float64Var(&o.faultRate, "fault-rate", 0.05, "share of AWS calls that get an error or a dropped connection (latency comes on top)")
	flag.Int64Var(&o.minFaults, "min-faults", 100, "fail the run if fewer faults were injected")
	seed := flag.Int64("seed", 0, "random seed (0: from the clock)")
	flag.StringVar(&o.logPath, "log", "", "host log file (default: a temporary file, named on stderr)")
	// The product default, no claims: the outcome is fenced by one write
	// conditioned on the version the worker read, and this run's forced
	// duplicates settle at the same moment. moto 5.2.1's conditional writes
	// were not atomic under concurrent requests (two racing UpdateItems
	// on one item, both conditioned on its version, both won about 2% of
	// tight races; DynamoDB's never do), which made this mode report
	// moto's double outcomes as duplicate_effects, so the run used claims.
	// scripts/emulator.sh now runs moto through scripts/motoserver.py,
	// which serialises its DynamoDB requests, so the default mode is
	// measured as shipped; -claim lease measures the other.
	flag.StringVar(&o.claim, "claim", "none", "the host's HOURGLASS_CLAIM (none, the product default, or lease)")
	flag.Parse()
	if o.tasks < 1 || o.crashes < 0 || o.concurrency < 1 || o.heartbeatStall < 0 || o.heartbeatStall > 1 {
		fmt.Fprintln(os.Stderr, "chaos: want -tasks ≥ 1, -crashes ≥ 0, -concurrency ≥ 1 and -heartbeat-stall in [0, 1]")
		os.Exit(2)
	}
	o.seed = uint64(*seed)
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	out, _ := json.Marshal(sum)
	fmt.Println(string(out))
	if sum.Lost > 0 || sum.Early > 0 || sum.DuplicateEffects > 0 || sum.Crashes < o.crashes || sum.FaultsInjected < o.minFaults {
		os.Exit(1)
	}
	for k, n := range sum.KeyMaxConcurrency {
		if n > sum.KeyLimitConcurrency[k] {
			fmt.Fprintf(os.Stderr, "chaos: key %s had %d calls in flight, above its max_concurrency %d\n", k, n, sum.KeyLimitConcurrency[k])
			os.Exit(1)
		}
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "chaos %s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05.000")}, args...)...)
}

// outage is one crash: when the host was killed and when its successor
// answered.
type outage struct{ killed, up time.Time }

// arrival is one call the sink received.
type arrival struct {
	at  time.Time
	key string
}

// sink records every webhook call; a few answers are slow, up to 10 s:
// most outlast three quarters of the pollers' 5 s visibility, so that their
// messages need heartbeats, some of which stall (deliveries duplicate), and
// a quarter outlast the worker's execution timeout (7.5 s with the host's
// 10 s lease), so attempts time out and are retried.
type sink struct {
	mu       sync.Mutex
	arrivals map[string][]arrival
	rnd      *rand.Rand
	// inflight and maxInflight count, per limit key (the payload's
	// "limit_key"), the calls not yet answered.
	inflight, maxInflight map[string]int
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var p struct {
		LimitKey string `json:"limit_key"`
	}
	_ = json.Unmarshal(body, &p)
	id := r.Header.Get("Hourglass-Task-Id")
	s.mu.Lock()
	s.arrivals[id] = append(s.arrivals[id], arrival{at: now, key: r.Header.Get("Idempotency-Key")})
	if p.LimitKey != "" {
		s.inflight[p.LimitKey]++
		s.maxInflight[p.LimitKey] = max(s.maxInflight[p.LimitKey], s.inflight[p.LimitKey])
		defer func() {
			s.mu.Lock()
			s.inflight[p.LimitKey]--
			s.mu.Unlock()
		}()
	}
	slow := s.rnd.Float64() < 0.02
	hold := time.Duration(s.rnd.Int64N(int64(10 * time.Second)))
	s.mu.Unlock()
	if slow {
		t := time.NewTimer(hold)
		select {
		case <-r.Context().Done():
		case <-t.C:
		}
		t.Stop()
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *sink) snapshot() map[string][]arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]arrival, len(s.arrivals))
	for k, v := range s.arrivals {
		out[k] = append([]arrival(nil), v...)
	}
	return out
}

func run(ctx context.Context, o options) (Summary, error) {
	started := time.Now()
	rnd := rand.New(rand.NewPCG(o.seed, o.seed>>1|1)) //nolint:gosec // chaos needs reproducible, not secret, randomness
	logf("seed %d", o.seed)

	// 1. The emulator: ours unless one already answers on the port.
	emu, stopEmu, err := faultrun.Emulator(o.port)
	if err != nil {
		return Summary{}, err
	}
	defer stopEmu()
	account := fmt.Sprintf("%012d", 100000000000+rnd.Int64N(899999999999))
	logf("emulator %s, account %s", emu, account)

	// 2. The fault proxy, off until the host is up.
	proxy, err := faults.New(emu, nil, o.seed)
	if err != nil {
		return Summary{}, err
	}
	defer proxy.Close()
	r := o.faultRate
	rules := []faults.Rule{
		// Stalled heartbeats: duplicates (see -heartbeat-stall).
		{Op: "AmazonSQS.ChangeMessageVisibilityBatch", Kind: faults.Latency, Rate: o.heartbeatStall, Delay: 20 * time.Second},
		{Op: "*", Kind: faults.Throttle, Rate: r * 0.35},
		{Op: "DynamoDB_20120810.*", Kind: faults.Provisioned, Rate: r * 0.2},
		{Op: "*", Kind: faults.ServerError, Rate: r * 0.3},
		{Op: "*", Kind: faults.DropAfter, Rate: r * 0.15},
		{Op: "*", Kind: faults.Latency, Rate: r * 0.6, Delay: 300 * time.Millisecond},
	}
	proxyURL, closeProxy, err := faultrun.Serve(faultrun.InAccount(proxy, account), 10*time.Second)
	if err != nil {
		return Summary{}, err
	}
	defer closeProxy()

	// Direct, fault-free clients for the run's own checks.
	direct, err := faultrun.Direct(ctx, emu, account)
	if err != nil {
		return Summary{}, err
	}

	// 3. The sink.
	sk := &sink{arrivals: map[string][]arrival{}, rnd: rand.New(rand.NewPCG(o.seed+1, 7)), //nolint:gosec // reproducible, not secret
		inflight: map[string]int{}, maxInflight: map[string]int{}}
	sinkURL, closeSink, err := faultrun.Serve(sk, 5*time.Second)
	if err != nil {
		return Summary{}, err
	}
	defer closeSink()
	hookURL := sinkURL + "/hook"

	// 4. The host binary and its supervisor.
	bin, logFile, cleanup, err := faultrun.HostFiles(ctx, "chaos", o.seed, o.logPath)
	if err != nil {
		return Summary{}, err
	}
	defer cleanup()
	logf("host log %s", logFile.Name())
	addr, err := faultrun.FreeAddr()
	if err != nil {
		return Summary{}, err
	}
	h := faultrun.NewHost(faultrun.HostConfig{Bin: bin, Endpoint: proxyURL, Addr: addr, Log: logFile,
		Env: []string{"HOURGLASS_LEASE_SECONDS=10", "HOURGLASS_CLAIM=" + o.claim}})
	defer h.Stop()
	if err := startHost(ctx, h, 0); err != nil {
		return Summary{}, err
	}
	proxy.SetRules(rules)
	api := h.URL()

	// 5. Load: create tasks while crashes happen.
	t0 := time.Now()
	dues := make([]time.Time, o.tasks)
	for i := range dues {
		step := time.Duration(0)
		if o.tasks > 1 {
			step = o.spread * time.Duration(i) / time.Duration(o.tasks-1)
		}
		dues[i] = t0.Add(o.lead + step).Truncate(time.Millisecond)
	}
	if err := putLimits(ctx, &http.Client{Timeout: 20 * time.Second}, api); err != nil {
		return Summary{}, err
	}
	logf("limit keys: %v", chaosKeys)
	last := dues[len(dues)-1]
	crashAt := crashTimes(rnd, o.crashes, t0.Add(10*time.Second), last.Add(-10*time.Second))
	var (
		crashes  []outage
		skews    = []int{0}
		chaosErr error
		chaosWG  sync.WaitGroup
	)
	chaosWG.Add(1)
	go func() {
		defer chaosWG.Done()
		for i, at := range crashAt {
			if !faultrun.SleepUntil(ctx, at) {
				return
			}
			skew := []int{2000, -2000}[i%2]
			logf("crash %d: SIGKILL host (next start skewed %+d ms)", i+1, skew)
			killed := time.Now()
			h.Kill()
			if !faultrun.SleepUntil(ctx, time.Now().Add(time.Duration(500+rnd.IntN(2500))*time.Millisecond)) {
				return
			}
			if err := startHost(ctx, h, skew); err != nil {
				chaosErr = err
				return
			}
			crashes = append(crashes, outage{killed: killed, up: time.Now()})
			skews = append(skews, skew)
		}
	}()

	ids := make([]string, o.tasks)
	var createErrs atomic.Int64
	client := &http.Client{Timeout: 20 * time.Second}
	var wg sync.WaitGroup
	var next atomic.Int64
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= o.tasks || ctx.Err() != nil {
					return
				}
				req := map[string]any{
					"due_at":  dues[i].Format(time.RFC3339Nano),
					"target":  map[string]any{"kind": "webhook", "url": hookURL},
					"payload": map[string]any{"n": i, "note": "chaos", "limit_key": keyOf(i)},
					"retry":   map[string]any{"max_attempts": 8, "initial_backoff_ms": 500, "max_backoff_ms": 5000},
				}
				if k := keyOf(i); k != "" {
					req["limit_key"] = k
				}
				body, _ := json.Marshal(req)
				id, err := create(ctx, client, api, body)
				if err != nil {
					createErrs.Add(1)
					logf("create %d: %v", i, err)
					continue
				}
				ids[i] = id
			}
		}()
	}
	wg.Wait()
	logf("created %d tasks in %s (%d errors)", o.tasks-int(createErrs.Load()), time.Since(t0).Round(time.Millisecond), createErrs.Load())
	chaosWG.Wait()
	if chaosErr != nil {
		return Summary{}, chaosErr
	}

	// 6. Wait for every accepted task, bounded by the grace.
	accepted := 0
	for _, id := range ids {
		if id != "" {
			accepted++
		}
	}
	deadline := last.Add(o.grace)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		snap := sk.snapshot()
		missing := 0
		for _, id := range ids {
			if id != "" && len(snap[id]) == 0 {
				missing++
			}
		}
		if missing == 0 && time.Now().After(last) {
			break
		}
		logf("waiting: %d of %d accepted tasks not executed yet", missing, accepted)
		faultrun.SleepUntil(ctx, time.Now().Add(5*time.Second))
	}
	// Settle: late duplicates and outcome writes.
	faultrun.SleepUntil(ctx, time.Now().Add(8*time.Second))
	proxy.SetRules(nil)

	// 7. Check every task's record, fault-free.
	store := ddbstore.New(dynamodb.NewFromConfig(direct), "hourglass-tasks", task.Layout{Bucket: 5 * time.Second}, ddbstore.Options{})
	snap := sk.snapshot()
	sum := Summary{Tasks: o.tasks, Accepted: accepted, CreateErrors: int(createErrs.Load()), Crashes: len(crashes),
		FaultsInjected: proxy.Injected(), FaultsByKind: map[string]int64{}, SkewsMS: skews, Claim: o.claim,
		KeyMaxConcurrency: map[string]int{}, KeyLimitConcurrency: map[string]int{}}
	sk.mu.Lock()
	for _, k := range chaosKeys {
		sum.KeyMaxConcurrency[k.name], sum.KeyLimitConcurrency[k.name] = sk.maxInflight[k.name], k.conc
	}
	sk.mu.Unlock()
	for k, v := range proxy.Counts() {
		sum.FaultsByKind[string(k)] = v
	}
	known := make(map[string]bool, accepted)
	for _, id := range ids {
		known[id] = true
	}
	for id := range snap {
		if !known[id] {
			sum.Orphans++
		}
	}
	var firstArr = make(map[string]time.Time, accepted)
	for i, id := range ids {
		if id == "" {
			continue
		}
		arr := snap[id]
		if len(arr) == 0 {
			sum.Lost++
			logf("lost: task %s due %s", id, dues[i].Format(time.RFC3339Nano))
			continue
		}
		sum.Executed++
		sum.DuplicateDeliveries += len(arr) - 1
		first, keys := arr[0].at, map[string]bool{}
		for _, a := range arr {
			keys[a.key] = true
			if a.at.Before(first) {
				first = a.at
			}
		}
		firstArr[id] = first
		if first.Before(dues[i]) {
			sum.Early++
			logf("early: task %s ran %s before due", id, dues[i].Sub(first))
		}
		sum.MaxLatenessMS = max(sum.MaxLatenessMS, float64(first.Sub(dues[i]).Microseconds())/1000)
		effects := len(keys) > 1
		tid, err := task.ParseID(id)
		if err != nil {
			return sum, err
		}
		t, err := store.Get(ctx, tid)
		if err != nil {
			return sum, fmt.Errorf("read task %s: %w", id, err)
		}
		finals := 0
		for _, a := range t.Attempts {
			if a.Outcome == "succeeded" || a.Outcome == "failed" {
				finals++
			}
		}
		if finals > 1 {
			effects = true
		}
		if t.State != task.Succeeded {
			sum.NotSucceeded++
			logf("task %s ended %s (%s)", id, t.State, t.LastError)
		}
		if effects {
			sum.DuplicateEffects++
			logf("duplicate effect: task %s keys %v, %d final outcomes", id, keys, finals)
		}
	}
	// The latest few, with the crashes' times, so a run's worst case can be
	// traced in the host log.
	logLatest(ids, dues, firstArr, crashes)
	// Recovery: for each crash, how long from the kill until every task
	// due during the outage (and the 2 s before it, whose messages the dead
	// host may have been holding) had run.
	for _, c := range crashes {
		var worst time.Duration
		for i, id := range ids {
			if f, ok := firstArr[id]; ok && !dues[i].Before(c.killed.Add(-2*time.Second)) && !dues[i].After(c.up) {
				worst = max(worst, f.Sub(c.killed))
			}
		}
		sum.RecoveryS = max(sum.RecoveryS, faultrun.Round(worst.Seconds(), 1))
	}
	sum.MaxLatenessMS = faultrun.Round(sum.MaxLatenessMS, 1)
	sum.DurationS = faultrun.Round(time.Since(started).Seconds(), 1)
	return sum, nil
}

// logLatest logs the five tasks that ran latest after their due time.
func logLatest(ids []string, dues []time.Time, first map[string]time.Time, crashes []outage) {
	type late struct {
		id       string
		due, ran time.Time
	}
	var all []late
	for i, id := range ids {
		if f, ok := first[id]; ok {
			all = append(all, late{id, dues[i], f})
		}
	}
	sort.Slice(all, func(a, b int) bool { return all[a].ran.Sub(all[a].due) > all[b].ran.Sub(all[b].due) })
	for _, l := range all[:min(5, len(all))] {
		logf("late: task %s due %s ran %s late", l.id, l.due.UTC().Format("15:04:05.000"), l.ran.Sub(l.due).Round(time.Millisecond))
	}
	for i, c := range crashes {
		logf("crash %d: killed %s, successor up %s", i+1, c.killed.UTC().Format("15:04:05.000"), c.up.UTC().Format("15:04:05.000"))
	}
}

// crashTimes spreads n crash times over [from, to] at random, at least 15 s
// apart so that each restart completes first.
func crashTimes(rnd *rand.Rand, n int, from, to time.Time) []time.Time {
	if n <= 0 {
		return nil
	}
	slot := to.Sub(from) / time.Duration(n)
	out := make([]time.Time, n)
	for i := range out {
		jitter := time.Duration(0)
		if span := slot - 15*time.Second; span > 0 {
			jitter = time.Duration(rnd.Int64N(int64(span)))
		}
		out[i] = from.Add(time.Duration(i)*slot + jitter)
	}
	return out
}

// putLimits sets the workload's limit keys (tenant "chaos").
func putLimits(ctx context.Context, c *http.Client, api string) error {
	for _, k := range chaosKeys {
		body := []byte(fmt.Sprintf(`{"max_concurrency": %d}`, k.conc))
		status, b, err := send(ctx, c, http.MethodPut, api+"/v1/limits/"+k.name, body, time.Now().Add(30*time.Second))
		if err != nil {
			return fmt.Errorf("put limit %s: %w", k.name, err)
		}
		if status != http.StatusOK && status != http.StatusCreated {
			return fmt.Errorf("put limit %s: HTTP %d: %s", k.name, status, b)
		}
	}
	return nil
}

// create posts one task, retrying for up to two minutes. Like the load
// generator it sends no Idempotency-Key: moto copies the whole table on
// every TransactWriteItems (the idempotent create path), which makes keyed
// creates too slow to load 1,000 tasks. A create whose answer a crash
// swallowed therefore leaves an orphan task, counted as such; the keyed
// path is proven by the store and fault tests instead.
func create(ctx context.Context, c *http.Client, api string, body []byte) (string, error) {
	status, b, err := send(ctx, c, http.MethodPost, api+"/v1/tasks", body, time.Now().Add(2*time.Minute))
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated && status != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %s", status, b)
	}
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.ID == "" {
		return "", fmt.Errorf("bad create response %s", b)
	}
	return v.ID, nil
}

// send sends a request as tenant chaos, retrying with backoff while the
// host is down or answers 5xx or 429 (faults are injected from the start)
// until deadline; it returns the first other answer, or the last failure.
func send(ctx context.Context, c *http.Client, method, url string, body []byte, deadline time.Time) (int, []byte, error) {
	var last error
	for attempt := 0; time.Now().Before(deadline) && ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			faultrun.SleepUntil(ctx, time.Now().Add(min(time.Duration(100<<min(attempt, 5))*time.Millisecond, 3*time.Second)))
		}
		req, _ := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer dev-chaos")
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			last = err
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			last = fmt.Errorf("%s: %s", resp.Status, b)
			continue
		}
		return resp.StatusCode, b, nil
	}
	if last == nil {
		last = errors.New("cancelled")
	}
	return 0, nil, last
}

// startHost starts h with its clock skewed by skewMS.
func startHost(ctx context.Context, h *faultrun.Host, skewMS int) error {
	if err := h.Start(ctx, "HOURGLASS_CLOCK_SKEW_MS="+strconv.Itoa(skewMS)); err != nil {
		return err
	}
	logf("host up (pid %d, skew %+d ms)", h.Pid(), skewMS)
	return nil
}
