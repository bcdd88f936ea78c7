// Command bench is Hourglass's benchmark driver (make bench, make
// bench-quick). In one run it starts its own emulators (moto through
// scripts/emulator.sh: SQS on -port, DynamoDB on -ddb-port, two processes
// so both cores serve), runs the local host in-process (pkg/devhost), and
// measures, with the load generator's engine (pkg/testkit/loadtest):
//
//  1. precision: N tasks due evenly over a window; lateness p50/p99/max;
//  2. throughput: N tasks due at one instant, beside the emulator's raw
//     PutItem and SendMessageBatch rates and the raw pipeline measured in
//     the same run; then steady rates, a ladder of short steps, for the
//     highest rate sustained with p99 lateness ≤ 1 s (sustained_per_s);
//     -profile writes pprof profiles of the burst;
//  3. shard scaling: one bucket's dispatch at 1, 4 and 16 shards, against
//     the emulator and in-process (the dispatcher's own cost);
//  4. a 10× spike: steady creates, a burst at ten times the rate, recovery;
//  5. cost at volume: a steady workload at a rate the local stack holds
//     (quick: 20 tasks/s), run on its own; its AWS calls and capacity units
//     per task, priced by pkg/testkit/cost, are raw.cost and the budgets' figures
//     (the precision run's, at a low rate where the local host's fixed
//     overheads dominate, are kept as raw.cost_low_rate);
//
// and the precision workload on asynq over a redis-server it starts on
// loopback (installing Debian's package when missing). It writes
// results.json, results.md and PNG charts to -out and prints one JSON
// object as its last stdout line; progress goes to stderr. Everything it
// starts, it stops.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/devhost"
	"github.com/hourglass-sched/hourglass/pkg/testkit/capacity"
	"github.com/hourglass-sched/hourglass/pkg/testkit/cost"
	"github.com/hourglass-sched/hourglass/pkg/testkit/loadtest"
	"github.com/hourglass-sched/hourglass/pkg/usage"
)

const signingKey = "hourglass-bench-signing-key"

// sizes are one run's workload sizes.
type sizes struct {
	Tasks       int           `json:"tasks"`
	Window      time.Duration `json:"-"`
	WindowS     float64       `json:"window_s"`
	Throughput  int           `json:"throughput_tasks"`
	ShardTasks  int           `json:"shard_tasks"`
	SpikeSteady float64       `json:"spike_steady_per_s"`
	SpikePre    time.Duration `json:"-"`
	SpikeBurst  time.Duration `json:"-"`
	SpikePost   time.Duration `json:"-"`
	RawFor      time.Duration `json:"-"`
	// Scenario 5 (cost at volume): VolumeTasks due evenly over VolumeWindow,
	// at a rate the local stack holds on 2 cores: it executes ~30 tasks/s
	// at most on moto (2,400 over 60 s fell behind: 33/s achieved, p99
	// 18 s), 20/s ran with p99 0.26 s and 25/s with p99 0.42 s.
	VolumeTasks   int           `json:"volume_tasks"`
	VolumeWindow  time.Duration `json:"-"`
	VolumeWindowS float64       `json:"volume_window_s"`
	// noisy_neighbour: NoisyTasks of tenant A due at one instant, QuietTasks
	// of tenant B due evenly over QuietSpread around it.
	NoisyTasks  int           `json:"noisy_tasks"`
	QuietTasks  int           `json:"quiet_tasks"`
	QuietSpread time.Duration `json:"-"`
	// key_limit: KeyLimitTasks due at one instant on one limited key.
	KeyLimitTasks int `json:"key_limit_tasks"`
	// SustainWindow is each step of the throughput scenario's ladder of
	// steady rates (see sustained).
	SustainWindow  time.Duration `json:"-"`
	SustainWindowS float64       `json:"sustain_window_s"`
}

var (
	quickSizes = sizes{Tasks: 500, Window: 45 * time.Second, Throughput: 300, ShardTasks: 320, SpikeSteady: 8,
		SpikePre: 8 * time.Second, SpikeBurst: 2 * time.Second, SpikePost: 10 * time.Second, RawFor: 4 * time.Second,
		VolumeTasks: 1200, VolumeWindow: 60 * time.Second, NoisyTasks: 1000, QuietTasks: 100, QuietSpread: 20 * time.Second, KeyLimitTasks: 500,
		SustainWindow: 10 * time.Second}
	// smokeSizes only checks that the driver works end to end.
	smokeSizes = sizes{Tasks: 40, Window: 5 * time.Second, Throughput: 40, ShardTasks: 48, SpikeSteady: 4,
		SpikePre: 3 * time.Second, SpikeBurst: time.Second, SpikePost: 3 * time.Second, RawFor: time.Second,
		VolumeTasks: 150, VolumeWindow: 6 * time.Second, NoisyTasks: 60, QuietTasks: 10, QuietSpread: 4 * time.Second, KeyLimitTasks: 40,
		SustainWindow: 3 * time.Second}
	fullSizes = sizes{Tasks: 1000, Window: 60 * time.Second, Throughput: 1000, ShardTasks: 1600, SpikeSteady: 10,
		SpikePre: 15 * time.Second, SpikeBurst: 3 * time.Second, SpikePost: 20 * time.Second, RawFor: 10 * time.Second,
		VolumeTasks: 3000, VolumeWindow: 120 * time.Second, NoisyTasks: 3000, QuietTasks: 100, QuietSpread: 30 * time.Second, KeyLimitTasks: 500,
		SustainWindow: 15 * time.Second}
)

// Output is the JSON the driver prints.
type Output struct {
	Hourglass loadtest.Summary   `json:"hourglass"`
	Asynq     loadtest.Summary   `json:"asynq"`
	Raw       RawOut             `json:"raw"`
	Ratios    map[string]float64 `json:"ratios"`
	// RatioNotes says what the less obvious ratios divide.
	RatioNotes map[string]string `json:"ratio_notes"`
}

// RawOut is everything beyond the two summaries.
type RawOut struct {
	Date       string     `json:"date"`
	Machine    string     `json:"machine"`
	Mode       string     `json:"mode"`
	Sizes      sizes      `json:"sizes"`
	Emulator   Raw        `json:"emulator"`
	Throughput Throughput `json:"throughput"`
	// Create is the create scenario: the create path's steady rate, step
	// by step beside the raw PutItem (feeds create_over_raw_putitem).
	Create *CreateLadder `json:"create,omitempty"`
	// Pipeline is the raw pipeline: the throughput scenario's tasks through
	// the calls a task costs, without Hourglass (measured when the
	// throughput scenario runs).
	Pipeline     *Pipeline        `json:"pipeline,omitempty"`
	Shards       []ShardPoint     `json:"shards"`
	ShardsNote   string           `json:"shards_note"`
	Spike        Spike            `json:"spike"`
	Volume       Volume           `json:"volume"` // scenario 5: Cost and PerTaskCalls are priced from it
	Noisy        *Noisy           `json:"noisy_neighbour,omitempty"`
	KeyLimit     *KeyLimit        `json:"key_limit,omitempty"`
	Cost         Cost             `json:"cost"`          // the volume run's
	CostLowRate  Cost             `json:"cost_low_rate"` // the precision run's
	PerTaskCalls capacity.PerTask `json:"per_task_calls"`
	AsynqSetup   string           `json:"asynq_setup"`
	// AsynqTuned is the same workload on asynq with its scheduled-task
	// check every second instead of its default five.
	AsynqTuned *loadtest.Summary  `json:"asynq_check_1s,omitempty"`
	GoBench    map[string]GoBench `json:"gobench,omitempty"`
	Budgets    []Budget           `json:"budgets"`
	Errors     []string           `json:"errors,omitempty"`
}

// Cost is one run's AWS usage, per task: scenario 5's (raw.cost) or the
// precision run's (raw.cost_low_rate).
type Cost struct {
	// Run names the run it was measured on ("volume" or "precision"), at
	// TasksPerS tasks a second (tasks ÷ window), created CreateBatch to a
	// request; Note is the volume run's "fell behind" note, if any.
	Run               string             `json:"run"`
	Tasks             int                `json:"tasks"`
	TasksPerS         float64            `json:"tasks_per_s"`
	CreateBatch       int                `json:"create_batch"`
	Note              string             `json:"note,omitempty"`
	Calls             map[string]float64 `json:"calls_per_task"`
	WRU               float64            `json:"ddb_wru"`
	RRU               float64            `json:"ddb_rru"`
	SQSRequests       float64            `json:"sqs_requests"`
	SQSIdleReceives   float64            `json:"sqs_idle_receives"` // long polls that found nothing (counted)
	SQSBusy           float64            `json:"sqs_requests_busy"` // SQSRequests − idle receives
	Invocations       map[string]float64 `json:"lambda_invocations"`
	GBSeconds         float64            `json:"lambda_gb_seconds"`
	GBSecondsBy       map[string]float64 `json:"lambda_gb_seconds_by"` // GBSeconds by function
	USDPerMillion     cost.Breakdown     `json:"usd_per_million"`
	USDPerMillionBusy float64            `json:"usd_per_million_without_idle_polls"`
	Prices            string             `json:"prices"`
}

// Budget is one of the budgets and what this run measured.
type Budget struct {
	Name  string  `json:"name"`
	Limit float64 `json:"limit"`
	Value float64 `json:"value"`
	Met   bool    `json:"met"`
}

func main() {
	var (
		quick    = flag.Bool("quick", false, "small sizes: finishes in a few minutes")
		smoke    = flag.Bool("smoke", false, "tiny sizes: only checks that the driver works")
		out      = flag.String("out", "results/latest", "directory for results.json, results.md and charts")
		port     = flag.String("port", "4590", "moto port for SQS (and DynamoDB when -ddb-port is empty)")
		ddbPort  = flag.String("ddb-port", "4591", "moto port for DynamoDB (empty: one emulator for both)")
		gobench  = flag.String("gobench", "", "go test -bench output to fold into the JSON")
		noAsynq  = flag.Bool("no-asynq", false, "skip the asynq side")
		asynqChk = flag.Duration("asynq-check", 0, "asynq DelayedTaskCheckInterval (0: asynq's default, 5s)")
		batch    = flag.Int("batch", loadtest.DefaultBatch, "Hourglass tasks per create request, 1 to 100 (POST /v1/tasks:batch; 1: single creates)")
		profile  = flag.String("profile", "", "directory for pprof CPU, block and mutex profiles of this process (the local host runs in it) during the throughput burst")
		only     = flag.String("scenarios", "", "comma-separated scenarios to run (create, precision, volume, throughput, spike, noisy_neighbour, key_limit, shards, asynq; empty: all); the raw emulator rates always run")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	mode := "full"
	switch {
	case *smoke:
		mode = "smoke"
	case *quick:
		mode = "quick"
	}
	if *batch < 1 || *batch > loadtest.MaxBatch {
		fmt.Fprintf(os.Stderr, "bench: -batch %d: must be 1 to %d\n", *batch, loadtest.MaxBatch)
		os.Exit(2)
	}
	want, err := scenarioSet(*only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if !want["asynq"] {
		*noAsynq = true
	}
	o, err := run(ctx, mode, *out, *port, *ddbPort, *gobench, !*noAsynq, *asynqChk, *batch, want, *profile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	b, _ := json.Marshal(o)
	fmt.Println(string(b))
}

// logDuplicates logs a run's duplicates by cause, and what the deliveries
// of those counted "other" reported, so that their cause can be named.
func logDuplicates(run string, res loadtest.Result) {
	b, _ := json.Marshal(res.Summary.DuplicatesByCause)
	logf("%s: %d duplicates, by cause %s", run, res.Summary.Duplicates, b)
	for why, n := range res.OtherDuplicates {
		logf("%s: %d duplicate(s) of cause other: %s", run, n, why)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %s: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}

// The key_limit scenario's limits (issue 17): 5 concurrent, 20 a second.
const (
	keyLimitConcurrency = 5
	keyLimitPerS        = 20
)

// scenarios are the names -scenarios takes.
var scenarios = []string{"create", "precision", "volume", "throughput", "spike", "noisy_neighbour", "key_limit", "shards", "asynq"}

// scenarioSet parses -scenarios: empty selects every scenario.
func scenarioSet(list string) (map[string]bool, error) {
	want := map[string]bool{}
	if strings.TrimSpace(list) == "" {
		for _, s := range scenarios {
			want[s] = true
		}
		return want, nil
	}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(scenarios, name) {
			return nil, fmt.Errorf("-scenarios: unknown scenario %q (want some of %s)", name, strings.Join(scenarios, ", "))
		}
		want[name] = true
	}
	return want, nil
}

func run(ctx context.Context, mode string, outDir, port, ddbPort, gobenchFile string, withAsynq bool, asynqCheck time.Duration, batch int, want map[string]bool, profileDir string) (Output, error) {
	sz := map[string]sizes{"full": fullSizes, "quick": quickSizes, "smoke": smokeSizes}[mode]
	sz.WindowS = sz.Window.Seconds()
	sz.VolumeWindowS = sz.VolumeWindow.Seconds()
	sz.SustainWindowS = sz.SustainWindow.Seconds()
	o := Output{Ratios: map[string]float64{}, Raw: RawOut{Date: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Mode: mode, Sizes: sz}}
	root, err := repoRoot()
	if err != nil {
		return o, err
	}
	if !filepath.IsAbs(outDir) {
		outDir = filepath.Join(root, outDir)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil { //nolint:gosec // results are meant to be read and committed
		return o, err
	}
	fail := func(what string, err error) {
		logf("%s: %v", what, err)
		o.Raw.Errors = append(o.Raw.Errors, what+": "+err.Error())
	}

	// Emulators: this run's own, on its own ports.
	ports := []string{port}
	if ddbPort != "" && ddbPort != port {
		ports = append(ports, ddbPort)
	}
	logf("starting moto on %s", strings.Join(ports, ", "))
	emu, err := startEmulators(root, ports...)
	if err != nil {
		return o, err
	}
	defer emu.stop()
	_ = os.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:"+port)
	if len(ports) == 2 {
		_ = os.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:"+ddbPort)
	} else {
		_ = os.Unsetenv("AWS_ENDPOINT_URL_DYNAMODB")
	}
	_ = os.Unsetenv("AWS_PROFILE")
	_ = os.Setenv("AWS_ACCESS_KEY_ID", "test")
	_ = os.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	awsCfg, err := config.AWS(ctx)
	if err != nil {
		return o, err
	}
	// Every AWS call of the run (the host's included) goes through flight,
	// which watches the DynamoDB endpoint for the create scenario.
	flight := newInFlight("127.0.0.1:" + ports[len(ports)-1])
	awsCfg.HTTPClient = flight
	prefix := fmt.Sprintf("bench%d", time.Now().Unix())

	// Raw emulator rates, before anything else loads it.
	logf("raw emulator rates (%s each)", sz.RawFor)
	if o.Raw.Emulator, err = measureRaw(ctx, awsCfg, prefix, 8, sz.RawFor); err != nil {
		fail("raw", err)
	}
	o.Raw.Emulator.TwoEmulatorProcesses = len(ports) == 2
	logf("raw: PutItem %.0f/s, SendMessageBatch %.0f msgs/s", o.Raw.Emulator.PutItemPerS, o.Raw.Emulator.SendBatchMsgsPerS)
	rr := o.Raw.Emulator.ReceiveRace
	logf("raw: receive race: %d messages, %d receivers: %d receives of %d IDs, %d duplicate receives within visibility",
		rr.Messages, rr.Receivers, rr.Receives, rr.Distinct, rr.DuplicateReceives)

	// The local host, with make dev's settings.
	devhost.ApplyDevDefaults()
	_ = os.Setenv("HOURGLASS_LOG_LEVEL", "error")
	_ = os.Setenv("HOURGLASS_SIGNING_KEY", signingKey)
	cfg, err := config.Load()
	if err != nil {
		return o, err
	}
	if want["throughput"] {
		logf("raw pipeline: %d tasks over %d partitions, every call a task costs, without Hourglass", sz.Throughput, cfg.Shards)
		pl, err := measurePipeline(ctx, awsCfg, prefix, sz.Throughput, cfg.Shards)
		if err != nil {
			fail("raw pipeline", err)
		}
		o.Raw.Pipeline = &pl
		logf("raw pipeline: %.1f tasks/s (create %.2f s, dispatch and execute %.2f s)", pl.TasksPerS, pl.CreateS, pl.ExecuteS)
	}
	h, err := startHost(ctx, cfg, awsCfg, prefix)
	if err != nil {
		return o, err
	}
	logf("local host on %s (shards %d, bucket %s, look-ahead %s)", h.base, cfg.Shards, cfg.Bucket, cfg.Lookahead)

	// 1: precision, with its usage for the low-rate cost.
	var precSamples []loadtest.Sample
	if want["precision"] {
		logf("scenario 1 (precision): %d tasks over %s, created %d to a request", sz.Tasks, sz.Window, batch)
		prec, err := loadtest.Run(ctx, loadtest.Options{API: h.base, Tasks: sz.Tasks, Spread: sz.Window, Lead: 10 * time.Second,
			Grace: 30 * time.Second, VerifySignatures: true, Tenant: "bench", Progress: true, Batch: batch})
		if err != nil {
			fail("precision", err)
		} else {
			o.Hourglass, precSamples = prec.Summary, prec.Samples
			logDuplicates("precision", prec)
			o.Raw.CostLowRate, _ = costOf(prec.Usage, prec.Summary.Created)
			describe(&o.Raw.CostLowRate, "precision", prec.Summary)
			logf("scenario 1: p99 %.0f ms; at %.1f tasks/s: %.2f WRU, %.2f SQS requests, $%.2f per million tasks",
				prec.Summary.Lateness.P99, o.Raw.CostLowRate.TasksPerS, o.Raw.CostLowRate.WRU, o.Raw.CostLowRate.SQSRequests, o.Raw.CostLowRate.USDPerMillion.Total)
		}
	}

	// 5: cost at volume, on its own, while the host is up. Each batch is
	// created as far ahead of its first task as the precision run's first.
	var volSamples []loadtest.Sample
	if want["volume"] {
		volLead := 10 * time.Second
		logf("scenario 5 (cost at volume): %d tasks over %s (%.0f/s), created %d to a request, each batch %s before its first task is due",
			sz.VolumeTasks, sz.VolumeWindow, float64(sz.VolumeTasks)/sz.VolumeWindow.Seconds(), batch, volLead)
		vol, volRes, err := volume(ctx, h.base, sz.VolumeTasks, sz.VolumeWindow, volLead, batch)
		o.Raw.Volume = vol
		if err != nil {
			fail("volume", err)
		} else {
			volSamples = volRes.Samples
			o.Raw.Cost, o.Raw.PerTaskCalls = costOf(volRes.Usage, vol.Summary.Created)
			describe(&o.Raw.Cost, "volume", vol.Summary)
			o.Raw.Cost.Note = vol.Note
			logf("scenario 5: executed %d/%d at %.1f/s, p99 %.0f ms; %.2f WRU, %.2f SQS requests, $%.2f per million tasks",
				vol.Summary.Executed, vol.Summary.Created, vol.ExecutedPerS, vol.Summary.Lateness.P99, o.Raw.Cost.WRU, o.Raw.Cost.SQSRequests, o.Raw.Cost.USDPerMillion.Total)
			if vol.FellBehind {
				logf("scenario 5: %s", vol.Note)
			}
		}
	}

	// 2: throughput. Lead: time to create them all at the rate just seen, plus margin.
	lead := 5 * time.Second
	if o.Hourglass.CreatePerS > 0 {
		lead += time.Duration(float64(sz.Throughput) / o.Hourglass.CreatePerS * 1.5 * float64(time.Second))
	}
	if want["throughput"] {
		logf("scenario 2 (throughput): %d tasks due at once, %s ahead", sz.Throughput, lead.Round(time.Second))
		ddbPID := 0
		if len(ports) == 2 {
			ddbPID = motoPID(root, ddbPort)
		}
		cpu := startCPU(motoPID(root, port), ddbPID)
		prof, err := startProfile(profileDir, "throughput-burst")
		if err != nil {
			fail("profile", err)
		}
		if o.Raw.Throughput, err = throughput(ctx, h.base, sz.Throughput, lead, batch, cpu); err != nil {
			fail("throughput", err)
		}
		prof.stop()
		bc := o.Raw.Throughput.BurstCPU
		logf("scenario 2: burst of %d: execute %.1f/s, p99 %.0f ms; CPU over %.2f s from due to last arrival: bench process %.2f s, moto SQS %.2f s, moto DynamoDB %.2f s",
			sz.Throughput, o.Raw.Throughput.ExecutePerS, o.Raw.Throughput.Summary.Lateness.P99, bc.WallS, bc.BenchProcessS, bc.MotoSQSS, bc.MotoDynamoDBS)
		// Then steady rates, from a share of the raw pipeline's rate.
		start := 20.0
		if pl := o.Raw.Pipeline; pl != nil && pl.TasksPerS > 0 {
			start = sustainStart * pl.TasksPerS
		}
		tp := &o.Raw.Throughput
		tp.LadderStartS = math.Round(start)
		tp.SustainedPerS, tp.SustainedP99, tp.Ladder = sustained(ctx, h.base, start, sz.SustainWindow, batch, cpu)
		tp.SustainedIsLowerBound = len(tp.Ladder) > 0 && tp.Ladder[len(tp.Ladder)-1].Sustained
		cpu.stop()
		logf("scenario 2: sustained %.0f tasks/s with p99 %.0f ms (ladder of %d steps from %.0f/s)", tp.SustainedPerS, tp.SustainedP99, len(tp.Ladder), tp.LadderStartS)
	}

	// 4: spike.
	var spikeSamples []loadtest.Sample
	if want["spike"] {
		logf("scenario 4 (spike): %.0f/s, 10× for %s", sz.SpikeSteady, sz.SpikeBurst)
		if o.Raw.Spike, spikeSamples, err = spike(ctx, h.base, sz.SpikeSteady, sz.SpikePre, sz.SpikeBurst, sz.SpikePost, 3*time.Second, batch); err != nil {
			fail("spike", err)
		}
	}

	// noisy_neighbour (issue 17): one tenant's burst beside another's trickle.
	if want["noisy_neighbour"] {
		logf("noisy_neighbour: tenant A %d tasks due at once, tenant B %d over %s around it (and B alone first)", sz.NoisyTasks, sz.QuietTasks, sz.QuietSpread)
		if nn, err := noisyNeighbour(ctx, h.base, sz.NoisyTasks, sz.QuietTasks, sz.QuietSpread, batch); err != nil {
			fail("noisy_neighbour", err)
		} else {
			o.Raw.Noisy = &nn
			logf("noisy_neighbour: B p99 %.0f ms (alone %.0f ms), max %.0f ms; A p99 %.0f ms, drained in %.1f s; lost %d, pending %d",
				nn.QuietP99, nn.QuietAloneP99, nn.QuietMax, nn.NoisyP99, nn.NoisyExecutedS, nn.Lost, nn.Pending)
		}
	}
	// key_limit (issue 17): a burst on a key limited in concurrency and rate.
	if want["key_limit"] {
		logf("key_limit: %d tasks due at once on a key limited to %d concurrent and %d/s", sz.KeyLimitTasks, keyLimitConcurrency, keyLimitPerS)
		if kl, err := keyLimit(ctx, h.base, sz.KeyLimitTasks, keyLimitConcurrency, keyLimitPerS, batch); err != nil {
			fail("key_limit", err)
		} else {
			o.Raw.KeyLimit = &kl
			logf("key_limit: max %d in flight (limit %d), max %d in any second (limit %d); executed %d, lost %d, pending %d, drained in %.1f s",
				kl.MaxConcurrency, kl.LimitConcurrency, kl.MaxRatePerS, kl.LimitPerS, kl.Executed, kl.Lost, kl.Pending, kl.DrainS)
		}
	}
	h.close()

	// The create path's steady rate, on a local host of its own with a
	// fresh table, the tasks of each step deleted after it: moto's Query
	// reads every item of the table whatever the key (moto/dynamodb/
	// models/table.py), so with the earlier scenarios' tasks in the table,
	// or each step's left behind, the host's idle scanner and dispatcher
	// Queries took ever more of the emulator's CPU away from the writes
	// measured (the raw step ran at 287/s beside the main host against
	// measureRaw's 477/s alone; and a run with this scenario first, at
	// 19:12Z, left precision's p99 at 243 ms against 51).
	if want["create"] {
		// Rounds of half the raw phase each, interleaved finely enough
		// that the machine's other load falls on every step alike, and
		// enough of them that a step's mean is steadier than one phase.
		logf("create: the create path step by step, %d rounds of %s each, %d writers, batches of %d", createRounds, sz.RawFor/2, 8, loadtest.MaxBatch)
		cl, err := func() (CreateLadder, error) {
			cp := prefix + "-cr"
			ch, err := startHost(ctx, cfg, awsCfg, cp)
			if err != nil {
				return CreateLadder{}, err
			}
			defer ch.close()
			return createLadder(ctx, cfg, awsCfg, flight, cp, ch.base, 8, loadtest.MaxBatch, sz.RawFor/2, createRounds, motoPID(root, ports[len(ports)-1]))
		}()
		if err != nil {
			fail("create", err)
		} else {
			o.Raw.Create = &cl
			logf("create: raw PutItem %.0f/s, ddbstore Create %.0f/s, app CreateBatch %.0f/s, POST /v1/tasks:batch %.0f/s (%d errors)",
				cl.RawPutItemPerS, cl.StoreCreatePerS, cl.ServiceBatchPerS, cl.HTTPBatchPerS, cl.Errors)
		}
	}

	// 3: shard scaling, with the host stopped so it has the emulator alone.
	if want["shards"] {
		logf("scenario 3 (shard scaling): %d tasks at 1, 4, 16 shards", sz.ShardTasks)
		if o.Raw.Shards, err = shardScaling(ctx, cfg, awsCfg, prefix, []int{1, 4, 16}, sz.ShardTasks); err != nil {
			fail("shards", err)
		}
	}
	o.Raw.ShardsNote = "emulator_tasks_per_s is bounded by moto (SendMessageBatch and Query are serialised in one Python process per service); in_process_tasks_per_s is the dispatcher alone on this machine's cores"

	// asynq, same workload as precision.
	var asynqSamples, asynqTunedSamples []loadtest.Sample
	o.Raw.AsynqSetup = "asynq " + asynqVersion + " on Debian's redis-server (loopback, no persistence); each task enqueued with ProcessAt(due) and MaxRetry(5); its handler POSTs the same body and task-ID header to the same kind of sink as Hourglass's webhook (arrival = execution); server concurrency 8 (its lateness comes from the scheduled-task check below, not from handler concurrency; the local host handles up to 64 worker batches at once)"
	if asynqCheck > 0 {
		o.Raw.AsynqSetup += fmt.Sprintf("; DelayedTaskCheckInterval %s", asynqCheck)
	} else {
		o.Raw.AsynqSetup += "; DelayedTaskCheckInterval asynq's default (5 s) in \"asynq\", 1 s in raw.asynq_check_1s. asynq keeps ProcessAt as whole Unix seconds, so a task may run up to 1 s before its due time (counted as early)"
	}
	if withAsynq {
		logf("asynq: %d tasks over %s", sz.Tasks, sz.Window)
		if r, err := startRedis(ctx); err != nil {
			fail("asynq", err)
		} else {
			opts := loadtest.Options{Tasks: sz.Tasks, Spread: sz.Window, Lead: 10 * time.Second, Grace: 30 * time.Second, Tenant: "bench", Progress: true}
			res, err := runAsynq(ctx, r.addr, opts, 8, asynqCheck)
			if err != nil {
				fail("asynq", err)
			} else {
				o.Asynq, asynqSamples = res.Summary, res.Samples
			}
			if asynqCheck == 0 {
				logf("asynq, checking scheduled tasks every 1s: %d tasks over %s", sz.Tasks, sz.Window)
				if res, err := runAsynq(ctx, r.addr, opts, 8, time.Second); err != nil {
					fail("asynq (1s check)", err)
				} else {
					o.Raw.AsynqTuned, asynqTunedSamples = &res.Summary, res.Samples
				}
			}
			r.stop()
		}
	}

	if gobenchFile != "" {
		if o.Raw.GoBench, err = parseGoBench(gobenchFile); err != nil {
			fail("gobench", err)
		}
	}
	ratios(&o)
	o.Raw.Budgets = budgets(o)
	if err := writeResults(outDir, o, precSamples, asynqSamples, asynqTunedSamples, spikeSamples, volSamples); err != nil {
		fail("results", err)
	}
	return o, nil
}

func costOf(u usage.Snapshot, n int) (Cost, capacity.PerTask) {
	if n <= 0 || len(u.Calls) == 0 {
		// No tasks, or no usage counted (no /debug/usage): no cost, rather
		// than a cost of zero that would meet every budget.
		return Cost{}, capacity.PerTask{}
	}
	f := float64(n)
	c := Cost{Calls: map[string]float64{}, Invocations: map[string]float64{}, WRU: round3(u.DynamoDBWRU / f), RRU: round3(u.DynamoDBRRU / f),
		SQSRequests: round3(float64(u.SQSRequests) / f), GBSeconds: round6(u.LambdaGBSeconds / f), Prices: cost.List.Region + " " + cost.List.AsOf + "; " + cost.List.Source}
	for k, v := range u.Calls {
		c.Calls[k] = round3(float64(v) / f)
	}
	for k, v := range u.LambdaInvocations {
		c.Invocations[k] = round3(float64(v) / f)
	}
	c.GBSecondsBy = make(map[string]float64, len(u.LambdaGBSecondsBy))
	for k, v := range u.LambdaGBSecondsBy {
		c.GBSecondsBy[k] = round6(v / f)
	}
	idle := u.Calls["SQS.ReceiveMessage.empty"] // counted by the usage middleware
	c.SQSIdleReceives = round3(float64(idle) / f)
	c.SQSBusy = round3(float64(u.SQSRequests-idle) / f)
	c.USDPerMillion = cost.List.PerMillion(u, n)
	busy := u
	busy.SQSRequests -= idle
	c.USDPerMillionBusy = round3(cost.List.PerMillion(busy, n).Total)
	// For the capacity model: the api function's invocations are implied by
	// API requests there; the scanner ticks once a second locally but once a
	// minute in AWS, so it is left out (its share is negligible at scale).
	inv := float64(u.LambdaInvocations["worker"]+u.LambdaInvocations["dispatcher"]) / f
	return c, capacity.PerTask{Writes: c.WRU, Reads: c.RRU, SQSRequests: c.SQSBusy, Invocations: round3(inv), APIRequests: round3(float64(u.APIRequests) / f),
		Events: round3(float64(u.EventBridgeEvents) / f)}
}

// describe records which run c was measured on. A cost without usage
// (costOf's zero value) stays empty.
func describe(c *Cost, run string, s loadtest.Summary) {
	if c.Prices == "" {
		return
	}
	c.Run, c.Tasks, c.CreateBatch = run, s.Created, s.CreateBatch
	if s.WindowS > 0 {
		c.TasksPerS = round3(float64(s.Tasks) / s.WindowS)
	}
}

func ratios(o *Output) {
	r := o.Ratios
	if o.RatioNotes == nil {
		o.RatioNotes = map[string]string{}
	}
	o.RatioNotes["create_over_raw_putitem"] = "raw.create.http_batch_per_s ÷ raw.create.raw_putitem_per_s: the create scenario's POST /v1/tasks:batch of 100 (two requests at a time, 8 PutItems in flight across both: the host's shared create writers, HOURGLASS_CREATE_WRITERS=8) over measureRaw's own PutItem call from 8 clients, side by side: steps alternated over 8 rounds, each step a steady timed phase on a local host of its own with a fresh table emptied between steps (tasks due 10 min ahead, so none is dispatched meanwhile); absent when the create scenario did not run"
	o.RatioNotes["create_over_raw_putitem_vs_measure_raw"] = "raw.create.http_batch_per_s ÷ raw.emulator.putitem_per_s: the same create rate over measureRaw's single phase at the bench's start, minutes earlier (on this shared machine a single phase's rate varies by ±20 % from run to run)"
	o.RatioNotes["throughput_create_over_raw_putitem"] = "raw.throughput.create_per_s (300 tasks due at once, 3 requests of 100 at concurrency 16, start-up included, while the dispatcher sends those tasks) ÷ raw.emulator.putitem_per_s: the create_over_raw_putitem of bench runs before issue 18"
	set := func(k string, num, den float64) {
		if den > 0 && num > 0 {
			r[k] = round3(num / den)
		}
	}
	h, a := o.Hourglass, o.Asynq
	if a.Executed > 0 && h.Executed > 0 {
		set("hourglass_p50_over_asynq_p50", h.Lateness.P50, a.Lateness.P50)
		set("hourglass_p99_over_asynq_p99", h.Lateness.P99, a.Lateness.P99)
		set("hourglass_max_over_asynq_max", h.Lateness.Max, a.Lateness.Max)
		set("hourglass_create_over_asynq_create", h.CreatePerS, a.CreatePerS)
	}
	e := o.Raw.Emulator
	tp := o.Raw.Throughput
	// Creates over the raw PutItem (issue 18): the create scenario's steady
	// POST /v1/tasks:batch rate over the raw PutItem measured side by side
	// with it (raw.create: the same client concurrency, steps alternated
	// over rounds, a fresh table emptied between steps, nothing dispatching
	// the tasks). Over measureRaw's single phase at the bench's start it is
	// kept too. The throughput scenario's create_per_s (300 tasks in 3
	// requests, start-up included, while the dispatcher sends those very
	// tasks) keeps its own ratio beside them.
	if c := o.Raw.Create; c != nil {
		set("create_over_raw_putitem", c.HTTPBatchPerS, c.RawPutItemPerS)
		set("create_over_raw_putitem_vs_measure_raw", c.HTTPBatchPerS, e.PutItemPerS)
		set("store_create_over_raw_putitem_same_phase", c.StoreCreatePerS, c.RawPutItemPerS)
	}
	set("throughput_create_over_raw_putitem", tp.CreatePerS, e.PutItemPerS)
	set("execute_over_raw_sendbatch", tp.ExecutePerS, e.SendBatchMsgsPerS)
	// A task needs one PutItem-like write at create and one queued message:
	// the slower of the two raw rates bounds the pipeline.
	set("end_to_end_over_raw_min", tp.EndToEndPerS, math.Min(e.PutItemPerS, e.SendBatchMsgsPerS))
	// The limit a task's whole path can reach: the emulator making every
	// call a task costs, with no Hourglass code in between (issue 18).
	if pl := o.Raw.Pipeline; pl != nil {
		set("end_to_end_over_raw_pipeline", tp.EndToEndPerS, pl.TasksPerS)
	}
	if len(o.Raw.Shards) > 0 {
		first, last := o.Raw.Shards[0], o.Raw.Shards[len(o.Raw.Shards)-1]
		set(fmt.Sprintf("dispatch_emulator_%d_over_%d_shards", last.Shards, first.Shards), last.EmulatorPerS, first.EmulatorPerS)
		set(fmt.Sprintf("dispatch_in_process_%d_over_%d_shards", last.Shards, first.Shards), last.InProcessPerS, first.InProcessPerS)
		set("dispatch_in_process_over_emulator_1_shard", first.InProcessPerS, first.EmulatorPerS)
		set("dispatch_emulator_1_shard_over_raw_sendbatch", first.EmulatorPerS, e.SendBatchMsgsPerS)
	}
	set("spike_burst_p99_over_baseline_p99", o.Raw.Spike.BurstP99, o.Raw.Spike.BaselineP99)
	// Scenario 5's $ per million tasks over the precision run's: what the
	// rate does to the per-task cost.
	set("usd_per_million_volume_over_low_rate", o.Raw.Cost.USDPerMillion.Total, o.Raw.CostLowRate.USDPerMillion.Total)
}

func budgets(o Output) []Budget {
	var b []Budget
	add := func(name string, limit, v float64) {
		b = append(b, Budget{Name: name, Limit: limit, Value: round3(v), Met: v <= limit})
	}
	if o.Asynq.Executed > 0 && o.Hourglass.Executed > 0 {
		add("hourglass p99 lateness ≤ asynq's, same run (ratio)", 1, o.Hourglass.Lateness.P99/o.Asynq.Lateness.P99)
	}
	if o.Hourglass.Executed > 0 {
		add("precision p99 lateness ≤ 1000 ms", 1000, o.Hourglass.Lateness.P99)
	}
	if tp := o.Raw.Throughput; len(tp.Ladder) > 0 {
		// The target: p99 ≤ 1 s at the highest rate sustained. A
		// ladder where no step held meets nothing.
		add(fmt.Sprintf("throughput: p99 lateness ≤ %d ms at sustained_per_s %g tasks/s", behindP99Ms, tp.SustainedPerS), behindP99Ms, tp.SustainedP99)
		b[len(b)-1].Met = tp.SustainedPerS > 0 && tp.SustainedP99 <= behindP99Ms
	}
	// The cost budgets use the volume run (raw.cost); its lateness is a
	// budget line too, and when it fell behind every cost line says so.
	if nn := o.Raw.Noisy; nn != nil {
		add(fmt.Sprintf("noisy_neighbour: quiet tenant's p99 ≤ %.0f ms beside %d noisy tasks due at once", nn.BudgetQuietP99, nn.NoisyTasks), nn.BudgetQuietP99, nn.QuietP99)
		b[len(b)-1].Met = nn.QuietBudgetMet
		add("noisy_neighbour: tasks lost", 0, float64(nn.Lost))
	}
	if kl := o.Raw.KeyLimit; kl != nil {
		add(fmt.Sprintf("key_limit: calls in flight ≤ max_concurrency %d (%d tasks due at once)", kl.LimitConcurrency, kl.Tasks), float64(kl.LimitConcurrency), float64(kl.MaxConcurrency))
		add(fmt.Sprintf("key_limit: calls in any 1 s ≤ per_second %d", kl.LimitPerS), float64(kl.LimitPerS), float64(kl.MaxRatePerS))
		add("key_limit: tasks lost or not run", 0, float64(kl.Lost+kl.Pending+max(0, kl.Tasks-kl.Executed-kl.Lost-kl.Pending)))
	}
	v, c := o.Raw.Volume, o.Raw.Cost
	if v.Summary.Executed > 0 {
		add(fmt.Sprintf("cost run p99 lateness ≤ %d ms (volume run: %d tasks at %g/s)", behindP99Ms, v.Tasks, v.TargetPerS), behindP99Ms, v.Summary.Lateness.P99)
	}
	if c.Prices != "" {
		// A run that fell behind meets no cost budget: its figures are
		// not those of a stack keeping up with the rate.
		run := fmt.Sprintf("%s run: %d tasks at %g/s, batches of %d", c.Run, c.Tasks, c.TasksPerS, c.CreateBatch)
		behind := c.Run == "volume" && v.FellBehind
		if behind {
			run += "; cost run fell behind"
		}
		addCost := func(name, detail string, limit, val float64) {
			add(name+" ("+detail+run+")", limit, val)
			if behind {
				b[len(b)-1].Met = false
			}
		}
		addCost("DynamoDB WRU per task ≤ 3", "", 3, c.WRU)
		addCost("SQS requests per task ≤ 0.5", "all, idle long polls included; ", 0.5, c.SQSRequests)
		addCost("SQS requests per task ≤ 0.5", "idle long polls excluded; ", 0.5, c.SQSBusy)
		addCost("$ per million tasks ≤ 2.0", "all, as measured locally; ", 2.0, c.USDPerMillion.Total)
		addCost("$ per million tasks ≤ 2.0", "idle long polls excluded; ", 2.0, c.USDPerMillionBusy)
		addCost("$ per million tasks ≤ 2.0", "idle polls and API Gateway excluded; ", 2.0, c.USDPerMillionBusy-c.USDPerMillion.APIGateway)
	}
	return b
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if _, v, ok := strings.Cut(l, ":"); ok {
					cpu = strings.TrimSpace(v)
				}
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
		}
	}
	return fmt.Sprintf("%s, %d cores%s, %s/%s, %s (shared with other work)", cpu, runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
