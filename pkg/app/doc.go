// Package app is Hourglass's application core: the services every door
// calls (the HTTP API, the EventBridge ingest, and the doors to come).
// Tasks holds every rule about creating, viewing, listing, changing and
// cancelling tasks — validation, per-tenant limits, idempotency, tenant
// isolation, the fast path and the derived DISPATCHED state — once.
//
// A service takes a tenant (already authenticated by its door) and a
// request, and returns domain values (task.Task) and typed errors:
// *NotFound, *Conflict, *Invalid (with task.FieldError values), *TooLarge,
// *LimitExceeded, *NotEnabled, ErrIdempotencyMismatch and ErrCrashed; any
// other error is a failure of the store or queue behind it, which a door
// reports as "unavailable, retry". Each door maps these to its own
// answers (problem+json for HTTP; retry or reject for ingest). Nothing
// here imports net/http.
package app
