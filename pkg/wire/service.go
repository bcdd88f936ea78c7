// Package wire builds Hourglass's components — store, queues, targets,
// API, scanner, dispatcher, worker — from configuration, once per process.
// Every entry point (the Lambda functions, the ECS worker, the local host)
// wires through here, so they cannot drift apart.
package wire

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"
	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/ddbstore"
	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/envelope"
	"github.com/hourglass-sched/hourglass/pkg/ingest"
	"github.com/hourglass-sched/hourglass/pkg/lifecycle"
	"github.com/hourglass-sched/hourglass/pkg/metrics"
	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/scan"
	"github.com/hourglass-sched/hourglass/pkg/schedules"
	"github.com/hourglass-sched/hourglass/pkg/signing"
	"github.com/hourglass-sched/hourglass/pkg/sqsq"
	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/target/ebtarget"
	"github.com/hourglass-sched/hourglass/pkg/target/lambdatarget"
	"github.com/hourglass-sched/hourglass/pkg/target/sqstarget"
	"github.com/hourglass-sched/hourglass/pkg/target/webhook"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/usage"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

// Components are the built parts of one process.
type Components struct {
	Cfg   config.Config
	AWS   aws.Config
	Usage *usage.Counters
	Log   zerolog.Logger
	Clock clock.Clock
	Store *ddbstore.Store
	Queue *sqsq.Queue
	// Executors run targets; the AWS kinds are guarded by Policy, so the
	// worker refuses a target the policy refuses before calling it.
	Executors []target.Executor
	// Policy says which AWS resources targets may address: never
	// Hourglass's own; per tenant, those HOURGLASS_TARGET_ALLOW lists.
	Policy *target.Policy
	// Events publishes lifecycle events on the Hourglass bus, those of
	// the configured level (HOURGLASS_LIFECYCLE_EVENTS); nil when no bus is
	// configured (HOURGLASS_BUS_NAME empty) or the level is off.
	Events *lifecycle.Publisher

	// Signing keeps the tenants' webhook signing secrets: the webhook
	// target signs with its cached Keys, the API reads and rotates them.
	Signing *signing.Service

	// pageTokenKey authenticates the API's list page tokens; derived from
	// the master signing key, so every instance agrees on it.
	pageTokenKey []byte
}

// Build creates the SDK clients and the store, queue and target executors.
// counters may be nil (no usage accounting); clk nil means the system clock.
func Build(ctx context.Context, cfg config.Config, clk clock.Clock, counters *usage.Counters) (*Components, error) {
	awsCfg, err := config.AWS(ctx)
	if err != nil {
		return nil, err
	}
	return BuildWith(ctx, cfg, awsCfg, clk, counters)
}

// BuildWith is Build with a given SDK configuration (tests pass the
// emulator's). The usage middleware is added to a copy of it.
func BuildWith(ctx context.Context, cfg config.Config, awsCfg aws.Config, clk clock.Clock, counters *usage.Counters) (*Components, error) {
	if err := cfg.Layout().Validate(); err != nil {
		return nil, err
	}
	if clk == nil {
		clk = clock.System{}
	}
	if counters == nil {
		counters = &usage.Counters{}
	}
	awsCfg = awsCfg.Copy()
	awsCfg.APIOptions = append(append([]func(*middleware.Stack) error(nil), awsCfg.APIOptions...), counters.Middleware())
	c := &Components{Cfg: cfg, AWS: awsCfg, Usage: counters, Log: cfg.Logger(), Clock: clk}
	sqsClient := sqs.NewFromConfig(awsCfg)
	c.Store = ddbstore.New(dynamodb.NewFromConfig(awsCfg), cfg.Table, cfg.Layout(), ddbstore.Options{CancelCutoff: cfg.CancelCutoff(), ListIndex: cfg.ListIndex})
	c.Queue = sqsq.New(sqsClient)

	master := []byte(cfg.SigningKey)
	if cfg.SigningSecretARN != "" {
		out, err := secretsmanager.NewFromConfig(awsCfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &cfg.SigningSecretARN})
		if err != nil {
			return nil, fmt.Errorf("read webhook signing secret: %w", err)
		}
		master = []byte(aws.ToString(out.SecretString))
	}
	if len(master) < 16 {
		// It keys the page tokens, which must not be forgeable.
		return nil, errors.New("master key: set HOURGLASS_SIGNING_KEY (at least 16 bytes) or HOURGLASS_SIGNING_SECRET_ARN")
	}
	ptk := sha256.Sum256(append([]byte("hourglass page tokens\x00"), master...))
	c.pageTokenKey = ptk[:]
	allow := make([]string, 0, len(cfg.WebhookAllow))
	for _, p := range cfg.WebhookAllow {
		allow = append(allow, p.String())
	}
	var seal signing.Envelope = envelope.None{}
	if cfg.SigningKMSKey != "" {
		seal = envelope.NewKMS(kms.NewFromConfig(awsCfg), cfg.SigningKMSKey)
	} else if !cfg.Dev {
		c.Log.Warn().Msg("HOURGLASS_SIGNING_KMS_KEY is not set: webhook signing secrets are stored unsealed (development only)")
	}
	c.Signing = signing.New(signing.Config{Grace: cfg.SigningGrace}, c.Store, seal, clk)
	wh, err := webhook.New(webhook.Config{Secret: c.Signing.Keys, Allow: allow, Clock: clk})
	if err != nil {
		return nil, fmt.Errorf("webhook target: %w", err)
	}
	ebClient := eventbridge.NewFromConfig(awsCfg)
	c.Policy = &target.Policy{Own: cfg.OwnResources(), Allow: cfg.TargetAllow}
	if c.Policy.Allow == nil && !cfg.Dev {
		// A Config built in code (not by Load) outside development mode
		// fails closed, as Load does.
		c.Policy.Allow, _ = target.ParseAllow("", nil)
	}
	c.Executors = []target.Executor{wh}
	for _, e := range []target.Executor{sqstarget.New(sqsClient), ebtarget.New(ebClient), lambdatarget.New(lambda.NewFromConfig(awsCfg))} {
		c.Executors = append(c.Executors, target.Guard(e, c.Policy))
	}
	level, err := lifecycle.ParseLevel(cfg.LifecycleEvents)
	if err != nil {
		return nil, fmt.Errorf("HOURGLASS_LIFECYCLE_EVENTS: %w", err)
	}
	if cfg.BusName != "" && level != lifecycle.LevelOff {
		c.Events = lifecycle.New(lifecycle.Config{Bus: cfg.BusName, Level: level}, ebClient, c.Log)
	}
	return c, nil
}

// Validator checks a target object for a tenant: against the executor of
// its kind (whose Validate, guarded, refuses Hourglass's own resources) and
// against the tenant's target allow-list. Every door that creates tasks or
// schedules validates through it.
func (c *Components) Validator() task.TenantTargetValidator {
	byKind := make(map[string]target.Executor, len(c.Executors))
	kinds := ""
	for _, e := range c.Executors {
		byKind[e.Kind()] = e
		if kinds != "" {
			kinds += ", "
		}
		kinds += e.Kind()
	}
	return func(tenant, kind string, spec json.RawMessage) []problem.FieldError {
		e, ok := byKind[kind]
		if !ok {
			return []problem.FieldError{{Field: "kind", Reason: fmt.Sprintf("unknown target kind %q (one of: %s)", kind, kinds)}}
		}
		var out []problem.FieldError
		for _, fe := range e.Validate(spec) {
			out = append(out, problem.FieldError{Field: fe.Field, Reason: fe.Reason})
		}
		if ad, ok := e.(target.Addresser); ok && len(out) == 0 {
			if a, ok := ad.Address(spec); ok {
				if fe := c.Policy.Check(tenant, a); fe != nil {
					out = append(out, problem.FieldError{Field: fe.Field, Reason: fe.Reason})
				}
			}
		}
		return out
	}
}

// API builds the HTTP API.
// Options (tests) adjust the component's configuration before it is built,
// e.g. to install a crash hook.
func (c *Components) API(auth api.Authenticator, ready func() bool, opts ...func(*api.Config)) *api.Server {
	cfg := api.Config{TasksConfig: app.TasksConfig{
		Layout: c.Cfg.Layout(), Shards: c.Cfg.Shards, Lookahead: c.Cfg.Lookahead, TaskQueue: c.Cfg.TaskQueueURL, EarlyBy: c.Cfg.EarlyDelivery, CancelCutoff: c.Cfg.CancelCutoff(),
		Limits: c.Cfg.Limits, Validate: c.Validator(), PageTokenKey: c.pageTokenKey, CreateRate: float64(c.Cfg.TenantCreateRate),
		// Listing reads the index only the store's own writes fill.
		ListIndex: c.Store.ListIndex(),
		// No larger than the scanner's wait: the same setting.
		AnnounceWait: c.Cfg.AnnounceWait,
	}, Ready: ready}
	if c.Events != nil {
		cfg.Events = c.Events
	}
	if os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
		// In AWS, TasksCreated goes out as an EMF line on stdout, as the
		// worker's metrics do (the console's overview reads them).
		cfg.Metrics = metrics.New(os.Stdout)
	}
	for _, o := range opts {
		o(&cfg)
	}
	return api.New(cfg, c.Store, c.Queue, auth, c.Clock, c.Log)
}

// Scanner builds the scanner.
func (c *Components) Scanner() *scan.Scanner {
	return scan.New(scan.Config{Layout: c.Cfg.Layout(), Shards: c.Cfg.Shards, Lookahead: c.Cfg.Lookahead, SweepDelay: c.Cfg.SweepDelay, ScanQueue: c.Cfg.ScanQueueURL,
		AnnounceWait: c.Cfg.AnnounceWait},
		c.Store, c.Queue, c.Clock, c.Log)
}

// Dispatcher builds the dispatcher.
func (c *Components) Dispatcher(opts ...func(*dispatch.Config)) *dispatch.Dispatcher {
	cfg := dispatch.Config{TaskQueue: c.Cfg.TaskQueueURL, EarlyBy: c.Cfg.EarlyDelivery, Chain: c.Chain(), ScanQueue: c.Cfg.ScanQueueURL,
		Fair: dispatch.Fair{PerSecond: c.Cfg.TenantDispatchPerShard(), Weights: c.Cfg.TenantWeights, QueueDepth: c.Cfg.FairQueueDepth,
			Shards: c.Cfg.Shards, Depth: c.Queue}}
	for _, o := range opts {
		o(&cfg)
	}
	return dispatch.New(cfg, c.Store, c.Queue, c.Clock, c.Log)
}

// Worker builds the worker.
func (c *Components) Worker(opts ...func(*worker.Config)) *worker.Worker {
	cfg := worker.Config{TaskQueue: c.Cfg.TaskQueueURL, DLQ: c.Cfg.TaskDLQURL, Lease: c.Cfg.Lease, MaxHold: c.Cfg.MaxHold(), Claim: c.Cfg.ClaimLease}
	if os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" || os.Getenv("ECS_CONTAINER_METADATA_URI_V4") != "" {
		// In AWS, metrics go out as EMF lines on stdout (logs are on stderr).
		cfg.Metrics = metrics.New(os.Stdout)
	}
	if c.Events != nil {
		cfg.Events = c.Events
	}
	cfg.Gate = c.Chain()
	for _, o := range opts {
		o(&cfg)
	}
	return worker.New(cfg, c.Store, c.Queue, c.Executors, c.Clock, c.Log)
}

// Ingest builds the ingest handler: CreateTask and CreateSchedule events
// from the ingest queue become tasks and schedules through the API's own
// create paths.
func (c *Components) Ingest() (*ingest.Handler, error) {
	sources, err := ingest.ParseSources(c.Cfg.IngestSources)
	if err != nil {
		return nil, err
	}
	creator := c.API(refuseAuth{}, nil).Tasks()
	return ingest.New(ingest.Config{DLQ: c.Cfg.IngestDLQURL, Sources: sources, Schedules: c.Schedules(refuseAuth{}).Service()}, creator, c.Queue, c.Log), nil
}

// refuseAuth authenticates no HTTP request: the ingest function's API and
// schedule API instances create only through Create, never over HTTP.
type refuseAuth struct{}

func (refuseAuth) Tenant(*http.Request) (string, error) {
	return "", errors.New("this API instance serves no HTTP requests")
}

// scheduleConfig configures schedules from the deployment's settings.
func (c *Components) scheduleConfig() schedules.Config {
	return schedules.Config{
		Layout: c.Cfg.Layout(), Shards: c.Cfg.Shards, TaskQueue: c.Cfg.TaskQueueURL, EarlyBy: c.Cfg.EarlyDelivery,
		Limits: c.Cfg.Limits, Validate: c.Validator(),
	}
}

// Chain builds the schedule chain: the dispatcher's hook that stores each
// occurrence's successor and the worker's gate that stops occurrences of
// paused, changed or deleted schedules.
func (c *Components) Chain() *schedules.Chain {
	return schedules.NewChain(c.scheduleConfig(), c.Store, c.Queue, c.Clock, c.Log)
}

// CloseIdle closes the pooled connections the target executors keep (the
// webhook client's keep-alives), at shutdown.
func (c *Components) CloseIdle() {
	for _, e := range c.Executors {
		if ci, ok := e.(interface{ CloseIdleConnections() }); ok {
			ci.CloseIdleConnections()
		}
	}
}

// HTTP is the whole HTTP API as one handler: the task API with the schedule
// and signing-secret routes mounted beside it, behind api.CleanPaths (so no path is redirected).
// The API Lambda and the local host serve it alike.
func (c *Components) HTTP(auth api.Authenticator, ready func() bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", c.API(auth, ready))
	schedules.Mount(mux, c.Schedules(auth))
	api.MountSigning(mux, api.NewSigningHandler(c.Signing, auth, c.Log))
	return api.CleanPaths(mux)
}

// MustBuild is how every function's main begins: it loads the
// configuration from the environment and builds the components, or prints
// why it cannot and exits (2 for bad configuration, 1 otherwise). It is for
// main packages only: nothing on a request path exits.
func MustBuild(name string) (config.Config, *Components) {
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: configuration: %v\n", name, err)
		os.Exit(2)
	}
	comps, err := Build(context.Background(), cfg, nil, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	return cfg, comps
}

// Schedules builds the schedule API (/v1/schedules…), to be mounted beside
// the task API with schedules.Mount.
func (c *Components) Schedules(auth api.Authenticator) *schedules.Handler {
	return schedules.NewHandler(c.scheduleConfig(), c.Store, c.Queue, auth, c.Clock, c.Log)
}
