// Package schedulerapi is the EventBridge Scheduler–compatible door: AWS's
// Scheduler API, version 2021-06-30, over its REST-JSON wire protocol at
// AWS's paths (/schedules/{Name}, /schedules, /schedule-groups/{Name},
// /schedule-groups, /tags/{ResourceArn}), so that an unmodified AWS SDK or
// CLI whose Scheduler endpoint is Hourglass's API drives Hourglass
// schedules.
//
// It is transport only: it verifies the request's SigV4 signature (package
// sigv4), decodes AWS's shapes into a named schedule (app.NamedSchedule,
// whose definition is a /v1 create document), calls the named-schedule
// service (app.Named), and maps its typed errors to AWS's error codes
// (X-Amzn-ErrorType and {"Message": ...}). Every rule — names, groups,
// ClientToken, ActionAfterCompletion, the target allow-list — is the
// service's. What differs from AWS is in docs/scheduler-api.md.
package schedulerapi
