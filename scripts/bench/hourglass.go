package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/devhost"
	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/loadtest"
	"github.com/hourglass-sched/hourglass/pkg/usage"
	"github.com/hourglass-sched/hourglass/pkg/wire"
)

// host is the local host (pkg/devhost) running in this process.
type host struct {
	base string
	stop context.CancelFunc
	done chan error
}

func startHost(ctx context.Context, cfg config.Config, awsCfg aws.Config, prefix string) (*host, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hctx, cancel := context.WithCancel(ctx)
	h := &host{stop: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		h.done <- devhost.Run(hctx, cfg, devhost.Options{Prefix: prefix, Listener: ln, AWS: &awsCfg, Ready: func(b string) { ready <- b }})
	}()
	select {
	case h.base = <-ready:
		return h, nil
	case err := <-h.done:
		cancel()
		return nil, fmt.Errorf("local host: %w", err)
	case <-time.After(90 * time.Second):
		cancel()
		return nil, fmt.Errorf("local host not ready after 90s")
	}
}

func (h *host) close() {
	h.stop()
	select {
	case err := <-h.done:
		if err != nil {
			logf("local host stopped: %v", err)
		}
	case <-time.After(30 * time.Second):
		logf("local host did not stop within 30s")
	}
}

// Throughput is scenario 2: a burst of tasks all due at one instant.
type Throughput struct {
	Tasks        int     `json:"tasks"`
	CreatePerS   float64 `json:"create_per_s"`
	ExecutePerS  float64 `json:"execute_per_s"`    // executed ÷ (last arrival − due)
	EndToEndPerS float64 `json:"end_to_end_per_s"` // executed ÷ (create time + execute time): the lead in between is idle waiting
	// BurstStages splits the burst's lateness into its stages (see Stages).
	BurstStages Stages `json:"burst_stages"`
	// BurstCPU is the CPU each process spent from the due instant to the
	// last arrival: which one is the bottleneck.
	BurstCPU CPUShare         `json:"burst_cpu"`
	Summary  loadtest.Summary `json:"summary"`
	// SustainedPerS is the highest steady rate (tasks due evenly, a
	// second apart at that rate) at which p99 lateness stayed ≤ 1 s with
	// nothing lost, pending or early and execution keeping up (0: none
	// of the ladder's steps); SustainedP99 is that step's p99. Ladder is
	// every step run, in order (see sustained).
	SustainedPerS float64 `json:"sustained_per_s"`
	SustainedP99  float64 `json:"sustained_p99_ms"`
	// SustainedIsLowerBound is set when the ladder ran out of steps while
	// still holding: the stack sustains at least SustainedPerS.
	SustainedIsLowerBound bool          `json:"sustained_is_lower_bound"`
	LadderStartS          float64       `json:"ladder_start_per_s"`
	Ladder                []SustainStep `json:"ladder"`
}

func throughput(ctx context.Context, base string, n int, lead time.Duration, batch int, cpu *cpuSampler) (Throughput, error) {
	// The burst is spread over tenants so that none has more tasks due in
	// its second than the per-tenant dispatch rate: whether the burst's
	// bucket is announced when its creates land (the fast path, not
	// paced) or not (the dispatcher, which paces each tenant to
	// HOURGLASS_TENANT_DISPATCH_RATE a second, 50 locally) depends on the
	// bucket phase at the run's start. On one tenant, a run that fell on
	// the dispatcher measured the fairness rule, not the stack: 300 tasks
	// executed at 42/s against 95/s (2026-12-04).
	tenants := burstTenants(n, tenantDispatchRate())
	batch = min(batch, (n+tenants-1)/tenants)
	res, err := loadtest.Run(ctx, loadtest.Options{API: base, Tasks: n, Lead: lead, Spread: 0, Grace: 60 * time.Second,
		Concurrency: 16, VerifySignatures: true, Tenant: "bench-tp", Tenants: tenants, Progress: true, Batch: batch})
	if err != nil {
		return Throughput{}, err
	}
	logDuplicates("throughput", res)
	tp := Throughput{Tasks: n, CreatePerS: loadtest.Round(res.Summary.CreatePerS, 1), Summary: res.Summary}
	if len(res.Samples) > 0 {
		due, last := res.Samples[0].Due, res.Samples[0].Arrived
		for _, s := range res.Samples {
			if s.Arrived.After(last) {
				last = s.Arrived
			}
		}
		tp.ExecutePerS = loadtest.Round(float64(len(res.Samples))/math.Max(last.Sub(due).Seconds(), 0.001), 1)
		busy := res.CreateEnd.Sub(res.CreateStart) + last.Sub(due)
		tp.EndToEndPerS = loadtest.Round(float64(len(res.Samples))/math.Max(busy.Seconds(), 0.001), 1)
		if cpu != nil {
			tp.BurstCPU = cpu.between(due, last)
		}
	}
	tp.BurstStages = stagesOf(res.Samples)
	return tp, nil
}

// Spike is scenario 4: steady creates, then ten times the rate for a
// moment, then steady again; every task due a fixed lead after its create.
type Spike struct {
	SteadyPerS  float64 `json:"steady_per_s"`
	BurstPerS   float64 `json:"burst_per_s"`
	BurstS      float64 `json:"burst_s"`
	LeadS       float64 `json:"lead_s"`
	Refused429  int64   `json:"refused_429"` // create requests (a batch counts once)
	MaxBacklog  int     `json:"max_backlog"` // most tasks past due and not yet executed at once
	BaselineP99 float64 `json:"baseline_p99_ms"`
	BurstP99    float64 `json:"burst_p99_ms"`
	RecoveryS   float64 `json:"recovery_s"` // from the burst's end until per-second p99 is back under max(1 s, 2 × baseline)
	// BurstStages splits the burst's tasks' lateness into the stages
	// between create and execution, to name the one a burst waits on.
	BurstStages Stages           `json:"burst_stages"`
	Summary     loadtest.Summary `json:"summary"`
	Timeline    []SpikeBin       `json:"timeline"`
}

// Stages are p50/p99 (ms) of each stage of a set of executed tasks:
// CreateLead is due − create answered (how early the task was stored:
// small or negative means the create path is the wait); ReceivedLate is
// first receive by a worker − due (the queue: a delayed message became
// visible late, or the workers were busy); Execute is arrival at the
// target − receive (the worker: its hold until due, claim, call). Origins
// counts the tasks by the origin of the message that executed them.
type Stages struct {
	CreateLead   loadtest.Latency `json:"create_lead_ms"`
	ReceivedLate loadtest.Latency `json:"received_late_ms"`
	Execute      loadtest.Latency `json:"execute_ms"`
	Origins      map[string]int   `json:"origins"`
}

// stagesOf computes the Stages of samples.
func stagesOf(samples []loadtest.Sample) Stages {
	var lead, recv, exec []float64
	st := Stages{Origins: map[string]int{}}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for _, s := range samples {
		st.Origins[s.Origin]++
		if !s.Created.IsZero() {
			lead = append(lead, ms(s.Due.Sub(s.Created)))
		}
		if !s.Received.IsZero() {
			recv = append(recv, ms(s.Received.Sub(s.Due)))
			exec = append(exec, ms(s.Arrived.Sub(s.Received)))
		}
	}
	st.CreateLead, st.ReceivedLate, st.Execute = loadtest.Percentiles(lead), loadtest.Percentiles(recv), loadtest.Percentiles(exec)
	return st
}

// SpikeBin is one second of due times.
type SpikeBin struct {
	T     float64 `json:"t_s"` // seconds after the first due
	Tasks int     `json:"tasks"`
	P99   float64 `json:"p99_ms"`
}

func spike(ctx context.Context, base string, steady float64, pre, burst, post, lead time.Duration, batch int) (Spike, []loadtest.Sample, error) {
	sp := Spike{SteadyPerS: steady, BurstPerS: 10 * steady, BurstS: burst.Seconds(), LeadS: lead.Seconds()}
	var at []time.Duration
	for t := time.Duration(0); t < pre; t += time.Duration(float64(time.Second) / steady) {
		at = append(at, t)
	}
	for t := pre; t < pre+burst; t += time.Duration(float64(time.Second) / (10 * steady)) {
		at = append(at, t)
	}
	for t := pre + burst; t < pre+burst+post; t += time.Duration(float64(time.Second) / steady) {
		at = append(at, t)
	}
	res, err := loadtest.Run(ctx, loadtest.Options{API: base, Tasks: len(at), Grace: 60 * time.Second, Concurrency: 64,
		VerifySignatures: true, Tenant: "bench-spike", Progress: true, Batch: batch,
		SendAt: func(i int) time.Duration { return at[i] },
		Due:    func(i int) time.Duration { return at[i] + lead }})
	if err != nil {
		return sp, nil, err
	}
	sp.Refused429, sp.Summary = res.Refused, res.Summary
	logDuplicates("spike", res)
	if len(res.Samples) == 0 {
		return sp, nil, nil
	}
	first := res.CreateStart.Add(lead)
	bins := map[int][]float64{}
	var pts []event
	var burstSamples []loadtest.Sample
	burstStart, burstEnd := int(pre/time.Second), int((pre+burst)/time.Second)
	for _, s := range res.Samples {
		k := int(s.Due.Sub(first) / time.Second)
		bins[k] = append(bins[k], s.LatenessMs())
		if k >= burstStart && k < burstEnd {
			burstSamples = append(burstSamples, s)
		}
		pts = append(pts, event{s.Due, +1}, event{s.Arrived, -1})
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].t.Before(pts[j].t) })
	cur := 0
	for _, p := range pts {
		cur += p.d
		sp.MaxBacklog = max(sp.MaxBacklog, cur)
	}
	keys := make([]int, 0, len(bins))
	for k := range bins {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	sp.BurstStages = stagesOf(burstSamples)
	var baseline, during []float64
	for _, k := range keys {
		l := loadtest.Percentiles(append([]float64(nil), bins[k]...))
		sp.Timeline = append(sp.Timeline, SpikeBin{T: float64(k), Tasks: len(bins[k]), P99: l.P99})
		switch {
		case k < burstStart:
			baseline = append(baseline, bins[k]...)
		case k < burstEnd:
			during = append(during, bins[k]...)
		}
	}
	sp.BaselineP99 = loadtest.Percentiles(baseline).P99
	sp.BurstP99 = loadtest.Percentiles(during).P99
	limit := math.Max(1000, 2*sp.BaselineP99)
	// Recovery: the first second after the burst from which every later
	// second stays under the limit.
	rec := -1
	for i := len(sp.Timeline) - 1; i >= 0; i-- {
		b := sp.Timeline[i]
		if b.T < float64(burstEnd) {
			break
		}
		if b.P99 > limit {
			break
		}
		rec = i
	}
	switch {
	case rec < 0:
		sp.RecoveryS = -1 // never recovered within the run
	default:
		sp.RecoveryS = math.Max(0, sp.Timeline[rec].T-float64(burstEnd))
	}
	return sp, res.Samples, nil
}

type event struct {
	t time.Time
	d int
}

// ShardPoint is scenario 3 at one shard count.
type ShardPoint struct {
	Shards int `json:"shards"`
	Tasks  int `json:"tasks"`
	// EmulatorPerS: every unit of one bucket dispatched at once (one
	// goroutine a unit, as Lambda would) against the emulator.
	EmulatorPerS float64 `json:"emulator_tasks_per_s"`
	// InProcessPerS: the same dispatch against an in-memory store and a
	// queue that accepts everything, on this process's cores: the
	// dispatcher's own cost.
	InProcessPerS      float64 `json:"in_process_tasks_per_s"`
	InProcessNsPerTask float64 `json:"in_process_ns_per_task"`
	SendCalls          int64   `json:"sendmessagebatch_calls"`
	QueryCalls         int64   `json:"query_calls"`
}

func shardScaling(ctx context.Context, base config.Config, awsCfg aws.Config, prefix string, shardCounts []int, n int) ([]ShardPoint, error) {
	var out []ShardPoint
	for _, s := range shardCounts {
		cfg := base
		cfg.Shards = s
		cfg.Bucket = 60 * time.Second
		res, err := provision.Ensure(ctx, awsCfg, provision.Spec{Prefix: fmt.Sprintf("%s-s%d", prefix, s), TaskVisibility: 30 * time.Second})
		if err != nil {
			return out, err
		}
		cfg.Table, cfg.ScanQueueURL, cfg.TaskQueueURL, cfg.TaskDLQURL = res.Table, res.ScanQueueURL, res.TaskQueueURL, res.TaskDLQURL
		counters := &usage.Counters{Minimums: true} // as the local host's
		comps, err := wire.BuildWith(ctx, cfg, awsCfg, nil, counters)
		if err != nil {
			return out, err
		}
		// One bucket ten minutes ahead, so nothing else would touch it.
		due := time.Now().Add(10 * time.Minute).Truncate(time.Minute)
		tasks, err := seed(ctx, comps, due, s, n)
		if err != nil {
			return out, err
		}
		d := comps.Dispatcher()
		before := counters.Snapshot()
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, s)
		for sh := 0; sh < s; sh++ {
			wg.Add(1)
			go func(sh int) {
				defer wg.Done()
				if _, err := d.Dispatch(ctx, task.ScanUnit{Bucket: cfg.Layout().BucketOf(due), Shard: uint16(sh)}); err != nil {
					errs <- err
				}
			}(sh)
		}
		wg.Wait()
		el := time.Since(start)
		close(errs)
		if err := <-errs; err != nil {
			return out, fmt.Errorf("dispatch at %d shards: %w", s, err)
		}
		used := counters.Snapshot().Sub(before)
		p := ShardPoint{Shards: s, Tasks: n, EmulatorPerS: loadtest.Round(float64(n)/el.Seconds(), 1),
			SendCalls: used.Calls["SQS.SendMessageBatch"], QueryCalls: used.Calls["DynamoDB.Query"]}
		ns := inProcessDispatch(tasks, s)
		p.InProcessNsPerTask = loadtest.Round(ns, 1)
		p.InProcessPerS = loadtest.Round(1e9/ns, 0)
		out = append(out, p)
	}
	return out, nil
}

// seed writes n tasks due within the minute after due, spread over shards.
func seed(ctx context.Context, comps *wire.Components, due time.Time, shards, n int) (map[uint16][]*task.Task, error) {
	tgt := task.Target{Kind: "webhook", Spec: json.RawMessage(`{"kind":"webhook","url":"http://127.0.0.1:9/hook"}`)}
	payload := json.RawMessage(`{"note":"shard-scaling"}`)
	byShard := map[uint16][]*task.Task{}
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := 0; i < n; i++ {
		at := due.Add(time.Duration(i) * time.Minute / time.Duration(n))
		id, err := task.NewID(at, shards)
		if err != nil {
			return nil, err
		}
		t := &task.Task{ID: id, Tenant: "bench-shards", DueAt: id.Due(), Target: tgt, Payload: payload, State: task.Scheduled,
			PayloadHash: task.PayloadHash(tgt, payload), Retry: task.Retry{MaxAttempts: 1}, CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, _, err := comps.Store.Create(ctx, t, "", "")
			if errors.Is(err, task.ErrConflict) {
				// The SDK retried a put the emulator had applied: the item exists.
				err = nil
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			byShard[t.ID.Shard] = append(byShard[t.ID.Shard], t)
		}()
	}
	wg.Wait()
	return byShard, firstErr
}

// memStore serves one bucket's partitions from memory.
type memStore struct{ byShard map[uint16][]*task.Task }

func (m memStore) QueryScheduled(_ context.Context, _ int64, shard uint16, after string, limit int32) ([]*task.Task, string, error) {
	ts := m.byShard[shard]
	start := 0
	if after != "" {
		_, _ = fmt.Sscan(after, &start)
	}
	end := min(start+int(limit), len(ts))
	next := ""
	if end < len(ts) {
		next = fmt.Sprint(end)
	}
	return ts[start:end], next, nil
}

type nopSender struct{}

func (nopSender) SendBatch(context.Context, string, []task.OutMessage) error { return nil }

// inProcessDispatch returns the dispatcher's own cost in ns per task:
// every unit of the bucket dispatched concurrently, no AWS.
func inProcessDispatch(byShard map[uint16][]*task.Task, shards int) float64 {
	n := 0
	for _, ts := range byShard {
		n += len(ts)
	}
	d := dispatch.New(dispatch.Config{TaskQueue: "q"}, memStore{byShard}, nopSender{}, wallClock{}, zerolog.Nop())
	r := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			var wg sync.WaitGroup
			for sh := 0; sh < shards; sh++ {
				wg.Add(1)
				go func(sh int) {
					defer wg.Done()
					_, _ = d.Dispatch(context.Background(), task.ScanUnit{Shard: uint16(sh)})
				}(sh)
			}
			wg.Wait()
		}
	})
	return float64(r.NsPerOp()) / float64(max(n, 1))
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// burstTenants is how many tenants n tasks due at once need so that none
// has more than rate of them (rate ≤ 0: no pacing, one tenant).
func burstTenants(n, rate int) int {
	if rate <= 0 || n <= rate {
		return 1
	}
	return (n + rate - 1) / rate
}

// tenantDispatchRate is the local host's per-tenant dispatch rate
// (HOURGLASS_TENANT_DISPATCH_RATE, set by devhost.ApplyDevDefaults
// unless the environment set it; 0: not paced).
func tenantDispatchRate() int {
	r, err := strconv.Atoi(os.Getenv("HOURGLASS_TENANT_DISPATCH_RATE"))
	if err != nil {
		return 0
	}
	return r
}
