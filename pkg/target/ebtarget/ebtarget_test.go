package ebtarget_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/target/ebtarget"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	e := ebtarget.New(nil)
	for name, tc := range map[string]struct {
		spec   string
		fields []string
	}{
		"name":             {`{"kind":"eventbridge","bus":"orders","source":"com.example","detail_type":"Reminder"}`, nil},
		"arn, envelope":    {`{"kind":"eventbridge","bus":"arn:aws:events:us-east-1:123456789012:event-bus/orders","source":"s","detail_type":"d","envelope":true}`, nil},
		"missing all":      {`{"kind":"eventbridge"}`, []string{"bus", "source", "detail_type"}},
		"bad bus":          {`{"kind":"eventbridge","bus":"my bus","source":"s","detail_type":"d"}`, []string{"bus"}},
		"aws source":       {`{"kind":"eventbridge","bus":"b","source":"aws.s3","detail_type":"d"}`, []string{"source"}},
		"long type":        {`{"kind":"eventbridge","bus":"b","source":"s","detail_type":"` + strings.Repeat("x", 129) + `"}`, []string{"detail_type"}},
		"control char":     {`{"kind":"eventbridge","bus":"b","source":"s\n","detail_type":"d"}`, []string{"source"}},
		"C1 control":       {`{"kind":"eventbridge","bus":"b","source":"s","detail_type":"d\u0085"}`, []string{"detail_type"}},
		"bidi override":    {`{"kind":"eventbridge","bus":"b","source":"s\u202e","detail_type":"d"}`, []string{"source"}},
		"unknown field":    {`{"kind":"eventbridge","bus":"b","source":"s","detail_type":"d","resources":[]}`, []string{"resources"}},
		"not an object":    {`[]`, []string{"bus"}},
		"wrong bus type":   {`{"kind":"eventbridge","bus":1,"source":"s","detail_type":"d"}`, []string{"bus"}},
		"lifecycle source": {`{"kind":"eventbridge","bus":"b","source":"Hourglass","detail_type":"TaskFailed"}`, []string{"source"}},
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

func TestDetail(t *testing.T) {
	t.Parallel()
	inv := target.Invocation{TaskID: "t1", Tenant: "acme", Attempt: 1, IdempotencyKey: "k", DueAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	for name, tc := range map[string]struct {
		payload, want string
		envelope      bool
	}{
		"object as is":     {payload: ` {"a":1}`, want: `{"a":1}`},
		"array wrapped":    {payload: `[1]`, want: `{"payload":[1]}`},
		"string wrapped":   {payload: `"x"`, want: `{"payload":"x"}`},
		"none is null":     {payload: ``, want: `{"payload":null}`},
		"envelope":         {payload: `{"a":1}`, envelope: true, want: `{"hourglass":{"task_id":"t1","tenant":"acme","attempt":1,"idempotency_key":"k","due_at":"2030-01-02T03:04:05Z"},"payload":{"a":1}}`},
		"envelope of none": {payload: ``, envelope: true, want: `{"hourglass":{"task_id":"t1","tenant":"acme","attempt":1,"idempotency_key":"k","due_at":"2030-01-02T03:04:05Z"},"payload":null}`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in := inv
			in.Payload = json.RawMessage(tc.payload)
			got, err := ebtarget.Detail(ebtarget.Spec{Envelope: tc.envelope}, in)
			require.NoError(t, err)
			assert.JSONEq(t, tc.want, got)
		})
	}
}

// stub answers PutEvents with a fixed output or error.
type stub struct {
	out *eventbridge.PutEventsOutput
	err error
}

func (s stub) PutEvents(context.Context, *eventbridge.PutEventsInput, ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	return s.out, s.err
}

func TestCallErrors(t *testing.T) {
	t.Parallel()
	spec := json.RawMessage(`{"kind":"eventbridge","bus":"b","source":"s","detail_type":"d"}`)
	for code, permanent := range map[string]bool{"ResourceNotFoundException": true, "AccessDeniedException": true, "ValidationException": true,
		"ThrottlingException": false, "InternalException": false} {
		t.Run(code, func(t *testing.T) {
			t.Parallel()
			e := ebtarget.New(stub{err: &smithy.GenericAPIError{Code: code, Message: "no"}})
			_, err := e.Execute(context.Background(), target.Invocation{Spec: spec, Payload: json.RawMessage(`{}`)})
			require.ErrorContains(t, err, code)
			assert.Equal(t, permanent, target.IsPermanent(err))
		})
	}
}

func TestFailedEntries(t *testing.T) {
	t.Parallel()
	spec := json.RawMessage(`{"kind":"eventbridge","bus":"b","source":"s","detail_type":"d"}`)
	for code, permanent := range map[string]bool{"ThrottlingException": false, "InternalFailure": false, "MalformedDetail": true, "NotAuthorizedForSourceException": true} {
		t.Run(code, func(t *testing.T) {
			t.Parallel()
			e := ebtarget.New(stub{out: &eventbridge.PutEventsOutput{FailedEntryCount: 1, Entries: []types.PutEventsResultEntry{{ErrorCode: aws.String(code), ErrorMessage: aws.String("no")}}}})
			_, err := e.Execute(context.Background(), target.Invocation{Spec: spec, Payload: json.RawMessage(`{}`)})
			require.ErrorContains(t, err, code)
			assert.Equal(t, permanent, target.IsPermanent(err))
		})
	}
}

// TestPutEventsThroughEmulator puts a task's event on a bus whose rule
// sends to a queue, and reads it back from the queue.
func TestPutEventsThroughEmulator(t *testing.T) {
	t.Parallel()
	env := awstest.New(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	bus := env.Name("orders")
	_, err := provision.EnsureBus(ctx, eventbridge.NewFromConfig(env.Config), bus)
	require.NoError(t, err)
	queue, err := provision.EnsureQueue(ctx, env.Config, env.Name("orders-seen"))
	require.NoError(t, err)
	require.NoError(t, provision.RuleToQueue(ctx, env.Config, bus, env.Name("reminders"),
		map[string]any{"source": []string{"com.example.orders"}, "detail-type": []string{"OrderReminder"}}, queue))

	e := ebtarget.New(eventbridge.NewFromConfig(env.Config))
	res, err := e.Execute(ctx, target.Invocation{TaskID: "t1", Tenant: "acme", Attempt: 1, IdempotencyKey: "k",
		Payload: json.RawMessage(`{"order":42}`),
		Spec:    json.RawMessage(`{"kind":"eventbridge","bus":"` + bus + `","source":"com.example.orders","detail_type":"OrderReminder"}`)})
	require.NoError(t, err)
	assert.Regexp(t, `^event \S+$`, res.Summary)

	var ev struct {
		Source     string          `json:"source"`
		DetailType string          `json:"detail-type"`
		Detail     json.RawMessage `json:"detail"`
	}
	body := receiveOne(t, ctx, sqs.NewFromConfig(env.Config), queue)
	require.NoError(t, json.Unmarshal([]byte(body), &ev), body)
	assert.Equal(t, "com.example.orders", ev.Source)
	assert.Equal(t, "OrderReminder", ev.DetailType)
	assert.JSONEq(t, `{"order":42}`, string(ev.Detail))
}

func TestMissingBusFailsPermanently(t *testing.T) {
	t.Parallel()
	env := awstest.New(t)
	e := ebtarget.New(eventbridge.NewFromConfig(env.Config))
	_, err := e.Execute(t.Context(), target.Invocation{Payload: json.RawMessage(`{}`),
		Spec: json.RawMessage(`{"kind":"eventbridge","bus":"` + env.Name("absent") + `","source":"s","detail_type":"d"}`)})
	require.Error(t, err)
	assert.True(t, target.IsPermanent(err), "got %v", err)
}

func receiveOne(t *testing.T, ctx context.Context, q *sqs.Client, url string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 1, MaxNumberOfMessages: 1})
		require.NoError(t, err)
		if len(out.Messages) > 0 {
			return aws.ToString(out.Messages[0].Body)
		}
	}
	t.Fatalf("no message on %s within 20s", url)
	return ""
}
