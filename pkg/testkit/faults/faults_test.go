package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/ddbstore"
	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
	"github.com/hourglass-sched/hourglass/pkg/testkit/faults"
)

// TestMain fails the run on leaked goroutines (see awstest.VerifyTestMain).
func TestMain(m *testing.M) { awstest.VerifyTestMain(m) }

func TestParseRules(t *testing.T) {
	t.Parallel()
	rules, err := faults.ParseRules("throttle:0.05:DynamoDB_20120810.*, latency:0.1:*:300ms,500:1,drop-after:0.5:PutItem")
	require.NoError(t, err)
	assert.Equal(t, []faults.Rule{
		{Op: "DynamoDB_20120810.*", Kind: faults.Throttle, Rate: 0.05},
		{Op: "*", Kind: faults.Latency, Rate: 0.1, Delay: 300 * time.Millisecond},
		{Op: "*", Kind: faults.ServerError, Rate: 1},
		{Op: "PutItem", Kind: faults.DropAfter, Rate: 0.5},
	}, rules)
	for _, bad := range []string{"throttle", "nope:0.1", "throttle:2", "throttle:x", "latency:0.1:*:soon", "a:b:c:d:e"} {
		_, err := faults.ParseRules(bad)
		assert.Error(t, err, bad)
	}
}

func TestRuleMatches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rule, op string
		want     bool
	}{
		{"*", "AmazonSQS.SendMessage", true},
		{"*", "", true},
		{"AmazonSQS.*", "AmazonSQS.SendMessage", true},
		{"AmazonSQS.*", "DynamoDB_20120810.PutItem", false},
		{"PutItem", "DynamoDB_20120810.PutItem", true},
		{"PutItem", "DynamoDB_20120810.BatchPutItem", false},
		{"DynamoDB_20120810.GetItem", "DynamoDB_20120810.GetItem", true},
		{"GetItem", "GetItem", true},
		{"dynamodb", "DynamoDB_20120810.Query", true},
		{"dynamodb", "AmazonSQS.SendMessage", false},
		{"sqs", "AmazonSQS.ReceiveMessage", true},
		{"sqs", "SendMessageBatch", true},
		{"sqs", "AWSEvents.PutEvents", false},
		{"eventbridge", "AWSEvents.PutEvents", true},
		{"eventbridge", "DynamoDB_20120810.PutItem", false},
	} {
		assert.Equal(t, tc.want, faults.Rule{Op: tc.rule}.Matches(tc.op), "%s ~ %s", tc.rule, tc.op)
	}
}

// TestServiceByPath: a query-protocol SQS call names its queue in the path
// even when its Action cannot be read.
func TestServiceByPath(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodPost, "/123456789012/hourglass-tasks", nil)
	assert.Equal(t, faults.ServiceSQS, faults.Service(r, ""))
	assert.True(t, faults.Rule{Op: "sqs"}.MatchesRequest(r, ""))
	assert.False(t, faults.Rule{Op: "dynamodb"}.MatchesRequest(r, ""))
	assert.Empty(t, faults.Service(httptest.NewRequest(http.MethodGet, "/healthz", nil), ""))
}

func TestOperation(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("X-Amz-Target", "AmazonSQS.ReceiveMessage")
	assert.Equal(t, "AmazonSQS.ReceiveMessage", faults.Operation(r, nil))
	body := []byte("Action=PutEvents&Version=2015-10-07")
	r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	assert.Equal(t, "PutEvents", faults.Operation(r, body))
	assert.Equal(t, "GetCallerIdentity", faults.Operation(httptest.NewRequest(http.MethodGet, "/?Action=GetCallerIdentity", nil), nil))
	assert.Empty(t, faults.Operation(httptest.NewRequest(http.MethodGet, "/", nil), nil))
}

// startProxy puts a Proxy with rules in front of upstream and returns it
// and its URL; both close when the test ends.
func startProxy(t *testing.T, upstream string, rules ...faults.Rule) (*faults.Proxy, string) {
	t.Helper()
	p, err := faults.New(upstream, rules, 42)
	require.NoError(t, err)
	srv := httptest.NewServer(p)
	t.Cleanup(func() { srv.Close(); p.Close() })
	return p, srv.URL
}

// through returns cfg sending every call through proxyURL with retryer.
func through(cfg aws.Config, proxyURL string, retryer func() aws.Retryer) aws.Config {
	c := cfg.Copy()
	c.BaseEndpoint = aws.String(proxyURL)
	c.Retryer = retryer
	return c
}

func oneAttempt() aws.Retryer { return retry.AddWithMaxAttempts(retry.NewStandard(), 1) }

// TestErrorShapesDecodeAsAWSErrors proves that the SDK reads each injected
// error as the service would send it: the right code, and classified as a
// throttle or a retryable server error.
func TestErrorShapesDecodeAsAWSErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind     faults.Kind
		ddbCode  string
		sqsCode  string
		throttle bool
	}{
		{faults.Throttle, "ThrottlingException", "RequestThrottled", true},
		{faults.Provisioned, "ProvisionedThroughputExceededException", "RequestThrottled", true},
		{faults.ServerError, "InternalServerError", "InternalError", false},
		{faults.Unavailable, "ServiceUnavailable", "ServiceUnavailable", false},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			// Every request faults, so the upstream is never reached.
			p, url := startProxy(t, "http://127.0.0.1:9", faults.Rule{Op: "*", Kind: tc.kind, Rate: 1})
			cfg := through(aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}, url, oneAttempt)
			_, err := dynamodb.NewFromConfig(cfg).GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("t"),
				Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "x"}}})
			var ae smithy.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.ddbCode, ae.ErrorCode())
			_, err = sqs.NewFromConfig(cfg).SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url + "/123/q"), MessageBody: aws.String("x")})
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.sqsCode, ae.ErrorCode())
			isThrottle := retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary
			assert.Equal(t, tc.throttle, isThrottle, "throttle classification")
			assert.Equal(t, aws.TrueTernary, retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err), "retryable")
			assert.EqualValues(t, 2, p.Injected())
		})
	}
}

// fixture is a table and a queue in an isolated emulator account.
type fixture struct {
	env   *awstest.Env
	res   provision.Resources
	table string
}

func setup(t *testing.T) fixture {
	t.Helper()
	t.Parallel()
	if testing.Short() {
		t.Skip("integration test")
	}
	env := awstest.New(t)
	res, err := provision.Ensure(context.Background(), env.Config, provision.Spec{Prefix: env.Name("fx")})
	require.NoError(t, err)
	return fixture{env: env, res: res, table: res.Table}
}

// TestStackRetryerRidesOutFaults proves config.Retryer — the retry policy
// of every Hourglass SDK client — against each fault kind at a 30% rate:
// every DynamoDB and SQS call still succeeds.
func TestStackRetryerRidesOutFaults(t *testing.T) {
	t.Parallel()
	for _, kind := range faults.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			f := setup(t)
			p, url := startProxy(t, f.env.Endpoint, faults.Rule{Op: "*", Kind: kind, Rate: 0.3, Delay: 50 * time.Millisecond})
			cfg := through(f.env.Config, url, config.Retryer)
			db, q := dynamodb.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
			ctx := context.Background()
			const n = 15
			for i := 0; i < n; i++ {
				key := map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: fmt.Sprint("k", i)}, "sk": &ddbtypes.AttributeValueMemberS{Value: "s"}}
				_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: key})
				require.NoError(t, err, "put %d", i)
				out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &f.table, Key: key, ConsistentRead: aws.Bool(true)})
				require.NoError(t, err, "get %d", i)
				require.NotNil(t, out.Item)
				_, err = q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &f.res.ScanQueueURL, MessageBody: aws.String(fmt.Sprint(i))})
				require.NoError(t, err, "send %d", i)
			}
			assert.Greater(t, p.Injected(), int64(n/2), "faults were injected (%v)", p.Counts())
			if kind == faults.DropAfter {
				// Every dropped SendMessage was applied and then repeated:
				// at-least-once, never fewer.
				attrs, err := sqs.NewFromConfig(f.env.Config).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &f.res.ScanQueueURL, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
				require.NoError(t, err)
				var got int
				_, _ = fmt.Sscan(attrs.Attributes["ApproximateNumberOfMessages"], &got)
				assert.GreaterOrEqual(t, got, n)
			}
		})
	}
}

// TestUnavailableFailsOneServiceOnly is the outage run's fault: with
// DynamoDB unavailable, every DynamoDB call fails with 503 (none reaches the
// emulator) while SQS calls to the same emulator process go through; then
// the same for SQS.
func TestUnavailableFailsOneServiceOnly(t *testing.T) {
	f := setup(t)
	p, url := startProxy(t, f.env.Endpoint, faults.Rule{Op: faults.ServiceDynamoDB, Kind: faults.Unavailable, Rate: 1})
	cfg := through(f.env.Config, url, oneAttempt)
	db, q := dynamodb.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	ctx := context.Background()
	key := map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "k"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "s"}}
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: key})
	var re interface{ HTTPStatusCode() int }
	require.ErrorAs(t, err, &re)
	assert.Equal(t, http.StatusServiceUnavailable, re.HTTPStatusCode())
	_, err = q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &f.res.ScanQueueURL, MessageBody: aws.String("x")})
	require.NoError(t, err, "SQS is up while DynamoDB is out")
	// The put never reached the emulator.
	out, err := dynamodb.NewFromConfig(f.env.Config).GetItem(ctx, &dynamodb.GetItemInput{TableName: &f.table, Key: key, ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	assert.Nil(t, out.Item)

	p.SetRules([]faults.Rule{{Op: faults.ServiceSQS, Kind: faults.Unavailable, Rate: 1}})
	_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: key})
	require.NoError(t, err, "DynamoDB is back")
	_, err = q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &f.res.ScanQueueURL, MessageBody: aws.String("y")})
	require.ErrorAs(t, err, &re)
	assert.Equal(t, http.StatusServiceUnavailable, re.HTTPStatusCode())
	assert.EqualValues(t, 2, p.Counts()[faults.Unavailable])
}

// TestDropAfterApplyMayHaveSucceeded shows the "may have succeeded" case
// and how the store survives it: a create whose answer was lost is applied
// anyway, and the retried create with the same client token returns that
// task instead of writing a second one.
func TestDropAfterApplyMayHaveSucceeded(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	p, url := startProxy(t, f.env.Endpoint, faults.Rule{Op: "*", Kind: faults.DropAfter, Rate: 1, Max: 1})

	// Without retries the caller sees an error although the write happened.
	key := map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "p"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "s"}}
	_, err := dynamodb.NewFromConfig(through(f.env.Config, url, oneAttempt)).PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: key})
	require.Error(t, err, "the connection was dropped")
	out, err := dynamodb.NewFromConfig(f.env.Config).GetItem(ctx, &dynamodb.GetItemInput{TableName: &f.table, Key: key, ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	require.NotNil(t, out.Item, "the write was applied")

	// Through the store, with the stack's retryer: a plain create whose
	// PutItem answer was lost meets its own item on the retry and is still
	// a success, not an "ID collision".
	p.SetRules([]faults.Rule{{Op: "PutItem", Kind: faults.DropAfter, Rate: 1, Max: 1}})
	store := ddbstore.New(dynamodb.NewFromConfig(through(f.env.Config, url, config.Retryer)), f.table, task.Layout{Bucket: time.Minute}, ddbstore.Options{})
	plain := newTask(t)
	got, created, err := store.Create(ctx, plain, "", "")
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, plain.ID, got.ID)
	assert.EqualValues(t, 2, p.Injected())

	// With a client token: the first transaction is
	// applied and its answer lost; the retry finds the client token.
	p.SetRules([]faults.Rule{{Op: "TransactWriteItems", Kind: faults.DropAfter, Rate: 1, Max: 1}})
	tk := newTask(t)
	id := tk.ID
	got, _, err = store.Create(ctx, tk, "order-42", "hash-1")
	require.NoError(t, err, "the retried create answers with the task it wrote")
	assert.Equal(t, id, got.ID)
	assert.EqualValues(t, 3, p.Injected())
	again, created, err := store.Create(ctx, tk, "order-42", "hash-1")
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, id, again.ID)
}

// TestProxyForwardsUntouched checks the pass-through path: headers, status
// and body come back as the upstream sent them.
func TestProxyForwardsUntouched(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", r.Header.Get("X-Amz-Target")+" "+r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("brewed"))
	}))
	t.Cleanup(up.Close)
	p, url := startProxy(t, up.URL)
	req, _ := http.NewRequest(http.MethodPost, url+"/some/path", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusTeapot, resp.StatusCode)
	assert.Equal(t, "AmazonSQS.SendMessage /some/path", resp.Header.Get("X-Upstream"))
	assert.EqualValues(t, 1, p.Forwarded())
	assert.Zero(t, p.Injected())
	http.DefaultClient.CloseIdleConnections()
}

// newTask builds a SCHEDULED task the way the API does.
func newTask(t *testing.T) *task.Task {
	t.Helper()
	id, err := task.NewID(time.Now().Add(time.Hour), 1)
	require.NoError(t, err)
	tg := task.Target{Kind: "webhook", Spec: json.RawMessage(`{"kind":"webhook","url":"https://example.com/hook"}`)}
	now := time.Now()
	return &task.Task{ID: id, Tenant: "acme", DueAt: id.Due(), Target: tg, Payload: json.RawMessage(`{}`),
		Retry: task.Retry{MaxAttempts: 3, InitialBackoff: time.Second, MaxBackoff: time.Minute}, State: task.Scheduled, Version: 1,
		PayloadHash: task.PayloadHash(tg, json.RawMessage(`{}`)), CreatedAt: now, UpdatedAt: now}
}
