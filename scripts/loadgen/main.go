// Command loadgen measures Hourglass end to end: it starts a webhook sink on
// 127.0.0.1, creates N tasks due evenly across a window through the API,
// waits for them to arrive, and prints one JSON summary as its last stdout
// line (progress goes to stderr):
//
//	go run ./scripts/loadgen -api http://127.0.0.1:8080 -tasks 1000 -spread 60s -json
//
// Tasks are created 100 to a request (POST /v1/tasks:batch) unless -batch
// says otherwise; -batch 1 measures single creates (POST /v1/tasks each).
// The summary's create_batch says which was used.
//
// Failed creates are counted by what their last attempt got
// (create_errors_by_cause: "429", "503", "timeout", …) and named on stderr.
// Its bursts of -concurrency × -batch tasks outrun the tenant's create rate
// (HOURGLASS_TENANT_CREATE_RATE, 500 a second): a request refused 429 is
// sent again after its Retry-After, up to -refused-retries more times
// beyond the client's own 3, so that the tasks asked for are created.
//
// Every duplicate delivery is classified by the delivery facts Hourglass's
// webhook sends (see loadtest.Classify): duplicates_by_cause.
//
// A task that has not arrived when the run stops waiting is read back
// through the API: "pending" if it can still run, "lost" only if its state
// says it never will (or it is gone). executed_per_s and fell_behind_at_s
// say how fast the stack executed and when lateness first passed 1 s.
//
// Lateness is arrival at the sink minus due time. AWS usage per task comes
// from the local host's /debug/usage counters (SDK middleware on every
// client), priced by pkg/testkit/cost. It only ever targets loopback addresses. The
// engine lives in pkg/testkit/loadtest, shared with the benchmark driver.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/testkit/loadtest"
)

func main() {
	var (
		apiURL      = flag.String("api", "http://127.0.0.1:8080", "Hourglass API base URL (loopback only)")
		n           = flag.Int("tasks", 1000, "number of tasks")
		spread      = flag.Duration("spread", 60*time.Second, "window the due times are spread over")
		lead        = flag.Duration("lead", 10*time.Second, "delay before the first due time")
		tenant      = flag.String("tenant", "loadgen", "tenant (dev token)")
		tenants     = flag.Int("tenants", 1, "spread the create requests over this many tenants in turn, named <tenant>-0, <tenant>-1, … (1: -tenant alone), so that no per-tenant quota or pacing binds")
		concurrency = flag.Int("concurrency", 16, "concurrent create requests")
		batch       = flag.Int("batch", loadtest.DefaultBatch, "tasks per create request, 1 to 100: POST /v1/tasks:batch; -batch 1 measures single creates (POST /v1/tasks per task)")
		grace       = flag.Duration("grace", 30*time.Second, "how long to wait after the last due time")
		sinkAddr    = flag.String("sink", "127.0.0.1:0", "webhook sink listen address (loopback)")
		verify      = flag.Bool("verify", true, "check every delivery's Standard Webhooks signature with the tenant's secret (GET /v1/signing-secret); failures count as bad_signatures")
		jsonOut     = flag.Bool("json", false, "print only the JSON summary on stdout")
		visibility  = flag.Duration("visibility", 0, "the task queue's visibility timeout, to classify redeliveries whose worker reported no visibility deadline (0: unknown)")
		refused     = flag.Int("refused-retries", 10, "how many more times a create refused 429 (the tenant's create rate) after the client's 3 retries is sent again, after its Retry-After; 0 counts it a create error at once")
	)
	flag.Parse()
	if *tenants < 1 {
		fmt.Fprintf(os.Stderr, "loadgen: -tenants %d: must be 1 or more\n", *tenants)
		os.Exit(2)
	}
	if *batch < 1 || *batch > loadtest.MaxBatch {
		fmt.Fprintf(os.Stderr, "loadgen: -batch %d: must be 1 to %d\n", *batch, loadtest.MaxBatch)
		os.Exit(2)
	}
	res, err := loadtest.Run(context.Background(), loadtest.Options{
		API: *apiURL, Tasks: *n, Spread: *spread, Lead: *lead, Tenant: *tenant, Tenants: *tenants, Concurrency: *concurrency, Batch: *batch,
		Grace: *grace, SinkAddr: *sinkAddr, VerifySignatures: *verify, Verbose: !*jsonOut, Progress: true, Visibility: *visibility,
		RefusedRetries: *refused,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	sum := res.Summary
	for why, n := range res.OtherDuplicates {
		// Duplicates counted "other": say what the deliveries reported.
		fmt.Fprintf(os.Stderr, "loadgen: %d duplicate(s) of cause other: %s\n", n, why)
	}
	if sum.CreateErrors > 0 {
		// Say what the failed creates got: a 429 is a quota (the tenant's
		// create rate) refusing after every retry, a 5xx is a bug.
		fmt.Fprintf(os.Stderr, "loadgen: %d create(s) failed: %s\n", sum.CreateErrors, loadtest.DescribeCauses(sum.CreateErrorsByCause))
		for cause, e := range res.CreateErrorExamples {
			fmt.Fprintf(os.Stderr, "loadgen: the first %s: %s\n", cause, e)
		}
	}
	if sum.Pending > 0 {
		fmt.Fprintf(os.Stderr, "loadgen: %d task(s) had not run when the run stopped waiting and can still run (pending, not lost); raise -grace to wait longer\n", sum.Pending)
	}
	out, _ := json.Marshal(sum)
	fmt.Println(string(out))
	if sum.Lost > 0 || sum.Early > 0 {
		os.Exit(3)
	}
}
