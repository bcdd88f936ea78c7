package lambdatarget_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/target/lambdatarget"
	"github.com/hourglass-sched/hourglass/pkg/testkit/lambdarie"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	e := lambdatarget.New(nil)
	for name, tc := range map[string]struct {
		spec   string
		fields []string
	}{
		"name":              {`{"kind":"lambda","function":"my-fn"}`, nil},
		"alias":             {`{"kind":"lambda","function":"my-fn:live","invocation_type":"Event"}`, nil},
		"arn":               {`{"kind":"lambda","function":"arn:aws:lambda:us-east-1:123456789012:function:my-fn:$LATEST","envelope":true}`, nil},
		"partial arn":       {`{"kind":"lambda","function":"123456789012:function:my-fn"}`, nil},
		"missing function":  {`{"kind":"lambda"}`, []string{"function"}},
		"bad function":      {`{"kind":"lambda","function":"my fn!"}`, []string{"function"}},
		"bad character":     {`{"kind":"lambda","function":"a=b"}`, []string{"function"}},
		"bad qualifier":     {`{"kind":"lambda","function":"f:v.1"}`, []string{"function"}},
		"bad type":          {`{"kind":"lambda","function":"f","invocation_type":"DryRun"}`, []string{"invocation_type"}},
		"unknown field":     {`{"kind":"lambda","function":"f","qualifier":"x"}`, []string{"qualifier"}},
		"not an object":     {`"f"`, []string{"function"}},
		"every field wrong": {`{"kind":"lambda","function":"","invocation_type":"x","y":1}`, []string{"function", "invocation_type", "y"}},
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

// stub answers Invoke with a fixed output, recording the input.
type stub struct {
	in  *lambda.InvokeInput
	out *lambda.InvokeOutput
	err error
}

func (s *stub) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	s.in = in
	return s.out, s.err
}

func TestFunctionErrorHeaderFailsTheAttempt(t *testing.T) {
	t.Parallel()
	// Lambda proper flags function errors with X-Amz-Function-Error even
	// when the payload has another shape (a custom runtime's error object).
	s := &stub{out: &lambda.InvokeOutput{StatusCode: 200, FunctionError: aws.String("Unhandled"), Payload: []byte(`{"message":"Task timed out"}`)}}
	_, err := lambdatarget.New(s).Execute(context.Background(), invocation(`{"kind":"lambda","function":"f"}`, `{}`))
	var fe *lambdatarget.FunctionError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "Unhandled", fe.Kind)
	assert.False(t, target.IsPermanent(err), "a function error is retried")
}

func TestSuccessWithErrorLikeFieldsIsNotAnError(t *testing.T) {
	t.Parallel()
	// An answer with errorMessage beside other keys is a result, not an error.
	s := &stub{out: &lambda.InvokeOutput{StatusCode: 200, Payload: []byte(`{"errorMessage":"none","errorType":"x","ok":true}`)}}
	res, err := lambdatarget.New(s).Execute(context.Background(), invocation(`{"kind":"lambda","function":"f"}`, `{}`))
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
}

func invocation(spec, payload string) target.Invocation {
	return target.Invocation{TaskID: "0ppn4k8ug006b4c8r5mhbvdbsg", Tenant: "acme", Attempt: 2, IdempotencyKey: "order-42",
		DueAt: time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC), Payload: json.RawMessage(payload), Spec: json.RawMessage(spec)}
}

// setup runs the test function under the Runtime Interface Emulator and
// returns an executor whose Lambda client points at it.
func setup(t *testing.T) *lambdatarget.Executor {
	t.Helper()
	fn := lambdarie.Start(t, lambdarie.BuildBootstrap(t, "./testdata/fn"), nil)
	client := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(fn.Endpoint()), Credentials: aws.AnonymousCredentials{}})
	return lambdatarget.New(client)
}

func execCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestInvokeUnderRIE(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs a function under the Runtime Interface Emulator")
	}
	e := setup(t)
	ctx := execCtx(t)

	t.Run("request-response carries the payload and the idempotency key", func(t *testing.T) {
		res, err := e.Execute(ctx, invocation(`{"kind":"lambda","function":"`+lambdarie.FunctionName+`"}`, `{"order":42}`))
		require.NoError(t, err)
		assert.Equal(t, 200, res.StatusCode)
		var got struct {
			Event  json.RawMessage   `json:"event"`
			Custom map[string]string `json:"custom"`
		}
		require.NoError(t, json.Unmarshal([]byte(res.Summary), &got), res.Summary)
		assert.JSONEq(t, `{"order":42}`, string(got.Event))
		assert.Equal(t, map[string]string{"hourglass-task-id": "0ppn4k8ug006b4c8r5mhbvdbsg", "hourglass-attempt": "2", "idempotency-key": "order-42"}, got.Custom)
	})

	t.Run("envelope wraps the payload with the task's identity", func(t *testing.T) {
		res, err := e.Execute(ctx, invocation(`{"kind":"lambda","function":"`+lambdarie.FunctionName+`","envelope":true}`, `[1,2]`))
		require.NoError(t, err)
		var got struct {
			Event target.Envelope `json:"event"`
		}
		require.NoError(t, json.Unmarshal([]byte(res.Summary), &got), res.Summary)
		assert.Equal(t, "order-42", got.Event.Hourglass.IdempotencyKey)
		assert.Equal(t, 2, got.Event.Hourglass.Attempt)
		assert.JSONEq(t, `[1,2]`, string(got.Event.Payload))
	})

	t.Run("a function error is a failed, retryable attempt", func(t *testing.T) {
		res, err := e.Execute(ctx, invocation(`{"kind":"lambda","function":"`+lambdarie.FunctionName+`"}`, `{"fail":"card declined"}`))
		var fe *lambdatarget.FunctionError
		require.True(t, errors.As(err, &fe), "got %v", err)
		assert.Equal(t, "card declined", fe.Message)
		assert.Equal(t, "errorString", fe.Type)
		assert.False(t, target.IsPermanent(err))
		assert.Contains(t, res.Summary, "card declined")
	})

	t.Run("event invocations succeed once accepted", func(t *testing.T) {
		// The emulator runs every invocation synchronously; what matters
		// here is that an Event invocation's answer is not read as a result.
		res, err := e.Execute(ctx, invocation(`{"kind":"lambda","function":"`+lambdarie.FunctionName+`","invocation_type":"Event"}`, `{"order":42}`))
		require.NoError(t, err)
		assert.Equal(t, "invocation queued", res.Summary)
	})
}

func TestInvokeErrorsPermanentOrRetried(t *testing.T) {
	t.Parallel()
	for code, permanent := range map[string]bool{
		"ResourceNotFoundException": true, "AccessDeniedException": true, "RequestTooLargeException": true,
		"TooManyRequestsException": false, "ServiceException": false, "ResourceNotReadyException": false,
	} {
		t.Run(code, func(t *testing.T) {
			t.Parallel()
			s := &stub{err: &smithy.GenericAPIError{Code: code, Message: "no"}}
			_, err := lambdatarget.New(s).Execute(context.Background(), invocation(`{"kind":"lambda","function":"f"}`, `{}`))
			require.ErrorContains(t, err, code)
			assert.Equal(t, permanent, target.IsPermanent(err))
		})
	}
}

func TestEventInvocationSendsNoClientContext(t *testing.T) {
	t.Parallel()
	s := &stub{out: &lambda.InvokeOutput{StatusCode: 202}}
	res, err := lambdatarget.New(s).Execute(context.Background(), invocation(`{"kind":"lambda","function":"f","invocation_type":"Event"}`, ``))
	require.NoError(t, err)
	assert.Equal(t, 202, res.StatusCode)
	assert.Equal(t, "Event", string(s.in.InvocationType))
	assert.Nil(t, s.in.ClientContext, "Lambda drops client context on Event invocations")
	assert.Equal(t, "null", string(s.in.Payload), "no payload is JSON null")
}
