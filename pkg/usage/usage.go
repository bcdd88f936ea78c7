// Package usage counts what Hourglass asks of AWS — calls per operation,
// DynamoDB capacity units, SQS requests, Lambda invocations — with an SDK
// middleware installed on the clients of the local host (and of tests), so
// the load generator and benchmarks can price a task. Deployed functions
// build their clients without it (wire.Build with no counters).
package usage

import (
	"context"
	"errors"
	"math"
	"sort"
	"sync"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"
)

// Counters accumulates usage; safe for concurrent use. The zero value is ready.
type Counters struct {
	// Minimums: do not ask DynamoDB for consumed capacity on single-item
	// calls and queries (PutItem, GetItem, UpdateItem, DeleteItem, Query),
	// count the documented minimum for them instead. For the local host
	// on an emulator: moto answers constants for these (1, or 0.5, which
	// the billing floor makes 1), the same figures as the minimums, and
	// asking costs it CPU on every call (about 4 % of a PutItem's). Batch
	// and transaction calls are still asked.
	Minimums bool

	mu        sync.Mutex
	calls     map[string]int64
	wru, rru  float64
	sqs       int64
	ebEntries int64
	lambda    map[string]int64
	gbSeconds float64
	gbsByFn   map[string]float64
	apiReqs   int64
}

// Snapshot is a copy of the counters at one moment.
type Snapshot struct {
	// Calls counts "Service.Operation" → calls; "SQS.ReceiveMessage.empty"
	// counts the receives (among SQS.ReceiveMessage) that found nothing.
	Calls             map[string]int64 `json:"calls"`
	DynamoDBWRU       float64          `json:"ddb_wru"`
	DynamoDBRRU       float64          `json:"ddb_rru"`
	SQSRequests       int64            `json:"sqs_requests"`
	EventBridgeEvents int64            `json:"eventbridge_events"`
	LambdaInvocations map[string]int64 `json:"lambda_invocations"` // function → count
	LambdaGBSeconds   float64          `json:"lambda_gb_seconds"`
	// LambdaGBSecondsBy splits LambdaGBSeconds by function.
	LambdaGBSecondsBy map[string]float64 `json:"lambda_gb_seconds_by,omitempty"`
	APIRequests       int64              `json:"api_requests"`
}

// TotalInvocations sums Lambda invocations over every function.
func (s Snapshot) TotalInvocations() int64 {
	var n int64
	for _, v := range s.LambdaInvocations {
		n += v
	}
	return n
}

// Sub returns s − o, the usage between two snapshots.
func (s Snapshot) Sub(o Snapshot) Snapshot {
	d := Snapshot{
		Calls:             map[string]int64{},
		DynamoDBWRU:       s.DynamoDBWRU - o.DynamoDBWRU,
		DynamoDBRRU:       s.DynamoDBRRU - o.DynamoDBRRU,
		SQSRequests:       s.SQSRequests - o.SQSRequests,
		EventBridgeEvents: s.EventBridgeEvents - o.EventBridgeEvents,
		LambdaInvocations: map[string]int64{},
		LambdaGBSeconds:   s.LambdaGBSeconds - o.LambdaGBSeconds,
		APIRequests:       s.APIRequests - o.APIRequests,
	}
	for k, v := range s.Calls {
		if n := v - o.Calls[k]; n != 0 {
			d.Calls[k] = n
		}
	}
	for k, v := range s.LambdaInvocations {
		if n := v - o.LambdaInvocations[k]; n != 0 {
			d.LambdaInvocations[k] = n
		}
	}
	for k, v := range s.LambdaGBSecondsBy {
		if n := v - o.LambdaGBSecondsBy[k]; n != 0 {
			if d.LambdaGBSecondsBy == nil {
				d.LambdaGBSecondsBy = map[string]float64{}
			}
			d.LambdaGBSecondsBy[k] = n
		}
	}
	return d
}

// Snapshot copies the counters.
func (c *Counters) Snapshot() Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Snapshot{Calls: make(map[string]int64, len(c.calls)), DynamoDBWRU: c.wru, DynamoDBRRU: c.rru, SQSRequests: c.sqs,
		EventBridgeEvents: c.ebEntries, LambdaInvocations: make(map[string]int64, len(c.lambda)), LambdaGBSeconds: c.gbSeconds, APIRequests: c.apiReqs}
	for k, v := range c.calls {
		s.Calls[k] = v
	}
	for k, v := range c.lambda {
		s.LambdaInvocations[k] = v
	}
	if len(c.gbsByFn) > 0 {
		s.LambdaGBSecondsBy = make(map[string]float64, len(c.gbsByFn))
		for k, v := range c.gbsByFn {
			s.LambdaGBSecondsBy[k] = v
		}
	}
	return s
}

// Operations lists the counted operations, sorted, for reports.
func (s Snapshot) Operations() []string {
	ops := make([]string, 0, len(s.Calls))
	for k := range s.Calls {
		ops = append(ops, k)
	}
	sort.Strings(ops)
	return ops
}

// Invocation records one Lambda invocation of fn lasting d with memMB of
// memory (the local host calls it where Lambda would invoke a function).
func (c *Counters) Invocation(fn string, d time.Duration, memMB int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lambda == nil {
		c.lambda = map[string]int64{}
	}
	c.lambda[fn]++
	// Lambda bills in 1 ms steps, rounding up, with a 1 ms minimum.
	ms := max(int64((d+time.Millisecond-1)/time.Millisecond), 1)
	gbs := float64(ms) / 1000 * float64(memMB) / 1024
	c.gbSeconds += gbs
	if c.gbsByFn == nil {
		c.gbsByFn = map[string]float64{}
	}
	c.gbsByFn[fn] += gbs
}

// APIRequest records one API Gateway request.
func (c *Counters) APIRequest() {
	c.mu.Lock()
	c.apiReqs++
	c.mu.Unlock()
}

// Middleware returns the SDK API option that counts every call of a client.
// It asks DynamoDB for consumed capacity (ReturnConsumedCapacity=TOTAL) and
// adds what comes back; where an emulator returns none, it counts the
// documented minimum for the call (1 unit per item written or read).
func (c *Counters) Middleware() func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("hourglass-usage",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				askCapacity(in.Parameters, c.Minimums)
				out, md, err := next.HandleInitialize(ctx, in)
				c.record(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx), in.Parameters, out.Result, err)
				return out, md, err
			}), middleware.After)
	}
}

// askCapacity sets ReturnConsumedCapacity on p, a DynamoDB input; with
// minimums, only on batch and transaction calls (see Counters.Minimums).
func askCapacity(p any, minimums bool) {
	total := ddbtypes.ReturnConsumedCapacityTotal
	if minimums {
		switch p.(type) {
		case *dynamodb.PutItemInput, *dynamodb.GetItemInput, *dynamodb.UpdateItemInput, *dynamodb.DeleteItemInput, *dynamodb.QueryInput:
			return
		}
	}
	switch in := p.(type) {
	case *dynamodb.PutItemInput:
		in.ReturnConsumedCapacity = total
	case *dynamodb.GetItemInput:
		in.ReturnConsumedCapacity = total
	case *dynamodb.UpdateItemInput:
		in.ReturnConsumedCapacity = total
	case *dynamodb.DeleteItemInput:
		in.ReturnConsumedCapacity = total
	case *dynamodb.QueryInput:
		in.ReturnConsumedCapacity = total
	case *dynamodb.TransactWriteItemsInput:
		in.ReturnConsumedCapacity = total
	case *dynamodb.BatchWriteItemInput:
		in.ReturnConsumedCapacity = total
	case *dynamodb.BatchGetItemInput:
		in.ReturnConsumedCapacity = total
	}
}

func capOf(cc *ddbtypes.ConsumedCapacity) (float64, bool) {
	if cc == nil || cc.CapacityUnits == nil {
		return 0, false
	}
	return *cc.CapacityUnits, true
}

func sumCaps(ccs []ddbtypes.ConsumedCapacity) (float64, bool) {
	var t float64
	for i := range ccs {
		v, _ := capOf(&ccs[i])
		t += v
	}
	return t, len(ccs) > 0 && t > 0
}

// batchGetMin is the least a BatchGetItem costs: per item returned, 1 read
// unit strongly consistent, 0.5 eventually (items of up to 4 KB).
func batchGetMin(in *dynamodb.BatchGetItemInput, out *dynamodb.BatchGetItemOutput) float64 {
	var t float64
	for table, items := range out.Responses {
		per := 0.5
		if ka, ok := in.RequestItems[table]; ok && ka.ConsistentRead != nil && *ka.ConsistentRead {
			per = 1
		}
		t += per * float64(len(items))
	}
	return t
}

func (c *Counters) record(service, op string, in, out any, err error) {
	var wru, rru float64
	if err != nil {
		// Failed calls cost nothing (throttled, invalid, unreachable) —
		// except a write whose condition failed, which AWS bills: the
		// item was read and judged.
		out = nil
		var ccf *ddbtypes.ConditionalCheckFailedException
		var tce *ddbtypes.TransactionCanceledException
		switch {
		case errors.As(err, &ccf):
			wru = 1
		case errors.As(err, &tce):
			if ti, ok := in.(*dynamodb.TransactWriteItemsInput); ok {
				wru = 2 * float64(len(ti.TransactItems))
			}
		}
	}
	switch o := out.(type) {
	case *dynamodb.PutItemOutput:
		wru = orMin(capOf(o.ConsumedCapacity))
	case *dynamodb.UpdateItemOutput:
		wru = orMin(capOf(o.ConsumedCapacity))
	case *dynamodb.DeleteItemOutput:
		wru = orMin(capOf(o.ConsumedCapacity))
	case *dynamodb.GetItemOutput:
		rru = orMin(capOf(o.ConsumedCapacity))
	case *dynamodb.QueryOutput:
		rru = orMin(capOf(o.ConsumedCapacity))
	case *dynamodb.TransactWriteItemsOutput:
		if v, ok := sumCaps(o.ConsumedCapacity); ok {
			wru = v
		} else if ti, ok := in.(*dynamodb.TransactWriteItemsInput); ok {
			wru = 2 * float64(len(ti.TransactItems)) // transactions cost 2 WRU per item (≤1 KB)
		}
	case *dynamodb.BatchWriteItemOutput:
		if v, ok := sumCaps(o.ConsumedCapacity); ok {
			wru = v
		}
	case *dynamodb.BatchGetItemOutput:
		// DynamoDB bills each item read, as a GetItem: never count less
		// (an emulator may report one total for the call).
		rru, _ = sumCaps(o.ConsumedCapacity)
		if bi, ok := in.(*dynamodb.BatchGetItemInput); ok {
			rru = max(rru, batchGetMin(bi, o))
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int64{}
	}
	c.calls[service+"."+op]++
	c.wru += wru
	c.rru += rru
	switch service {
	case "SQS":
		c.sqs++
		if ro, ok := out.(*sqs.ReceiveMessageOutput); ok && len(ro.Messages) == 0 {
			// A long poll that found nothing: what an idle queue costs.
			c.calls["SQS.ReceiveMessage.empty"]++
		}
	case "EventBridge":
		if op == "PutEvents" {
			// EventBridge bills per entry (64 KB chunk), not per call.
			if pi, ok := in.(*eventbridge.PutEventsInput); ok && len(pi.Entries) > 0 {
				c.ebEntries += int64(len(pi.Entries))
			} else {
				c.ebEntries++
			}
		}
	}
}

// orMin applies AWS's billing floor: every write or strongly consistent read
// of an item is at least one whole unit (emulators report fractions, e.g.
// moto's 0.5 for UpdateItem).
func orMin(v float64, ok bool) float64 {
	if !ok || v <= 1 {
		return 1
	}
	return math.Ceil(v)
}
