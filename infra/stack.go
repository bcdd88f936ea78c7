package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Environment variable names the runtime reads (its contract with this stack).
const (
	EnvTable            = "HOURGLASS_TABLE"
	EnvScanQueueURL     = "HOURGLASS_SCAN_QUEUE_URL"
	EnvTaskQueueURL     = "HOURGLASS_TASK_QUEUE_URL"
	EnvTaskDLQURL       = "HOURGLASS_TASK_DLQ_URL"
	EnvIngestDLQURL     = "HOURGLASS_INGEST_DLQ_URL"
	EnvBusName          = "HOURGLASS_BUS_NAME"
	EnvShards           = "HOURGLASS_SHARDS"
	EnvBucketSeconds    = "HOURGLASS_BUCKET_SECONDS"
	EnvLookaheadSeconds = "HOURGLASS_LOOKAHEAD_SECONDS"
	EnvLogLevel         = "HOURGLASS_LOG_LEVEL"
	EnvSigningSecretARN = "HOURGLASS_SIGNING_SECRET_ARN"
	EnvSigningKMSKey    = "HOURGLASS_SIGNING_KMS_KEY"
	EnvSigningGrace     = "HOURGLASS_SIGNING_GRACE"
	EnvAuthMode         = "HOURGLASS_AUTH_MODE"
	EnvTenantClaim      = "HOURGLASS_TENANT_CLAIM"
	EnvIngestSources    = "HOURGLASS_INGEST_SOURCES"
	EnvListIndex        = "HOURGLASS_LIST_INDEX"
	EnvWorkerMode       = "HOURGLASS_WORKER_MODE"
	EnvLifecycleEvents  = "HOURGLASS_LIFECYCLE_EVENTS"
	EnvClaim            = "HOURGLASS_CLAIM"
	EnvScanDLQURL       = "HOURGLASS_SCAN_DLQ_URL"
	EnvIngestQueueURL   = "HOURGLASS_INGEST_QUEUE_URL"
	EnvTargetAllow      = "HOURGLASS_TARGET_ALLOW"
	EnvTenantMap        = "HOURGLASS_TENANT_MAP"
)

// MetricsNamespace is the CloudWatch namespace of the metrics the runtime
// emits in Embedded Metric Format (LatenessMs among them).
const MetricsNamespace = "Hourglass"

// Function timeouts. Each consuming queue's visibility timeout is six times
// its consumer's timeout, as AWS advises for SQS event sources.
var (
	apiTimeout        = awscdk.Duration_Seconds(jsii.Number(15))
	scannerTimeout    = awscdk.Duration_Seconds(jsii.Number(30))
	dispatcherTimeout = awscdk.Duration_Seconds(jsii.Number(60))
	workerTimeout     = awscdk.Duration_Seconds(jsii.Number(60))
	ingestTimeout     = awscdk.Duration_Seconds(jsii.Number(30))
)

const visibilityFactor = 6

// functionMemoryMB is each function's memory size. The Go binaries need
// far less than 128 MB, and Lambda bills GB-seconds, so 128 MB (the least)
// for all but the API, which keeps 256 MB for the CPU share that comes with
// it: a batch body is up to 4 MiB of JSON, and a caller waits. The local
// host counts GB-seconds with the same sizes (pkg/devhost MemoryMB;
// TestFunctionMemoryMatchesDevHost checks that they agree).
var functionMemoryMB = map[string]float64{
	"api": 256, "ingest": 128, "scanner": 128, "dispatcher": 128, "worker": 128,
}

var applicationLogLevels = map[string]awslambda.ApplicationLogLevel{
	"debug": awslambda.ApplicationLogLevel_DEBUG,
	"info":  awslambda.ApplicationLogLevel_INFO,
	"warn":  awslambda.ApplicationLogLevel_WARN,
	"error": awslambda.ApplicationLogLevel_ERROR,
}

var retentionDays = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
	1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
	3653: awslogs.RetentionDays_TEN_YEARS,
}

// queuePair is a source queue and its dead-letter queue.
type queuePair struct {
	queue, dlq awssqs.Queue
}

// builder carries the constructs that later parts of the stack refer to.
type builder struct {
	stack         awscdk.Stack
	props         *HourglassStackProps
	table         awsdynamodb.Table
	scan          queuePair
	task          queuePair
	ingest        queuePair
	bus           awsevents.EventBus
	signingSecret awssecretsmanager.Secret
	// signingKey seals the tenants' webhook signing secrets in the table.
	signingKey    awskms.Key
	functions     map[string]awslambda.Function
	apiURL        *string
	healthzRoutes *[]awsapigatewayv2.HttpRoute

	// schedulerRoutes are the EventBridge Scheduler-compatible API's
	// routes, which the api function authenticates itself (SigV4).
	schedulerRoutes []awsapigatewayv2.HttpRoute

	workerTask    awsecs.FargateTaskDefinition
	schemaRegName *string
}

// NewHourglassStack builds the whole Hourglass deployment: table, queues,
// functions, event bus and rules, schemas, HTTP API, optional ECS workers,
// alarms, dashboard and outputs. Unset props take their defaults. It panics
// if props are invalid; PropsFromContext reports the same errors as values.
func NewHourglassStack(scope constructs.Construct, id string, props *HourglassStackProps) awscdk.Stack {
	p, err := props.withDefaults()
	if err != nil {
		panic(fmt.Sprintf("hourglass: invalid stack props: %v", err))
	}
	if _, ok := retentionDays[p.LogRetentionDays]; !ok {
		panic(fmt.Sprintf("hourglass: invalid stack props: logRetentionDays %d is not a CloudWatch Logs retention", p.LogRetentionDays))
	}
	stackProps := p.StackProps
	if stackProps.Description == nil {
		stackProps.Description = jsii.String("Hourglass: serverless task scheduler (DynamoDB, SQS, Lambda, EventBridge, API Gateway)")
	}
	b := &builder{
		stack:     awscdk.NewStack(scope, &id, &stackProps),
		props:     p,
		functions: map[string]awslambda.Function{},
	}
	b.addTable()
	b.addQueues()
	b.addBusAndSecret()
	b.addFunctions()
	b.addRules()
	b.addSchemas()
	b.addAPI()
	if p.WorkerMode.ecs() {
		b.addECSWorker()
	}
	b.addMonitoring()
	b.addOutputs()
	b.addNagSuppressions()
	return b.stack
}

func (b *builder) retention() awslogs.RetentionDays { return retentionDays[b.props.LogRetentionDays] }

func (b *builder) addTable() {
	p := b.props
	removal := awscdk.RemovalPolicy_RETAIN
	if !*p.DeletionProtection {
		removal = awscdk.RemovalPolicy_DESTROY
	}
	tableProps := &awsdynamodb.TableProps{
		PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String("pk"), Type: awsdynamodb.AttributeType_STRING},
		SortKey:             &awsdynamodb.Attribute{Name: jsii.String("sk"), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:         p.BillingMode,
		Encryption:          p.TableEncryption,
		DeletionProtection:  p.DeletionProtection,
		RemovalPolicy:       removal,
		TimeToLiveAttribute: jsii.String("expires_at"),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
	}
	gsi := &awsdynamodb.GlobalSecondaryIndexProps{
		IndexName:    jsii.String("by_tenant"),
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String("gsi1pk"), Type: awsdynamodb.AttributeType_STRING},
		SortKey:      &awsdynamodb.Attribute{Name: jsii.String("gsi1sk"), Type: awsdynamodb.AttributeType_STRING},
		// KEYS_ONLY: the list API reads the tasks by key (BatchGetItem), and
		// claims and outcomes then never write to the index — one index
		// write per task, at create (ddbstore.IndexByTenant), and only with
		// ListIndex: otherwise no item carries its keys and it costs
		// nothing. It is always defined, so ListIndex can be turned on
		// later without a table change (it then lists new tasks only).
		ProjectionType: awsdynamodb.ProjectionType_KEYS_ONLY,
	}
	// by_failed lists a tenant's FAILED tasks (GET /v1/tasks?state=FAILED,
	// the dead letters), in every deployment: sparse, since only the
	// outcome write that fails a task sets its sort key failed_sk (and a
	// redrive removes it), so tasks that succeed never write to it. Its
	// partition key is the tenant attribute every task item has.
	failed := &awsdynamodb.GlobalSecondaryIndexProps{
		IndexName:      jsii.String("by_failed"),
		PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String("tenant"), Type: awsdynamodb.AttributeType_STRING},
		SortKey:        &awsdynamodb.Attribute{Name: jsii.String("failed_sk"), Type: awsdynamodb.AttributeType_STRING},
		ProjectionType: awsdynamodb.ProjectionType_KEYS_ONLY,
	}
	if p.BillingMode == awsdynamodb.BillingMode_PROVISIONED {
		tableProps.ReadCapacity = jsii.Number(p.ReadCapacity)
		tableProps.WriteCapacity = jsii.Number(p.WriteCapacity)
		gsi.ReadCapacity = jsii.Number(p.ReadCapacity)
		gsi.WriteCapacity = jsii.Number(p.WriteCapacity)
		// As the table's: failures come in bursts (a target's outage fails
		// its tasks together), and a GSI short of write capacity throttles
		// the table's own writes.
		failed.ReadCapacity = jsii.Number(p.ReadCapacity)
		failed.WriteCapacity = jsii.Number(p.WriteCapacity)
	}
	b.table = awsdynamodb.NewTable(b.stack, jsii.String("Table"), tableProps)
	b.table.AddGlobalSecondaryIndex(gsi)
	b.table.AddGlobalSecondaryIndex(failed)
	if p.BillingMode == awsdynamodb.BillingMode_PROVISIONED {
		b.autoScaleTable(*gsi.IndexName, *failed.IndexName)
	}
}

// autoScaleTable scales the provisioned table's and its indexes' read and
// write capacity between the configured floors and ceilings, keeping the
// consumed share at TargetUtilization percent: the configuration that the
// capacity model prices (scripts/capacity -billing provisioned).
func (b *builder) autoScaleTable(indexes ...string) {
	p := b.props
	target := &awsdynamodb.UtilizationScalingProps{TargetUtilizationPercent: jsii.Number(p.TargetUtilization)}
	read := &awsdynamodb.EnableScalingProps{MinCapacity: jsii.Number(p.ReadCapacity), MaxCapacity: jsii.Number(p.MaxReadCapacity)}
	write := &awsdynamodb.EnableScalingProps{MinCapacity: jsii.Number(p.WriteCapacity), MaxCapacity: jsii.Number(p.MaxWriteCapacity)}
	b.table.AutoScaleReadCapacity(read).ScaleOnUtilization(target)
	b.table.AutoScaleWriteCapacity(write).ScaleOnUtilization(target)
	for _, ix := range indexes {
		b.table.AutoScaleGlobalSecondaryIndexReadCapacity(jsii.String(ix), read).ScaleOnUtilization(target)
		b.table.AutoScaleGlobalSecondaryIndexWriteCapacity(jsii.String(ix), write).ScaleOnUtilization(target)
	}
}

func (b *builder) addQueues() {
	scaled := func(d awscdk.Duration) awscdk.Duration {
		return awscdk.Duration_Seconds(jsii.Number(*d.ToSeconds(nil) * visibilityFactor))
	}
	b.scan = b.newQueuePair("Scan", scaled(dispatcherTimeout), 5)
	b.task = b.newQueuePair("Task", scaled(workerTimeout), b.props.TaskMaxReceiveCount)
	b.ingest = b.newQueuePair("Ingest", scaled(ingestTimeout), 5)
}

// newQueuePair makes an encrypted, TLS-only queue with a DLQ that keeps
// messages longer than the source does, so nothing expires on the way.
func (b *builder) newQueuePair(name string, visibility awscdk.Duration, maxReceives int) queuePair {
	dlq := awssqs.NewQueue(b.stack, jsii.String(name+"DLQ"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	q := awssqs.NewQueue(b.stack, jsii.String(name+"Queue"), &awssqs.QueueProps{
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		RetentionPeriod:   awscdk.Duration_Days(jsii.Number(4)),
		VisibilityTimeout: visibility,
		DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: dlq, MaxReceiveCount: jsii.Number(maxReceives)},
	})
	return queuePair{queue: q, dlq: dlq}
}

func (b *builder) addBusAndSecret() {
	b.bus = awsevents.NewEventBus(b.stack, jsii.String("Bus"), &awsevents.EventBusProps{
		EventBusName: jsii.String(b.props.BusName),
		Description:  jsii.String("Hourglass ingest (CreateTask, CreateSchedule) and lifecycle events"),
	})
	b.signingSecret = awssecretsmanager.NewSecret(b.stack, jsii.String("SigningSecret"), &awssecretsmanager.SecretProps{
		Description: jsii.String("Hourglass master key: authenticates list page tokens (webhook secrets are per tenant, in the table)"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(64),
			ExcludePunctuation: jsii.Bool(true),
		},
	})
	// The tenants' webhook signing secrets are random per tenant and kept
	// in the table, each encrypted under this key with the tenant as
	// encryption context. Retained with the table: without it the stored
	// secrets cannot be read.
	b.signingKey = awskms.NewKey(b.stack, jsii.String("SigningKey"), &awskms.KeyProps{
		Description:       jsii.String("Hourglass: encrypts the tenants' webhook signing secrets stored in the table"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
}

// env builds a function's environment from the names it needs.
func (b *builder) env(names ...string) *map[string]*string {
	p := b.props
	authMode := "iam"
	if p.JwtIssuer != "" {
		authMode = "jwt"
	}
	all := map[string]*string{
		EnvTable:            b.table.TableName(),
		EnvScanQueueURL:     b.scan.queue.QueueUrl(),
		EnvTaskQueueURL:     b.task.queue.QueueUrl(),
		EnvTaskDLQURL:       b.task.dlq.QueueUrl(),
		EnvIngestDLQURL:     b.ingest.dlq.QueueUrl(),
		EnvScanDLQURL:       b.scan.dlq.QueueUrl(),
		EnvIngestQueueURL:   b.ingest.queue.QueueUrl(),
		EnvTargetAllow:      jsii.String(p.targetAllow()),
		EnvTenantMap:        jsii.String(p.TenantMap),
		EnvBusName:          b.bus.EventBusName(),
		EnvShards:           jsii.String(strconv.Itoa(p.Shards)),
		EnvBucketSeconds:    jsii.String(strconv.Itoa(p.BucketSeconds)),
		EnvLookaheadSeconds: jsii.String(strconv.Itoa(p.LookaheadSeconds)),
		EnvLogLevel:         jsii.String(p.LogLevel),
		EnvSigningSecretARN: b.signingSecret.SecretArn(),
		EnvSigningKMSKey:    b.signingKey.KeyArn(),
		EnvSigningGrace:     jsii.String(p.SigningGrace),
		EnvAuthMode:         jsii.String(authMode),
		EnvTenantClaim:      jsii.String(p.TenantClaim),
		EnvIngestSources:    jsii.String(p.IngestSources),
		EnvListIndex:        jsii.String(map[bool]string{false: "0", true: "1"}[p.ListIndex]),
		EnvLifecycleEvents:  jsii.String(p.LifecycleEvents),
		EnvClaim:            jsii.String(p.Claim),
	}
	out := map[string]*string{}
	for _, n := range names {
		v, ok := all[n]
		if !ok {
			panic("hourglass: unknown environment variable " + n)
		}
		out[n] = v
	}
	return &out
}

// Environment of each function: only what it reads.
var (
	// Every function builds the same store, so each gets the list index
	// switch (a task item's index keys are written by whoever creates it).
	// The claim mode, too: the worker claims (or not), and the API's cancel
	// cut-off depends on it.
	schedulingEnv = []string{EnvShards, EnvBucketSeconds, EnvLookaheadSeconds, EnvLogLevel, EnvListIndex, EnvClaim}
	// Whatever validates or executes targets knows every resource of
	// Hourglass's own (which no target may address) and the per-tenant
	// allow-list.
	targetGuardEnv = []string{EnvScanQueueURL, EnvScanDLQURL, EnvTaskQueueURL, EnvTaskDLQURL, EnvIngestQueueURL, EnvIngestDLQURL, EnvBusName, EnvTargetAllow}
	functionEnv    = map[string][]string{
		"api":        concat([]string{EnvTable, EnvLifecycleEvents, EnvSigningSecretARN, EnvSigningKMSKey, EnvSigningGrace, EnvAuthMode, EnvTenantClaim, EnvTenantMap}, schedulingEnv, targetGuardEnv),
		"ingest":     concat([]string{EnvTable, EnvIngestSources}, schedulingEnv, targetGuardEnv),
		"scanner":    concat([]string{EnvTable, EnvScanQueueURL}, schedulingEnv),
		"dispatcher": concat([]string{EnvTable, EnvLifecycleEvents}, schedulingEnv, targetGuardEnv),
		"worker":     concat([]string{EnvTable, EnvLifecycleEvents, EnvSigningSecretARN, EnvSigningKMSKey}, schedulingEnv, targetGuardEnv),
	}
	functionTimeouts = map[string]awscdk.Duration{
		"api": apiTimeout, "ingest": ingestTimeout, "scanner": scannerTimeout,
		"dispatcher": dispatcherTimeout, "worker": workerTimeout,
	}
	functionDescriptions = map[string]string{
		"api":        "Hourglass HTTP API",
		"ingest":     "Hourglass ingest: creates tasks and schedules from EventBridge events",
		"scanner":    "Hourglass scanner: fans out due (bucket, shard) units every minute",
		"dispatcher": "Hourglass dispatcher: hands one partition's due tasks to the task queue",
		"worker":     "Hourglass worker: executes tasks and records outcomes",
	}
)

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// FunctionNamePrefix starts the name of every function of the stack, so
// that the target guard refuses them by name alone, without knowing their
// ARNs (pkg/target.DefaultFunctionPrefix; the two must agree).
const FunctionNamePrefix = "hourglass-"

// functionName is FunctionNamePrefix, the stack name (cut so that the
// whole fits Lambda's 64 characters) and the function's role: several
// stacks in one account keep apart.
func (b *builder) functionName(name string) string {
	stack := strings.ToLower(*b.stack.StackName())
	if max := 64 - len(FunctionNamePrefix) - 1 - len(name); len(stack) > max {
		stack = stack[:max]
	}
	return FunctionNamePrefix + stack + "-" + name
}

// newFunction makes one Go Lambda function with its own role and log group;
// the role gets no managed policy, only what is granted to it afterwards.
func (b *builder) newFunction(name string) awslambda.Function {
	id := exportName(name)
	logs := awslogs.NewLogGroup(b.stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		Retention: b.retention(),
	})
	role := awsiam.NewRole(b.stack, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Hourglass " + name + " function"),
	})
	logs.GrantWrite(role)
	fn := awslambda.NewFunction(b.stack, jsii.String(id+"Function"), &awslambda.FunctionProps{
		FunctionName:          jsii.String(b.functionName(name)),
		Description:           jsii.String(functionDescriptions[name]),
		Runtime:               awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:          awslambda.Architecture_ARM_64(),
		Handler:               jsii.String("bootstrap"),
		Code:                  awslambda.Code_FromAsset(jsii.String(filepath.Join(b.props.LambdaAssetDir, name)), nil),
		MemorySize:            jsii.Number(functionMemoryMB[name]),
		Timeout:               functionTimeouts[name],
		Role:                  role,
		LogGroup:              logs,
		LoggingFormat:         awslambda.LoggingFormat_JSON,
		ApplicationLogLevelV2: applicationLogLevels[b.props.LogLevel],
		SystemLogLevelV2:      awslambda.SystemLogLevel_INFO,
		Tracing:               awslambda.Tracing_ACTIVE,
		Environment:           b.env(functionEnv[name]...),
	})
	b.functions[name] = fn
	return fn
}

func (b *builder) addFunctions() {
	p := b.props

	api := b.newFunction("api")
	b.table.GrantReadWriteData(api)
	b.task.queue.GrantSendMessages(api)
	b.grantLifecycleEvents(api)
	b.signingSecret.GrantRead(api, nil)
	// Reading a tenant's secret creates it on first use; rotating seals a
	// new one: both directions. The same key seals the tenants' access key
	// secrets: sealed at POST /v1/access-keys, opened to verify a SigV4
	// signature on the Scheduler-compatible routes.
	b.signingKey.Grant(api, jsii.String("kms:Encrypt"), jsii.String("kms:Decrypt"))

	ingest := b.newFunction("ingest")
	b.table.GrantReadWriteData(ingest)
	b.task.queue.GrantSendMessages(ingest)
	b.ingest.dlq.GrantSendMessages(ingest)
	ingest.AddEventSource(awslambdaeventsources.NewSqsEventSource(b.ingest.queue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(10),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          jsii.Number(p.IngestConcurrency),
	}))

	scanner := b.newFunction("scanner")
	b.table.GrantReadWriteData(scanner)
	b.scan.queue.GrantSendMessages(scanner)

	dispatcher := b.newFunction("dispatcher")
	b.table.GrantReadWriteData(dispatcher)
	b.task.queue.GrantSendMessages(dispatcher)
	b.grantLifecycleEvents(dispatcher)
	// One (bucket, shard) unit per invocation: a slow partition never holds
	// back another's tasks.
	dispatcher.AddEventSource(awslambdaeventsources.NewSqsEventSource(b.scan.queue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(1),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          jsii.Number(p.DispatcherConcurrency),
	}))

	if p.WorkerMode.lambda() {
		worker := b.newFunction("worker")
		b.grantWorker(worker)
		worker.AddEventSource(awslambdaeventsources.NewSqsEventSource(b.task.queue, &awslambdaeventsources.SqsEventSourceProps{
			BatchSize:               jsii.Number(10),
			ReportBatchItemFailures: jsii.Bool(true),
			MaxConcurrency:          jsii.Number(p.WorkerConcurrency),
		}))
	}
}

// grantWorker gives a worker (Lambda or ECS task role) what executing tasks
// needs: the table, re-enqueueing retries, the DLQ, lifecycle events, the
// signing key, the allow-listed targets and the roles of cross-account
// targets (TargetRoleArns).
func (b *builder) grantWorker(grantee awsiam.IGrantable) {
	b.table.GrantReadWriteData(grantee)
	b.task.queue.GrantSendMessages(grantee)
	b.task.dlq.GrantSendMessages(grantee)
	b.grantLifecycleEvents(grantee)
	b.signingSecret.GrantRead(grantee, nil)
	// A tenant's first delivery may create its signing secret.
	b.signingKey.Grant(grantee, jsii.String("kms:Encrypt"), jsii.String("kms:Decrypt"))
	p := b.props
	if len(p.TargetQueueArns)+len(p.TargetBusArns)+len(p.TargetFunctionArns)+len(p.TargetRoleArns) == 0 {
		return
	}
	statement := func(actions []string, arns []string) {
		if len(arns) == 0 {
			return
		}
		grantee.GrantPrincipal().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings(actions...),
			Resources: jsii.Strings(arns...),
		}))
	}
	statement([]string{"sqs:SendMessage", "sqs:GetQueueUrl"}, p.TargetQueueArns)
	statement([]string{"events:PutEvents"}, p.TargetBusArns)
	statement([]string{"lambda:InvokeFunction"}, p.TargetFunctionArns)
	// Cross-account targets: the roles the deployer allows, and no other.
	statement([]string{"sts:AssumeRole"}, p.TargetRoleArns)
}

// LifecycleSource is the source of Hourglass's lifecycle events
// (events.Source in the main module), and LifecycleDetailTypes their
// detail types: all that a function may put on the Hourglass bus.
const LifecycleSource = "hourglass"

// LifecycleDetailTypes are the lifecycle events' detail types.
var LifecycleDetailTypes = []string{"TaskSucceeded", "TaskFailed", "TaskDeadLettered", "TaskCancelled", "ScheduleFired"}

// grantLifecycleEvents lets grantee publish lifecycle events on the
// Hourglass bus and nothing else there: an Allow conditioned on
// events:source and events:detail-type, and Denies of any other source or
// detail type, which also override a target grant (TargetBusArns) that
// happens to cover the bus. A worker tricked into putting a CreateTask
// event on the bus is refused by IAM, whatever the task's checks missed.
func (b *builder) grantLifecycleEvents(grantee awsiam.IGrantable) {
	bus := jsii.Strings(*b.bus.EventBusArn())
	pr := grantee.GrantPrincipal()
	pr.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("PublishLifecycleEvents"),
		Actions:   jsii.Strings("events:PutEvents"),
		Resources: bus,
		Conditions: &map[string]any{"StringEquals": map[string]any{
			"events:source": LifecycleSource, "events:detail-type": LifecycleDetailTypes,
		}},
	}))
	pr.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("NoOtherSourceOnHourglassBus"),
		Effect:     awsiam.Effect_DENY,
		Actions:    jsii.Strings("events:PutEvents"),
		Resources:  bus,
		Conditions: &map[string]any{"StringNotEquals": map[string]any{"events:source": LifecycleSource}},
	}))
	pr.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("NoOtherDetailTypeOnHourglassBus"),
		Effect:     awsiam.Effect_DENY,
		Actions:    jsii.Strings("events:PutEvents"),
		Resources:  bus,
		Conditions: &map[string]any{"StringNotEquals": map[string]any{"events:detail-type": LifecycleDetailTypes}},
	}))
}

// ingestSources is the ingest rule's source filter: the sources
// IngestSources allows, or — when it allows every source ("*") or none
// (every CreateTask then lands in the ingest DLQ with the reason) —
// anything but Hourglass's own lifecycle source. Lifecycle events are
// never ingest, whatever their detail type.
func (p *HourglassStackProps) ingestSources() *[]*string {
	var srcs []string
	for _, entry := range strings.Split(p.IngestSources, ",") {
		src, _, _ := strings.Cut(entry, "=")
		if src = strings.TrimSpace(src); src == "*" {
			srcs = nil
			break
		} else if src != "" {
			srcs = append(srcs, src)
		}
	}
	if len(srcs) == 0 {
		return awsevents.Match_AnythingBut(LifecycleSource)
	}
	sort.Strings(srcs)
	return jsii.Strings(srcs...)
}

func (b *builder) addRules() {
	awsevents.NewRule(b.stack, jsii.String("ScannerTick"), &awsevents.RuleProps{
		Description: jsii.String("Hourglass scanner tick"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(1))),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(b.functions["scanner"], &awseventstargets.LambdaFunctionProps{
			// A tick older than a minute is superseded by the next one.
			MaxEventAge:   awscdk.Duration_Minutes(jsii.Number(1)),
			RetryAttempts: jsii.Number(2),
		})},
	})
	awsevents.NewRule(b.stack, jsii.String("IngestRule"), &awsevents.RuleProps{
		Description: jsii.String("Hourglass ingest: CreateTask and CreateSchedule events to the ingest queue"),
		EventBus:    b.bus,
		EventPattern: &awsevents.EventPattern{
			Source:     b.props.ingestSources(),
			DetailType: jsii.Strings("CreateTask", "CreateSchedule"),
		},
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewSqsQueue(b.ingest.queue, &awseventstargets.SqsQueueProps{
			// Events EventBridge cannot deliver land beside the ingest
			// function's failures, so one redrive replays both.
			DeadLetterQueue: b.ingest.dlq,
			RetryAttempts:   jsii.Number(10),
		})},
	})
}

// exportName turns a function name into a construct-ID prefix ("api" → "Api").
func exportName(name string) string {
	if name == "" {
		return name
	}
	return strings.ToUpper(name[:1]) + name[1:]
}
