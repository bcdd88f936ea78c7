package target_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/target/ebtarget"
	"github.com/hourglass-sched/hourglass/pkg/target/lambdatarget"
	"github.com/hourglass-sched/hourglass/pkg/target/sqstarget"
)

// fakeAWS answers every target call and counts them: a refused target
// must never reach it.
type fakeAWS struct{ calls atomic.Int32 }

func (f *fakeAWS) SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.calls.Add(1)
	return &sqs.SendMessageOutput{MessageId: aws.String("m")}, nil
}

func (f *fakeAWS) PutEvents(context.Context, *eventbridge.PutEventsInput, ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.calls.Add(1)
	return &eventbridge.PutEventsOutput{Entries: []ebtypes.PutEventsResultEntry{{EventId: aws.String("e")}}}, nil
}

func (f *fakeAWS) Invoke(context.Context, *lambda.InvokeInput, ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	f.calls.Add(1)
	return &lambda.InvokeOutput{StatusCode: 200, Payload: []byte(`{}`)}, nil
}

const acct = "123456789012"

// own is a deployment's own resources as the stack names them.
var own = target.Own{
	Buses: []string{"hourglass"},
	Queues: []string{
		"https://sqs.us-east-1.amazonaws.com/" + acct + "/Hourglass-TaskQueue1A2B-xyz",
		"https://sqs.us-east-1.amazonaws.com/" + acct + "/Hourglass-TaskDLQ3C4D-xyz",
		"https://sqs.us-east-1.amazonaws.com/" + acct + "/Hourglass-ScanQueue-abc",
		"https://sqs.us-east-1.amazonaws.com/" + acct + "/Hourglass-ScanDLQ-abc",
		"https://sqs.us-east-1.amazonaws.com/" + acct + "/Hourglass-IngestQueue-def",
		"", // an unset URL reserves nothing
	},
}

// setup returns the three AWS executors guarded by p, by kind, and the
// fake they call.
func setup(t *testing.T, p *target.Policy) (map[string]target.Executor, *fakeAWS) {
	t.Helper()
	f := &fakeAWS{}
	out := map[string]target.Executor{}
	for _, e := range []target.Executor{sqstarget.New(f), ebtarget.New(f), lambdatarget.New(f)} {
		g := target.Guard(e, p)
		_, ok := g.(target.Addresser)
		require.True(t, ok, "%s names AWS resources", e.Kind())
		out[e.Kind()] = g
	}
	return out, f
}

// Finding (high): a task could target the Hourglass bus (CreateTask for
// another tenant, forged TaskFailed), its queues (messages the worker then
// consumed) or its functions. Every spelling is refused by Validate and,
// for a task stored before the check, by Execute before any call.
func TestGuardRefusesHourglassResources(t *testing.T) {
	t.Parallel()
	execs, f := setup(t, &target.Policy{Own: own, Allow: target.AllowAll()})
	for name, tc := range map[string]struct{ kind, spec, field string }{
		"bus by name":              {"eventbridge", `{"kind":"eventbridge","bus":"hourglass","source":"com.mallory","detail_type":"CreateTask"}`, "bus"},
		"bus by name, other case":  {"eventbridge", `{"kind":"eventbridge","bus":"HourGlass","source":"com.mallory","detail_type":"TaskFailed"}`, "bus"},
		"bus by ARN":               {"eventbridge", `{"kind":"eventbridge","bus":"arn:aws:events:us-east-1:` + acct + `:event-bus/hourglass","source":"x","detail_type":"CreateSchedule"}`, "bus"},
		"bus by ARN, other region": {"eventbridge", `{"kind":"eventbridge","bus":"arn:aws-cn:events:cn-north-1:` + acct + `:event-bus/hourglass","source":"x","detail_type":"d"}`, "bus"},
		"task queue":               {"sqs", `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/` + acct + `/Hourglass-TaskQueue1A2B-xyz"}`, "queue_url"},
		"task queue, legacy host":  {"sqs", `{"kind":"sqs","queue_url":"https://queue.amazonaws.com/` + acct + `/Hourglass-TaskQueue1A2B-xyz/"}`, "queue_url"},
		"task queue, escaped":      {"sqs", `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/` + acct + `/%48ourglass-TaskQueue1A2B-xyz"}`, "queue_url"},
		"task queue, other case":   {"sqs", `{"kind":"sqs","queue_url":"http://localhost:4566/` + acct + `/hourglass-taskqueue1a2b-xyz"}`, "queue_url"},
		"task DLQ":                 {"sqs", `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/` + acct + `/Hourglass-TaskDLQ3C4D-xyz"}`, "queue_url"},
		"scan queue":               {"sqs", `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/` + acct + `/Hourglass-ScanQueue-abc"}`, "queue_url"},
		"ingest queue":             {"sqs", `{"kind":"sqs","queue_url":"https://us-east-1.queue.amazonaws.com/` + acct + `/Hourglass-IngestQueue-def"}`, "queue_url"},
		"function by name":         {"lambda", `{"kind":"lambda","function":"hourglass-prod-worker"}`, "function"},
		"function with alias":      {"lambda", `{"kind":"lambda","function":"Hourglass-prod-api:live"}`, "function"},
		"function partial ARN":     {"lambda", `{"kind":"lambda","function":"` + acct + `:function:hourglass-prod-ingest"}`, "function"},
		"function ARN":             {"lambda", `{"kind":"lambda","function":"arn:aws:lambda:us-east-1:` + acct + `:function:hourglass-prod-dispatcher:$LATEST"}`, "function"},
	} {
		t.Run(name, func(t *testing.T) {
			e := execs[tc.kind]
			errs := e.Validate(json.RawMessage(tc.spec))
			require.Len(t, errs, 1, "refused at create")
			assert.Equal(t, tc.field, errs[0].Field)
			assert.Contains(t, errs[0].Reason, "Hourglass")
			_, err := e.Execute(context.Background(), target.Invocation{TaskID: "t", Tenant: "mallory", Spec: json.RawMessage(tc.spec), Payload: json.RawMessage(`{}`)})
			require.Error(t, err, "refused again by the worker")
			assert.True(t, target.IsPermanent(err), "a refusal is not retried: %v", err)
			assert.Contains(t, err.Error(), tc.field)
		})
	}
	assert.Zero(t, f.calls.Load(), "no refused target was called")
}

// Finding (high): source "hourglass" forged lifecycle events. Refused on
// every bus, with the bus too when it is Hourglass's: every problem named.
func TestGuardRefusesLifecycleSource(t *testing.T) {
	t.Parallel()
	execs, _ := setup(t, &target.Policy{Own: own, Allow: target.AllowAll()})
	eb := execs["eventbridge"]
	errs := eb.Validate(json.RawMessage(`{"kind":"eventbridge","bus":"orders","source":"Hourglass","detail_type":"TaskFailed"}`))
	require.Len(t, errs, 1)
	assert.Equal(t, "source", errs[0].Field)
	errs = eb.Validate(json.RawMessage(`{"kind":"eventbridge","bus":"hourglass","source":"hourglass","detail_type":"TaskFailed"}`))
	var fields []string
	for _, e := range errs {
		fields = append(fields, e.Field)
	}
	assert.ElementsMatch(t, []string{"source", "bus"}, fields)
}

// Resources that merely resemble Hourglass's stay allowed.
func TestGuardAllowsOtherResources(t *testing.T) {
	t.Parallel()
	execs, f := setup(t, &target.Policy{Own: own, Allow: target.AllowAll()})
	for name, tc := range map[string]struct{ kind, spec string }{
		"other bus":         {"eventbridge", `{"kind":"eventbridge","bus":"hourglass-events","source":"s","detail_type":"d"}`},
		"other queue":       {"sqs", `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/` + acct + `/orders"}`},
		"other function":    {"lambda", `{"kind":"lambda","function":"orders-hourglass-hook"}`},
		"prefix as a alias": {"lambda", `{"kind":"lambda","function":"orders:hourglass-live"}`},
	} {
		t.Run(name, func(t *testing.T) {
			e := execs[tc.kind]
			assert.Empty(t, e.Validate(json.RawMessage(tc.spec)))
			_, err := e.Execute(context.Background(), target.Invocation{TaskID: "t", Tenant: "acme", Spec: json.RawMessage(tc.spec)})
			require.NoError(t, err)
		})
	}
	assert.EqualValues(t, 4, f.calls.Load())
}

// Finding (medium): the allow-list of target ARNs was one list for every
// tenant. Per tenant, an ARN outside its list is refused — by the
// validator (the service adds the tenant) and by the worker.
func TestPolicyAllowListIsPerTenant(t *testing.T) {
	t.Parallel()
	allow, err := target.ParseAllow("acme=arn:aws:sqs:*:"+acct+":acme-*|arn:aws:events:*:*:event-bus/acme, *=arn:aws:lambda:*:*:function:shared-*", nil)
	require.NoError(t, err)
	p := &target.Policy{Own: own, Allow: allow}
	execs, f := setup(t, p)
	acmeQueue := `{"kind":"sqs","queue_url":"https://sqs.eu-west-1.amazonaws.com/` + acct + `/acme-orders"}`
	for _, tc := range []struct {
		tenant, kind, spec string
		ok                 bool
	}{
		{"acme", "sqs", acmeQueue, true},
		{"mallory", "sqs", acmeQueue, false},
		{"acme", "sqs", `{"kind":"sqs","queue_url":"https://sqs.eu-west-1.amazonaws.com/999999999999/acme-orders"}`, false},
		{"acme", "eventbridge", `{"kind":"eventbridge","bus":"arn:aws:events:eu-west-1:` + acct + `:event-bus/acme","source":"s","detail_type":"d"}`, true},
		{"acme", "eventbridge", `{"kind":"eventbridge","bus":"acme","source":"s","detail_type":"d"}`, true},
		// acme's own entry replaces the defaults.
		{"acme", "lambda", `{"kind":"lambda","function":"shared-hook"}`, false},
		{"globex", "lambda", `{"kind":"lambda","function":"arn:aws:lambda:us-east-1:` + acct + `:function:shared-hook:live"}`, true},
		{"globex", "eventbridge", `{"kind":"eventbridge","bus":"acme","source":"s","detail_type":"d"}`, false},
	} {
		e := execs[tc.kind]
		require.Empty(t, e.Validate(json.RawMessage(tc.spec)), "Validate has no tenant: only Hourglass's own are refused")
		a, ok := e.(target.Addresser).Address(json.RawMessage(tc.spec))
		require.True(t, ok)
		fe := p.Check(tc.tenant, a)
		before := f.calls.Load()
		_, err := e.Execute(context.Background(), target.Invocation{TaskID: "t", Tenant: tc.tenant, Spec: json.RawMessage(tc.spec)})
		if tc.ok {
			assert.Nil(t, fe, "%s may target %s", tc.tenant, a.ARN())
			assert.NoError(t, err)
			continue
		}
		require.NotNil(t, fe, "%s may not target %s", tc.tenant, a.ARN())
		assert.Equal(t, map[string]string{"sqs": "queue_url", "eventbridge": "bus", "lambda": "function"}[tc.kind], fe.Field)
		assert.Contains(t, fe.Reason, "HOURGLASS_TARGET_ALLOW")
		assert.True(t, target.IsPermanent(err), "%v", err)
		assert.Equal(t, before, f.calls.Load(), "refused before the call")
	}
}

func TestAddressARNs(t *testing.T) {
	t.Parallel()
	for spec, want := range map[string]string{
		`{"kind":"sqs","queue_url":"https://sqs.eu-west-1.amazonaws.com/` + acct + `/q"}`:       "arn:aws:sqs:eu-west-1:" + acct + ":q",
		`{"kind":"sqs","queue_url":"https://sqs.cn-north-1.amazonaws.com.cn/` + acct + `/q"}`:   "arn:aws-cn:sqs:cn-north-1:" + acct + ":q",
		`{"kind":"sqs","queue_url":"http://localhost:4566/` + acct + `/q"}`:                     "arn:aws:sqs::" + acct + ":q",
		`{"kind":"eventbridge","bus":"orders"}`:                                                 "arn:aws:events:::event-bus/orders",
		`{"kind":"eventbridge","bus":"arn:aws:events:us-east-1:` + acct + `:event-bus/orders"}`: "arn:aws:events:us-east-1:" + acct + ":event-bus/orders",
		`{"kind":"lambda","function":"fn:live"}`:                                                "arn:aws:lambda:::function:fn",
		`{"kind":"lambda","function":"` + acct + `:function:fn"}`:                               "arn:aws:lambda::" + acct + ":function:fn",
		`{"kind":"lambda","function":"arn:aws:lambda:us-east-1:` + acct + `:function:fn:3"}`:    "arn:aws:lambda:us-east-1:" + acct + ":function:fn",
	} {
		var head struct{ Kind string }
		require.NoError(t, json.Unmarshal([]byte(spec), &head))
		var ad target.Addresser
		switch head.Kind {
		case "sqs":
			ad = sqstarget.New(nil)
		case "eventbridge":
			ad = ebtarget.New(nil)
		default:
			ad = lambdatarget.New(nil)
		}
		a, ok := ad.Address(json.RawMessage(spec))
		require.True(t, ok, spec)
		assert.Equal(t, want, a.ARN(), spec)
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p, s string
		ok   bool
	}{
		{"*", "arn:aws:sqs:us-east-1:1:q", true},
		{"arn:aws:sqs:*:*:orders-*", "arn:aws:sqs:us-east-1:1:orders-eu", true},
		{"arn:aws:sqs:*:*:orders-*", "arn:aws:sqs:us-east-1:1:billing", false},
		{"arn:aws:sqs:*:1:q", "arn:aws:sqs:us-east-1:2:q", false},
		{"arn:aws:sqs:us-east-1:1:q", "arn:aws:sqs:us-east-1:1:q", true},
		{"arn:aws:sqs:us-east-1:1:q", "arn:aws:sqs:us-east-1:1:q2", false},
		{"a*b*a", "aba", true},
		{"a*a", "a", false},
	} {
		assert.Equal(t, tc.ok, target.Match(tc.p, tc.s), "%s ~ %s", tc.p, tc.s)
	}
}

func TestParseAllowRejects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"acme", "acme=sqs:q", "=arn:x", "acme=arn:a,acme=arn:b", "bad tenant=arn:a"} {
		_, err := target.ParseAllow(s, func(t string) bool { return t != "bad tenant" })
		assert.Error(t, err, s)
	}
	l, err := target.ParseAllow(" acme = arn:a | arn:b , role=with=equals=arn:c ,", nil)
	require.NoError(t, err)
	assert.True(t, l.Allows("acme", "arn:b"))
	assert.True(t, l.Allows("role=with=equals", "arn:c"), "the tenant ends at the last =")
	assert.False(t, l.Allows("other", "arn:a"), "no entry and no *: nothing")
}
