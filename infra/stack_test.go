package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/stretchr/testify/require"
)

// Variants synthesized once each and shared by the tests below.

// customStack changes every table, API and logging setting away from its
// default at once.
func customStack(t *testing.T) *synthed {
	return synth(t, "custom", func(p *HourglassStackProps) {
		p.BillingMode = "PROVISIONED"
		p.ReadCapacity, p.WriteCapacity = 7, 3
		p.TableEncryption = "CUSTOMER_MANAGED"
		p.DeletionProtection = jsii.Bool(false)
		p.JwtIssuer = "https://issuer.example.com/"
		p.JwtAudience = []string{"hourglass-api"}
		p.TenantClaim = "org_id"
		p.IngestSources = "com.example.orders=acme|globex"
		p.LogLevel = "debug"
		p.ListIndex = true
		p.LifecycleEvents = "all"
		p.Shards = 64
		p.BusName = "scheduler"
		p.TargetQueueArns = []string{"arn:aws:sqs:eu-west-1:111111111111:orders"}
		p.TargetBusArns = []string{"arn:aws:events:eu-west-1:111111111111:event-bus/billing"}
		p.TargetFunctionArns = []string{"arn:aws:lambda:eu-west-1:111111111111:function:charge"}
		p.TargetRoleArns = []string{"arn:aws:iam::222222222222:role/hourglass-target"}
	})
}

func ecsStack(t *testing.T) *synthed {
	return synth(t, "ecs", func(p *HourglassStackProps) {
		p.WorkerMode = WorkerModeECS
		p.SchemaDir = "/nonexistent/hourglass/schemas"
	})
}

func bothStack(t *testing.T) *synthed {
	return synth(t, "both", func(p *HourglassStackProps) { p.WorkerMode = WorkerModeBoth })
}

func allVariants(t *testing.T) map[string]*synthed {
	return map[string]*synthed{
		"default": defaultStack(t), "custom": customStack(t), "ecs": ecsStack(t), "both": bothStack(t),
	}
}

func TestTableDefaults(t *testing.T) {
	// GIVEN the stack with default settings
	s := defaultStack(t)

	// WHEN the template is inspected
	// THEN the table has the pk/sk keys, on-demand billing, PITR, TTL, AWS
	// managed encryption, deletion protection, the by_tenant GSI and the
	// sparse by_failed GSI (tenant, failed_sk)
	noPanic(t, func() {
		s.template.ResourceCountIs(jsii.String("AWS::DynamoDB::Table"), jsii.Number(1))
		s.template.ResourceCountIs(jsii.String("AWS::DynamoDB::GlobalTable"), jsii.Number(0))
		s.template.HasResource(jsii.String("AWS::DynamoDB::Table"), map[string]any{
			"DeletionPolicy": "Retain",
			"Properties": map[string]any{
				"KeySchema": []any{
					map[string]any{"AttributeName": "pk", "KeyType": "HASH"},
					map[string]any{"AttributeName": "sk", "KeyType": "RANGE"},
				},
				"AttributeDefinitions": assertions.Match_ArrayWith(&[]any{
					map[string]any{"AttributeName": "pk", "AttributeType": "S"},
					map[string]any{"AttributeName": "sk", "AttributeType": "S"},
					map[string]any{"AttributeName": "gsi1pk", "AttributeType": "S"},
					map[string]any{"AttributeName": "gsi1sk", "AttributeType": "S"},
					map[string]any{"AttributeName": "tenant", "AttributeType": "S"},
					map[string]any{"AttributeName": "failed_sk", "AttributeType": "S"},
				}),
				"BillingMode":                      "PAY_PER_REQUEST",
				"ProvisionedThroughput":            assertions.Match_Absent(),
				"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
				"TimeToLiveSpecification":          map[string]any{"AttributeName": "expires_at", "Enabled": true},
				"SSESpecification":                 map[string]any{"SSEEnabled": true, "KMSMasterKeyId": assertions.Match_Absent()},
				"DeletionProtectionEnabled":        true,
				"GlobalSecondaryIndexes": []any{map[string]any{
					"IndexName": "by_tenant",
					"KeySchema": []any{
						map[string]any{"AttributeName": "gsi1pk", "KeyType": "HASH"},
						map[string]any{"AttributeName": "gsi1sk", "KeyType": "RANGE"},
					},
					"Projection": map[string]any{"ProjectionType": "KEYS_ONLY"},
				}, map[string]any{
					"IndexName": "by_failed",
					"KeySchema": []any{
						map[string]any{"AttributeName": "tenant", "KeyType": "HASH"},
						map[string]any{"AttributeName": "failed_sk", "KeyType": "RANGE"},
					},
					"Projection": map[string]any{"ProjectionType": "KEYS_ONLY"},
				}},
			},
		})
	})
}

func TestTableCustomSettings(t *testing.T) {
	// GIVEN provisioned billing, a customer managed key and no deletion protection
	s := customStack(t)

	// WHEN the template is inspected
	// THEN the table and its index are provisioned, encrypted with a rotating
	// KMS key of the stack, unprotected and deleted with the stack
	noPanic(t, func() {
		s.template.HasResource(jsii.String("AWS::DynamoDB::Table"), map[string]any{
			"DeletionPolicy": "Delete",
			"Properties": map[string]any{
				"BillingMode":               assertions.Match_Absent(),
				"ProvisionedThroughput":     map[string]any{"ReadCapacityUnits": 7, "WriteCapacityUnits": 3},
				"DeletionProtectionEnabled": false,
				"SSESpecification": map[string]any{
					"SSEEnabled":     true,
					"SSEType":        "KMS",
					"KMSMasterKeyId": assertions.Match_ObjectLike(&map[string]any{"Fn::GetAtt": assertions.Match_AnyValue()}),
				},
				"GlobalSecondaryIndexes": []any{assertions.Match_ObjectLike(&map[string]any{
					"IndexName":             "by_tenant",
					"ProvisionedThroughput": map[string]any{"ReadCapacityUnits": 7, "WriteCapacityUnits": 3},
				}), assertions.Match_ObjectLike(&map[string]any{
					"IndexName":             "by_failed",
					"ProvisionedThroughput": map[string]any{"ReadCapacityUnits": 7, "WriteCapacityUnits": 3},
				})},
			},
		})
		s.template.HasResourceProperties(jsii.String("AWS::KMS::Key"), map[string]any{"EnableKeyRotation": true})
	})
}

func TestProvisionedTableAutoScales(t *testing.T) {
	// GIVEN provisioned billing with floors of 7 RCU and 3 WCU
	s := customStack(t)

	// WHEN its scaling is inspected
	targets := s.resources("AWS::ApplicationAutoScaling::ScalableTarget")
	policies := s.resources("AWS::ApplicationAutoScaling::ScalingPolicy")

	// THEN the table and its two indexes (by_tenant, by_failed) scale reads
	// and writes between the floors
	// and the default ceiling (the per-table quota), each tracking 70 %
	// utilisation: what scripts/capacity -billing provisioned prices
	dims := map[string]int{}
	for _, r := range targets {
		p := r["Properties"].(map[string]any)
		if p["ServiceNamespace"] != "dynamodb" {
			continue
		}
		dim := p["ScalableDimension"].(string)
		dims[dim]++
		require.EqualValues(t, DefaultMaxCapacity, p["MaxCapacity"], dim)
		if strings.HasSuffix(dim, "ReadCapacityUnits") {
			require.EqualValues(t, 7, p["MinCapacity"], dim)
		} else {
			require.EqualValues(t, 3, p["MinCapacity"], dim)
		}
	}
	require.Equal(t, map[string]int{
		"dynamodb:table:ReadCapacityUnits": 1, "dynamodb:table:WriteCapacityUnits": 1,
		"dynamodb:index:ReadCapacityUnits": 2, "dynamodb:index:WriteCapacityUnits": 2,
	}, dims)
	tracked := 0
	for _, r := range policies {
		cfg, ok := r["Properties"].(map[string]any)["TargetTrackingScalingPolicyConfiguration"].(map[string]any)
		if !ok {
			continue
		}
		metric := cfg["PredefinedMetricSpecification"].(map[string]any)["PredefinedMetricType"].(string)
		if strings.HasPrefix(metric, "DynamoDB") {
			tracked++
			require.EqualValues(t, DefaultTargetUtilization, cfg["TargetValue"], metric)
		}
	}
	require.Equal(t, 6, tracked)

	// AND an on-demand table has no scaling at all
	for _, r := range defaultStack(t).resources("AWS::ApplicationAutoScaling::ScalableTarget") {
		require.NotEqual(t, "dynamodb", r["Properties"].(map[string]any)["ServiceNamespace"])
	}
}

func TestQueuesEncryptedWithLongerLivedDLQs(t *testing.T) {
	s := defaultStack(t)
	queues := s.resources("AWS::SQS::Queue")
	// GIVEN the scan, task and ingest queues
	for _, name := range []string{"Scan", "Task", "Ingest"} {
		t.Run(name, func(t *testing.T) {
			// WHEN the queue and its DLQ are inspected
			qID, q := s.resource(t, "AWS::SQS::Queue", name+"Queue")
			dlqID, dlq := s.resource(t, "AWS::SQS::Queue", name+"DLQ")

			// THEN both use SQS-managed SSE, the queue redrives to the DLQ
			// after at least 5 receives, and the DLQ keeps messages longer
			require.Equal(t, true, q["SqsManagedSseEnabled"])
			require.Equal(t, true, dlq["SqsManagedSseEnabled"])
			redrive := q["RedrivePolicy"].(map[string]any)
			require.Equal(t, dlqID, getAttArn(redrive["deadLetterTargetArn"]))
			require.GreaterOrEqual(t, redrive["maxReceiveCount"].(float64), 5.0)
			require.Greater(t, dlq["MessageRetentionPeriod"].(float64), q["MessageRetentionPeriod"].(float64))
			require.Equal(t, 14*24*3600.0, dlq["MessageRetentionPeriod"])
			require.Contains(t, queues, qID)

			// AND both deny any request not made over TLS
			for _, id := range []string{qID, dlqID} {
				requireTLSOnly(t, s, id)
			}
		})
	}
}

// requireTLSOnly asserts that a queue policy on queueID denies requests with
// aws:SecureTransport false.
func requireTLSOnly(t *testing.T, s *synthed, queueID string) {
	t.Helper()
	for _, pol := range s.resources("AWS::SQS::QueuePolicy") {
		props := pol["Properties"].(map[string]any)
		covers := false
		for _, q := range props["Queues"].([]any) {
			covers = covers || ref(q) == queueID
		}
		if !covers {
			continue
		}
		for _, st := range props["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			stmt := st.(map[string]any)
			cond, _ := json.Marshal(stmt["Condition"])
			if stmt["Effect"] == "Deny" && strings.Contains(string(cond), `"aws:SecureTransport":"false"`) {
				return
			}
		}
	}
	t.Fatalf("queue %s has no TLS-only (aws:SecureTransport) deny statement", queueID)
}

func TestEventSourcesAndVisibilityTimeouts(t *testing.T) {
	// GIVEN each SQS-fed function and the queue it consumes
	want := map[string]struct {
		queue          string
		maxConcurrency float64
		batchSize      float64
	}{
		"DispatcherFunction": {"ScanQueue", DefaultDispatcherConcurrency, 1},
		"WorkerFunction":     {"TaskQueue", DefaultWorkerConcurrency, 10},
		"IngestFunction":     {"IngestQueue", DefaultIngestConcurrency, 10},
	}
	s := defaultStack(t)
	functions := s.resources("AWS::Lambda::Function")
	queues := s.resources("AWS::SQS::Queue")

	// WHEN the event source mappings are inspected
	mappings := s.resources("AWS::Lambda::EventSourceMapping")
	require.Len(t, mappings, len(want))
	seen := map[string]bool{}
	for id, m := range mappings {
		props := m["Properties"].(map[string]any)
		fnID := ref(props["FunctionName"])
		queueID := getAttArn(props["EventSourceArn"])
		var fnPrefix string
		for prefix := range want {
			if strings.HasPrefix(fnID, prefix) {
				fnPrefix = prefix
			}
		}
		require.NotEmpty(t, fnPrefix, "mapping %s feeds unexpected function %s", id, fnID)
		w := want[fnPrefix]
		seen[fnPrefix] = true

		// THEN each reports partial batch failures, caps its concurrency and
		// reads the right queue
		require.Equal(t, []any{"ReportBatchItemFailures"}, props["FunctionResponseTypes"], id)
		require.Equal(t, map[string]any{"MaximumConcurrency": w.maxConcurrency}, props["ScalingConfig"], id)
		require.Equal(t, w.batchSize, props["BatchSize"], id)
		require.True(t, strings.HasPrefix(queueID, w.queue), "%s reads %s, want %s", fnPrefix, queueID, w.queue)

		// AND the queue's visibility timeout is at least 6x the function's timeout
		timeout := functions[fnID]["Properties"].(map[string]any)["Timeout"].(float64)
		visibility := queues[queueID]["Properties"].(map[string]any)["VisibilityTimeout"].(float64)
		require.GreaterOrEqual(t, visibility, 6*timeout, "%s: visibility %v < 6 x %v", queueID, visibility, timeout)
	}
	require.Len(t, seen, len(want))
}

// wantEnv is each function's exact environment (the runtime's contract).
var wantEnv = map[string][]string{
	"Api": concat([]string{"HOURGLASS_TABLE", "HOURGLASS_LIFECYCLE_EVENTS", "HOURGLASS_SIGNING_SECRET_ARN",
		"HOURGLASS_SIGNING_KMS_KEY", "HOURGLASS_SIGNING_GRACE", "HOURGLASS_AUTH_MODE", "HOURGLASS_TENANT_CLAIM", "HOURGLASS_TENANT_MAP"}, wantScheduling, wantGuard),
	"Ingest":     concat([]string{"HOURGLASS_TABLE", "HOURGLASS_INGEST_SOURCES"}, wantScheduling, wantGuard),
	"Scanner":    concat([]string{"HOURGLASS_TABLE", "HOURGLASS_SCAN_QUEUE_URL"}, wantScheduling),
	"Dispatcher": concat([]string{"HOURGLASS_TABLE", "HOURGLASS_LIFECYCLE_EVENTS"}, wantScheduling, wantGuard),
	"Worker":     concat([]string{"HOURGLASS_TABLE", "HOURGLASS_LIFECYCLE_EVENTS", "HOURGLASS_SIGNING_SECRET_ARN", "HOURGLASS_SIGNING_KMS_KEY"}, wantScheduling, wantGuard),
}

var (
	wantScheduling = []string{"HOURGLASS_SHARDS", "HOURGLASS_BUCKET_SECONDS", "HOURGLASS_LOOKAHEAD_SECONDS", "HOURGLASS_LOG_LEVEL",
		"HOURGLASS_LIST_INDEX", "HOURGLASS_CLAIM"}
	// wantGuard: what the target guard needs — every queue and the bus of
	// Hourglass's own, and the per-tenant allow-list.
	wantGuard = []string{"HOURGLASS_SCAN_QUEUE_URL", "HOURGLASS_SCAN_DLQ_URL", "HOURGLASS_TASK_QUEUE_URL", "HOURGLASS_TASK_DLQ_URL",
		"HOURGLASS_INGEST_QUEUE_URL", "HOURGLASS_INGEST_DLQ_URL", "HOURGLASS_BUS_NAME", "HOURGLASS_TARGET_ALLOW"}
)

func TestFunctionsRuntimeLoggingAndEnvironment(t *testing.T) {
	s := defaultStack(t)
	require.Len(t, s.resources("AWS::Lambda::Function"), len(wantEnv))
	roles := map[string]string{}
	// GIVEN each of the five functions
	for name, envNames := range wantEnv {
		t.Run(name, func(t *testing.T) {
			// WHEN its properties are inspected
			id, fn := s.resource(t, "AWS::Lambda::Function", name+"Function")

			// THEN it is an arm64 provided.al2023 function with handler
			// bootstrap, JSON logs at the configured level into its own log
			// group, active tracing and its own role
			require.Equal(t, "provided.al2023", fn["Runtime"], id)
			require.Equal(t, []any{"arm64"}, fn["Architectures"], id)
			require.Equal(t, "bootstrap", fn["Handler"], id)
			logging := fn["LoggingConfig"].(map[string]any)
			require.Equal(t, "JSON", logging["LogFormat"], id)
			require.Equal(t, "INFO", logging["ApplicationLogLevel"], id)
			require.True(t, strings.HasPrefix(ref(logging["LogGroup"]), name+"Logs"), id)
			require.Equal(t, map[string]any{"Mode": "Active"}, fn["TracingConfig"], id)
			roles[name] = getAttArn(fn["Role"])
			require.True(t, strings.HasPrefix(roles[name], name+"Role"), "%s uses role %s", id, roles[name])

			// AND its environment has exactly the variables it reads
			vars := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
			var got []string
			for k := range vars {
				got = append(got, k)
			}
			require.ElementsMatch(t, envNames, got, id)
			require.Equal(t, "16", vars["HOURGLASS_SHARDS"])
			require.Equal(t, "60", vars["HOURGLASS_BUCKET_SECONDS"])
			require.Equal(t, "180", vars["HOURGLASS_LOOKAHEAD_SECONDS"])
			require.Equal(t, "info", vars["HOURGLASS_LOG_LEVEL"])
			// The list index is opt-in: no index write per task by default.
			require.Equal(t, "0", vars["HOURGLASS_LIST_INDEX"], id)
			// No claim write by default: two DynamoDB writes per task.
			require.Equal(t, "none", vars["HOURGLASS_CLAIM"], id)
			require.True(t, strings.HasPrefix(ref(vars["HOURGLASS_TABLE"]), "Table"))
			if v, ok := vars["HOURGLASS_AUTH_MODE"]; ok {
				require.Equal(t, "iam", v)
				require.Equal(t, "sub", vars["HOURGLASS_TENANT_CLAIM"])
			}
			if _, ok := vars["HOURGLASS_BUS_NAME"]; ok && name != "Ingest" {
				// Every function that publishes lifecycle events publishes
				// failures only by default (issue 6's cost budget). Ingest
				// knows the bus only to refuse it as a target.
				require.Equal(t, "failures", vars["HOURGLASS_LIFECYCLE_EVENTS"], id)
			}
			if v, ok := vars["HOURGLASS_TASK_DLQ_URL"]; ok {
				require.True(t, strings.HasPrefix(ref(v), "TaskDLQ"))
			}
			if v, ok := vars["HOURGLASS_INGEST_DLQ_URL"]; ok {
				require.True(t, strings.HasPrefix(ref(v), "IngestDLQ"))
			}
		})
	}
}

func TestFunctionSettingsFollowProps(t *testing.T) {
	// GIVEN debug logging, 64 shards, JWT auth with a custom tenant claim
	s := customStack(t)
	// WHEN the api function is inspected
	_, fn := s.resource(t, "AWS::Lambda::Function", "ApiFunction")
	// THEN the settings reach its log config and environment
	require.Equal(t, "DEBUG", fn["LoggingConfig"].(map[string]any)["ApplicationLogLevel"])
	vars := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
	require.Equal(t, "debug", vars["HOURGLASS_LOG_LEVEL"])
	require.Equal(t, "64", vars["HOURGLASS_SHARDS"])
	require.Equal(t, "jwt", vars["HOURGLASS_AUTH_MODE"])
	require.Equal(t, "org_id", vars["HOURGLASS_TENANT_CLAIM"])
	require.Equal(t, "1", vars["HOURGLASS_LIST_INDEX"])
	require.Equal(t, "all", vars["HOURGLASS_LIFECYCLE_EVENTS"])
	// AND the ingest function gets the sources allowed to create tasks
	_, ingest := s.resource(t, "AWS::Lambda::Function", "IngestFunction")
	vars = ingest["Environment"].(map[string]any)["Variables"].(map[string]any)
	require.Equal(t, "com.example.orders=acme|globex", vars["HOURGLASS_INGEST_SOURCES"])
}

func TestScannerRuleTicksEveryMinute(t *testing.T) {
	// GIVEN the default stack
	s := defaultStack(t)
	scannerID, _ := s.resource(t, "AWS::Lambda::Function", "ScannerFunction")
	// WHEN the rate rule is inspected
	_, rule := s.resource(t, "AWS::Events::Rule", "ScannerTick")
	// THEN it fires every minute on the default bus and targets the scanner
	require.Equal(t, "rate(1 minute)", rule["ScheduleExpression"])
	require.Equal(t, "ENABLED", rule["State"])
	require.Nil(t, rule["EventBusName"])
	targets := rule["Targets"].([]any)
	require.Len(t, targets, 1)
	require.Equal(t, scannerID, getAttArn(targets[0].(map[string]any)["Arn"]))
}

func TestIngestRuleDeliversCreateEventsToIngestQueue(t *testing.T) {
	// GIVEN the default stack
	s := defaultStack(t)
	busID, bus := s.resource(t, "AWS::Events::EventBus", "Bus")
	queueID, _ := s.resource(t, "AWS::SQS::Queue", "IngestQueue")
	dlqID, _ := s.resource(t, "AWS::SQS::Queue", "IngestDLQ")

	// WHEN the ingest rule is inspected
	_, rule := s.resource(t, "AWS::Events::Rule", "IngestRule")

	// THEN it sits on the Hourglass bus, matches exactly the two create
	// detail-types from any source but Hourglass's own (no source is
	// allowed, so each lands in the DLQ with the reason; lifecycle events
	// never), and delivers to the ingest queue (undeliverable → DLQ)
	require.Equal(t, "hourglass", bus["Name"])
	require.Equal(t, busID, ref(rule["EventBusName"]))
	require.Equal(t, map[string]any{
		"detail-type": []any{"CreateTask", "CreateSchedule"},
		"source":      []any{map[string]any{"anything-but": []any{"hourglass"}}},
	}, rule["EventPattern"])
	target := rule["Targets"].([]any)[0].(map[string]any)
	require.Equal(t, queueID, getAttArn(target["Arn"]))
	require.Equal(t, dlqID, getAttArn(target["DeadLetterConfig"].(map[string]any)["Arn"]))

	// AND EventBridge may send to the ingest queue, only from this rule
	noPanic(t, func() {
		s.template.HasResourceProperties(jsii.String("AWS::SQS::QueuePolicy"), map[string]any{
			"Queues": []any{map[string]any{"Ref": queueID}},
			"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
				"Effect":    "Allow",
				"Principal": map[string]any{"Service": "events.amazonaws.com"},
				"Condition": map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": assertions.Match_AnyValue()}},
			})})},
		})
	})
}

func TestSchemasRegisteredFromSchemaDir(t *testing.T) {
	// GIVEN a schema folder holding task_succeeded.json
	s := defaultStack(t)
	// WHEN the registry and schemas are inspected
	regID, reg := s.resource(t, "AWS::EventSchemas::Registry", "SchemaRegistry")
	_, schema := s.resource(t, "AWS::EventSchemas::Schema", "Schema")
	// THEN the schema is registered as JSONSchemaDraft4 in the Hourglass
	// registry, with the file's content
	require.Equal(t, "hourglass-events", reg["RegistryName"])
	require.Equal(t, "JSONSchemaDraft4", schema["Type"])
	require.Equal(t, "hourglass@task_succeeded", schema["SchemaName"])
	require.Equal(t, "A task finished successfully.", schema["Description"])
	require.Contains(t, fmt.Sprint(schema["RegistryName"]), regID)
	require.JSONEq(t, sampleSchema, schema["Content"].(string))
}

func TestSchemasMissingDirWarns(t *testing.T) {
	// GIVEN a schema folder that does not exist
	s := ecsStack(t)
	// WHEN the template and annotations are inspected
	// THEN the registry is empty and synth warns about it
	require.Empty(t, s.resources("AWS::EventSchemas::Schema"))
	require.Len(t, s.resources("AWS::EventSchemas::Registry"), 1)
	warnings := assertions.Annotations_FromStack(s.stack).FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("no \\*\\.json event schemas")))
	require.Len(t, *warnings, 1)
}

func TestAPIRoutesRequireIAMExceptHealthz(t *testing.T) {
	// GIVEN the default (IAM) stack
	s := defaultStack(t)
	apiFnID, _ := s.resource(t, "AWS::Lambda::Function", "ApiFunction")

	// WHEN the routes are inspected
	routes := s.resources("AWS::ApiGatewayV2::Route")
	keys := map[string]string{}
	for id, r := range routes {
		props := r["Properties"].(map[string]any)
		keys[props["RouteKey"].(string)] = props["AuthorizationType"].(string)
		_ = id
	}

	// THEN /v1 is IAM-authorized; /healthz is open, and so are the
	// Scheduler-compatible routes, whose SigV4 signatures the api function
	// verifies itself
	require.Equal(t, map[string]string{
		"ANY /v1/{proxy+}": "AWS_IAM", "GET /healthz": "NONE",
		"ANY /schedules": "NONE", "ANY /schedules/{proxy+}": "NONE",
		"ANY /schedule-groups": "NONE", "ANY /schedule-groups/{proxy+}": "NONE",
		"ANY /tags/{proxy+}": "NONE",
	}, keys)
	// AND every one of them goes to the api function
	for _, r := range routes {
		props := r["Properties"].(map[string]any)
		target, _ := json.Marshal(props["Target"])
		require.Contains(t, string(target), "integrations/", props["RouteKey"])
	}
	require.Len(t, s.resources("AWS::ApiGatewayV2::Integration"), 1, "one integration: the api function")

	// AND the integration is a Lambda proxy with payload format 2.0
	_, integ := s.resource(t, "AWS::ApiGatewayV2::Integration", "HttpApi")
	require.Equal(t, "AWS_PROXY", integ["IntegrationType"])
	require.Equal(t, "2.0", integ["PayloadFormatVersion"])
	require.Equal(t, apiFnID, getAttArn(integ["IntegrationUri"]))

	// AND the $default stage logs every request to a log group as JSON
	logsID, _ := s.resource(t, "AWS::Logs::LogGroup", "ApiAccessLogs")
	_, stage := s.resource(t, "AWS::ApiGatewayV2::Stage", "HttpApiStage")
	require.Equal(t, "$default", stage["StageName"])
	require.Equal(t, true, stage["AutoDeploy"])
	access := stage["AccessLogSettings"].(map[string]any)
	require.Equal(t, logsID, getAttArn(access["DestinationArn"]))
	var format map[string]string
	require.NoError(t, json.Unmarshal([]byte(access["Format"].(string)), &format))
	require.Equal(t, "$context.requestId", format["requestId"])
}

func TestAPIJWTVariant(t *testing.T) {
	// GIVEN a JWT issuer and audience
	s := customStack(t)

	// WHEN the authorizers and routes are inspected
	authID, auth := s.resource(t, "AWS::ApiGatewayV2::Authorizer", "HttpApiJwtAuthorizer")

	// THEN a JWT authorizer checks that issuer and audience, and guards every
	// route except /healthz
	require.Equal(t, "JWT", auth["AuthorizerType"])
	require.Equal(t, map[string]any{"Issuer": "https://issuer.example.com/", "Audience": []any{"hourglass-api"}}, auth["JwtConfiguration"])
	require.Equal(t, []any{"$request.header.Authorization"}, auth["IdentitySource"])
	for _, r := range s.resources("AWS::ApiGatewayV2::Route") {
		props := r["Properties"].(map[string]any)
		if key := props["RouteKey"].(string); key == "GET /healthz" || !strings.HasPrefix(key, "ANY /v1/") {
			require.Equal(t, "NONE", props["AuthorizationType"], key)
			continue
		}
		require.Equal(t, "JWT", props["AuthorizationType"], props["RouteKey"])
		require.Equal(t, authID, ref(props["AuthorizerId"]))
	}
}

// ecsTypes are the resources that exist only when ECS workers are asked for.
var ecsTypes = []string{"AWS::ECS::Cluster", "AWS::ECS::Service", "AWS::ECS::TaskDefinition", "AWS::EC2::VPC",
	"AWS::ApplicationAutoScaling::ScalableTarget"}

func TestECSResourcesOnlyWhenAsked(t *testing.T) {
	cases := []struct {
		variant      *synthed
		name         string
		wantECS      bool
		wantLambdaWk bool
	}{
		{defaultStack(t), "lambda", false, true},
		{ecsStack(t), "ecs", true, false},
		{bothStack(t), "both", true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// GIVEN workerMode c.name
			// WHEN the template is inspected
			// THEN ECS resources and the worker function exist as asked
			for _, typ := range ecsTypes {
				require.Equal(t, c.wantECS, len(c.variant.resources(typ)) > 0, typ)
			}
			hasWorkerFn := false
			for id := range c.variant.resources("AWS::Lambda::Function") {
				hasWorkerFn = hasWorkerFn || strings.HasPrefix(id, "WorkerFunction")
			}
			require.Equal(t, c.wantLambdaWk, hasWorkerFn)
		})
	}
}

func TestECSWorkerService(t *testing.T) {
	// GIVEN workerMode ecs
	s := ecsStack(t)
	taskQueueID, _ := s.resource(t, "AWS::SQS::Queue", "TaskQueue")

	// WHEN the task definition, service and scaling are inspected
	_, taskDef := s.resource(t, "AWS::ECS::TaskDefinition", "WorkerTask")
	_, cluster := s.resource(t, "AWS::ECS::Cluster", "WorkerCluster")

	// THEN an arm64 Fargate task runs the worker in poll mode, with logs
	require.Equal(t, map[string]any{"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}, taskDef["RuntimePlatform"])
	require.Equal(t, []any{"FARGATE"}, taskDef["RequiresCompatibilities"])
	containers := taskDef["ContainerDefinitions"].([]any)
	require.Len(t, containers, 1)
	container := containers[0].(map[string]any)
	require.Equal(t, "awslogs", container["LogConfiguration"].(map[string]any)["LogDriver"])
	env := map[string]any{}
	for _, e := range container["Environment"].([]any) {
		kv := e.(map[string]any)
		env[kv["Name"].(string)] = kv["Value"]
	}
	require.Equal(t, "poll", env["HOURGLASS_WORKER_MODE"])
	require.Equal(t, "failures", env["HOURGLASS_LIFECYCLE_EVENTS"])
	for _, name := range wantEnv["Worker"] {
		require.Contains(t, env, name)
	}
	require.Equal(t, []any{map[string]any{"Name": "containerInsights", "Value": "enabled"}}, cluster["ClusterSettings"])

	// AND the service scales on the task queue's visible messages
	noPanic(t, func() {
		s.template.HasResourceProperties(jsii.String("AWS::ECS::Service"), map[string]any{
			"LaunchType":   "FARGATE",
			"DesiredCount": DefaultWorkerMinTasks,
			"DeploymentConfiguration": assertions.Match_ObjectLike(&map[string]any{
				"DeploymentCircuitBreaker": map[string]any{"Enable": true, "Rollback": true},
			}),
		})
		s.template.HasResourceProperties(jsii.String("AWS::ApplicationAutoScaling::ScalableTarget"), map[string]any{
			"MinCapacity": DefaultWorkerMinTasks, "MaxCapacity": DefaultWorkerMaxTasks,
		})
		s.template.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
			"MetricName":   "ApproximateNumberOfMessagesVisible",
			"AlarmActions": assertions.Match_AnyValue(),
			"Dimensions":   []any{map[string]any{"Name": "QueueName", "Value": map[string]any{"Fn::GetAtt": []any{taskQueueID, "QueueName"}}}},
		})
	})
}

func TestAlarms(t *testing.T) {
	// GIVEN the default stack
	s := defaultStack(t)
	alarms := s.resources("AWS::CloudWatch::Alarm")
	alarm := func(prefix string) map[string]any {
		t.Helper()
		_, props := s.resource(t, "AWS::CloudWatch::Alarm", prefix)
		return props
	}
	// WHEN the alarms are inspected
	// THEN each DLQ alarms on any visible message
	for _, q := range []string{"Scan", "Task", "Ingest"} {
		dlqID, _ := s.resource(t, "AWS::SQS::Queue", q+"DLQ")
		a := alarm(q + "DlqAlarm")
		require.Equal(t, "ApproximateNumberOfMessagesVisible", a["MetricName"])
		require.Equal(t, "AWS/SQS", a["Namespace"])
		require.Equal(t, 0.0, a["Threshold"])
		require.Equal(t, "GreaterThanThreshold", a["ComparisonOperator"])
		require.Equal(t, []any{map[string]any{"Name": "QueueName", "Value": map[string]any{"Fn::GetAtt": []any{dlqID, "QueueName"}}}}, a["Dimensions"])
	}
	// AND each function alarms on throttles, the worker on errors
	for name := range wantEnv {
		fnID, _ := s.resource(t, "AWS::Lambda::Function", name+"Function")
		a := alarm(name + "ThrottlesAlarm")
		require.Equal(t, "Throttles", a["MetricName"])
		require.Equal(t, []any{map[string]any{"Name": "FunctionName", "Value": map[string]any{"Ref": fnID}}}, a["Dimensions"])
	}
	errs := alarm("WorkerErrorsAlarm")
	require.Equal(t, "Errors", errs["MetricName"])
	require.Equal(t, "AWS/Lambda", errs["Namespace"])
	// AND p99 lateness above one second over five minutes alarms
	late := alarm("LatenessAlarm")
	require.Equal(t, "LatenessMs", late["MetricName"])
	require.Equal(t, "Hourglass", late["Namespace"])
	require.Equal(t, "p99", late["ExtendedStatistic"])
	require.Equal(t, 300.0, late["Period"])
	require.Equal(t, 1000.0, late["Threshold"])
	require.Equal(t, "GreaterThanThreshold", late["ComparisonOperator"])
	require.Len(t, alarms, 3+5+1+1)
	require.Len(t, s.resources("AWS::CloudWatch::Dashboard"), 1)

	// AND with ECS-only workers there is no worker-function alarm
	for id := range ecsStack(t).resources("AWS::CloudWatch::Alarm") {
		require.False(t, strings.HasPrefix(id, "WorkerErrorsAlarm") || strings.HasPrefix(id, "WorkerThrottlesAlarm"), id)
	}
}

func TestOutputs(t *testing.T) {
	// GIVEN the default stack
	s := defaultStack(t)
	// WHEN the outputs are listed
	outputs := s.doc["Outputs"].(map[string]any)
	// THEN the API URL, bus, table and every queue URL and name are exported
	want := []string{"ApiUrl", "SchedulerEndpoint", "BusName", "TableName"}
	for _, q := range []string{"Scan", "Task", "Ingest"} {
		want = append(want, q+"QueueUrl", q+"QueueName", q+"DlqUrl", q+"DlqName")
	}
	for _, name := range want {
		require.Contains(t, outputs, name)
	}
	busID, _ := s.resource(t, "AWS::Events::EventBus", "Bus")
	require.Equal(t, busID, ref(outputs["BusName"].(map[string]any)["Value"]))
	apiURL, _ := json.Marshal(outputs["ApiUrl"].(map[string]any)["Value"])
	require.Contains(t, string(apiURL), "execute-api")
	// AND the worker's role, which cross-account target roles trust
	workerRole, _ := s.resource(t, "AWS::IAM::Role", "WorkerRole")
	require.Equal(t, workerRole, getAttArn(outputs["WorkerRoleArn"].(map[string]any)["Value"]))
	// AND the Scheduler-compatible endpoint is the same API's URL
	schedURL, _ := json.Marshal(outputs["SchedulerEndpoint"].(map[string]any)["Value"])
	require.JSONEq(t, string(apiURL), string(schedURL))
}

// allowedStarActions may carry Resource "*" because AWS offers no
// resource-level permission for them.
var allowedStarActions = map[string]bool{
	"xray:PutTraceSegments":     true,
	"xray:PutTelemetryRecords":  true,
	"ecr:GetAuthorizationToken": true,
	"cloudwatch:PutMetricData":  true, // and only with a namespace condition, checked below
}

// privilegeViolations lists every IAM statement in doc that allows a
// wildcard action, or Resource "*" for an action outside the allow-list.
func privilegeViolations(doc map[string]any) []string {
	var out []string
	check := func(where string, stmt map[string]any) {
		if stmt["Effect"] != "Allow" {
			return
		}
		actions := asList(stmt["Action"])
		for _, a := range actions {
			if a == "*" || strings.HasSuffix(a, ":*") {
				out = append(out, fmt.Sprintf("%s: wildcard action %q", where, a))
			}
		}
		for _, r := range asList(stmt["Resource"]) {
			if r != "*" {
				continue
			}
			for _, a := range actions {
				if !allowedStarActions[a] {
					out = append(out, fmt.Sprintf("%s: Resource * for %s", where, a))
				}
				if a == "cloudwatch:PutMetricData" {
					cond, _ := json.Marshal(stmt["Condition"])
					if !strings.Contains(string(cond), `"cloudwatch:namespace":"Hourglass"`) {
						out = append(out, fmt.Sprintf("%s: PutMetricData without namespace condition", where))
					}
				}
			}
		}
	}
	statements := func(where string, policyDoc any) {
		pd, ok := policyDoc.(map[string]any)
		if !ok {
			return
		}
		for _, s := range pd["Statement"].([]any) {
			check(where, s.(map[string]any))
		}
	}
	for id, r := range doc["Resources"].(map[string]any) {
		res := r.(map[string]any)
		props, _ := res["Properties"].(map[string]any)
		switch res["Type"] {
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
			statements(id, props["PolicyDocument"])
		case "AWS::IAM::Role":
			if len(asList(props["ManagedPolicyArns"])) > 0 {
				out = append(out, fmt.Sprintf("%s: managed policies %v", id, props["ManagedPolicyArns"]))
			}
			for _, p := range asList2(props["Policies"]) {
				statements(id, p.(map[string]any)["PolicyDocument"])
			}
		}
	}
	sort.Strings(out)
	return out
}

func asList(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, item := range x {
			out = append(out, fmt.Sprint(item))
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

func asList2(v any) []any {
	l, _ := v.([]any)
	return l
}

func TestLeastPrivilege(t *testing.T) {
	for name, s := range allVariants(t) {
		t.Run(name, func(t *testing.T) {
			// GIVEN a synthesized variant
			// WHEN every IAM statement is checked
			// THEN none allows a wildcard action or Resource * outside the
			// allow-list, and no role carries a managed policy
			require.Empty(t, privilegeViolations(s.doc))
		})
	}
}

func TestLeastPrivilegeCheckCanFail(t *testing.T) {
	t.Parallel()
	// GIVEN a template with the three kinds of over-broad grant
	doc := map[string]any{"Resources": map[string]any{
		"Broad": map[string]any{"Type": "AWS::IAM::Policy", "Properties": map[string]any{"PolicyDocument": map[string]any{
			"Statement": []any{
				map[string]any{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:sqs:eu-west-1:111111111111:q"},
				map[string]any{"Effect": "Allow", "Action": []any{"dynamodb:*"}, "Resource": []any{"arn:x"}},
				map[string]any{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"},
				map[string]any{"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"},
			},
		}}},
		"Managed": map[string]any{"Type": "AWS::IAM::Role", "Properties": map[string]any{
			"ManagedPolicyArns": []any{"arn:aws:iam::aws:policy/AdministratorAccess"},
		}},
	}}
	// WHEN it is checked
	// THEN each one is reported
	require.Len(t, privilegeViolations(doc), 5)
}

func TestWorkerTargetGrantsAreExact(t *testing.T) {
	// GIVEN allow-listed target queue, bus and function ARNs
	s := customStack(t)
	// WHEN the worker's policy is inspected
	_, policy := s.resource(t, "AWS::IAM::Policy", "WorkerRoleDefaultPolicy")
	raw, err := json.Marshal(policy["PolicyDocument"])
	require.NoError(t, err)
	// THEN it grants sending, putting and invoking on exactly those ARNs
	for _, want := range []string{
		`{"Action":["sqs:SendMessage","sqs:GetQueueUrl"],"Effect":"Allow","Resource":"arn:aws:sqs:eu-west-1:111111111111:orders"}`,
		`{"Action":"events:PutEvents","Effect":"Allow","Resource":"arn:aws:events:eu-west-1:111111111111:event-bus/billing"}`,
		`{"Action":"lambda:InvokeFunction","Effect":"Allow","Resource":"arn:aws:lambda:eu-west-1:111111111111:function:charge"}`,
	} {
		require.Contains(t, string(raw), want)
	}
	// AND it may assume exactly the cross-account target roles allowed
	require.Contains(t, string(raw), `{"Action":"sts:AssumeRole","Effect":"Allow","Resource":"arn:aws:iam::222222222222:role/hourglass-target"}`)
	require.Equal(t, 1, strings.Count(string(raw), "sts:AssumeRole"))
	// AND the default stack grants no target and no role at all
	_, defPolicy := defaultStack(t).resource(t, "AWS::IAM::Policy", "WorkerRoleDefaultPolicy")
	defRaw, err := json.Marshal(defPolicy["PolicyDocument"])
	require.NoError(t, err)
	require.NotContains(t, string(defRaw), "lambda:InvokeFunction")
	require.NotContains(t, string(defRaw), "sts:AssumeRole")
	for id, p := range defaultStack(t).resources("AWS::IAM::Policy") {
		doc, err := json.Marshal(p["Properties"].(map[string]any)["PolicyDocument"])
		require.NoError(t, err)
		require.NotContains(t, string(doc), "sts:AssumeRole", id)
	}
}

func TestIngestRuleMatchesAllowedSourcesOnly(t *testing.T) {
	// GIVEN ingest sources com.example.orders=acme|globex
	s := customStack(t)
	// WHEN the ingest rule is inspected
	_, rule := s.resource(t, "AWS::Events::Rule", "IngestRule")
	// THEN it matches that source only, not only the detail type: an
	// event of any other source (a task's, Hourglass's lifecycle events)
	// is never ingest
	require.Equal(t, map[string]any{
		"detail-type": []any{"CreateTask", "CreateSchedule"},
		"source":      []any{"com.example.orders"},
	}, rule["EventPattern"])
}

// lifecycleOnly is the policy shape that confines PutEvents on the
// Hourglass bus to lifecycle events: an Allow for source hourglass and the
// lifecycle detail types, and Denies of every other source and detail type.
func lifecycleOnly(busID string) []any {
	bus := map[string]any{"Fn::GetAtt": []any{busID, "Arn"}}
	types := []any{"TaskSucceeded", "TaskFailed", "TaskDeadLettered", "TaskCancelled", "ScheduleFired"}
	return []any{
		map[string]any{"Sid": "PublishLifecycleEvents", "Effect": "Allow", "Action": "events:PutEvents", "Resource": bus,
			"Condition": map[string]any{"StringEquals": map[string]any{"events:source": "hourglass", "events:detail-type": types}}},
		map[string]any{"Sid": "NoOtherSourceOnHourglassBus", "Effect": "Deny", "Action": "events:PutEvents", "Resource": bus,
			"Condition": map[string]any{"StringNotEquals": map[string]any{"events:source": "hourglass"}}},
		map[string]any{"Sid": "NoOtherDetailTypeOnHourglassBus", "Effect": "Deny", "Action": "events:PutEvents", "Resource": bus,
			"Condition": map[string]any{"StringNotEquals": map[string]any{"events:detail-type": types}}},
	}
}

func TestPublishersMayPutOnlyLifecycleEventsOnTheBus(t *testing.T) {
	for name, s := range map[string]*synthed{"default": defaultStack(t), "custom": customStack(t), "ecs": ecsStack(t)} {
		t.Run(name, func(t *testing.T) {
			// GIVEN a variant's Hourglass bus
			busID, _ := s.resource(t, "AWS::Events::EventBus", "Bus")
			want := lifecycleOnly(busID)
			// WHEN the policies of every role that publishes are inspected
			var prefixes []string
			for _, p := range []string{"ApiRole", "DispatcherRole", "WorkerRole", "WorkerTaskTaskRole"} {
				for id := range s.resources("AWS::IAM::Policy") {
					if strings.HasPrefix(id, p) {
						prefixes = append(prefixes, id)
					}
				}
			}
			require.NotEmpty(t, prefixes)
			busStatements := 0
			for _, id := range prefixes {
				_, policy := s.resource(t, "AWS::IAM::Policy", id)
				stmts := policy["PolicyDocument"].(map[string]any)["Statement"].([]any)
				// THEN each confines PutEvents on the bus to lifecycle
				// events (a worker's PutEvents can never be taken for
				// ingest: CreateTask is refused by IAM)
				for _, w := range want {
					require.Contains(t, stmts, w, id)
				}
				// AND no other statement names the bus
				for _, st := range stmts {
					raw, _ := json.Marshal(st.(map[string]any)["Resource"])
					if strings.Contains(string(raw), `"`+busID+`"`) {
						busStatements++
					}
				}
			}
			require.Equal(t, 3*len(prefixes), busStatements)
		})
	}
}

func TestFunctionsShareTheReservedNamePrefix(t *testing.T) {
	// GIVEN the stack with Lambda and ECS workers
	s := bothStack(t)
	fns := s.resources("AWS::Lambda::Function")
	require.Len(t, fns, 5)
	// WHEN each function's name is inspected
	for id, fn := range fns {
		name, _ := fn["Properties"].(map[string]any)["FunctionName"].(string)
		// THEN it starts with hourglass- (the target guard refuses such
		// names), names the stack, and fits Lambda's 64 characters
		require.True(t, strings.HasPrefix(name, "hourglass-hourglass-"), "%s is named %q", id, name)
		require.LessOrEqual(t, len(name), 64, id)
	}
}

func TestTargetAllowAndTenantMapReachTheFunctions(t *testing.T) {
	// GIVEN the default stack and one with target ARNs but no TargetAllow
	for name, tc := range map[string]struct {
		s     *synthed
		allow string
	}{
		// THEN by default no tenant may target any ARN ("*=": none is granted)
		"default": {defaultStack(t), "*="},
		// AND with grants but no TargetAllow, every tenant may target the granted ARNs
		"custom": {customStack(t), "*=arn:aws:sqs:eu-west-1:111111111111:orders|arn:aws:events:eu-west-1:111111111111:event-bus/billing|arn:aws:lambda:eu-west-1:111111111111:function:charge|arn:aws:iam::222222222222:role/hourglass-target"},
		"allow": {synth(t, "allow", func(p *HourglassStackProps) {
			p.TargetAllow = "acme=arn:aws:sqs:*:111111111111:acme-*"
			p.TenantMap = "arn:aws:iam::111111111111:role/orders=orders"
		}), "acme=arn:aws:sqs:*:111111111111:acme-*"},
	} {
		t.Run(name, func(t *testing.T) {
			// WHEN the api, ingest and worker environments are inspected
			for _, fn := range []string{"ApiFunction", "IngestFunction", "WorkerFunction"} {
				_, props := tc.s.resource(t, "AWS::Lambda::Function", fn)
				vars := props["Environment"].(map[string]any)["Variables"].(map[string]any)
				require.Equal(t, tc.allow, vars["HOURGLASS_TARGET_ALLOW"], fn)
				require.True(t, strings.HasPrefix(ref(vars["HOURGLASS_SCAN_DLQ_URL"]), "ScanDLQ"), fn)
				require.True(t, strings.HasPrefix(ref(vars["HOURGLASS_INGEST_QUEUE_URL"]), "IngestQueue"), fn)
			}
			if name == "allow" {
				_, api := tc.s.resource(t, "AWS::Lambda::Function", "ApiFunction")
				require.Equal(t, "arn:aws:iam::111111111111:role/orders=orders", api["Environment"].(map[string]any)["Variables"].(map[string]any)["HOURGLASS_TENANT_MAP"])
			}
		})
	}
}

func TestSigningKeySealsTenantSecretsForAPIAndWorkerOnly(t *testing.T) {
	// GIVEN the default stack and one with a 90-minute signing grace
	s := defaultStack(t)
	grace := synth(t, "grace", func(p *HourglassStackProps) { p.SigningGrace = "90m" })

	// WHEN the KMS key is inspected
	keyID, key := s.resource(t, "AWS::KMS::Key", "SigningKey")
	// THEN it rotates and is retained (the stored secrets need it)
	require.Equal(t, true, key["EnableKeyRotation"])
	require.Equal(t, "Retain", s.resources("AWS::KMS::Key")[keyID]["DeletionPolicy"])

	// AND the api and worker are told its ARN, the api the grace period
	for _, fn := range []string{"ApiFunction", "WorkerFunction"} {
		_, props := s.resource(t, "AWS::Lambda::Function", fn)
		vars := props["Environment"].(map[string]any)["Variables"].(map[string]any)
		require.Equal(t, keyID, getAttArn(vars["HOURGLASS_SIGNING_KMS_KEY"]), fn)
	}
	for st, want := range map[*synthed]string{s: "24h", grace: "90m"} {
		_, api := st.resource(t, "AWS::Lambda::Function", "ApiFunction")
		require.Equal(t, want, api["Environment"].(map[string]any)["Variables"].(map[string]any)["HOURGLASS_SIGNING_GRACE"])
	}

	// AND exactly the api and worker roles may encrypt and decrypt with it
	// (those two actions: no ReEncrypt*, GenerateDataKey* wildcards)
	keyArn := fmt.Sprintf(`{"Fn::GetAtt":[%q,"Arn"]}`, keyID)
	granted := map[string]bool{}
	for id, p := range s.resources("AWS::IAM::Policy") {
		raw, err := json.Marshal(p["Properties"].(map[string]any)["PolicyDocument"])
		require.NoError(t, err)
		if !strings.Contains(string(raw), keyArn) {
			continue
		}
		granted[strings.SplitN(id, "RoleDefaultPolicy", 2)[0]] = true
		require.Contains(t, string(raw), `{"Action":["kms:Encrypt","kms:Decrypt"],"Effect":"Allow","Resource":`+keyArn+`}`, id)
	}
	require.Equal(t, map[string]bool{"Api": true, "Worker": true}, granted)
}

func TestSigningGraceValidated(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"24", "30s", "721h"} {
		_, err := (&HourglassStackProps{SigningGrace: bad}).withDefaults()
		require.ErrorContains(t, err, "signingGrace", bad)
	}
}
