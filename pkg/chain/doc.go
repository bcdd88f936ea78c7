// Package chain is the engine of recurring schedules: the chain that turns
// each fire time into an ordinary task, stores its successor, and gates
// each occurrence before it runs. The HTTP API under /v1/schedules is
// package api's (the door), the rules package app's (app.Schedules).
// The schedule entity and its rules (first and next occurrence, misfire
// policy, flexible window) are package schedule's. Expressions are parsed and evaluated by package
// schedule (see its doc for the cron, rate, at and DST semantics).
//
// # Occurrences are tasks
//
// Each fire time becomes one task in the tasks table, dispatched and
// executed like any other; the task carries task.Occurrence (schedule ID,
// generation, nominal fire time). A schedule always has its next
// occurrence stored: creating (or changing, or resuming) a schedule stores
// the first one in the same transaction as the schedule item, and
// dispatching an occurrence stores its successor (Chain.Next, the
// dispatcher's dispatch.Chain hook) before the occurrence's message is
// sent. So a crash between the two leaves the occurrence SCHEDULED, and the
// unit's redelivery or the sweep chains it again.
//
// Chaining is exactly-once under duplicate dispatch: the successor's task
// ID is derived from (tenant, schedule, generation, fire time) — its random
// bits are a hash, its shard that hash modulo the shard count — and it is
// written with attribute_not_exists, so a second chain collides on the same
// item. (A rolling change of the shard count while a unit is dispatched
// twice could derive two IDs for one fire time; the window is that of the
// deploy.) When the successor falls in a bucket the scanner has already
// announced, no dispatcher query will see it, so the chain sends it itself
// — after storing its successor in turn — as the task API's fast path does.
// A chain step that finds the successor stored already stops there: the
// step that stored it carries on (or, had it crashed, the sweep does), so a
// rate() shorter than the look-ahead costs each occurrence one walk, not
// one per duplicate.
//
// Cost: an occurrence costs what a one-off task costs (its create, claim
// and outcome writes, and its tenant-index entry) plus one write for its
// occurrence record, a read of the schedule at dispatch and one before it
// runs. One-off tasks cost nothing
// more: the dispatcher and the worker only call into this package for
// tasks with an Occurrence.
//
// # Pause, change, delete
//
// Every change to a schedule (PATCH) starts a new generation. The worker
// asks Chain.Admit before claiming an occurrence: the schedule must exist,
// be ENABLED and be in the occurrence's generation, else the occurrence is
// cancelled instead of run and its chain ends. So once a pause (state
// DISABLED) returns, no occurrence starts; an attempt already running
// finishes. A changed schedule's pending occurrence is cancelled the same
// way, and the change stores the first occurrence of the new generation.
// Deleting a schedule removes its item; its pending occurrence is cancelled
// when it comes due.
//
// # Misfires
//
// Fire times missed while a schedule was paused, or while the system was
// down, follow the schedule's misfire policy:
//
//	run_once (default)  one run for all of them, as soon as possible, then on schedule
//	skip                none of them run
//	run_all             every one runs, in order, as fast as dispatch allows
//	                    (Config.MaxAhead, 1,000, per chain step; the sweep continues)
//
// An occurrence is missed when it would start more than Config.MisfireGrace
// (1 minute) after its due time; retries are never missed. Two mechanisms
// apply the policy. The chain: an occurrence dispatched late (the
// dispatcher was down) chains to the first fire time after now under
// run_once and skip, so the missed times between are never created, and to
// the very next one under run_all. The worker's gate: under skip a missed
// occurrence is cancelled; under run_once it is cancelled when its stored
// successor is due as well (the workers were down while the chain went on),
// so only the latest missed one runs. On resume, the fire times missed
// while paused give one run now (run_once), none (skip) or all, from the
// first (run_all). Resuming therefore never bursts unless the policy is
// run_all.
//
// # Flexible time window
//
// With flexible_window_minutes N, each occurrence is due at its fire time
// plus an offset in [0, N minutes): a hash of the tenant and schedule ID,
// in whole seconds. Unlike EventBridge Scheduler's random placement the
// offset is stable, so one schedule's runs stay evenly spaced, while a
// million schedules on `cron(0 9 * * ? *)` spread evenly over the window.
//
// # Storage
//
// Schedules live in the tasks table (see package ddbstore): pk
// "sch#<len(tenant)>#<tenant>", sk "<schedule id>", so a tenant's schedules
// list with one paginated Query; writes are conditional on a version. Each
// occurrence adds a record under pk "occ#<len(tenant)>#<tenant>#<schedule
// id>", sk "<fire ms>#<generation>", which is what GET
// /v1/schedules/{id}/occurrences reads (one Query and one BatchGetItem, no
// scan). Records expire with the task's retention (TTL, clean-up only).
//
// A rate() schedule without start_at is anchored at its creation, so it
// fires first when it is created (rounded up to a whole second), as
// EventBridge Scheduler's does; the preview endpoint anchors rate() at
// start_at when given and at the Unix epoch otherwise.
//
// # Horizon
//
// Every occurrence is a task, so none is made due further ahead than a
// task may be (task.Limits.BeyondHorizon, 366 days by default): start_at
// is bounded by it, a schedule whose first fire time (flexible window
// included) lies beyond it is refused, and a chain whose next fire time lies
// beyond it ends there, as after its last fire time (Chain.withinHorizon).
package chain
