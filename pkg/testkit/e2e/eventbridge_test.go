package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	hgevents "github.com/hourglass-sched/hourglass/events"
	"github.com/hourglass-sched/hourglass/events/eventschema"
	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/ingest"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
	"github.com/hourglass-sched/hourglass/pkg/testkit/lambdarie"
	"github.com/hourglass-sched/hourglass/pkg/wire"
)

// TestIngestAndLifecycleBinariesUnderRIE runs the ingest bootstrap under the
// Runtime Interface Emulator on an SQS batch of CreateTask events (one good,
// one invalid, one unauthorized), then the worker bootstrap on the created
// task's message, and checks that the worker process published
// TaskSucceeded before its handler returned: a rule on the bus delivers it
// to a queue, where it validates against its schema.
//
// The binaries build their own SDK clients from the environment, so their
// resources live in the emulator's default account under a unique prefix.
func TestIngestAndLifecycleBinariesUnderRIE(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration test")
	}
	endpoint := awstest.Endpoint(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	awsCfg := defaultAccountConfig(ctx, t, endpoint)
	prefix := "rieeb" + randomHex(4)
	res, err := provision.Ensure(ctx, awsCfg, provision.Spec{Prefix: prefix, TaskVisibility: 10 * time.Second})
	require.NoError(t, err)
	mine, err := provision.EnsureQueue(ctx, awsCfg, prefix+"-mine")
	require.NoError(t, err)
	require.NoError(t, provision.RuleToQueue(ctx, awsCfg, res.BusName, prefix+"-mine", map[string]any{"source": []string{"hourglass"}}, mine))

	var hits atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1); w.WriteHeader(http.StatusNoContent) }))
	defer sink.Close()
	env := map[string]string{
		"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
		"HOURGLASS_TABLE": res.Table, "HOURGLASS_SCAN_QUEUE_URL": res.ScanQueueURL, "HOURGLASS_TASK_QUEUE_URL": res.TaskQueueURL,
		"HOURGLASS_TASK_DLQ_URL": res.TaskDLQURL, "HOURGLASS_SHARDS": "2", "HOURGLASS_BUCKET_SECONDS": "2",
		"HOURGLASS_LOOKAHEAD_SECONDS": "4", "HOURGLASS_DEV": "1", "HOURGLASS_SIGNING_KEY": "rie-test-signing-key-0123456789",
		"HOURGLASS_LOG_LEVEL": "debug", "HOURGLASS_BUS_NAME": res.BusName, "HOURGLASS_INGEST_DLQ_URL": res.IngestDLQURL,
		"HOURGLASS_INGEST_SOURCES": "com.example.orders=acme",
		// TaskSucceeded is published only at level all.
		"HOURGLASS_LIFECYCLE_EVENTS": "all",
	}

	due := time.Now().Add(2 * time.Second).UTC().Truncate(time.Millisecond)
	detail := func(tenant string, withDue bool) map[string]any {
		d := map[string]any{"tenant": tenant, "idempotency_key": prefix + "-" + tenant, "target": map[string]any{"kind": "webhook", "url": sink.URL + "/hook"}}
		if withDue {
			d["due_at"] = due.Format(time.RFC3339Nano)
		}
		return d
	}
	var batch events.SQSEvent
	for i, d := range []map[string]any{detail("acme", true), detail("acme", false), detail("initech", true)} {
		ev := hgevents.Event[map[string]any]{Version: "0", ID: prefix + "-event-" + string(rune('a'+i)), DetailType: "CreateTask", Source: "com.example.orders",
			Account: "123456789012", Time: time.Now().UTC().Truncate(time.Second), Region: "us-east-1", Resources: []string{}, Detail: d}
		batch.Records = append(batch.Records, events.SQSMessage{MessageId: ev.ID, Body: string(mustJSON(t, ev)), EventSource: "aws:sqs"})
	}
	ingestFn := lambdarie.Start(t, lambdarie.BuildBootstrap(t, "github.com/hourglass-sched/hourglass/functions/ingest"), env)
	out, err := ingestFn.Invoke(ctx, mustJSON(t, batch))
	require.NoError(t, err, ingestFn.Log())
	var resp events.SQSEventResponse
	require.NoError(t, json.Unmarshal(out, &resp))
	assert.Empty(t, resp.BatchItemFailures, ingestFn.Log())

	// The invalid and the unauthorized event are on the DLQ with reasons.
	q := sqs.NewFromConfig(awsCfg)
	reasons := map[string]string{}
	deadline := time.Now().Add(20 * time.Second)
	for len(reasons) < 2 && time.Now().Before(deadline) {
		got, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &res.IngestDLQURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
		require.NoError(t, err)
		for _, m := range got.Messages {
			reasons[aws.ToString(m.MessageAttributes[ingest.AttrEventID].StringValue)] = aws.ToString(m.MessageAttributes[ingest.AttrReason].StringValue)
		}
	}
	assert.Contains(t, reasons[prefix+"-event-b"], "detail.due_at")
	assert.Contains(t, reasons[prefix+"-event-c"], `tenant "initech"`)

	// The good one is a task; hand its message to the worker binary.
	scan, err := dynamodb.NewFromConfig(awsCfg).Scan(ctx, &dynamodb.ScanInput{TableName: &res.Table, FilterExpression: aws.String("idem = :k"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":k": &ddbtypes.AttributeValueMemberS{Value: prefix + "-acme"}}})
	require.NoError(t, err)
	require.Len(t, scan.Items, 1, "one task from the good event")
	// A task item's sort key is "<due ms>#<id>" (package ddbstore).
	sk, _ := scan.Items[0]["sk"].(*ddbtypes.AttributeValueMemberS)
	require.NotNil(t, sk)
	_, idText, _ := strings.Cut(sk.Value, "#")
	id, err := task.ParseID(idText)
	require.NoError(t, err)
	cfg := config.Config{Table: res.Table, TaskQueueURL: res.TaskQueueURL, Shards: 2, Bucket: 2 * time.Second, Lookahead: 4 * time.Second,
		Lease: 5 * time.Second, LogLevel: "warn", Dev: true, SigningKey: env["HOURGLASS_SIGNING_KEY"], Limits: task.DefaultLimits(),
		WebhookAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	comps, err := wire.BuildWith(ctx, cfg, awsCfg, nil, nil)
	require.NoError(t, err)
	tk, err := comps.Store.Get(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "acme", tk.Tenant)
	msg := mustJSON(t, task.TaskMessage{ID: id.String(), PH: tk.PayloadHash})
	taskEv := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m-" + prefix, Body: string(msg), EventSource: "aws:sqs"}}}
	worker := lambdarie.Start(t, lambdarie.BuildBootstrap(t, "github.com/hourglass-sched/hourglass/functions/worker"), env)
	out, err = worker.Invoke(ctx, mustJSON(t, taskEv))
	require.NoError(t, err, worker.Log())
	resp = events.SQSEventResponse{}
	require.NoError(t, json.Unmarshal(out, &resp))
	assert.Empty(t, resp.BatchItemFailures, worker.Log())
	assert.EqualValues(t, 1, hits.Load())

	// The invocation has returned: its TaskSucceeded is already on the bus.
	var got []sqstypes.Message
	deadline = time.Now().Add(20 * time.Second)
	for len(got) == 0 && time.Now().Before(deadline) {
		r, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &mine, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		require.NoError(t, err)
		got = append(got, r.Messages...)
	}
	require.Len(t, got, 1, worker.Log())
	body := []byte(aws.ToString(got[0].Body))
	require.NoError(t, eventschema.Validate(body), string(body))
	var ok hgevents.Event[hgevents.TaskSucceeded]
	require.NoError(t, json.Unmarshal(body, &ok))
	assert.Equal(t, hgevents.DetailTaskSucceeded, ok.DetailType)
	assert.Equal(t, id.String(), ok.Detail.TaskID)
	assert.Equal(t, prefix+"-acme", ok.Detail.IdempotencyKey)
}
