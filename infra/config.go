package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// WorkerMode says where tasks are executed: in a Lambda function fed by the
// task queue, in a long-polling ECS Fargate service, or both at once.
type WorkerMode string

// Worker modes accepted by HourglassStackProps.WorkerMode and the
// `workerMode` context key.
const (
	WorkerModeLambda WorkerMode = "lambda"
	WorkerModeECS    WorkerMode = "ecs"
	WorkerModeBoth   WorkerMode = "both"
)

func (m WorkerMode) lambda() bool { return m == WorkerModeLambda || m == WorkerModeBoth }
func (m WorkerMode) ecs() bool    { return m == WorkerModeECS || m == WorkerModeBoth }

// Defaults for every setting. infra/README.md lists them in a table; keep the
// two in step.
const (
	DefaultStackName        = "Hourglass"
	DefaultShards           = 16
	DefaultBucketSeconds    = 60
	DefaultLookaheadSeconds = 180
	DefaultWorkerMode       = WorkerModeLambda
	DefaultLogRetentionDays = 30
	DefaultBillingMode      = awsdynamodb.BillingMode_PAY_PER_REQUEST
	DefaultReadCapacity     = 5
	DefaultWriteCapacity    = 5
	// With PROVISIONED billing, auto scaling keeps consumption at
	// DefaultTargetUtilization percent of the capacity, between
	// Read/WriteCapacity and the Max (default: DynamoDB's default
	// per-table quota of 40,000 units a second).
	DefaultTargetUtilization     = 70
	DefaultMaxCapacity           = 40000
	DefaultTableEncryption       = awsdynamodb.TableEncryption_AWS_MANAGED
	DefaultBusName               = "hourglass"
	DefaultTenantClaim           = "sub"
	DefaultLogLevel              = "info"
	DefaultSigningGrace          = "24h"
	DefaultLifecycleEvents       = "failures"
	DefaultClaim                 = "none"
	DefaultTaskMaxReceiveCount   = 10
	DefaultWorkerConcurrency     = 50
	DefaultDispatcherConcurrency = 20
	DefaultIngestConcurrency     = 10
	DefaultWorkerMinTasks        = 1
	DefaultWorkerMaxTasks        = 10
	DefaultRepoRoot              = ".."
)

// HourglassStackProps holds every setting of the Hourglass stack. A zero value
// means "use the default" (see the Default* constants); DeletionProtection is a
// pointer so that false can be said.
type HourglassStackProps struct {
	awscdk.StackProps

	// Shards is the number of shards per time bucket (HOURGLASS_SHARDS).
	Shards int
	// BucketSeconds is the width of a time bucket (HOURGLASS_BUCKET_SECONDS).
	BucketSeconds int
	// LookaheadSeconds is how far ahead the scanner fans out buckets
	// (HOURGLASS_LOOKAHEAD_SECONDS). At least 60 because the scanner ticks
	// once a minute, at most 900 because SQS DelaySeconds stops there.
	LookaheadSeconds int
	// WorkerMode picks Lambda, ECS Fargate or both for the workers.
	WorkerMode WorkerMode
	// LogRetentionDays is the retention of every log group the stack creates.
	// It must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, ...).
	LogRetentionDays int
	// BillingMode is the table's billing mode: PAY_PER_REQUEST or PROVISIONED.
	BillingMode awsdynamodb.BillingMode
	// ReadCapacity and WriteCapacity apply to the table and its index when
	// BillingMode is PROVISIONED.
	ReadCapacity, WriteCapacity int
	// MaxReadCapacity and MaxWriteCapacity bound auto scaling, which keeps
	// the consumed capacity at TargetUtilization percent (20–90) of the
	// provisioned one; ReadCapacity and WriteCapacity are the floors. The
	// capacity model prices this configuration: go run ./scripts/capacity
	// -billing provisioned -target-utilization 0.7.
	MaxReadCapacity, MaxWriteCapacity int
	TargetUtilization                 int
	// TableEncryption is AWS_MANAGED (an AWS managed KMS key) or
	// CUSTOMER_MANAGED (a customer managed key with rotation, created here).
	TableEncryption awsdynamodb.TableEncryption
	// DeletionProtection turns on the table's deletion protection and retains
	// it on stack deletion. Nil means true.
	DeletionProtection *bool
	// BusName is the name of the Hourglass event bus (HOURGLASS_BUS_NAME).
	BusName string
	// JwtIssuer and JwtAudience switch the API from IAM authorization to a
	// JWT authorizer. Both or neither must be given.
	JwtIssuer   string
	JwtAudience []string
	// TenantClaim is the JWT claim that names the tenant (HOURGLASS_TENANT_CLAIM).
	TenantClaim string
	// IngestSources says which event sources may create tasks for which
	// tenants through CreateTask events (HOURGLASS_INGEST_SOURCES, e.g.
	// "com.example.orders=acme|globex,com.example.billing=*"). Empty: none
	// may; every CreateTask event goes to the ingest DLQ with the reason.
	IngestSources string
	// LogLevel is the functions' log level: debug, info, warn or error.
	LogLevel string
	// SigningGrace is how long a rotated webhook signing secret keeps
	// signing beside the new one (HOURGLASS_SIGNING_GRACE): a Go duration
	// from 1m to 720h. Default 24h.
	SigningGrace string
	// ListIndex makes every task created also write its by_tenant index
	// entry (HOURGLASS_LIST_INDEX=1), which GET /v1/tasks needs: one more
	// DynamoDB write unit per task. Default false: listing answers 501.
	// The index is in the table either way; turned on later, it lists the
	// tasks created from then on.
	ListIndex bool
	// LifecycleEvents says which lifecycle events the functions publish on
	// the bus (HOURGLASS_LIFECYCLE_EVENTS): failures (TaskFailed,
	// TaskDeadLettered, TaskCancelled), all (adds TaskSucceeded and
	// ScheduleFired: one more EventBridge event, $1.00 per million, per
	// successful task) or off.
	LifecycleEvents string
	// Claim is the workers' claim mode (HOURGLASS_CLAIM): none (two
	// DynamoDB writes per task; concurrent duplicate deliveries may both
	// call the target, one outcome is recorded; tasks can be cancelled
	// until 3 s before they run) or lease (a claim before each call, three
	// writes per task; concurrent duplicates wait; cancel until claimed).
	Claim string
	// TaskMaxReceiveCount is how many receives of a task message SQS allows
	// before moving it to the task DLQ. It must exceed the worker's retry
	// budget, so that the worker records FAILED before SQS gives up.
	TaskMaxReceiveCount int
	// WorkerConcurrency, DispatcherConcurrency and IngestConcurrency cap the
	// concurrent Lambda invocations of each SQS event source (minimum 2).
	WorkerConcurrency, DispatcherConcurrency, IngestConcurrency int
	// WorkerMinTasks and WorkerMaxTasks bound the ECS worker service's
	// queue-depth autoscaling.
	WorkerMinTasks, WorkerMaxTasks int
	// TargetQueueArns, TargetBusArns and TargetFunctionArns list the SQS
	// queues, event buses and Lambda functions tasks may target. The worker is
	// granted exactly these (plus the Hourglass bus); webhooks need no grant.
	TargetQueueArns, TargetBusArns, TargetFunctionArns []string
	// TargetRoleArns lists the IAM roles, in other accounts, that the
	// worker may assume (sts:AssumeRole) to call a cross-account target
	// whose role_arn names one. Default none: no role can be assumed, and
	// cross-account targets fail. Each role must trust the worker's role
	// with the condition sts:ExternalId = "hourglass:<tenant>"
	// (docs/access-keys.md). Like the target ARNs, these are the default
	// allow-list of every tenant when TargetAllow is empty.
	TargetRoleArns []string
	// TargetAllow lists, per tenant, the queue, bus and function ARNs its
	// tasks may target (HOURGLASS_TARGET_ALLOW; syntax in docs/operations.md:
	// "tenant=arn-pattern|arn-pattern,*=arn-pattern", * matching any
	// characters). Empty: every tenant may target every ARN of
	// TargetQueueArns, TargetBusArns and TargetFunctionArns (what the
	// worker is granted), and no other.
	TargetAllow string
	// TenantMap maps IAM principals to named tenants
	// (HOURGLASS_TENANT_MAP, "arn:aws:iam::<account>:role/<name>=tenant,…").
	// Unmapped principals are their own tenant: the role ARN for assumed
	// roles, the user ARN for IAM users.
	TenantMap string
	// RepoRoot is the repository root, relative to the working directory.
	// LambdaAssetDir and SchemaDir default beneath it.
	RepoRoot string
	// LambdaAssetDir holds one folder per function (api, scanner, dispatcher,
	// worker, ingest), each with the `bootstrap` binary that `make build`
	// writes. Default: <RepoRoot>/build/lambda.
	LambdaAssetDir string
	// SchemaDir holds the event JSON Schemas registered with EventBridge
	// Schemas; every *.json in it is loaded, and a missing folder means none.
	// Default: <RepoRoot>/events/schemas.
	SchemaDir string
	// WorkerImage overrides the ECS worker's image. Default: built from
	// infra/docker/worker.Dockerfile at deploy time (synth needs no Docker).
	WorkerImage awsecs.ContainerImage
}

// functionNames are the Lambda entry points, each a folder under
// LambdaAssetDir.
var functionNames = []string{"api", "scanner", "dispatcher", "worker", "ingest"}

// withDefaults returns a copy of p with every unset setting at its default,
// or an error naming the first invalid setting.
func (p *HourglassStackProps) withDefaults() (*HourglassStackProps, error) {
	r := HourglassStackProps{}
	if p != nil {
		r = *p
	}
	setInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setStr := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	setInt(&r.Shards, DefaultShards)
	setInt(&r.BucketSeconds, DefaultBucketSeconds)
	setInt(&r.LookaheadSeconds, DefaultLookaheadSeconds)
	setInt(&r.LogRetentionDays, DefaultLogRetentionDays)
	setInt(&r.ReadCapacity, DefaultReadCapacity)
	setInt(&r.WriteCapacity, DefaultWriteCapacity)
	setInt(&r.MaxReadCapacity, max(DefaultMaxCapacity, r.ReadCapacity))
	setInt(&r.MaxWriteCapacity, max(DefaultMaxCapacity, r.WriteCapacity))
	setInt(&r.TargetUtilization, DefaultTargetUtilization)
	setInt(&r.TaskMaxReceiveCount, DefaultTaskMaxReceiveCount)
	setInt(&r.WorkerConcurrency, DefaultWorkerConcurrency)
	setInt(&r.DispatcherConcurrency, DefaultDispatcherConcurrency)
	setInt(&r.IngestConcurrency, DefaultIngestConcurrency)
	setInt(&r.WorkerMinTasks, DefaultWorkerMinTasks)
	setInt(&r.WorkerMaxTasks, DefaultWorkerMaxTasks)
	setStr(&r.BusName, DefaultBusName)
	setStr(&r.TenantClaim, DefaultTenantClaim)
	setStr(&r.LogLevel, DefaultLogLevel)
	setStr(&r.SigningGrace, DefaultSigningGrace)
	setStr(&r.LifecycleEvents, DefaultLifecycleEvents)
	setStr(&r.Claim, DefaultClaim)
	setStr(&r.RepoRoot, DefaultRepoRoot)
	setStr(&r.LambdaAssetDir, filepath.Join(r.RepoRoot, "build", "lambda"))
	setStr(&r.SchemaDir, filepath.Join(r.RepoRoot, "events", "schemas"))
	if r.WorkerMode == "" {
		r.WorkerMode = DefaultWorkerMode
	}
	if r.BillingMode == "" {
		r.BillingMode = DefaultBillingMode
	}
	if r.TableEncryption == "" {
		r.TableEncryption = DefaultTableEncryption
	}
	if r.DeletionProtection == nil {
		r.DeletionProtection = jsii.Bool(true)
	}
	r.LogLevel = strings.ToLower(r.LogLevel)
	r.LifecycleEvents = strings.ToLower(r.LifecycleEvents)
	r.Claim = strings.ToLower(r.Claim)
	return &r, r.validate()
}

func (p *HourglassStackProps) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if p.Shards < 1 {
		bad("shards must be at least 1, got %d", p.Shards)
	}
	if p.BucketSeconds < 1 {
		bad("bucketSeconds must be at least 1, got %d", p.BucketSeconds)
	}
	if p.LookaheadSeconds < 60 || p.LookaheadSeconds > 900 {
		bad("lookaheadSeconds must be within 60..900 (scanner tick .. SQS max delay), got %d", p.LookaheadSeconds)
	}
	switch p.WorkerMode {
	case WorkerModeLambda, WorkerModeECS, WorkerModeBoth:
	default:
		bad("workerMode must be lambda, ecs or both, got %q", p.WorkerMode)
	}
	if p.LogRetentionDays < 1 {
		bad("logRetentionDays must be at least 1, got %d", p.LogRetentionDays)
	}
	switch p.BillingMode {
	case awsdynamodb.BillingMode_PAY_PER_REQUEST, awsdynamodb.BillingMode_PROVISIONED:
	default:
		bad("billingMode must be PAY_PER_REQUEST or PROVISIONED, got %q", p.BillingMode)
	}
	if p.ReadCapacity < 1 || p.WriteCapacity < 1 {
		bad("readCapacity and writeCapacity must be at least 1")
	}
	if p.MaxReadCapacity < p.ReadCapacity || p.MaxWriteCapacity < p.WriteCapacity {
		bad("maxReadCapacity and maxWriteCapacity must be at least readCapacity and writeCapacity, got %d < %d or %d < %d",
			p.MaxReadCapacity, p.ReadCapacity, p.MaxWriteCapacity, p.WriteCapacity)
	}
	if p.TargetUtilization < 20 || p.TargetUtilization > 90 {
		bad("targetUtilization must be a percentage within 20..90 (DynamoDB auto scaling's range), got %d", p.TargetUtilization)
	}
	switch p.TableEncryption {
	case awsdynamodb.TableEncryption_AWS_MANAGED, awsdynamodb.TableEncryption_CUSTOMER_MANAGED:
	default:
		bad("tableEncryption must be AWS_MANAGED or CUSTOMER_MANAGED, got %q", p.TableEncryption)
	}
	if (p.JwtIssuer == "") != (len(p.JwtAudience) == 0) {
		bad("jwtIssuer and jwtAudience must be given together")
	}
	if p.JwtIssuer != "" && !strings.HasPrefix(p.JwtIssuer, "https://") {
		bad("jwtIssuer must be an https:// URL, got %q", p.JwtIssuer)
	}
	switch p.LifecycleEvents {
	case "all", "failures", "off":
	default:
		bad("lifecycleEvents must be all, failures or off, got %q", p.LifecycleEvents)
	}
	switch p.Claim {
	case "none", "lease":
	default:
		bad("claim must be none or lease, got %q", p.Claim)
	}
	if d, err := time.ParseDuration(p.SigningGrace); err != nil || d < time.Minute || d > 720*time.Hour {
		bad("signingGrace must be a duration from 1m to 720h, got %q", p.SigningGrace)
	}
	if _, ok := applicationLogLevels[p.LogLevel]; !ok {
		bad("logLevel must be debug, info, warn or error, got %q", p.LogLevel)
	}
	if p.TaskMaxReceiveCount < 5 {
		bad("taskMaxReceiveCount must be at least 5, got %d", p.TaskMaxReceiveCount)
	}
	for name, c := range map[string]int{"workerConcurrency": p.WorkerConcurrency, "dispatcherConcurrency": p.DispatcherConcurrency, "ingestConcurrency": p.IngestConcurrency} {
		if c < 2 || c > 1000 { // the limits of an SQS event source's MaximumConcurrency
			bad("%s must be within 2..1000, got %d", name, c)
		}
	}
	if p.WorkerMinTasks < 0 || p.WorkerMaxTasks < p.WorkerMinTasks || p.WorkerMaxTasks < 1 {
		bad("workerMinTasks/workerMaxTasks must satisfy 0 <= min <= max, max >= 1")
	}
	for _, arns := range [][]string{p.TargetQueueArns, p.TargetBusArns, p.TargetFunctionArns, p.TargetRoleArns} {
		for _, arn := range arns {
			if !strings.HasPrefix(arn, "arn:") || strings.Contains(arn, "*") {
				bad("target ARNs must be full ARNs without wildcards, got %q", arn)
			}
		}
	}
	for _, entry := range strings.Split(p.IngestSources, ",") {
		src, _, _ := strings.Cut(entry, "=")
		if src = strings.TrimSpace(src); strings.EqualFold(src, "hourglass") || strings.HasPrefix(src, "aws.") {
			bad("ingestSources must not name Hourglass's lifecycle source or an aws.* source, got %q", src)
		}
	}
	for _, entry := range strings.Split(p.TargetAllow, ",") {
		if entry = strings.TrimSpace(entry); entry == "" {
			continue
		}
		i := strings.LastIndex(entry, "=")
		if i <= 0 {
			bad("targetAllow entries must be tenant=arn-pattern|arn-pattern, got %q", entry)
			continue
		}
		for _, pat := range strings.Split(entry[i+1:], "|") {
			if pat = strings.TrimSpace(pat); pat != "" && pat != "*" && !strings.HasPrefix(pat, "arn:") {
				bad("targetAllow patterns must be ARNs (arn:…, * for any characters), got %q", pat)
			}
		}
	}
	for _, entry := range strings.Split(p.TenantMap, ",") {
		if entry = strings.TrimSpace(entry); entry != "" && (!strings.HasPrefix(entry, "arn:") || !strings.Contains(entry, "=")) {
			bad("tenantMap entries must be principal-arn=tenant, got %q", entry)
		}
	}
	return errors.Join(errs...)
}

// targetAllow is HOURGLASS_TARGET_ALLOW: TargetAllow, or by default every
// ARN the worker is granted, for every tenant ("*=" alone: none).
func (p *HourglassStackProps) targetAllow() string {
	if strings.TrimSpace(p.TargetAllow) != "" {
		return p.TargetAllow
	}
	all := append(append(append(append([]string(nil), p.TargetQueueArns...), p.TargetBusArns...), p.TargetFunctionArns...), p.TargetRoleArns...)
	return "*=" + strings.Join(all, "|")
}

// Context keys, one per setting. `cdk synth -c key=value` passes strings;
// cdk.json's "context" may also hold JSON numbers, booleans and arrays.
const (
	CtxStackName             = "stackName"
	CtxShards                = "shards"
	CtxBucketSeconds         = "bucketSeconds"
	CtxLookaheadSeconds      = "lookaheadSeconds"
	CtxWorkerMode            = "workerMode"
	CtxLogRetentionDays      = "logRetentionDays"
	CtxBillingMode           = "billingMode"
	CtxReadCapacity          = "readCapacity"
	CtxWriteCapacity         = "writeCapacity"
	CtxMaxReadCapacity       = "maxReadCapacity"
	CtxMaxWriteCapacity      = "maxWriteCapacity"
	CtxTargetUtilization     = "targetUtilization"
	CtxTableEncryption       = "tableEncryption"
	CtxDeletionProtection    = "deletionProtection"
	CtxBusName               = "busName"
	CtxJwtIssuer             = "jwtIssuer"
	CtxJwtAudience           = "jwtAudience"
	CtxTenantClaim           = "tenantClaim"
	CtxIngestSources         = "ingestSources"
	CtxLogLevel              = "logLevel"
	CtxSigningGrace          = "signingGrace"
	CtxLifecycleEvents       = "lifecycleEvents"
	CtxClaim                 = "claim"
	CtxTaskMaxReceiveCount   = "taskMaxReceiveCount"
	CtxWorkerConcurrency     = "workerConcurrency"
	CtxDispatcherConcurrency = "dispatcherConcurrency"
	CtxIngestConcurrency     = "ingestConcurrency"
	CtxWorkerMinTasks        = "workerMinTasks"
	CtxWorkerMaxTasks        = "workerMaxTasks"
	CtxTargetQueueArns       = "targetQueueArns"
	CtxTargetBusArns         = "targetBusArns"
	CtxTargetFunctionArns    = "targetFunctionArns"
	CtxTargetRoleArns        = "targetRoleArns"
	CtxRepoRoot              = "repoRoot"
	CtxLambdaAssetDir        = "lambdaAssetDir"
	CtxSchemaDir             = "schemaDir"
	CtxNag                   = "nag"
	CtxListIndex             = "listIndex"
	CtxTargetAllow           = "targetAllow"
	CtxTenantMap             = "tenantMap"
)

// PropsFromContext reads every setting from the CDK context of node (usually
// the App), leaving unset ones at zero so that NewHourglassStack applies the
// defaults. It also returns the stack name (context `stackName`).
func PropsFromContext(node constructs.Node) (*HourglassStackProps, string, error) {
	c := contextReader{node: node}
	p := &HourglassStackProps{
		Shards:                c.int(CtxShards),
		BucketSeconds:         c.int(CtxBucketSeconds),
		LookaheadSeconds:      c.int(CtxLookaheadSeconds),
		WorkerMode:            WorkerMode(strings.ToLower(c.string(CtxWorkerMode))),
		LogRetentionDays:      c.int(CtxLogRetentionDays),
		BillingMode:           awsdynamodb.BillingMode(strings.ToUpper(c.string(CtxBillingMode))),
		ReadCapacity:          c.int(CtxReadCapacity),
		WriteCapacity:         c.int(CtxWriteCapacity),
		MaxReadCapacity:       c.int(CtxMaxReadCapacity),
		MaxWriteCapacity:      c.int(CtxMaxWriteCapacity),
		TargetUtilization:     c.int(CtxTargetUtilization),
		TableEncryption:       awsdynamodb.TableEncryption(strings.ToUpper(c.string(CtxTableEncryption))),
		DeletionProtection:    c.bool(CtxDeletionProtection),
		BusName:               c.string(CtxBusName),
		JwtIssuer:             c.string(CtxJwtIssuer),
		JwtAudience:           c.list(CtxJwtAudience),
		TenantClaim:           c.string(CtxTenantClaim),
		IngestSources:         c.string(CtxIngestSources),
		LogLevel:              c.string(CtxLogLevel),
		SigningGrace:          c.string(CtxSigningGrace),
		LifecycleEvents:       c.string(CtxLifecycleEvents),
		Claim:                 c.string(CtxClaim),
		TaskMaxReceiveCount:   c.int(CtxTaskMaxReceiveCount),
		WorkerConcurrency:     c.int(CtxWorkerConcurrency),
		DispatcherConcurrency: c.int(CtxDispatcherConcurrency),
		IngestConcurrency:     c.int(CtxIngestConcurrency),
		WorkerMinTasks:        c.int(CtxWorkerMinTasks),
		WorkerMaxTasks:        c.int(CtxWorkerMaxTasks),
		TargetQueueArns:       c.list(CtxTargetQueueArns),
		TargetBusArns:         c.list(CtxTargetBusArns),
		TargetFunctionArns:    c.list(CtxTargetFunctionArns),
		TargetRoleArns:        c.list(CtxTargetRoleArns),
		RepoRoot:              c.string(CtxRepoRoot),
		LambdaAssetDir:        c.string(CtxLambdaAssetDir),
		SchemaDir:             c.string(CtxSchemaDir),
		TargetAllow:           c.string(CtxTargetAllow),
		TenantMap:             c.string(CtxTenantMap),
	}
	if v := c.bool(CtxListIndex); v != nil {
		p.ListIndex = *v
	}
	name := c.string(CtxStackName)
	if name == "" {
		name = DefaultStackName
	}
	if len(c.errs) > 0 {
		return nil, "", errors.Join(c.errs...)
	}
	if _, err := p.withDefaults(); err != nil {
		return nil, "", err
	}
	return p, name, nil
}

// contextReader converts context values, collecting conversion errors.
type contextReader struct {
	node constructs.Node
	errs []error
}

func (c *contextReader) raw(key string) (any, bool) {
	v := c.node.TryGetContext(jsii.String(key))
	if v == nil {
		return nil, false
	}
	if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
		return nil, false
	}
	return v, true
}

func (c *contextReader) string(key string) string {
	v, ok := c.raw(key)
	if !ok {
		return ""
	}
	if s, ok := v.(string); ok {
		return strings.TrimSpace(s)
	}
	return fmt.Sprint(v)
}

func (c *contextReader) int(key string) int {
	v, ok := c.raw(key)
	if !ok {
		return 0
	}
	switch n := v.(type) {
	case float64:
		if n == float64(int(n)) {
			return int(n)
		}
	case string:
		if i, err := strconv.Atoi(strings.TrimSpace(n)); err == nil {
			return i
		}
	}
	c.errs = append(c.errs, fmt.Errorf("context %s: want an integer, got %v", key, v))
	return 0
}

func (c *contextReader) bool(key string) *bool {
	v, ok := c.raw(key)
	if !ok {
		return nil
	}
	switch b := v.(type) {
	case bool:
		return &b
	case string:
		if parsed, err := strconv.ParseBool(strings.TrimSpace(b)); err == nil {
			return &parsed
		}
	}
	c.errs = append(c.errs, fmt.Errorf("context %s: want true or false, got %v", key, v))
	return nil
}

// list accepts a JSON array (from cdk.json), a JSON array in a string, or a
// comma-separated string (from -c key=a,b).
func (c *contextReader) list(key string) []string {
	v, ok := c.raw(key)
	if !ok {
		return nil
	}
	var items []string
	switch l := v.(type) {
	case []any:
		for _, item := range l {
			items = append(items, fmt.Sprint(item))
		}
	case string:
		s := strings.TrimSpace(l)
		if strings.HasPrefix(s, "[") {
			if err := json.Unmarshal([]byte(s), &items); err != nil {
				c.errs = append(c.errs, fmt.Errorf("context %s: %w", key, err))
				return nil
			}
		} else {
			items = strings.Split(s, ",")
		}
	default:
		c.errs = append(c.errs, fmt.Errorf("context %s: want a list, got %v", key, v))
		return nil
	}
	var out []string
	for _, item := range items {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
