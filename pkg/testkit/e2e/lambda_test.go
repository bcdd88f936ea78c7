package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
	"github.com/hourglass-sched/hourglass/pkg/testkit/lambdarie"
	"github.com/hourglass-sched/hourglass/pkg/wire"
)

// TestLambdaBinariesUnderRIE runs the real bootstrap binaries of the
// scanner, dispatcher, worker and api functions under the Lambda Runtime
// Interface Emulator and feeds them the sample events kept in events/: a
// task goes from SCHEDULED through the dispatcher binary and the worker
// binary to SUCCEEDED, and the api binary answers an API Gateway v2 event.
//
// The binaries build their own SDK clients from the environment, so their
// resources live in the emulator's default account under a unique prefix.
func TestLambdaBinariesUnderRIE(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration test")
	}
	endpoint := awstest.Endpoint(t)
	ctx := context.Background()
	awsCfg := defaultAccountConfig(ctx, t, endpoint)
	prefix := "rie" + randomHex(4)
	res, err := provision.Ensure(ctx, awsCfg, provision.Spec{Prefix: prefix, TaskVisibility: 10 * time.Second})
	require.NoError(t, err)

	var hits atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1); w.WriteHeader(http.StatusNoContent) }))
	defer sink.Close()

	env := map[string]string{
		"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
		"HOURGLASS_TABLE": res.Table, "HOURGLASS_SCAN_QUEUE_URL": res.ScanQueueURL, "HOURGLASS_TASK_QUEUE_URL": res.TaskQueueURL,
		"HOURGLASS_TASK_DLQ_URL": res.TaskDLQURL, "HOURGLASS_SHARDS": "2", "HOURGLASS_BUCKET_SECONDS": "2",
		"HOURGLASS_LOOKAHEAD_SECONDS": "4", "HOURGLASS_DEV": "1", "HOURGLASS_SIGNING_KEY": "rie-test-signing-key-0123456789",
		"HOURGLASS_LOG_LEVEL": "debug", "HOURGLASS_BUS_NAME": res.BusName,
	}
	cfg := config.Config{Table: res.Table, ScanQueueURL: res.ScanQueueURL, TaskQueueURL: res.TaskQueueURL, TaskDLQURL: res.TaskDLQURL,
		Shards: 2, Bucket: 2 * time.Second, Lookahead: 4 * time.Second, Lease: 5 * time.Second, LogLevel: "warn", Dev: true,
		SigningKey: env["HOURGLASS_SIGNING_KEY"], Limits: task.DefaultLimits(),
		WebhookAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	comps, err := wire.BuildWith(ctx, cfg, awsCfg, nil, nil)
	require.NoError(t, err)

	// A task due in 3 s, created through the API handler in-process; its
	// bucket is not announced yet, so it waits for the dispatcher.
	srv := comps.API(api.DevAuth{}, nil)
	body := `{"due_at":"` + time.Now().Add(3*time.Second).UTC().Format(time.RFC3339Nano) + `","target":{"kind":"webhook","url":"` + sink.URL + `/hook"}}`
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1/tasks", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer dev-acme")
	srv.ServeHTTP(rec, req)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	var created struct{ ID string }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &created))
	id, err := task.ParseID(created.ID)
	require.NoError(t, err)

	// scanner: the EventBridge "Scheduled Event" sample.
	scanner := lambdarie.Start(t, lambdarie.BuildBootstrap(t, "github.com/hourglass-sched/hourglass/functions/scanner"), env)
	_, err = scanner.Invoke(ctx, readSample(t, "scheduled-event.json"))
	require.NoError(t, err, scanner.Log())
	cur, err := comps.Store.GetCursor(ctx)
	require.NoError(t, err)
	require.True(t, cur.Exists, "the scanner binary wrote its cursor")
	assert.GreaterOrEqual(t, cur.Dispatching, cfg.Layout().BucketOf(time.Now()))

	// dispatcher: the scan-unit sample, pointed at the task's partition.
	var scanEv events.SQSEvent
	require.NoError(t, json.Unmarshal(readSample(t, "sqs-scan-unit.json"), &scanEv))
	unit, _ := json.Marshal(task.ScanUnit{Bucket: cfg.Layout().BucketOf(id.Due()), Shard: id.Shard})
	scanEv.Records[0].Body = string(unit)
	dispatcher := lambdarie.Start(t, lambdarie.BuildBootstrap(t, "github.com/hourglass-sched/hourglass/functions/dispatcher"), env)
	out, err := dispatcher.Invoke(ctx, mustJSON(t, scanEv))
	require.NoError(t, err, dispatcher.Log())
	var resp events.SQSEventResponse
	require.NoError(t, json.Unmarshal(out, &resp))
	assert.Empty(t, resp.BatchItemFailures)
	tk, err := comps.Store.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, task.Scheduled, tk.State, "dispatch writes nothing; the message carries the task")

	// worker: the task sample, carrying the message the dispatcher sent.
	var msg struct {
		id, handle, body string
		attrs            map[string]string
	}
	deadline := time.Now().Add(20 * time.Second)
	for msg.id == "" && time.Now().Before(deadline) {
		got, err := comps.Queue.Receive(ctx, res.TaskQueueURL, 1, time.Second, 0)
		require.NoError(t, err)
		if len(got) > 0 {
			msg.id, msg.handle, msg.body, msg.attrs = got[0].MessageID, got[0].ReceiptHandle, got[0].Body, got[0].Attributes
		}
	}
	require.NotEmpty(t, msg.id, "the dispatcher's message arrived")
	var taskEv events.SQSEvent
	require.NoError(t, json.Unmarshal(readSample(t, "sqs-task.json"), &taskEv))
	rec0 := taskEv.Records[0]
	rec0.MessageId, rec0.ReceiptHandle, rec0.Body, rec0.Attributes = msg.id, msg.handle, msg.body, msg.attrs
	taskEv.Records = []events.SQSMessage{rec0}
	worker := lambdarie.Start(t, lambdarie.BuildBootstrap(t, "github.com/hourglass-sched/hourglass/functions/worker"), env)
	out, err = worker.Invoke(ctx, mustJSON(t, taskEv))
	require.NoError(t, err, worker.Log())
	resp = events.SQSEventResponse{}
	require.NoError(t, json.Unmarshal(out, &resp))
	assert.Empty(t, resp.BatchItemFailures, worker.Log())
	tk, err = comps.Store.Get(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, task.Succeeded, tk.State)
	assert.EqualValues(t, 1, hits.Load())

	// api: an API Gateway HTTP API (v2) event with an IAM principal. The
	// principal is not the dev tenant "acme", so our task is a 404 to it —
	// tenant isolation through the real adapter.
	apiEnv := map[string]string{}
	for k, v := range env {
		apiEnv[k] = v
	}
	delete(apiEnv, "HOURGLASS_DEV")
	var apiEv events.APIGatewayV2HTTPRequest
	require.NoError(t, json.Unmarshal(readSample(t, "apigw-v2-request.json"), &apiEv))
	apiEv.RawPath = "/v1/tasks/" + created.ID
	apiEv.RequestContext.HTTP.Path = apiEv.RawPath
	apiEv.PathParameters = map[string]string{"id": created.ID}
	apiFn := lambdarie.Start(t, lambdarie.BuildBootstrap(t, "github.com/hourglass-sched/hourglass/functions/api"), apiEnv)
	out, err = apiFn.Invoke(ctx, mustJSON(t, apiEv))
	require.NoError(t, err, apiFn.Log())
	var apiResp events.APIGatewayV2HTTPResponse
	require.NoError(t, json.Unmarshal(out, &apiResp))
	assert.Equal(t, http.StatusNotFound, apiResp.StatusCode, apiResp.Body)
	assert.Equal(t, "application/problem+json", apiResp.Headers["Content-Type"])
}

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../../events/testdata/" + name)
	require.NoError(t, err)
	return b
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
