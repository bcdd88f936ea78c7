package schedulerapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/sigv4"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

func TestTargetSpecMapsARNs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   targetShape
		want string
	}{
		{"sqs", targetShape{Arn: "arn:aws:sqs:eu-west-3:123456789012:orders.fifo", SqsParameters: &sqsParameters{MessageGroupID: "g"}},
			`{"kind":"sqs","queue_url":"https://sqs.eu-west-3.amazonaws.com/123456789012/orders.fifo","message_group_id":"g"}`},
		{"lambda", targetShape{Arn: "arn:aws:lambda:us-east-1:123456789012:function:tidy:live"},
			`{"kind":"lambda","function":"arn:aws:lambda:us-east-1:123456789012:function:tidy:live","invocation_type":"Event"}`},
		{"event bus", targetShape{Arn: "arn:aws:events:us-east-1:123456789012:event-bus/orders", EventBridgeParameters: &eventBridgeParameters{DetailType: "d", Source: "s"}},
			`{"kind":"eventbridge","bus":"arn:aws:events:us-east-1:123456789012:event-bus/orders","source":"s","detail_type":"d"}`},
	} {
		spec, errs := targetSpec(&tc.in)
		require.Empty(t, errs, tc.name)
		b, _ := json.Marshal(spec)
		assert.JSONEq(t, tc.want, string(b), tc.name)
	}
}

func TestTargetSpecRefusesNamingWhatIsSupported(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		in    targetShape
		field string
	}{
		{"kinesis", targetShape{Arn: "arn:aws:kinesis:us-east-1:1:stream/s"}, "Target.Arn"},
		{"ecs", targetShape{Arn: "arn:aws:ecs:us-east-1:1:cluster/c", EcsParameters: json.RawMessage(`{"TaskDefinitionArn":"x"}`)}, "Target.EcsParameters"},
		{"sns", targetShape{Arn: "arn:aws:sns:us-east-1:1:topic"}, "Target.Arn"},
		{"sagemaker", targetShape{Arn: "arn:aws:sagemaker:us-east-1:1:pipeline/p"}, "Target.Arn"},
		{"universal", targetShape{Arn: "arn:aws:scheduler:::aws-sdk:sqs:sendMessage"}, "Target.Arn"},
		{"not an ARN", targetShape{Arn: "https://example.com"}, "Target.Arn"},
		{"bus without parameters", targetShape{Arn: "arn:aws:events:us-east-1:1:event-bus/b"}, "Target.EventBridgeParameters"},
		{"sqs parameters on lambda", targetShape{Arn: "arn:aws:lambda:us-east-1:1:function:f", SqsParameters: &sqsParameters{MessageGroupID: "g"}}, "Target.SqsParameters"},
	} {
		_, errs := targetSpec(&tc.in)
		require.NotEmpty(t, errs, tc.name)
		assert.Equal(t, tc.field, errs[0].Field, tc.name)
		if tc.field == "Target.Arn" {
			assert.Contains(t, errs[0].Reason, "supported target ARNs", tc.name)
		}
	}
}

func TestNamedValidatesRequiredFields(t *testing.T) {
	t.Parallel()
	off := &flexibleTimeWindow{Mode: "OFF"}
	target := &targetShape{Arn: "arn:aws:sqs:us-east-1:1:q", RoleArn: "arn:aws:iam::1:role/r"}
	for _, tc := range []struct {
		name string
		in   scheduleInput
		want string
	}{
		{"no expression", scheduleInput{FlexibleTimeWindow: off, Target: target}, "ScheduleExpression: is required"},
		{"no window", scheduleInput{ScheduleExpression: "rate(1 hour)", Target: target}, "FlexibleTimeWindow: is required"},
		{"flexible without minutes", scheduleInput{ScheduleExpression: "rate(1 hour)", FlexibleTimeWindow: &flexibleTimeWindow{Mode: "FLEXIBLE"}, Target: target}, "FlexibleTimeWindow.MaximumWindowInMinutes"},
		{"bad mode", scheduleInput{ScheduleExpression: "rate(1 hour)", FlexibleTimeWindow: &flexibleTimeWindow{Mode: "ON"}, Target: target}, "FlexibleTimeWindow.Mode"},
		{"no target", scheduleInput{ScheduleExpression: "rate(1 hour)", FlexibleTimeWindow: off}, "Target.Arn: is required"},
		{"no role", scheduleInput{ScheduleExpression: "rate(1 hour)", FlexibleTimeWindow: off, Target: &targetShape{Arn: target.Arn}}, "Target.RoleArn"},
		{"retries", scheduleInput{ScheduleExpression: "rate(1 hour)", FlexibleTimeWindow: off, Target: &targetShape{Arn: target.Arn, RoleArn: target.RoleArn, RetryPolicy: &retryPolicy{MaximumRetryAttempts: ptr(186)}}}, "MaximumRetryAttempts"},
		{"dead letter", scheduleInput{ScheduleExpression: "rate(1 hour)", FlexibleTimeWindow: off, Target: &targetShape{Arn: target.Arn, RoleArn: target.RoleArn, DeadLetterConfig: &arnRef{Arn: "arn:aws:sns:x"}}}, "Target.DeadLetterConfig.Arn"},
	} {
		_, aerr := named("n", &tc.in)
		require.NotNil(t, aerr, tc.name)
		assert.Equal(t, http.StatusBadRequest, aerr.status, tc.name)
		assert.Equal(t, codeValidation, aerr.code, tc.name)
		assert.Contains(t, aerr.message, tc.want, tc.name)
	}
	ns, aerr := named("n", &scheduleInput{ScheduleExpression: "rate(1 hour)", FlexibleTimeWindow: &flexibleTimeWindow{Mode: "FLEXIBLE", MaximumWindowInMinutes: ptr(5)},
		StartDate: fptr(1900000000.5), State: "DISABLED",
		Target: &targetShape{Arn: target.Arn, RoleArn: target.RoleArn, Input: sptr("plain text"), RetryPolicy: &retryPolicy{MaximumRetryAttempts: ptr(0)}}})
	require.Nil(t, aerr)
	assert.Equal(t, target.RoleArn, ns.RoleArn)
	assert.JSONEq(t, `{"expression":"rate(1 hour)","flexible_window_minutes":5,"start_at":"2030-03-17T17:46:40.5Z","state":"DISABLED",
		"target":{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/1/q","role_arn":"arn:aws:iam::1:role/r"},"payload":"plain text","retry":{"max_attempts":1}}`, string(ns.Definition))
}

func TestErrorsMapToAWSCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{&app.Invalid{Fields: []task.FieldError{{Field: "expression", Reason: "bad"}}}, 400, "ValidationException"},
		{&app.NotFound{What: "Schedule x"}, 404, "ResourceNotFoundException"},
		{&app.Conflict{Detail: "exists"}, 409, "ConflictException"},
		{&app.LimitExceeded{Detail: "slow down"}, 429, "ThrottlingException"},
		{&app.QuotaExceeded{Detail: "at most 500 schedule groups"}, 402, "ServiceQuotaExceededException"},
		{&sigv4.Error{Code: sigv4.CodeUnrecognizedClient, Message: "no"}, 403, "UnrecognizedClientException"},
		{errors.New("dynamodb down"), 500, "InternalServerException"},
	} {
		rec := httptest.NewRecorder()
		errorOf(zerolog.Nop(), tc.err).write(rec)
		assert.Equal(t, tc.status, rec.Code, tc.code)
		assert.Equal(t, tc.code, rec.Header().Get("X-Amzn-ErrorType"))
		var body map[string]string
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		assert.NotEmpty(t, body["Message"])
		assert.NotContains(t, body["Message"], "dynamodb", "internal errors are not shown")
	}
	rec := httptest.NewRecorder()
	errorOf(zerolog.Nop(), &app.Invalid{Fields: []task.FieldError{{Field: "target.queue_url", Reason: "bad"}, {Field: "timezone", Reason: "unknown"}}}).write(rec)
	assert.Contains(t, rec.Body.String(), "Target.Arn: bad; ScheduleExpressionTimezone: unknown")
}

func TestSplitPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][3]string{
		"/schedules":         {"schedules", "", "true"},
		"/schedules/a.b-c_d": {"schedules", "a.b-c_d", "true"},
		"/schedule-groups/g": {"schedule-groups", "g", "true"},
		"/tags/arn%3Aaws%3Ascheduler%3Aus-east-1%3A0%3Aschedule-group%2Fteam": {"tags", "arn:aws:scheduler:us-east-1:0:schedule-group/team", "true"},
		"/schedules/a/b": {"", "", "false"},
		"/v1/schedules":  {"", "", "false"},
		"/schedules/%zz": {"", "", "false"},
	} {
		r, n, ok := splitPath(in)
		assert.Equal(t, want, [3]string{r, n, map[bool]string{true: "true", false: "false"}[ok]}, in)
	}
}

func ptr(n int) *int          { return &n }
func fptr(f float64) *float64 { return &f }
func sptr(s string) *string   { return &s }
