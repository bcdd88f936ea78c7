// Package cost prices AWS usage at list prices. Every price Hourglass quotes
// comes from the one table below, with its region, source and date.
package cost

import "github.com/hourglass-sched/hourglass/pkg/usage"

// Prices are on-demand list prices in US dollars.
type Prices struct {
	Region    string
	AsOf      string // when these were taken from the AWS pricing pages
	Source    string
	DDBWRU    float64 // per write request unit
	DDBRRU    float64 // per read request unit
	SQSReq    float64 // per SQS request (standard queue, 64 KB chunk)
	LambdaReq float64 // per Lambda request
	LambdaGBs float64 // per GB-second, arm64
	APIReq    float64 // per API Gateway HTTP API request
	EBEvent   float64 // per EventBridge custom event published
	// Provisioned capacity (standard table class), per unit-hour: a WCU
	// serves one write unit a second, an RCU one strongly consistent read
	// unit a second.
	DDBWCUHour float64
	DDBRCUHour float64
}

// List is the price table. The DynamoDB on-demand prices are those in force
// since AWS's November 2024 reduction. These machines have no network, so the
// figures were not re-checked on the run date: update AsOf when you do.
var List = Prices{
	Region:    "us-east-1",
	AsOf:      "2025-01 (aws.amazon.com/{dynamodb,sqs,lambda,api-gateway,eventbridge}/pricing)",
	Source:    "AWS public pricing pages, on-demand, no free tier",
	DDBWRU:    0.625 / 1e6,
	DDBRRU:    0.125 / 1e6,
	SQSReq:    0.40 / 1e6,
	LambdaReq: 0.20 / 1e6,
	LambdaGBs: 0.0000133334,
	APIReq:    1.00 / 1e6,
	EBEvent:   1.00 / 1e6,

	DDBWCUHour: 0.00065,
	DDBRCUHour: 0.00013,
}

// Breakdown is a priced usage, in dollars.
type Breakdown struct {
	DynamoDB    float64 `json:"dynamodb"`
	SQS         float64 `json:"sqs"`
	Lambda      float64 `json:"lambda"`
	APIGateway  float64 `json:"api_gateway"`
	EventBridge float64 `json:"eventbridge"`
	Total       float64 `json:"total"`
}

// Price prices a usage snapshot.
func (p Prices) Price(u usage.Snapshot) Breakdown {
	b := Breakdown{
		DynamoDB:    u.DynamoDBWRU*p.DDBWRU + u.DynamoDBRRU*p.DDBRRU,
		SQS:         float64(u.SQSRequests) * p.SQSReq,
		Lambda:      float64(u.TotalInvocations())*p.LambdaReq + u.LambdaGBSeconds*p.LambdaGBs,
		APIGateway:  float64(u.APIRequests) * p.APIReq,
		EventBridge: float64(u.EventBridgeEvents) * p.EBEvent,
	}
	b.Total = b.DynamoDB + b.SQS + b.Lambda + b.APIGateway + b.EventBridge
	return b
}

// PerMillion prices the usage of n tasks scaled to one million tasks.
func (p Prices) PerMillion(u usage.Snapshot, n int) Breakdown {
	if n <= 0 {
		return Breakdown{}
	}
	b := p.Price(u)
	f := 1e6 / float64(n)
	return Breakdown{DynamoDB: b.DynamoDB * f, SQS: b.SQS * f, Lambda: b.Lambda * f, APIGateway: b.APIGateway * f, EventBridge: b.EventBridge * f, Total: b.Total * f}
}
