// Package config reads Hourglass's settings from the environment (the CDK
// stack sets the same variables on every function) and builds the AWS SDK
// configuration every client shares, with the usage-counting middleware.
package config

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"
	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/lifecycle"
	"github.com/hourglass-sched/hourglass/pkg/sdkhttp"
	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Config is every setting a function may read. Each field names its
// environment variable; Load applies the defaults shown.
type Config struct {
	Table        string        // HOURGLASS_TABLE (hourglass-tasks)
	ScanQueueURL string        // HOURGLASS_SCAN_QUEUE_URL
	TaskQueueURL string        // HOURGLASS_TASK_QUEUE_URL
	TaskDLQURL   string        // HOURGLASS_TASK_DLQ_URL
	Shards       int           // HOURGLASS_SHARDS (16)
	Bucket       time.Duration // HOURGLASS_BUCKET_SECONDS (60)
	Lookahead    time.Duration // HOURGLASS_LOOKAHEAD_SECONDS (180)
	Lease        time.Duration // HOURGLASS_LEASE_SECONDS (60); see worker.Config.Lease
	LogLevel     string        // HOURGLASS_LOG_LEVEL (info)
	// SweepDelay: each bucket is swept once more this long after it ends,
	// sending any task still SCHEDULED (HOURGLASS_SWEEP_SECONDS, 30).
	// The sweep is the way back for a task whose sender died between its
	// write and its send (the API's fast path), and the quicker one for a
	// task whose dispatcher or Lambda worker died (their messages wait out
	// the queue's visibility, 6 × the function's timeout), so it bounds
	// their lateness: bucket + SweepDelay + a scanner tick. Shorter is not
	// free: without claims a task is SCHEDULED until its outcome is
	// recorded, so the sweep also re-sends a task whose target call is
	// still running (a duplicate call, same idempotency key). In AWS the
	// scanner ticks once a minute and buckets are 60 s, so 30 s is about a
	// fifth of the worst case (60 + 30 + 60 s) while leaving calls up to
	// 30 s past their bucket alone. The local host, with 5 s buckets, a
	// 1 s tick and seconds-long calls, uses 5 s (devhost.DevDefaults).
	SweepDelay time.Duration
	// PollVisibility is the visibility long-polling consumers (the ECS
	// worker, the local host) ask for in each receive, extending what they
	// hold by a heartbeat (HOURGLASS_POLL_VISIBILITY_SECONDS, 5; see
	// package poll). It bounds how long a dead poller's messages stay
	// hidden. Lambda's event source mappings use the queues' own timeouts.
	PollVisibility time.Duration
	// EarlyDelivery makes task messages visible this much before due
	// (HOURGLASS_EARLY_DELIVERY_MS, default 0); the worker holds them until
	// due. An emulator whose long poll only notices delayed messages once a
	// second needs ~1000 ms; AWS does not.
	EarlyDelivery time.Duration
	// AnnounceWait is how long the scanner waits after announcing buckets
	// (raising the cursor's "dispatching") before it sends their units,
	// and so the window within which a create whose cursor read found its
	// bucket unannounced may rely on the dispatcher to send it
	// (HOURGLASS_ANNOUNCE_WAIT_MS, default 1000; see package api's fast
	// path). It must be under half the look-ahead.
	AnnounceWait time.Duration
	// Dev turns on development mode: "Authorization: Bearer dev-<tenant>"
	// tokens and the local webhook allow-list. HOURGLASS_DEV=1. Never in AWS.
	Dev bool
	// SigningKey is the deployment's master key (HOURGLASS_SIGNING_KEY):
	// it authenticates the API's list page tokens. In AWS the stack passes
	// a Secrets Manager ARN instead (HOURGLASS_SIGNING_SECRET_ARN).
	// Webhook signing secrets are not derived from it: each tenant's is
	// random and stored (package signing).
	SigningKey       string
	SigningSecretARN string
	// SigningKMSKey is the KMS key (ID, ARN or alias) that seals the
	// tenants' webhook signing secrets in the table
	// (HOURGLASS_SIGNING_KMS_KEY). Empty stores them unsealed, for
	// development and the emulator; the stack always sets it, and a
	// process outside dev mode without it logs a warning.
	SigningKMSKey string
	// SigningGrace is how long a rotated webhook signing secret keeps
	// signing deliveries beside the new one (HOURGLASS_SIGNING_GRACE, a Go
	// duration from 1m to 720h, default 24h).
	SigningGrace time.Duration
	// WebhookAllow lists prefixes webhooks may reach despite the SSRF guard
	// (HOURGLASS_WEBHOOK_ALLOW, comma-separated CIDRs). Dev mode adds
	// 127.0.0.0/8 and ::1.
	WebhookAllow []netip.Prefix
	Limits       task.Limits
	// BusName is the Hourglass event bus: lifecycle events go there and
	// its CreateTask rule feeds the ingest queue (HOURGLASS_BUS_NAME,
	// hourglass). Empty turns lifecycle events off.
	BusName string
	// LifecycleEvents says which lifecycle events are published
	// (HOURGLASS_LIFECYCLE_EVENTS, failures): failures publishes
	// TaskFailed, TaskDeadLettered and TaskCancelled; all adds
	// TaskSucceeded and ScheduleFired (+$1.00 per million tasks); off
	// publishes none. Empty means failures. See package lifecycle.
	LifecycleEvents string
	// ClaimLease makes workers claim a lease on each task before calling its
	// target (HOURGLASS_CLAIM=lease): three writes per task (create, claim,
	// outcome), and concurrent duplicate deliveries call the target once.
	// The default, HOURGLASS_CLAIM=none, skips the claim: two writes per
	// task; concurrent duplicates may both call the target (with the same
	// idempotency key) and one outcome is recorded; tasks can be cancelled
	// until CancelCutoff before they run.
	ClaimLease bool
	// IngestQueueURL and IngestDLQURL are the ingest queue and the queue
	// that rejected ingest events go to, with the reason
	// (HOURGLASS_INGEST_QUEUE_URL, HOURGLASS_INGEST_DLQ_URL).
	IngestQueueURL string
	IngestDLQURL   string
	// IngestSources says which event sources may create tasks for which
	// tenants: "source1=tenantA|tenantB,source2=*" (HOURGLASS_INGEST_SOURCES;
	// empty: none may). Package ingest parses it.
	IngestSources string
	// ListIndex writes the by_tenant index keys on every task created, which
	// GET /v1/tasks needs: one more DynamoDB write unit per task
	// (HOURGLASS_LIST_INDEX, "1"/"true" or "0"/"false"; default off, and then
	// listing answers 501). The index is in the table either way; turning
	// it on lists only the tasks created from then on.
	ListIndex bool
	// ScanDLQURL is the scan queue's DLQ (HOURGLASS_SCAN_DLQ_URL). Like
	// every queue URL here it is one of Hourglass's own queues, which no
	// target may name (see OwnResources).
	ScanDLQURL string
	// TargetAllow lists, per tenant, the queue, bus and function ARNs its
	// tasks may target (HOURGLASS_TARGET_ALLOW, e.g.
	// "acme=arn:aws:sqs:*:123456789012:acme-*|arn:aws:events:*:*:event-bus/acme,*=arn:aws:lambda:*:*:function:shared-*";
	// syntax in target.AllowList). Unset, development mode allows every
	// ARN (nil) and otherwise no ARN is allowed: webhooks only.
	TargetAllow *target.AllowList
	// TenantMap maps IAM principals to named tenants
	// (HOURGLASS_TENANT_MAP, "principal-arn=tenant,…"; a principal is a
	// role ARN arn:aws:iam::<account>:role/<name> or a user ARN). An
	// unmapped principal's tenant is its principal ARN.
	TenantMap map[string]string
	// Runtime is where the process runs, from what the platform sets in
	// its environment: RuntimeLambda (AWS_LAMBDA_FUNCTION_NAME),
	// RuntimeECS (ECS_CONTAINER_METADATA_URI_V4), else RuntimeLocal.
	Runtime Runtime
	// TenantClaim names the JWT claim that carries the tenant when the
	// API sits behind a JWT authorizer (HOURGLASS_TENANT_CLAIM; unset, the
	// tenant is the IAM principal, mapped through TenantMap).
	TenantClaim string
	// WorkerPoll runs the worker as a long-polling process, as on ECS
	// Fargate, instead of a Lambda handler (HOURGLASS_WORKER_MODE=poll;
	// lambda, the default, or unset otherwise).
	WorkerPoll bool
	// Addr is where the local host listens (HOURGLASS_ADDR,
	// 127.0.0.1:8080 when empty).
	Addr string
	// ClockSkew offsets the local host's clock, for chaos runs only
	// (HOURGLASS_CLOCK_SKEW_MS, 0).
	ClockSkew time.Duration
	// TenantDispatchRate is how many of one tenant's tasks the dispatchers
	// release into the task queue for any one second of run time, across
	// all shards, before the rest waits in the table for the next pass
	// (HOURGLASS_TENANT_DISPATCH_RATE, default 1000; 0 turns fair pacing
	// off; see dispatch.Fair and docs/fairness.md).
	TenantDispatchRate int
	// FairQueueDepth is the number of visible (waiting) task-queue
	// messages that a held tenant's later passes top the queue up to, so
	// that a backlog drains as fast as the workers take it while the line
	// in front of other tenants stays short; messages in flight do not
	// count (HOURGLASS_FAIR_QUEUE_DEPTH, default 1000; 0: later passes
	// send TenantDispatchRate's share a second).
	FairQueueDepth int
	// TenantWeights are tenants' shares in the dispatcher's weighted
	// round robin (HOURGLASS_TENANT_WEIGHTS, "tenant=weight,…", weights 1
	// to 1000; a tenant not named weighs 1).
	TenantWeights map[string]int
	// TenantCreateRate is each tenant's create rate per second, summed
	// over every API instance (a counter in the table, per calendar
	// second: see app.QuotaPlan) (HOURGLASS_TENANT_CREATE_RATE, default
	// 500; -1 turns the limit off).
	TenantCreateRate int
	// CreateWriters bounds batch creates' concurrent store writes across
	// every request of one API instance: a burst of batches cannot queue
	// unbounded writes in front of the workers', and a task that cannot
	// get a writer within a second is refused 429 with Retry-After before
	// it is written (HOURGLASS_CREATE_WRITERS, default 64; a Lambda
	// instance serves one request, at most 8 writes, at a time).
	CreateWriters int
	// TenantMaxInFlight caps each tenant's tasks dispatched but not
	// finished: the dispatcher holds a tenant's further tasks in the
	// table until some finish (HOURGLASS_TENANT_MAX_IN_FLIGHT, default 0:
	// no cap; at most 2,000, the reservations live in one item; needs
	// HOURGLASS_TENANT_DISPATCH_RATE > 0, the fair path). See
	// docs/fairness.md.
	TenantMaxInFlight int
}

// TenantDispatchPerShard is TenantDispatchRate divided among the shards
// (rounded up): each (bucket, shard) unit paces on its own.
func (c Config) TenantDispatchPerShard() int {
	if c.TenantDispatchRate <= 0 {
		return 0
	}
	return (c.TenantDispatchRate + c.Shards - 1) / max(1, c.Shards)
}

// OwnResources names Hourglass's own queues and bus, which no target may
// address; its functions are known by their name prefix
// (target.DefaultFunctionPrefix). An empty bus name still reserves the
// default, "hourglass".
func (c Config) OwnResources() target.Own {
	bus := c.BusName
	if bus == "" {
		bus = "hourglass"
	}
	return target.Own{
		Buses:  []string{bus},
		Queues: []string{c.TaskQueueURL, c.TaskDLQURL, c.ScanQueueURL, c.ScanDLQURL, c.IngestQueueURL, c.IngestDLQURL},
	}
}

// Runtime names the platform a process runs on.
type Runtime string

// The runtimes.
const (
	RuntimeLocal  Runtime = ""       // the local host, a test, a script
	RuntimeLambda Runtime = "lambda" // an AWS Lambda function
	RuntimeECS    Runtime = "ecs"    // an ECS (Fargate) task: the polling worker
)

// runtime reads which platform, if any, set its marker variable.
func runtime() Runtime {
	switch {
	case os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "":
		return RuntimeLambda
	case os.Getenv("ECS_CONTAINER_METADATA_URI_V4") != "":
		return RuntimeECS
	}
	return RuntimeLocal
}

// EMFMetrics reports whether metrics go out as CloudWatch embedded metric
// format lines on stdout: in AWS (Lambda or ECS), where the platform ships
// stdout to CloudWatch Logs; not locally.
func (c Config) EMFMetrics() bool { return c.Runtime != RuntimeLocal }

// MaxHold is how long before its due time a worker holds a delivered task
// in-process rather than sending it back to the queue: the sub-second rest
// of SQS's whole-second delays, plus the early delivery.
func (c Config) MaxHold() time.Duration { return 2*time.Second + c.EarlyDelivery }

// CancelCutoff is how long before its run time a task stops being
// cancellable: zero with claims (a claim settles the race), else MaxHold
// plus a second for clock skew between the API and the workers.
func (c Config) CancelCutoff() time.Duration {
	if c.ClaimLease {
		return 0
	}
	return c.MaxHold() + time.Second
}

// Load reads the environment.
func Load() (Config, error) {
	c := Config{
		Table:            env("HOURGLASS_TABLE", "hourglass-tasks"),
		ScanQueueURL:     os.Getenv("HOURGLASS_SCAN_QUEUE_URL"),
		TaskQueueURL:     os.Getenv("HOURGLASS_TASK_QUEUE_URL"),
		TaskDLQURL:       os.Getenv("HOURGLASS_TASK_DLQ_URL"),
		LogLevel:         env("HOURGLASS_LOG_LEVEL", "info"),
		Dev:              os.Getenv("HOURGLASS_DEV") == "1",
		SigningKey:       os.Getenv("HOURGLASS_SIGNING_KEY"),
		SigningSecretARN: os.Getenv("HOURGLASS_SIGNING_SECRET_ARN"),
		SigningKMSKey:    os.Getenv("HOURGLASS_SIGNING_KMS_KEY"),
		SigningGrace:     24 * time.Hour,
		Limits:           task.DefaultLimits(),
		BusName:          env("HOURGLASS_BUS_NAME", "hourglass"),
		LifecycleEvents:  env("HOURGLASS_LIFECYCLE_EVENTS", string(lifecycle.DefaultLevel)),
		IngestQueueURL:   os.Getenv("HOURGLASS_INGEST_QUEUE_URL"),
		IngestDLQURL:     os.Getenv("HOURGLASS_INGEST_DLQ_URL"),
		IngestSources:    os.Getenv("HOURGLASS_INGEST_SOURCES"),
		Runtime:          runtime(),
		TenantClaim:      os.Getenv("HOURGLASS_TENANT_CLAIM"),
		Addr:             os.Getenv("HOURGLASS_ADDR"),
	}
	switch mode := os.Getenv("HOURGLASS_WORKER_MODE"); mode {
	case "", "lambda":
	case "poll":
		c.WorkerPoll = true
	default:
		return c, fmt.Errorf("HOURGLASS_WORKER_MODE=%q: want lambda or poll", mode)
	}
	skew, err := envInt("HOURGLASS_CLOCK_SKEW_MS", 0, -3600000, 3600000)
	if err != nil {
		return c, err
	}
	c.ClockSkew = time.Duration(skew) * time.Millisecond
	switch claim := env("HOURGLASS_CLAIM", "none"); claim {
	case "none":
	case "lease":
		c.ClaimLease = true
	default:
		return c, fmt.Errorf("HOURGLASS_CLAIM=%q: want none or lease", claim)
	}
	if _, err = lifecycle.ParseLevel(c.LifecycleEvents); err != nil {
		return c, fmt.Errorf("HOURGLASS_LIFECYCLE_EVENTS=%q: want all, failures or off", c.LifecycleEvents)
	}
	if c.Shards, err = envInt("HOURGLASS_SHARDS", 16, 1, 1<<16); err != nil {
		return c, err
	}
	secs, err := envInt("HOURGLASS_BUCKET_SECONDS", 60, 1, 3600)
	if err != nil {
		return c, err
	}
	c.Bucket = time.Duration(secs) * time.Second
	if secs, err = envInt("HOURGLASS_LOOKAHEAD_SECONDS", 180, 1, 899); err != nil {
		return c, err
	}
	c.Lookahead = time.Duration(secs) * time.Second
	if secs, err = envInt("HOURGLASS_LEASE_SECONDS", 60, 5, 43200); err != nil {
		return c, err
	}
	c.Lease = time.Duration(secs) * time.Second
	if secs, err = envInt("HOURGLASS_SWEEP_SECONDS", 30, 1, 3600); err != nil {
		return c, err
	}
	c.SweepDelay = time.Duration(secs) * time.Second
	if secs, err = envInt("HOURGLASS_POLL_VISIBILITY_SECONDS", 5, 3, 43200); err != nil {
		return c, err
	}
	c.PollVisibility = time.Duration(secs) * time.Second
	ms, err := envInt("HOURGLASS_EARLY_DELIVERY_MS", 0, 0, 10000)
	if err != nil {
		return c, err
	}
	c.EarlyDelivery = time.Duration(ms) * time.Millisecond
	if ms, err = envInt("HOURGLASS_ANNOUNCE_WAIT_MS", 1000, 0, 60000); err != nil {
		return c, err
	}
	c.AnnounceWait = time.Duration(ms) * time.Millisecond
	if 2*c.AnnounceWait >= c.Lookahead {
		// The units of a bucket go out AnnounceWait after it enters the
		// window: the rest of the look-ahead must still cover dispatch.
		return c, fmt.Errorf("HOURGLASS_ANNOUNCE_WAIT_MS (%d) must be under half of HOURGLASS_LOOKAHEAD_SECONDS", ms)
	}
	if v := os.Getenv("HOURGLASS_SIGNING_GRACE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute || d > 720*time.Hour {
			return c, fmt.Errorf("HOURGLASS_SIGNING_GRACE=%q: want a duration from 1m to 720h (e.g. 24h)", v)
		}
		c.SigningGrace = d
	}
	if c.ListIndex, err = envBool("HOURGLASS_LIST_INDEX", false); err != nil {
		return c, err
	}
	if c.Lookahead+c.Bucket > 900*time.Second {
		return c, fmt.Errorf("HOURGLASS_LOOKAHEAD_SECONDS + HOURGLASS_BUCKET_SECONDS must not exceed 900 (SQS's longest delay)")
	}
	for _, s := range strings.Split(os.Getenv("HOURGLASS_WEBHOOK_ALLOW"), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return c, fmt.Errorf("HOURGLASS_WEBHOOK_ALLOW: %q is not a CIDR prefix: %w", s, err)
		}
		c.WebhookAllow = append(c.WebhookAllow, p)
	}
	c.ScanDLQURL = os.Getenv("HOURGLASS_SCAN_DLQ_URL")
	if v := os.Getenv("HOURGLASS_TARGET_ALLOW"); v != "" {
		if c.TargetAllow, err = target.ParseAllow(v, nil); err != nil {
			return c, fmt.Errorf("HOURGLASS_TARGET_ALLOW: %w", err)
		}
	} else if !c.Dev {
		c.TargetAllow, _ = target.ParseAllow("", nil) // fail closed: no ARN targets
	}
	if c.TenantDispatchRate, err = envInt("HOURGLASS_TENANT_DISPATCH_RATE", 1000, 0, 1000000); err != nil {
		return c, err
	}
	if c.FairQueueDepth, err = envInt("HOURGLASS_FAIR_QUEUE_DEPTH", 1000, 0, 1000000); err != nil {
		return c, err
	}
	if c.TenantCreateRate, err = envInt("HOURGLASS_TENANT_CREATE_RATE", 500, -1, 1000000); err != nil {
		return c, err
	}
	if c.TenantCreateRate == 0 {
		return c, fmt.Errorf("HOURGLASS_TENANT_CREATE_RATE=0: want a rate of at least 1, or -1 for no limit")
	}
	if c.CreateWriters, err = envInt("HOURGLASS_CREATE_WRITERS", 64, 1, 10000); err != nil {
		return c, err
	}
	if c.TenantMaxInFlight, err = envInt("HOURGLASS_TENANT_MAX_IN_FLIGHT", 0, 0, 2000); err != nil {
		return c, err
	}
	if c.TenantMaxInFlight > 0 && c.TenantDispatchRate == 0 {
		return c, fmt.Errorf("HOURGLASS_TENANT_MAX_IN_FLIGHT=%d needs fair dispatch: HOURGLASS_TENANT_DISPATCH_RATE must not be 0", c.TenantMaxInFlight)
	}
	if c.TenantWeights, err = parseWeights(os.Getenv("HOURGLASS_TENANT_WEIGHTS")); err != nil {
		return c, err
	}
	if c.TenantMap, err = parseTenantMap(os.Getenv("HOURGLASS_TENANT_MAP")); err != nil {
		return c, err
	}
	if c.Dev {
		c.WebhookAllow = append(c.WebhookAllow, netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
		if c.SigningKey == "" {
			c.SigningKey = "hourglass-dev-signing-key"
		}
	}
	return c, nil
}

// parseTenantMap reads "principal=tenant,…", each pair split at its last
// "=" (an IAM name may contain "="; a mapped tenant may not).
func parseTenantMap(s string) (map[string]string, error) {
	var m map[string]string
	for _, entry := range strings.Split(s, ",") {
		if entry = strings.TrimSpace(entry); entry == "" {
			continue
		}
		i := strings.LastIndex(entry, "=")
		if i <= 0 || strings.TrimSpace(entry[i+1:]) == "" || !strings.HasPrefix(entry, "arn:") {
			return nil, fmt.Errorf("HOURGLASS_TENANT_MAP: %q: want principal-arn=tenant", entry)
		}
		if m == nil {
			m = map[string]string{}
		}
		p := strings.TrimSpace(entry[:i])
		if _, dup := m[p]; dup {
			return nil, fmt.Errorf("HOURGLASS_TENANT_MAP: %q is mapped twice", p)
		}
		m[p] = strings.TrimSpace(entry[i+1:])
	}
	return m, nil
}

// parseWeights reads "tenant=weight,…".
func parseWeights(v string) (map[string]int, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	m := map[string]int{}
	for _, entry := range strings.Split(v, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		tn, ws, ok := strings.Cut(entry, "=")
		w, err := strconv.Atoi(strings.TrimSpace(ws))
		if !ok || strings.TrimSpace(tn) == "" || err != nil || w < 1 || w > 1000 {
			return nil, fmt.Errorf("HOURGLASS_TENANT_WEIGHTS: %q: want tenant=weight, weight 1 to 1000", entry)
		}
		if _, dup := m[strings.TrimSpace(tn)]; dup {
			return nil, fmt.Errorf("HOURGLASS_TENANT_WEIGHTS: tenant %q is weighted twice", tn)
		}
		m[strings.TrimSpace(tn)] = w
	}
	return m, nil
}

// Layout is the bucket layout.
func (c Config) Layout() task.Layout { return task.Layout{Bucket: c.Bucket} }

// SetDefaults sets each variable in defaults that the environment does
// not set, before Load: how the local host and the bench give the
// development settings their values while leaving a user's own in place.
func SetDefaults(defaults map[string]string) {
	for k, v := range defaults {
		if _, ok := os.LookupEnv(k); !ok {
			_ = os.Setenv(k, v)
		}
	}
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(k string, def, lo, hi int) (int, error) {
	v := os.Getenv(k)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s=%q: want an integer between %d and %d", k, v, lo, hi)
	}
	return n, nil
}

// envBool reads a boolean variable: "1" or "true", "0" or "false" (any
// case); unset or empty is def.
func envBool(k string, def bool) (bool, error) {
	switch v := strings.TrimSpace(os.Getenv(k)); strings.ToLower(v) {
	case "":
		return def, nil
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	default:
		return false, fmt.Errorf("%s=%q: want 1, true, 0 or false", k, v)
	}
}

// AWS builds the SDK configuration: the default chain (which honours
// AWS_ENDPOINT_URL and per-service AWS_ENDPOINT_URL_<SERVICE>), us-east-1
// when no region is set, dummy credentials when an emulator endpoint is set
// and none are given, standard retries (6 attempts, ≤ 2 s apart) and
// sdkhttp.PlainRequestBody. The usage middleware is added by
// service.BuildWith.
func AWS(ctx context.Context) (aws.Config, error) {
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRetryer(Retryer),
		// Keeps answers that arrive while net/http finishes a request; see
		// sdkhttp.PlainRequestBody.
		awsconfig.WithAPIOptions([]func(*middleware.Stack) error{sdkhttp.PlainRequestBody}),
	}
	if os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
		opts = append(opts, awsconfig.WithRegion("us-east-1"))
	}
	if os.Getenv("AWS_ENDPOINT_URL") != "" && os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, fmt.Errorf("load AWS config: %w", err)
	}
	return cfg, nil
}

// Retryer is the SDK retry policy of every Hourglass client: standard
// retries (throttles, 5xx and connection errors, with the client-side retry
// quota) for up to 6 attempts with at most 2 s between them. pkg/testkit/faults
// tests prove it against injected faults.
func Retryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 6; o.MaxBackoff = 2 * time.Second })
}

// zerolog.TimeFieldFormat is a process-wide variable that every logger reads
// while logging, so it is set once, at start-up, never per Logger call
// (concurrent calls raced with each other and with logging goroutines).
func init() { zerolog.TimeFieldFormat = time.RFC3339Nano }

// Logger returns the JSON logger at the configured level.
func (c Config) Logger() zerolog.Logger {
	lvl, err := zerolog.ParseLevel(strings.ToLower(c.LogLevel))
	if err != nil || lvl == zerolog.NoLevel {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(os.Stderr).Level(lvl).With().Timestamp().Logger()
}
