package cost_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hourglass-sched/hourglass/pkg/testkit/cost"
	"github.com/hourglass-sched/hourglass/pkg/usage"
)

// tol is far below a millionth of a cent.
const tol = 1e-9

func assertBreakdown(t *testing.T, want, got cost.Breakdown) {
	t.Helper()
	assert.InDelta(t, want.DynamoDB, got.DynamoDB, tol, "DynamoDB")
	assert.InDelta(t, want.SQS, got.SQS, tol, "SQS")
	assert.InDelta(t, want.Lambda, got.Lambda, tol, "Lambda")
	assert.InDelta(t, want.APIGateway, got.APIGateway, tol, "API Gateway")
	assert.InDelta(t, want.EventBridge, got.EventBridge, tol, "EventBridge")
	assert.InDelta(t, want.Total, got.Total, tol, "Total")
}

// snap is the usage of two million tasks, in round numbers.
var snap = usage.Snapshot{
	Calls:             map[string]int64{"DynamoDB.PutItem": 2_000_000},
	DynamoDBWRU:       2_000_000,                                                    // × $0.625/M = $1.25
	DynamoDBRRU:       4_000_000,                                                    // × $0.125/M = $0.50
	SQSRequests:       3_000_000,                                                    // × $0.40/M  = $1.20
	EventBridgeEvents: 2_000_000,                                                    // × $1.00/M  = $2.00
	LambdaInvocations: map[string]int64{"worker": 1_500_000, "dispatcher": 500_000}, // 2M × $0.20/M = $0.40
	LambdaGBSeconds:   100_000,                                                      // × $0.0000133334 = $1.33334
	APIRequests:       1_000_000,                                                    // × $1.00/M = $1.00
}

func TestPrice(t *testing.T) {
	t.Parallel()
	assertBreakdown(t, cost.Breakdown{
		DynamoDB:    1.75,
		SQS:         1.20,
		Lambda:      1.73334,
		APIGateway:  1.00,
		EventBridge: 2.00,
		Total:       7.68334,
	}, cost.List.Price(snap))
}

func TestPriceEachLineItem(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		u    usage.Snapshot
		want cost.Breakdown
	}{
		{"one write unit", usage.Snapshot{DynamoDBWRU: 1}, cost.Breakdown{DynamoDB: 0.000000625, Total: 0.000000625}},
		{"one read unit", usage.Snapshot{DynamoDBRRU: 1}, cost.Breakdown{DynamoDB: 0.000000125, Total: 0.000000125}},
		{"one SQS request", usage.Snapshot{SQSRequests: 1}, cost.Breakdown{SQS: 0.0000004, Total: 0.0000004}},
		{"one invocation", usage.Snapshot{LambdaInvocations: map[string]int64{"f": 1}}, cost.Breakdown{Lambda: 0.0000002, Total: 0.0000002}},
		{"one GB-second", usage.Snapshot{LambdaGBSeconds: 1}, cost.Breakdown{Lambda: 0.0000133334, Total: 0.0000133334}},
		{"one API request", usage.Snapshot{APIRequests: 1}, cost.Breakdown{APIGateway: 0.000001, Total: 0.000001}},
		{"one event", usage.Snapshot{EventBridgeEvents: 1}, cost.Breakdown{EventBridge: 0.000001, Total: 0.000001}},
		{"nothing", usage.Snapshot{}, cost.Breakdown{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := cost.List.Price(tc.u)
			assert.InDelta(t, tc.want.DynamoDB, got.DynamoDB, 1e-15)
			assert.InDelta(t, tc.want.SQS, got.SQS, 1e-15)
			assert.InDelta(t, tc.want.Lambda, got.Lambda, 1e-15)
			assert.InDelta(t, tc.want.APIGateway, got.APIGateway, 1e-15)
			assert.InDelta(t, tc.want.EventBridge, got.EventBridge, 1e-15)
			assert.InDelta(t, tc.want.Total, got.Total, 1e-15)
		})
	}
}

func TestPerMillion(t *testing.T) {
	t.Parallel()
	// snap is two million tasks' usage: per million is half of it.
	assertBreakdown(t, cost.Breakdown{
		DynamoDB:    0.875,
		SQS:         0.60,
		Lambda:      0.86667,
		APIGateway:  0.50,
		EventBridge: 1.00,
		Total:       3.84167,
	}, cost.List.PerMillion(snap, 2_000_000))

	// One task that takes 1 WRU, 1 RRU and 2 SQS requests costs, per
	// million tasks, $0.625 + $0.125 + $0.80.
	one := usage.Snapshot{DynamoDBWRU: 1, DynamoDBRRU: 1, SQSRequests: 2}
	assertBreakdown(t, cost.Breakdown{DynamoDB: 0.75, SQS: 0.80, Total: 1.55}, cost.List.PerMillion(one, 1))
}

func TestPerMillionZeroTasks(t *testing.T) {
	t.Parallel()
	assert.Equal(t, cost.Breakdown{}, cost.List.PerMillion(snap, 0))
	assert.Equal(t, cost.Breakdown{}, cost.List.PerMillion(snap, -3))
	assert.Equal(t, cost.Breakdown{}, cost.List.PerMillion(usage.Snapshot{}, 10))
}

func TestPriceUsesTheGivenTable(t *testing.T) {
	t.Parallel()
	p := cost.Prices{DDBWRU: 1, DDBRRU: 2, SQSReq: 3, LambdaReq: 4, LambdaGBs: 5, APIReq: 6, EBEvent: 7}
	u := usage.Snapshot{DynamoDBWRU: 1, DynamoDBRRU: 1, SQSRequests: 1, LambdaInvocations: map[string]int64{"a": 1, "b": 1},
		LambdaGBSeconds: 1, APIRequests: 1, EventBridgeEvents: 1}
	assert.Equal(t, cost.Breakdown{DynamoDB: 3, SQS: 3, Lambda: 13, APIGateway: 6, EventBridge: 7, Total: 32}, p.Price(u))
}
