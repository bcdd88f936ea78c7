package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/target/ebtarget"
	"github.com/hourglass-sched/hourglass/pkg/target/lambdatarget"
	"github.com/hourglass-sched/hourglass/pkg/target/sqstarget"
	"github.com/hourglass-sched/hourglass/pkg/target/webhook"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// targetCase is one target object and whether it is acceptable.
type targetCase struct {
	name   string
	target string
	valid  bool
}

// targetCases walk the edges of each kind's rules: what the executors'
// Validate accepts, the document must accept, and what they refuse, it
// must refuse (except for the rules listed in each schema's description
// that a schema cannot state, such as the SSRF guard, which no case here
// touches).
func targetCases() []targetCase {
	long := func(n int) string { return strings.Repeat("a", n) }
	headers := func(n int) string {
		hs := map[string]string{}
		for i := range n {
			hs["X-H"+strings.Repeat("i", i+1)] = "v"
		}
		b, _ := json.Marshal(hs)
		return string(b)
	}
	return []targetCase{
		// webhook
		{"webhook", `{"kind":"webhook","url":"https://example.com/hook"}`, true},
		{"webhook full", `{"kind":"webhook","url":"https://example.com/hook?a=1","headers":{"Authorization":"Bearer x","X-Trace":"a\tb"},"timeout_ms":60000}`, true},
		{"webhook redacted headers", `{"kind":"webhook","url":"https://example.com/","headers":{"Authorization":"[redacted]"}}`, true},
		{"webhook headers null", `{"kind":"webhook","url":"https://example.com/","headers":null}`, true},
		{"webhook upper-case scheme", `{"kind":"webhook","url":"HTTPS://example.com/"}`, true},
		{"webhook 32 headers", `{"kind":"webhook","url":"https://example.com/","headers":` + headers(32) + `}`, true},
		{"webhook without url", `{"kind":"webhook"}`, false},
		{"webhook url null", `{"kind":"webhook","url":null}`, false},
		{"webhook url empty", `{"kind":"webhook","url":""}`, false},
		{"webhook ftp", `{"kind":"webhook","url":"ftp://example.com/"}`, false},
		{"webhook user info", `{"kind":"webhook","url":"https://user:pw@example.com/"}`, false},
		{"webhook no host", `{"kind":"webhook","url":"https:///path"}`, false},
		{"webhook url too long", `{"kind":"webhook","url":"https://example.com/` + long(2029) + `"}`, false},
		{"webhook timeout too short", `{"kind":"webhook","url":"https://example.com/","timeout_ms":99}`, false},
		{"webhook timeout too long", `{"kind":"webhook","url":"https://example.com/","timeout_ms":60001}`, false},
		{"webhook timeout string", `{"kind":"webhook","url":"https://example.com/","timeout_ms":"1000"}`, false},
		{"webhook our header", `{"kind":"webhook","url":"https://example.com/","headers":{"Hourglass-Task-Id":"x"}}`, false},
		{"webhook transport header", `{"kind":"webhook","url":"https://example.com/","headers":{"content-TYPE":"x"}}`, false},
		{"webhook idempotency header", `{"kind":"webhook","url":"https://example.com/","headers":{"Idempotency-Key":"x"}}`, false},
		{"webhook proxy header", `{"kind":"webhook","url":"https://example.com/","headers":{"PROXY-Authorization":"x"}}`, false},
		{"webhook header name", `{"kind":"webhook","url":"https://example.com/","headers":{"Bad Name":"x"}}`, false},
		{"webhook header newline", `{"kind":"webhook","url":"https://example.com/","headers":{"X-A":"a\nb"}}`, false},
		{"webhook header C1 control", `{"kind":"webhook","url":"https://example.com/","headers":{"X-A":"a\u0085b"}}`, false},
		{"webhook header bidi override", `{"kind":"webhook","url":"https://example.com/","headers":{"X-A":"\u202eab"}}`, false},
		{"webhook header bidi isolate", `{"kind":"webhook","url":"https://example.com/","headers":{"X-A":"a\u2069b"}}`, false},
		{"webhook header line separator", `{"kind":"webhook","url":"https://example.com/","headers":{"X-A":"a\u2028b"}}`, false},
		{"webhook header non-ASCII", `{"kind":"webhook","url":"https://example.com/","headers":{"X-A":"café"}}`, true},
		{"webhook header too long", `{"kind":"webhook","url":"https://example.com/","headers":{"X-A":"` + long(4097) + `"}}`, false},
		{"webhook 33 headers", `{"kind":"webhook","url":"https://example.com/","headers":` + headers(33) + `}`, false},
		{"webhook headers array", `{"kind":"webhook","url":"https://example.com/","headers":["X-A"]}`, false},
		{"webhook with sqs field", `{"kind":"webhook","url":"https://example.com/","queue_url":"https://sqs.us-east-1.amazonaws.com/1/q"}`, false},
		// sqs
		{"sqs", `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/123456789012/reminders"}`, true},
		{"sqs local", `{"kind":"sqs","queue_url":"http://127.0.0.1:4566/000000000000/reminders/"}`, true},
		{"sqs group null", `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/123456789012/q","message_group_id":null}`, true},
		{"sqs group empty", `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/123456789012/q","message_group_id":""}`, true},
		{"sqs fifo", `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo","message_group_id":"g"}`, true},
		{"sqs fifo without group", `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo"}`, false},
		{"sqs fifo empty group", `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo","message_group_id":""}`, false},
		{"sqs fifo group too long", `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo","message_group_id":"` + long(129) + `"}`, false},
		{"sqs group on standard queue", `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/123456789012/q","message_group_id":"g"}`, false},
		{"sqs without queue", `{"kind":"sqs"}`, false},
		{"sqs one segment", `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/reminders"}`, false},
		{"sqs three segments", `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/1/2/3"}`, false},
		{"sqs not a URL", `{"kind":"sqs","queue_url":"reminders"}`, false},
		{"sqs with lambda field", `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/1/q","function":"f"}`, false},
		// eventbridge
		{"eventbridge", `{"kind":"eventbridge","bus":"orders","source":"com.example.orders","detail_type":"OrderReminder"}`, true},
		{"eventbridge arn envelope", `{"kind":"eventbridge","bus":"arn:aws:events:us-east-1:123456789012:event-bus/orders","source":"s","detail_type":"d","envelope":true}`, true},
		{"eventbridge envelope null", `{"kind":"eventbridge","bus":"default","source":"s","detail_type":"d","envelope":null}`, true},
		{"eventbridge without detail_type", `{"kind":"eventbridge","bus":"orders","source":"s"}`, false},
		{"eventbridge aws source", `{"kind":"eventbridge","bus":"orders","source":"aws.events","detail_type":"d"}`, false},
		{"eventbridge lifecycle source", `{"kind":"eventbridge","bus":"orders","source":"HourGlass","detail_type":"TaskFailed"}`, false},
		{"eventbridge source hourglass-like", `{"kind":"eventbridge","bus":"orders","source":"hourglass.orders","detail_type":"d"}`, true},
		{"eventbridge source control", `{"kind":"eventbridge","bus":"orders","source":"a\nb","detail_type":"d"}`, false},
		{"eventbridge source bidi override", `{"kind":"eventbridge","bus":"orders","source":"a\u202eb","detail_type":"d"}`, false},
		{"eventbridge detail_type C1 control", `{"kind":"eventbridge","bus":"orders","source":"s","detail_type":"d\u009b"}`, false},
		{"eventbridge source too long", `{"kind":"eventbridge","bus":"orders","source":"` + long(257) + `","detail_type":"d"}`, false},
		{"eventbridge detail_type too long", `{"kind":"eventbridge","bus":"orders","source":"s","detail_type":"` + long(129) + `"}`, false},
		{"eventbridge bad arn", `{"kind":"eventbridge","bus":"arn:aws:events:us-east-1:123:event-bus/orders","source":"s","detail_type":"d"}`, false},
		{"eventbridge bus space", `{"kind":"eventbridge","bus":"my bus","source":"s","detail_type":"d"}`, false},
		{"eventbridge envelope string", `{"kind":"eventbridge","bus":"orders","source":"s","detail_type":"d","envelope":"yes"}`, false},
		{"eventbridge with webhook field", `{"kind":"eventbridge","bus":"orders","source":"s","detail_type":"d","url":"https://example.com/"}`, false},
		// lambda
		{"lambda", `{"kind":"lambda","function":"send-reminder"}`, true},
		{"lambda arn", `{"kind":"lambda","function":"arn:aws:lambda:us-east-1:123456789012:function:send-reminder:live","invocation_type":"Event","envelope":true}`, true},
		{"lambda latest", `{"kind":"lambda","function":"send-reminder:$LATEST","invocation_type":"RequestResponse"}`, true},
		{"lambda invocation type empty", `{"kind":"lambda","function":"f","invocation_type":""}`, true},
		{"lambda invocation type null", `{"kind":"lambda","function":"f","invocation_type":null}`, true},
		{"lambda dry run", `{"kind":"lambda","function":"f","invocation_type":"DryRun"}`, false},
		{"lambda without function", `{"kind":"lambda"}`, false},
		{"lambda function space", `{"kind":"lambda","function":"my fn"}`, false},
		{"lambda function too long", `{"kind":"lambda","function":"` + long(171) + `"}`, false},
		{"lambda with eventbridge field", `{"kind":"lambda","function":"f","bus":"orders"}`, false},
		// any kind
		{"unknown kind", `{"kind":"carrier-pigeon","url":"https://example.com/"}`, false},
		{"kind in upper case", `{"kind":"WEBHOOK","url":"https://example.com/"}`, false},
		{"no kind", `{"url":"https://example.com/"}`, false},
		{"kind a number", `{"kind":5,"url":"https://example.com/"}`, false},
		{"not an object", `"https://example.com/"`, false},
	}
}

// serverValidator is the service's target validation (service.Validator)
// over the real executors.
func serverValidator(t *testing.T) task.TargetValidator {
	t.Helper()
	wh, err := webhook.New(webhook.Config{Secret: webhook.StaticSecrets([]byte("0123456789abcdef0123456789abcdef"))})
	require.NoError(t, err)
	byKind := map[string]target.Executor{}
	for _, e := range []target.Executor{wh, sqstarget.New(nil), ebtarget.New(nil), lambdatarget.New(nil)} {
		byKind[e.Kind()] = e
	}
	return func(kind string, spec json.RawMessage) []problem.FieldError {
		e, ok := byKind[kind]
		if !ok {
			return []problem.FieldError{{Field: "kind", Reason: "unknown target kind"}}
		}
		var out []problem.FieldError
		for _, fe := range e.Validate(spec) {
			out = append(out, problem.FieldError{Field: fe.Field, Reason: fe.Reason})
		}
		return out
	}
}

// TestOpenAPITargets checks the document's Target schemas against the
// executors' validation, case by case: a create body is accepted by the
// document exactly when the service accepts it.
func TestOpenAPITargets(t *testing.T) {
	t.Parallel()
	doc, _ := contract(t)
	create := doc.Components.Schemas["CreateTask"].Value
	validate := serverValidator(t)
	now := time.Now().UTC()
	due := now.Add(time.Hour).Format(time.RFC3339)
	for _, tc := range targetCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := []byte(`{"due_at":"` + due + `","target":` + tc.target + `}`)
			var v any
			require.NoError(t, json.Unmarshal(body, &v))
			docErr := create.VisitJSON(v, openapi3.EnableJSONSchema2020())
			_, errs := task.DecodeCreate(body, "", now, task.DefaultLimits(), validate)
			if tc.valid {
				assert.NoError(t, docErr, "the document refuses %s", tc.target)
				assert.Empty(t, errs, "the service refuses %s", tc.target)
			} else {
				assert.Error(t, docErr, "the document accepts %s", tc.target)
				assert.NotEmpty(t, errs, "the service accepts %s", tc.target)
			}
		})
	}
}

// TestOpenAPITargetRoundTrip sends a create request with each kind of
// target through the document's request validation, and a task answer
// carrying it (webhook header values redacted) through its response
// validation; a target of an unknown kind, with a field of another kind,
// or breaking a rule of its own kind, fails both.
func TestOpenAPITargetRoundTrip(t *testing.T) {
	t.Parallel()
	_, router := contract(t)
	due := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	taskJSON := func(tg string) string {
		return `{"id":"0123456789abcdefghijklmnop","state":"SCHEDULED","due_at":"` + due + `","target":` + tg +
			`,"payload":null,"retry":{"max_attempts":5,"initial_backoff_ms":1000,"max_backoff_ms":300000},` +
			`"idempotency_key":"0123456789abcdefghijklmnop","attempt_count":0,"attempts":[],"created_at":"` + due + `","updated_at":"` + due + `"}`
	}
	check := func(t *testing.T, tg string) (reqErr, respErr error) {
		t.Helper()
		body := `{"due_at":"` + due + `","target":` + tg + `}`
		req := httptest.NewRequest(http.MethodPost, "/v1/tasks", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		route, params, err := router.FindRoute(req)
		require.NoError(t, err)
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		reqErr = openapi3filter.ValidateRequest(context.Background(), in)

		get := httptest.NewRequest(http.MethodGet, "/v1/tasks/0123456789abcdefghijklmnop", nil)
		route, params, err = router.FindRoute(get)
		require.NoError(t, err)
		respErr = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: get, PathParams: params, Route: route},
			Status:                 http.StatusOK,
			Header:                 http.Header{"Content-Type": {"application/json"}},
			Body:                   io.NopCloser(bytes.NewReader([]byte(taskJSON(tg)))),
			Options:                &openapi3filter.Options{IncludeResponseStatus: true},
		})
		return reqErr, respErr
	}
	for name, tg := range map[string]string{
		"webhook":     `{"kind":"webhook","url":"https://example.com/hook","headers":{"Authorization":"[redacted]"},"timeout_ms":5000}`,
		"sqs":         `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo","message_group_id":"g"}`,
		"eventbridge": `{"kind":"eventbridge","bus":"orders","source":"com.example.orders","detail_type":"OrderReminder","envelope":true}`,
		"lambda":      `{"kind":"lambda","function":"send-reminder","invocation_type":"Event"}`,
	} {
		reqErr, respErr := check(t, tg)
		assert.NoError(t, reqErr, "%s request", name)
		assert.NoError(t, respErr, "%s response", name)
	}
	for name, tg := range map[string]string{
		"unknown kind":         `{"kind":"carrier-pigeon","url":"https://example.com/hook"}`,
		"field of sqs":         `{"kind":"webhook","url":"https://example.com/hook","message_group_id":"g"}`,
		"field of lambda":      `{"kind":"eventbridge","bus":"orders","source":"s","detail_type":"d","function":"f"}`,
		"field of webhook":     `{"kind":"lambda","function":"f","headers":{"A":"b"}}`,
		"field of eventbridge": `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/1/q","bus":"orders"}`,
		"reserved header":      `{"kind":"webhook","url":"https://example.com/hook","headers":{"hourglass-attempt":"[redacted]"}}`,
		"fifo without group":   `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/1/q.fifo"}`,
	} {
		reqErr, respErr := check(t, tg)
		assert.Error(t, reqErr, "%s request", name)
		assert.Error(t, respErr, "%s response", name)
	}
}

// TestOpenAPITextFields holds the document's rules for labels and
// idempotency_key to the service's (task.Printable): a create body is
// accepted by the document exactly when the service accepts it.
func TestOpenAPITextFields(t *testing.T) {
	t.Parallel()
	doc, _ := contract(t)
	create := doc.Components.Schemas["CreateTask"].Value
	now := time.Now().UTC()
	head := `{"due_at":"` + now.Add(time.Hour).Format(time.RFC3339) + `","target":{"kind":"webhook","url":"https://example.com/"},`
	for _, tc := range []struct {
		name, field string
		valid       bool
	}{
		{"label", `"labels":{"team":"payments","région":"é"}`, true},
		{"label value C1", `"labels":{"team":"a\u0085b"}`, false},
		{"label value bidi override", `"labels":{"team":"\u202epay"}`, false},
		{"label value line separator", `"labels":{"team":"a\u2028b"}`, false},
		{"label value tab", `"labels":{"team":"a\tb"}`, false},
		{"label key bidi isolate", `"labels":{"a\u2066b":"v"}`, false},
		{"label key with =", `"labels":{"a=b":"v"}`, false},
		{"label key with #", `"labels":{"a#b":"v"}`, false},
		{"label key empty", `"labels":{"":"v"}`, false},
		{"idempotency_key", `"idempotency_key":"order-42 é"`, true},
		{"idempotency_key C1", `"idempotency_key":"a\u009bb"`, false},
		{"idempotency_key right-to-left mark", `"idempotency_key":"a\u200fb"`, false},
		{"idempotency_key paragraph separator", `"idempotency_key":"a\u2029b"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := []byte(head + tc.field + `}`)
			var v any
			require.NoError(t, json.Unmarshal(body, &v))
			docErr := create.VisitJSON(v, openapi3.EnableJSONSchema2020())
			_, errs := task.DecodeCreate(body, "", now, task.DefaultLimits(), nil)
			if tc.valid {
				assert.NoError(t, docErr, "the document refuses %s", tc.field)
				assert.Empty(t, errs, "the service refuses %s", tc.field)
			} else {
				assert.Error(t, docErr, "the document accepts %s", tc.field)
				assert.NotEmpty(t, errs, "the service accepts %s", tc.field)
			}
		})
	}
}
