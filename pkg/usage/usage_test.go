package usage_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
	"github.com/hourglass-sched/hourglass/pkg/usage"
)

// TestMain fails the run on leaked goroutines (see awstest.VerifyTestMain).
func TestMain(m *testing.M) { awstest.VerifyTestMain(m) }

type fixture struct {
	counters *usage.Counters
	db       *dynamodb.Client // counted
	sqs      *sqs.Client      // counted
	table    string
	queueURL string
	cfg      aws.Config // the emulator's, uncounted
}

// setup creates a table and a queue with uncounted clients, then returns
// clients that carry the counting middleware.
func setup(t *testing.T) fixture {
	t.Helper()
	env := awstest.New(t)
	ctx := context.Background()
	f := fixture{counters: &usage.Counters{}, table: env.Name("usage")}

	plainDB := dynamodb.NewFromConfig(env.Config)
	_, err := plainDB.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   &f.table,
		BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange},
		},
	})
	require.NoError(t, err)
	require.NoError(t, dynamodb.NewTableExistsWaiter(plainDB).Wait(ctx, &dynamodb.DescribeTableInput{TableName: &f.table}, time.Minute))
	q, err := sqs.NewFromConfig(env.Config).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(env.Name("usage"))})
	require.NoError(t, err)
	f.queueURL = aws.ToString(q.QueueUrl)

	f.cfg = env.Config
	cfg := env.Config.Copy()
	cfg.APIOptions = append(slices.Clone(cfg.APIOptions), f.counters.Middleware())
	f.db = dynamodb.NewFromConfig(cfg)
	f.sqs = sqs.NewFromConfig(cfg)
	return f
}

func s(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }

func TestMiddlewareCountsDynamoDBAndSQSCalls(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	before := f.counters.Snapshot()
	key := map[string]ddbtypes.AttributeValue{"pk": s("p"), "sk": s("1")}

	put, err := f.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table,
		Item: map[string]ddbtypes.AttributeValue{"pk": s("p"), "sk": s("1"), "v": s("x")}})
	require.NoError(t, err)
	assert.NotNil(t, put.ConsumedCapacity, "the middleware asks DynamoDB for consumed capacity")
	get, err := f.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &f.table, Key: key, ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	assert.NotEmpty(t, get.Item)
	_, err = f.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &f.table, Key: key,
		UpdateExpression: aws.String("SET v = :v"), ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": s("y")}})
	require.NoError(t, err)
	qry, err := f.db.Query(ctx, &dynamodb.QueryInput{TableName: &f.table, KeyConditionExpression: aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": s("p")}})
	require.NoError(t, err)
	assert.Len(t, qry.Items, 1)
	_, err = f.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &f.queueURL, MessageBody: aws.String("hello")})
	require.NoError(t, err)

	d := f.counters.Snapshot().Sub(before)
	assert.Equal(t, map[string]int64{
		"DynamoDB.PutItem":    1,
		"DynamoDB.GetItem":    1,
		"DynamoDB.UpdateItem": 1,
		"DynamoDB.Query":      1,
		"SQS.SendMessage":     1,
	}, d.Calls)
	assert.Equal(t, []string{"DynamoDB.GetItem", "DynamoDB.PutItem", "DynamoDB.Query", "DynamoDB.UpdateItem", "SQS.SendMessage"}, d.Operations())
	// Billing floor: each small write and read costs one whole unit, never a
	// fraction (moto reports 0.5 for some).
	assert.Equal(t, 2.0, d.DynamoDBWRU, "PutItem + UpdateItem")
	assert.Equal(t, 2.0, d.DynamoDBRRU, "GetItem + Query")
	assert.Equal(t, int64(1), d.SQSRequests)
	assert.Zero(t, d.EventBridgeEvents)
	assert.Zero(t, d.TotalInvocations())
}

// An empty receive is counted apart, so that idle polling can be told from
// work.
func TestMiddlewareCountsEmptyReceives(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	before := f.counters.Snapshot()
	out, err := f.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &f.queueURL})
	require.NoError(t, err)
	require.Empty(t, out.Messages)
	_, err = f.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &f.queueURL, MessageBody: aws.String("hello")})
	require.NoError(t, err)
	out, err = f.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &f.queueURL, WaitTimeSeconds: 1})
	require.NoError(t, err)
	require.Len(t, out.Messages, 1)
	d := f.counters.Snapshot().Sub(before)
	assert.EqualValues(t, 2, d.Calls["SQS.ReceiveMessage"])
	assert.EqualValues(t, 1, d.Calls["SQS.ReceiveMessage.empty"])
	assert.EqualValues(t, 3, d.SQSRequests, "an empty receive is still a billed request")
}

// A BatchGetItem is billed per item read (1 unit each, strongly
// consistent), not per call.
func TestMiddlewareCountsBatchGetPerItem(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	var keys []map[string]ddbtypes.AttributeValue
	for _, sk := range []string{"1", "2", "3"} {
		_, err := f.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table,
			Item: map[string]ddbtypes.AttributeValue{"pk": s("p"), "sk": s(sk)}})
		require.NoError(t, err)
		keys = append(keys, map[string]ddbtypes.AttributeValue{"pk": s("p"), "sk": s(sk)})
	}
	before := f.counters.Snapshot()
	out, err := f.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]ddbtypes.KeysAndAttributes{
		f.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}})
	require.NoError(t, err)
	require.Len(t, out.Responses[f.table], 3)
	d := f.counters.Snapshot().Sub(before)
	assert.Equal(t, map[string]int64{"DynamoDB.BatchGetItem": 1}, d.Calls)
	assert.Equal(t, 3.0, d.DynamoDBRRU, "three strongly consistent item reads")
}

func TestMiddlewareCountsFailedConditionalWrite(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	before := f.counters.Snapshot()

	_, err := f.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table,
		Item:                map[string]ddbtypes.AttributeValue{"pk": s("p"), "sk": s("1")},
		ConditionExpression: aws.String("attribute_exists(pk)")})
	var ccf *ddbtypes.ConditionalCheckFailedException
	require.True(t, errors.As(err, &ccf), "want a failed condition, got %v", err)

	d := f.counters.Snapshot().Sub(before)
	assert.Equal(t, map[string]int64{"DynamoDB.PutItem": 1}, d.Calls)
	assert.Equal(t, 1.0, d.DynamoDBWRU, "a failed conditional write still consumes a write unit")
	assert.Zero(t, d.DynamoDBRRU)
}

func TestMiddlewareCoexistsWithPerCallOptions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	// A caller's own per-call middleware runs, and the call is counted once.
	var ran atomic.Int64
	probe := func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("probe",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				ran.Add(1)
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
	before := f.counters.Snapshot()
	_, err := f.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: &f.queueURL, MessageBody: aws.String("x")},
		func(o *sqs.Options) { o.APIOptions = append(o.APIOptions, probe) })
	require.NoError(t, err)
	assert.Equal(t, int64(1), ran.Load())
	d := f.counters.Snapshot().Sub(before)
	assert.Equal(t, map[string]int64{"SQS.SendMessage": 1}, d.Calls)
	assert.Equal(t, int64(1), d.SQSRequests)
}

func TestSnapshotSub(t *testing.T) {
	t.Parallel()
	a := usage.Snapshot{
		Calls:       map[string]int64{"DynamoDB.PutItem": 5, "SQS.SendMessage": 3, "DynamoDB.Query": 2},
		DynamoDBWRU: 7, DynamoDBRRU: 4, SQSRequests: 9, EventBridgeEvents: 2,
		LambdaInvocations: map[string]int64{"worker": 4, "scanner": 1},
		LambdaGBSeconds:   1.5, APIRequests: 6,
	}
	b := usage.Snapshot{
		Calls:       map[string]int64{"DynamoDB.PutItem": 2, "SQS.SendMessage": 3},
		DynamoDBWRU: 3, DynamoDBRRU: 1, SQSRequests: 4, EventBridgeEvents: 1,
		LambdaInvocations: map[string]int64{"worker": 1, "scanner": 1},
		LambdaGBSeconds:   0.5, APIRequests: 2,
	}
	assert.Equal(t, usage.Snapshot{
		Calls:       map[string]int64{"DynamoDB.PutItem": 3, "DynamoDB.Query": 2}, // unchanged operations drop out
		DynamoDBWRU: 4, DynamoDBRRU: 3, SQSRequests: 5, EventBridgeEvents: 1,
		LambdaInvocations: map[string]int64{"worker": 3},
		LambdaGBSeconds:   1, APIRequests: 4,
	}, a.Sub(b))
	assert.Equal(t, int64(5), a.TotalInvocations())

	zero := a.Sub(a)
	assert.Empty(t, zero.Calls)
	assert.Empty(t, zero.LambdaInvocations)
	assert.Zero(t, zero.DynamoDBWRU)
	assert.Zero(t, zero.TotalInvocations())
}

func TestSnapshotIsACopy(t *testing.T) {
	t.Parallel()
	var c usage.Counters
	c.Invocation("worker", time.Millisecond, 128)
	c.APIRequest()
	snap := c.Snapshot()
	c.Invocation("worker", time.Millisecond, 128)
	c.APIRequest()
	assert.Equal(t, int64(1), snap.LambdaInvocations["worker"])
	assert.Equal(t, int64(1), snap.APIRequests)
	assert.Equal(t, int64(2), c.Snapshot().LambdaInvocations["worker"])
	assert.Equal(t, int64(2), c.Snapshot().APIRequests)
}

func TestInvocationGBSeconds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		d     time.Duration
		memMB int
		want  float64 // GB-seconds
	}{
		{"whole milliseconds bill as they are", 100 * time.Millisecond, 1024, 0.1},
		{"a part millisecond rounds up", 100*time.Millisecond + time.Microsecond, 1024, 0.101},
		{"memory scales linearly", 2 * time.Second, 512, 1},
		{"arm64 128 MB", 250 * time.Millisecond, 128, 0.25 * 0.125},
		{"an instant call bills the 1 ms minimum", 0, 1024, 0.001},
		{"under a millisecond bills 1 ms", 300 * time.Microsecond, 2048, 0.002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var c usage.Counters
			c.Invocation("fn", tc.d, tc.memMB)
			snap := c.Snapshot()
			assert.InDelta(t, tc.want, snap.LambdaGBSeconds, 1e-12)
			assert.Equal(t, map[string]int64{"fn": 1}, snap.LambdaInvocations)
		})
	}

	var c usage.Counters
	c.Invocation("a", time.Second, 1024)
	c.Invocation("a", time.Second, 1024)
	c.Invocation("b", 500*time.Millisecond, 2048)
	snap := c.Snapshot()
	assert.InDelta(t, 3.0, snap.LambdaGBSeconds, 1e-12)
	assert.Equal(t, map[string]int64{"a": 2, "b": 1}, snap.LambdaInvocations)
	assert.Equal(t, int64(3), snap.TotalInvocations())
}

func TestGBSecondsByFunction(t *testing.T) {
	t.Parallel()
	var c usage.Counters
	c.Invocation("worker", time.Second, 128)
	c.Invocation("worker", time.Second, 128)
	before := c.Snapshot()
	c.Invocation("api", 2*time.Second, 256)
	c.Invocation("worker", time.Second, 128)
	s := c.Snapshot()
	assert.InDelta(t, 0.375, s.LambdaGBSecondsBy["worker"], 1e-9)
	assert.InDelta(t, 0.5, s.LambdaGBSecondsBy["api"], 1e-9)
	assert.InDelta(t, s.LambdaGBSeconds, s.LambdaGBSecondsBy["worker"]+s.LambdaGBSecondsBy["api"], 1e-9, "the split sums to the total")
	d := s.Sub(before)
	assert.InDelta(t, 0.125, d.LambdaGBSecondsBy["worker"], 1e-9)
	assert.InDelta(t, 0.5, d.LambdaGBSecondsBy["api"], 1e-9)
}

// With Minimums, single-item calls and queries do not ask for consumed
// capacity (the request goes out without ReturnConsumedCapacity) and count
// the documented minimum: on the emulator, the same figures as asking.
func TestMinimumsAskNothingOfSingleItemCalls(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	var asked []string
	spy := func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("spy", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			if in, ok := in.Parameters.(*dynamodb.PutItemInput); ok && in.ReturnConsumedCapacity != "" {
				asked = append(asked, "PutItem")
			}
			if in, ok := in.Parameters.(*dynamodb.QueryInput); ok && in.ReturnConsumedCapacity != "" {
				asked = append(asked, "Query")
			}
			if in, ok := in.Parameters.(*dynamodb.BatchGetItemInput); ok && in.ReturnConsumedCapacity != "" {
				asked = append(asked, "BatchGetItem")
			}
			return out, md, err
		}), middleware.Before)
	}
	for _, minimums := range []bool{false, true} {
		c := &usage.Counters{Minimums: minimums}
		cfg := f.cfg.Copy()
		cfg.APIOptions = append(slices.Clone(cfg.APIOptions), c.Middleware(), spy)
		db := dynamodb.NewFromConfig(cfg)
		asked = nil
		sk := fmt.Sprintf("m%v", minimums)
		key := map[string]ddbtypes.AttributeValue{"pk": s("p"), "sk": s(sk)}
		put, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: map[string]ddbtypes.AttributeValue{"pk": s("p"), "sk": s(sk)}})
		require.NoError(t, err)
		_, err = db.Query(ctx, &dynamodb.QueryInput{TableName: &f.table, KeyConditionExpression: aws.String("pk = :p"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": s("p")}})
		require.NoError(t, err)
		_, err = db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]ddbtypes.KeysAndAttributes{f.table: {Keys: []map[string]ddbtypes.AttributeValue{key}}}})
		require.NoError(t, err)
		d := c.Snapshot()
		if minimums {
			assert.Nil(t, put.ConsumedCapacity, "nothing asked")
			assert.Equal(t, []string{"BatchGetItem"}, asked, "batch calls are still asked")
		} else {
			assert.NotNil(t, put.ConsumedCapacity)
			assert.Equal(t, []string{"PutItem", "Query", "BatchGetItem"}, asked)
		}
		assert.Equal(t, 1.0, d.DynamoDBWRU, "minimums=%v", minimums)
		assert.Equal(t, 2.0, d.DynamoDBRRU, "minimums=%v: Query 1, BatchGetItem 1 (moto's figure, asked in both modes)", minimums)
	}
}
