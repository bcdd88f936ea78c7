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
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/chain"
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
	"github.com/hourglass-sched/hourglass/pkg/schedulerapi"
	"github.com/hourglass-sched/hourglass/pkg/signing"
	"github.com/hourglass-sched/hourglass/pkg/sigv4"
	"github.com/hourglass-sched/hourglass/pkg/sqsq"
	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/target/assume"
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

	// AccessKeys issues the tenants' access keys and resolves them for the
	// SigV4 verifier of the Scheduler-compatible API. Their secrets are
	// sealed by the signing secrets' envelope (HOURGLASS_SIGNING_KMS_KEY).
	AccessKeys *app.AccessKeys

	// SchedulerKeys resolves the access keys that sign requests to the
	// Scheduler-compatible API (SigV4): sigv4.DevResolver in development
	// mode; nil (those routes not mounted) until a deployment plugs in its
	// access-key store's resolver.
	SchedulerKeys sigv4.Resolver

	// pageTokenKey authenticates the API's list page tokens; derived from
	// the master signing key, so every instance agrees on it.
	pageTokenKey []byte

	// The services every door of the process shares, built on first use
	// (Tasks, ScheduleService).
	tasksOnce     sync.Once
	tasks         *app.Tasks
	schedulesOnce sync.Once
	schedules     *app.Schedules
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
// emulator's). With counters, the usage middleware is added to a copy of
// it; without, Components.Usage is a fresh Counters that counts only what
// is recorded by hand (invocations), no SDK call.
func BuildWith(ctx context.Context, cfg config.Config, awsCfg aws.Config, clk clock.Clock, counters *usage.Counters) (*Components, error) {
	if err := cfg.Layout().Validate(); err != nil {
		return nil, err
	}
	if clk == nil {
		clk = clock.System{}
	}
	awsCfg = awsCfg.Copy()
	if counters == nil {
		// No accounting asked for (the deployed functions): no middleware,
		// so no call asks DynamoDB for its consumed capacity for nothing.
		counters = &usage.Counters{}
	} else {
		awsCfg.APIOptions = append(append([]func(*middleware.Stack) error(nil), awsCfg.APIOptions...), counters.Middleware())
	}
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
	c.AccessKeys = app.NewAccessKeys(app.AccessKeysConfig{}, c.Store, seal, clk)
	c.SchedulerKeys = accessKeyResolver{c.AccessKeys}
	if cfg.Dev {
		// dev-<tenant> with the secret "dev" signs as <tenant>, as the
		// dev bearer token does; issued keys work too.
		c.SchedulerKeys = sigv4.Chain(sigv4.DevResolver{}, c.SchedulerKeys)
	}
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
	// Targets in other accounts are called with the role their spec names
	// (role_arn), assumed with the external ID "hourglass:<tenant>".
	roles := assume.New(sts.NewFromConfig(awsCfg), "")
	for _, e := range []target.Executor{
		sqstarget.New(sqsClient).AssumeWith(roles),
		ebtarget.New(ebClient).AssumeWith(roles),
		lambdatarget.New(lambda.NewFromConfig(awsCfg)).AssumeWith(roles),
	} {
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
// against the tenant's target allow-list, for the resource and for the
// role the target names (role_arn). Every door that creates tasks or
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
			// The role too: a tenant may have Hourglass assume only the
			// roles its allow-list names, never another tenant's.
			if fe := c.Policy.CheckRole(tenant, target.RoleOf(spec)); fe != nil {
				out = append(out, problem.FieldError{Field: fe.Field, Reason: fe.Reason})
			}
		}
		return out
	}
}

// tasksConfig configures the task service from the deployment's settings.
func (c *Components) tasksConfig() app.TasksConfig {
	cfg := app.TasksConfig{
		Layout: c.Cfg.Layout(), Shards: c.Cfg.Shards, Lookahead: c.Cfg.Lookahead, TaskQueue: c.Cfg.TaskQueueURL, EarlyBy: c.Cfg.EarlyDelivery, CancelCutoff: c.Cfg.CancelCutoff(),
		Limits: c.Cfg.Limits, Validate: c.Validator(), PageTokenKey: c.pageTokenKey, CreateRate: float64(c.Cfg.TenantCreateRate),
		CreateWriters: c.Cfg.CreateWriters,
		// Listing reads the index only the store's own writes fill.
		ListIndex: c.Store.ListIndex(),
		// No larger than the scanner's wait: the same setting.
		AnnounceWait: c.Cfg.AnnounceWait,
	}
	if c.Store != nil {
		// The create rate holds across every API instance: a counter in
		// the table (HOURGLASS_TENANT_CREATE_RATE; -1 leaves it off).
		cfg.Quota = c.Store
	}
	if c.Events != nil {
		cfg.Events = c.Events
	}
	if c.Cfg.EMFMetrics() {
		// In AWS, TasksCreated goes out as an EMF line on stdout, as the
		// worker's metrics do (the console's overview reads them).
		cfg.Metrics = metrics.New(os.Stdout)
	}
	return cfg
}

// Tasks returns the process's task service, built on first use: every
// door of the process (HTTP API, ingest) calls this one, so that one rate
// limiter and one cursor cache serve them all.
func (c *Components) Tasks() *app.Tasks {
	c.tasksOnce.Do(func() { c.tasks = c.NewTasks() })
	return c.tasks
}

// NewTasks builds a task service of its own. Options (tests) adjust its
// configuration before it is built, e.g. to install a crash hook.
func (c *Components) NewTasks(opts ...func(*app.TasksConfig)) *app.Tasks {
	cfg := c.tasksConfig()
	for _, o := range opts {
		o(&cfg)
	}
	return app.NewTasks(cfg, c.Store, c.Queue, c.Clock, c.Log)
}

// ScheduleService returns the process's schedule service, built on first
// use over the schedule chain and shared by the HTTP door and ingest.
func (c *Components) ScheduleService() *app.Schedules {
	c.schedulesOnce.Do(func() {
		sc := c.scheduleConfig()
		c.schedules = app.NewSchedules(app.SchedulesConfig{Shards: sc.Shards, Limits: sc.Limits, Validate: sc.Validate}, c.Store, c.Chain(), c.Clock, c.Log)
	})
	return c.schedules
}

// API builds the HTTP task API over the process's task service. Options
// (tests) give it a task service of its own, built with them (see
// NewTasks).
func (c *Components) API(auth api.Authenticator, ready func() bool, opts ...func(*app.TasksConfig)) *api.Server {
	tasks := c.Tasks()
	if len(opts) > 0 {
		tasks = c.NewTasks(opts...)
	}
	return api.New(api.Config{Ready: ready}, tasks, auth, c.Log)
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
	if c.Cfg.TenantMaxInFlight > 0 {
		// HOURGLASS_TENANT_MAX_IN_FLIGHT: reservations in the table.
		cfg.MaxInFlight, cfg.InFlight = c.Cfg.TenantMaxInFlight, c.Store
	}
	for _, o := range opts {
		o(&cfg)
	}
	return dispatch.New(cfg, c.Store, c.Queue, c.Clock, c.Log)
}

// Worker builds the worker.
func (c *Components) Worker(opts ...func(*worker.Config)) *worker.Worker {
	cfg := worker.Config{TaskQueue: c.Cfg.TaskQueueURL, DLQ: c.Cfg.TaskDLQURL, Lease: c.Cfg.Lease, MaxHold: c.Cfg.MaxHold(), Claim: c.Cfg.ClaimLease}
	if c.Cfg.EMFMetrics() {
		// In AWS, metrics go out as EMF lines on stdout (logs are on stderr).
		cfg.Metrics = metrics.New(os.Stdout)
	}
	if c.Events != nil {
		cfg.Events = c.Events
	}
	cfg.Gate = c.Chain()
	cfg.Limiter = c.Store
	if c.Cfg.TenantMaxInFlight > 0 {
		cfg.MaxInFlight, cfg.InFlight = c.Cfg.TenantMaxInFlight, c.Store
	}
	for _, o := range opts {
		o(&cfg)
	}
	return worker.New(cfg, c.Store, c.Queue, c.Executors, c.Clock, c.Log)
}

// Ingest builds the ingest handler: CreateTask and CreateSchedule events
// from the ingest queue become tasks and schedules through the services
// the HTTP API calls.
func (c *Components) Ingest() (*ingest.Handler, error) {
	sources, err := ingest.ParseSources(c.Cfg.IngestSources)
	if err != nil {
		return nil, err
	}
	return ingest.New(ingest.Config{DLQ: c.Cfg.IngestDLQURL, Sources: sources, Schedules: c.ScheduleService()}, c.Tasks(), c.Queue, c.Log), nil
}

// scheduleConfig configures schedules from the deployment's settings.
func (c *Components) scheduleConfig() chain.Config {
	return chain.Config{
		Layout: c.Cfg.Layout(), Shards: c.Cfg.Shards, TaskQueue: c.Cfg.TaskQueueURL, EarlyBy: c.Cfg.EarlyDelivery,
		Limits: c.Cfg.Limits, Validate: c.Validator(),
	}
}

// Chain builds the schedule chain: the dispatcher's hook that stores each
// occurrence's successor and the worker's gate that stops occurrences of
// paused, changed or deleted chain.
func (c *Components) Chain() *chain.Chain {
	return chain.New(c.scheduleConfig(), c.Store, c.Queue, c.Clock, c.Log)
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

// HTTP is the whole HTTP API as one handler: the task API with the schedule,
// signing-secret and access-key routes mounted beside it, behind api.CleanPaths (so no path is redirected).
// The API Lambda and the local host serve it alike.
func (c *Components) HTTP(auth api.Authenticator, ready func() bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", c.API(auth, ready))
	api.MountSchedules(mux, c.Schedules(auth))
	api.MountSigning(mux, api.NewSigningHandler(c.Signing, auth, c.Log))
	api.MountAccessKeys(mux, api.NewAccessKeyHandler(c.AccessKeys, auth, c.Log))

	if sa := c.SchedulerAPI(); sa != nil {
		schedulerapi.Mount(mux, sa)
	}
	api.MountLimits(mux, api.NewLimitHandler(app.NewLimits(c.Store, c.Clock), auth, c.Log))
	return api.CleanPaths(mux)
}

// accessKeyResolver resolves the tenants' issued access keys for the SigV4
// verifier: an unknown key is the verifier's ErrUnknownKey (403
// UnrecognizedClientException), any other error the store's.
type accessKeyResolver struct{ keys *app.AccessKeys }

func (r accessKeyResolver) Resolve(ctx context.Context, id string) (string, string, error) {
	tenant, secret, err := r.keys.Resolve(ctx, id)
	if errors.Is(err, app.ErrUnknownAccessKey) {
		err = fmt.Errorf("%w: %w", sigv4.ErrUnknownKey, err)
	}
	return tenant, secret, err
}

// SchedulerAPI builds the EventBridge Scheduler–compatible API over the
// schedule service, verifying signatures with SchedulerKeys; nil when no
// resolver is set.
func (c *Components) SchedulerAPI() *schedulerapi.Handler {
	if c.SchedulerKeys == nil {
		return nil
	}
	svc := c.ScheduleService()
	return schedulerapi.New(schedulerapi.Config{Resolver: c.SchedulerKeys, MaxBody: svc.MaxBody(), Now: c.Clock.Now},
		app.NewNamed(svc, c.Store), c.Log)
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
// the task API with api.MountSchedules.
func (c *Components) Schedules(auth api.Authenticator) *api.ScheduleHandler {
	return api.NewScheduleHandler(c.ScheduleService(), auth, c.Clock, c.Log)
}
