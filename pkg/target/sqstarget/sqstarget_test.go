package sqstarget_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/target/sqstarget"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	e := sqstarget.New(nil)
	const q = "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
	for name, tc := range map[string]struct {
		spec   string
		fields []string
	}{
		"standard":          {`{"kind":"sqs","queue_url":"` + q + `"}`, nil},
		"fifo with group":   {`{"kind":"sqs","queue_url":"` + q + `.fifo","message_group_id":"g"}`, nil},
		"missing url":       {`{"kind":"sqs"}`, []string{"queue_url"}},
		"not a queue url":   {`{"kind":"sqs","queue_url":"https://example.com/"}`, []string{"queue_url"}},
		"ftp":               {`{"kind":"sqs","queue_url":"ftp://sqs.us-east-1.amazonaws.com/1/q"}`, []string{"queue_url"}},
		"fifo needs group":  {`{"kind":"sqs","queue_url":"` + q + `.fifo"}`, []string{"message_group_id"}},
		"group on standard": {`{"kind":"sqs","queue_url":"` + q + `","message_group_id":"g"}`, []string{"message_group_id"}},
		"long group":        {`{"kind":"sqs","queue_url":"` + q + `.fifo","message_group_id":"` + strings.Repeat("g", 129) + `"}`, []string{"message_group_id"}},
		"unknown field":     {`{"kind":"sqs","queue_url":"` + q + `","delay":5}`, []string{"delay"}},
		"not an object":     {`[]`, []string{"queue_url"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, fe := range e.Validate(json.RawMessage(tc.spec)) {
				got = append(got, fe.Field)
				assert.NotEmpty(t, fe.Reason)
			}
			assert.Equal(t, tc.fields, got)
		})
	}
}

func TestAddress(t *testing.T) {
	t.Parallel()
	e := sqstarget.New(nil)
	a, ok := e.Address(json.RawMessage(`{"kind":"sqs","queue_url":"https://sqs.eu-west-3.amazonaws.com/123456789012/orders"}`))
	require.True(t, ok)
	assert.Equal(t, target.Address{Field: "queue_url", Service: "sqs", Account: "123456789012", Resource: "orders", Name: "orders", Region: "eu-west-3"}, a)
	a, ok = e.Address(json.RawMessage(`{"kind":"sqs","queue_url":"https://cn-north-1.queue.amazonaws.com.cn/1/q"}`))
	require.True(t, ok)
	assert.Equal(t, "cn-north-1", a.Region)
	assert.Equal(t, "aws-cn", a.Partition)
	_, ok = e.Address(json.RawMessage(`{"kind":"sqs"}`))
	assert.False(t, ok)
}

// queue creates a queue on the emulator and returns its URL.
func queue(t *testing.T, c *sqs.Client, name string, fifo bool) string {
	t.Helper()
	in := &sqs.CreateQueueInput{QueueName: aws.String(name)}
	if fifo {
		in.Attributes = map[string]string{"FifoQueue": "true"}
	}
	out, err := c.CreateQueue(context.Background(), in)
	require.NoError(t, err)
	return aws.ToString(out.QueueUrl)
}

func receive(t *testing.T, c *sqs.Client, url string) []types.Message {
	t.Helper()
	out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"},
	})
	require.NoError(t, err)
	return out.Messages
}

func invocation(spec string, payload string) target.Invocation {
	return target.Invocation{
		TaskID: "01TASK", Tenant: "acme", Attempt: 2, IdempotencyKey: "order-42",
		DueAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), Payload: json.RawMessage(payload), Spec: json.RawMessage(spec),
	}
}

// The payload arrives as the message body, with the task's ID, attempt and
// idempotency key as message attributes.
func TestExecuteSendsThePayload(t *testing.T) {
	t.Parallel()
	env := awstest.New(t)
	c := sqs.NewFromConfig(env.Config)
	url := queue(t, c, env.Name("sqstarget"), false)
	e := sqstarget.New(c)

	res, err := e.Execute(context.Background(), invocation(`{"kind":"sqs","queue_url":"`+url+`"}`, `{"order":42}`))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(res.Summary, "message "), res.Summary)

	msgs := receive(t, c, url)
	require.Len(t, msgs, 1)
	m := msgs[0]
	assert.JSONEq(t, `{"order":42}`, aws.ToString(m.Body))
	assert.Equal(t, "message "+aws.ToString(m.MessageId), res.Summary)
	assert.Equal(t, "01TASK", aws.ToString(m.MessageAttributes["Hourglass-Task-Id"].StringValue))
	assert.Equal(t, "2", aws.ToString(m.MessageAttributes["Hourglass-Attempt"].StringValue))
	assert.Equal(t, "Number", aws.ToString(m.MessageAttributes["Hourglass-Attempt"].DataType))
	assert.Equal(t, "order-42", aws.ToString(m.MessageAttributes["Idempotency-Key"].StringValue))

	_, err = e.Execute(context.Background(), invocation(`{"kind":"sqs","queue_url":"`+url+`"}`, ``))
	require.NoError(t, err)
	msgs = receive(t, c, url)
	require.Len(t, msgs, 1)
	assert.Equal(t, "null", aws.ToString(msgs[0].Body), "no payload is JSON null")
}

// On a FIFO queue two deliveries of one attempt (same idempotency key)
// leave one message: SQS deduplicates on the key.
func TestExecuteFIFODeduplicatesOnTheIdempotencyKey(t *testing.T) {
	t.Parallel()
	env := awstest.New(t)
	c := sqs.NewFromConfig(env.Config)
	url := queue(t, c, env.Name("sqstarget.fifo"), true)
	e := sqstarget.New(c)
	spec := `{"kind":"sqs","queue_url":"` + url + `","message_group_id":"g1"}`

	for range 2 {
		_, err := e.Execute(context.Background(), invocation(spec, `{"order":42}`))
		require.NoError(t, err)
	}
	other := invocation(spec, `{"order":43}`)
	other.IdempotencyKey = "order-43"
	_, err := e.Execute(context.Background(), other)
	require.NoError(t, err)

	var bodies []string
	for range 3 {
		for _, m := range receive(t, c, url) {
			bodies = append(bodies, aws.ToString(m.Body))
			_, err := c.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle})
			require.NoError(t, err)
		}
	}
	assert.Equal(t, []string{`{"order":42}`, `{"order":43}`}, bodies, "the duplicate was dropped, order kept")
}

// A queue that does not exist will not start existing by retrying: the
// failure is permanent, and so is a spec that does not validate.
func TestExecutePermanentFailures(t *testing.T) {
	t.Parallel()
	env := awstest.New(t)
	c := sqs.NewFromConfig(env.Config)
	url := queue(t, c, env.Name("sqstarget-exists"), false)
	missing := url[:strings.LastIndex(url, "/")+1] + env.Name("sqstarget-missing")
	e := sqstarget.New(c)

	_, err := e.Execute(context.Background(), invocation(`{"kind":"sqs","queue_url":"`+missing+`"}`, `{}`))
	require.Error(t, err)
	assert.True(t, target.IsPermanent(err), "missing queue: %v", err)

	_, err = e.Execute(context.Background(), invocation(`{"kind":"sqs"}`, `{}`))
	require.Error(t, err)
	assert.True(t, target.IsPermanent(err), "invalid spec: %v", err)
}
