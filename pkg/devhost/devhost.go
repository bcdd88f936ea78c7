// Package devhost runs every Hourglass function in one process against an
// AWS emulator, for `make dev` and end-to-end tests: it creates the table and
// queues, serves the API on a local address, ticks the scanner, and polls the
// scan and task queues the way Lambda's event source mappings would.
package devhost

import (
	"context"

	"encoding/json"
	"errors"
	"fmt"
	"github.com/aws/aws-sdk-go-v2/aws"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/console"
	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/poll"
	"github.com/hourglass-sched/hourglass/pkg/usage"
	"github.com/hourglass-sched/hourglass/pkg/wire"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

// DevDefaults are the settings `make dev` uses unless the environment says
// otherwise: short buckets and look-ahead, so that few delayed messages sit
// in the emulator's queues (its receive cost grows with queue depth).
var DevDefaults = map[string]string{
	"HOURGLASS_DEV":               "1",
	"HOURGLASS_SHARDS":            "4",
	"HOURGLASS_BUCKET_SECONDS":    "5",
	"HOURGLASS_LOOKAHEAD_SECONDS": "5",
	"HOURGLASS_LEASE_SECONDS":     "20",
	// A bucket (5 s) is swept 5 s after it ends: a task whose sender died
	// between its write and its send runs at most bucket + sweep + a tick
	// (≈ 11 s) late, inside the chaos run's 15 s budget. Live senders are
	// done long before: units go out a look-ahead before their bucket, and
	// a dead poller's are back within its 3 s visibility, before the
	// bucket has even ended. Without claims a call still running 5 s past
	// its bucket is sent again (one more call, same idempotency key): use
	// HOURGLASS_CLAIM=lease, or a longer sweep, for slow targets.
	"HOURGLASS_SWEEP_SECONDS": "5",
	// moto's long poll re-checks for delayed messages only once a second.
	"HOURGLASS_EARLY_DELIVERY_MS": "1000",
	// moto serialises DynamoDB requests (scripts/motoserver.py): under a
	// load run a create's cursor read and write queue behind each other for
	// most of a second, and a create slower than this wait falls back to
	// the rule that can send a task twice (see package api's fast path).
	// AWS answers in milliseconds and keeps the 1 s default; 2 s still
	// leaves 3 s of the 5 s look-ahead for dispatch.
	"HOURGLASS_ANNOUNCE_WAIT_MS": "2000",
	"HOURGLASS_LOG_LEVEL":        "info",
	// Any source may put CreateTask events for any tenant, as any
	// "Bearer dev-<tenant>" token is accepted.
	"HOURGLASS_INGEST_SOURCES": "*=*",
	// GET /v1/tasks works locally: the list index's extra write per task
	// costs nothing here (in AWS it is opt-in, off by default).
	"HOURGLASS_LIST_INDEX": "1",
	// Fair pacing sized to moto's 20-50 executions a second: a tenant's
	// tasks go into the task queue up to 50 for any one second, the rest
	// as the workers make room (up to 60 messages waiting visible; those
	// the worker holds in flight do not count, see dispatch.Fair), so
	// another tenant's task finds little work in front of it. At 20 a
	// steady 20 tasks/s (the bench's volume run) was itself paced: held
	// tasks' continuation passes doubled its SQS requests per task (1.10
	// against 0.49) and made it fall behind (p99 1,663 ms against 86 ms).
	"HOURGLASS_TENANT_DISPATCH_RATE": "50",
	"HOURGLASS_FAIR_QUEUE_DEPTH":     "60",
	// moto's DynamoDB answers one request at a time and saturates at
	// about 8 clients: a load run's 16 concurrent batches of 100 would
	// otherwise queue 128 create writes in front of the workers' reads
	// and outcome writes (creates then hit the 10 s request timeout and
	// execution starves). Past 8 in flight, a batch's further tasks wait
	// up to a second for a writer, then are refused 429 unwritten.
	"HOURGLASS_CREATE_WRITERS": "8",
}

// ConsolePrefix is where the host serves the web console (package console).
const ConsolePrefix = "/console"

// ApplyDevDefaults sets every DevDefaults variable that is not set.
func ApplyDevDefaults() { config.SetDefaults(DevDefaults) }

// MemoryMB is each function's Lambda memory size, as the CDK stack sets it
// (infra/stack.go functionMemoryMB; an infra test checks that they agree):
// the host counts each invocation's GB-seconds with it. The Go binaries
// need far less than 128 MB; the API keeps 256 MB for the CPU share that
// comes with it (a batch body is up to 4 MiB of JSON, and a caller waits).
var MemoryMB = map[string]int{
	"api":        256,
	"ingest":     128,
	"scanner":    128,
	"dispatcher": 128,
	"worker":     128,
}

// Options configures the host.
type Options struct {
	Addr          string        // API listen address (default 127.0.0.1:8080)
	Prefix        string        // resource name prefix (default "hourglass")
	Tick          time.Duration // scanner period (default 1s)
	WorkerPollers int           // concurrent task-queue receive loops (default 1: fewer, fuller receives; batches are handled apart from them, up to 64 at once)
	// PollWait is every poller's long-poll wait (default 20 s, as Lambda's
	// event source mapping). Tests that start and stop many hosts on one
	// emulator use short waits: a stopped host's open long polls keep
	// running in moto until their wait ends.
	PollWait time.Duration
	Clock    clock.Clock // nil: system clock
	// Listener, when set, is used instead of listening on Addr (tests).
	Listener net.Listener
	// AWS, when set, is the SDK configuration to use instead of the
	// environment's (tests pass an isolated emulator account).
	AWS *aws.Config
	// Ready is called once everything is up, with the API's base URL.
	Ready func(baseURL string)
}

// Run starts everything and blocks until ctx is cancelled, then stops
// accepting work, lets in-flight batches finish and returns.
func Run(ctx context.Context, cfg config.Config, opts Options) error {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:8080"
	}
	if opts.Tick <= 0 {
		opts.Tick = time.Second
	}
	if opts.WorkerPollers <= 0 {
		opts.WorkerPollers = 1
	}
	// The local host always runs on an emulator, whose consumed-capacity
	// figures for single-item calls are the documented minimums anyway.
	counters := &usage.Counters{Minimums: true}
	log := cfg.Logger()
	var err error

	// Provision (retrying while the emulator starts).
	var awsCfg aws.Config
	if opts.AWS != nil {
		awsCfg = *opts.AWS
	} else if awsCfg, err = config.AWS(ctx); err != nil {
		return err
	}
	visibility := cfg.Lease + 10*time.Second
	var res provision.Resources
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err = provision.Ensure(ctx, awsCfg, provision.Spec{Prefix: opts.Prefix, TaskVisibility: visibility, Bus: cfg.BusName})
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		log.Warn().Err(err).Msg("emulator not ready; retrying")
		time.Sleep(time.Second)
	}
	if err != nil {
		return fmt.Errorf("provision tables and queues (is the emulator running? scripts/emulator.sh start): %w", err)
	}
	cfg.Table, cfg.ScanQueueURL, cfg.TaskQueueURL, cfg.TaskDLQURL = res.Table, res.ScanQueueURL, res.TaskQueueURL, res.TaskDLQURL
	cfg.BusName, cfg.IngestQueueURL, cfg.IngestDLQURL, cfg.ScanDLQURL = res.BusName, res.IngestQueueURL, res.IngestDLQURL, res.ScanDLQURL

	comps, err := wire.BuildWith(ctx, cfg, awsCfg, opts.Clock, counters)
	if err != nil {
		return err
	}
	var ready atomic.Bool
	clk := opts.Clock
	if clk == nil {
		clk = clock.System{}
	}
	stats := newStatsCollector(clk.Now)
	stats.depth = func(ctx context.Context) (int, error) {
		visible, inflight, delayed, err := comps.Queue.Depth(ctx, res.TaskDLQURL)
		return visible + inflight + delayed, err
	}
	apiMux := stats.countCreates(comps.HTTP(api.DevAuth{}, ready.Load))
	mux := http.NewServeMux()
	// The overview figures of the console (see Stats); deployment-wide,
	// so unauthenticated like /debug/usage: make dev only.
	mux.HandleFunc("GET /v1/stats", stats.serve)
	mux.HandleFunc("GET /debug/usage", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(counters.Snapshot())
	})
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			counters.APIRequest()
			start := time.Now()
			defer func() { counters.Invocation("api", time.Since(start), MemoryMB["api"]) }()
		}
		apiMux.ServeHTTP(w, r)
	}))
	ln := opts.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", opts.Addr); err != nil {
			return fmt.Errorf("listen on %s (set HOURGLASS_ADDR to change it): %w", opts.Addr, err)
		}
	}
	// A header block beyond MaxHeaderBytes (Go's default, 1 MiB) is answered
	// by net/http itself, before any handler: 431 in text/plain (see
	// docs/api.md). Every other answer is a problem document.
	base := "http://" + ln.Addr().String()
	// The web console at /console, with a sign-in form taking a dev token;
	// it calls this host's API over HTTP like any client. It is served
	// beside CleanPaths (which answers "/console/" with 404).
	consoleTransport := http.DefaultTransport.(*http.Transport).Clone()
	consoleHandler, err := console.New(console.Options{API: base, SignIn: true, Prefix: ConsolePrefix,
		HTTPClient: &http.Client{Transport: consoleTransport, Timeout: 30 * time.Second}})
	if err != nil {
		return err
	}
	apiHandler := api.CleanPaths(mux)
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == ConsolePrefix || strings.HasPrefix(r.URL.Path, ConsolePrefix+"/") {
			consoleHandler.ServeHTTP(w, r)
			return
		}
		apiHandler.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: root, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: http.DefaultMaxHeaderBytes}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("API server stopped")
			stop()
		}
	}()

	scanner := comps.Scanner()
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(opts.Tick)
		defer t.Stop()
		for {
			start := time.Now()
			if _, err := scanner.Tick(runCtx); err != nil && runCtx.Err() == nil {
				log.Warn().Err(err).Msg("scanner tick failed; next tick retries")
			}
			counters.Invocation("scanner", time.Since(start), MemoryMB["scanner"])
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
			}
		}
	}()
	ingestHandler, err := comps.Ingest()
	if err != nil {
		return err
	}
	// Each poller receives with the short visibility cfg.PollVisibility and
	// heartbeats what it holds (see package poll): a SIGKILLed host's
	// messages are back within seconds.
	taskPoller := &poll.Poller{Name: "worker", Queue: comps.Queue, URL: res.TaskQueueURL, Concurrency: opts.WorkerPollers, Wait: opts.PollWait,
		Visibility: cfg.PollVisibility, MaxBatch: worker.BatchMax, Window: worker.BatchWindow, LeadPerMessage: worker.ReadLeadPerTask,
		ReceivedAttr: worker.ReceivedAtAttribute, VisibleUntilAttr: worker.VisibleUntilAttribute, MaxInFlight: 64,
		Usage: counters, MemoryMB: MemoryMB["worker"], Log: log}
	// Delayed redeliveries go through the poller, which stops their heartbeat.
	// The worker's metrics feed GET /v1/stats (and still go to EMF when
	// a Lambda or ECS environment turned that on).
	// The worker's batch reads tell the poller how early to hand over.
	taskWorker := comps.Worker(func(c *worker.Config) {
		c.Visibility = taskPoller
		c.Metrics = teeMetrics{stats, c.Metrics}
	})
	taskPoller.Handler, taskPoller.Deadline = taskWorker.HandleSQS, taskWorker.HandOverBy
	// Scan units get half the visibility (at least 3 s): a unit is one
	// query and a few sends, well under a second, and the units a killed
	// host's still-open long polls take are its successor's first fan-out,
	// whose tasks fall due within the look-ahead (5 s), so they must come
	// back sooner than a task message.
	scanVisibility := max(cfg.PollVisibility/2, 3*time.Second)
	// A failed unit's redelivery is delayed through its poller, which
	// stops extending it first (as the worker's are).
	// Units two to a receive and up to eight handled at once: besides the
	// scanner's units, a tenant held back by fair pacing (dispatch.Fair)
	// has a continuation unit a second per shard, and ten units received
	// together and handled one after another would keep other partitions'
	// first passes waiting (in AWS each batch is its own invocation).
	scanPoller := &poll.Poller{Name: "dispatcher", Queue: comps.Queue, URL: res.ScanQueueURL, Concurrency: 2, Batch: 2, MaxInFlight: 8, Wait: opts.PollWait,
		Visibility: scanVisibility, Usage: counters, MemoryMB: MemoryMB["dispatcher"], Log: log}
	scanPoller.Handler = comps.Dispatcher(func(c *dispatch.Config) { c.Visibility, c.ScanQueue = scanPoller, res.ScanQueueURL }).HandleSQS
	pollers := []*poll.Poller{
		scanPoller,
		taskPoller,
		{Name: "ingest", Queue: comps.Queue, URL: res.IngestQueueURL, Handler: ingestHandler.HandleSQS, Concurrency: 1, Wait: opts.PollWait,
			Visibility: cfg.PollVisibility, Usage: counters, MemoryMB: MemoryMB["ingest"], Log: log},
	}
	for _, p := range pollers {
		wg.Add(1)
		go func(p *poll.Poller) { defer wg.Done(); p.Run(runCtx) }(p)
	}

	ready.Store(true)
	log.Info().Str("api", base).Str("console", base+ConsolePrefix).Str("table", res.Table).Str("task_queue", res.TaskQueueURL).Msg("hourglass is running (Ctrl-C stops it)")
	if opts.Ready != nil {
		opts.Ready(base)
	}
	<-runCtx.Done()
	ready.Store(false)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	wg.Wait()
	if err := comps.Events.Flush(context.Background()); err != nil {
		log.Warn().Err(err).Msg("lifecycle events lost at shutdown")
	}
	comps.CloseIdle()
	consoleTransport.CloseIdleConnections()
	log.Info().Msg("stopped")
	return nil
}
