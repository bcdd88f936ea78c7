// Package events holds Hourglass's lifecycle and ingest event types, their
// JSON Schemas and sample events.
//
// Lifecycle events (source "hourglass"; detail-types TaskSucceeded,
// TaskFailed, TaskDeadLettered, TaskCancelled, and ScheduleFired for each
// fire of a recurring schedule) are published on the Hourglass bus —
// by default only TaskFailed, TaskDeadLettered and TaskCancelled;
// TaskSucceeded and ScheduleFired too with HOURGLASS_LIFECYCLE_EVENTS=all
// (see package lifecycle);
// CreateTask and CreateSchedule events put on that bus create tasks and
// schedules. For each,
// schemas/<DetailType>.json is a JSON Schema (draft 2020-12, written with
// only keywords draft 4 also has, so that the CDK stack can register it with
// EventBridge's schema registry, which accepts draft 4) of the whole event
// as a rule delivers it, and testdata/<DetailType>.json is a sample. Tests
// check that each sample round-trips through its Go type and validates,
// and that what Hourglass emits validates.
//
// testdata/ has sample Lambda events as our functions receive them (SQS
// batches from the scan and task queues, the scanner's EventBridge
// schedule, an API Gateway HTTP API request), checked against
// aws-lambda-go's event types by round-trip tests.
package events
