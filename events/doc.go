// Package events holds Hourglass's lifecycle and ingest event types, their
// JSON Schemas and sample events.
//
// testdata/ has sample Lambda events as our functions receive them (SQS
// batches from the scan and task queues, the scanner's EventBridge
// schedule, an API Gateway HTTP API request), checked against
// aws-lambda-go's event types by round-trip tests.
package events
