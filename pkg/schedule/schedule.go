// Package schedule is the schedule entity of the domain: a recurring (or
// one-time) definition of a target and payload, and its rules — the first
// and next occurrence, the misfire policy, the flexible window, and the
// IDs of schedules and of their occurrences' tasks. It imports no service,
// engine or door: the chain is package chain's, the HTTP API package api's, the
// expressions package cronexpr's.
package schedule

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/cronexpr"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// State says whether a schedule fires.
type State string

// The states of a schedule.
const (
	Enabled  State = "ENABLED"  // occurrences are created and run
	Disabled State = "DISABLED" // paused: no occurrence runs or is created
)

// Misfire says what a schedule does with fire times it missed — while it
// was paused, or because the system was down.
type Misfire string

// The misfire policies.
const (
	// RunOnce (the default) runs the missed fire times once, as soon as
	// possible, then continues on schedule.
	RunOnce Misfire = "run_once"
	// Skip never runs a missed fire time: an occurrence that would start
	// more than the grace period (Config.MisfireGrace) late is cancelled.
	Skip Misfire = "skip"
	// RunAll runs every missed fire time, in order and as fast as dispatch
	// allows, then continues on schedule.
	RunAll Misfire = "run_all"
)

// MaxFlexWindow is the widest flexible time window, as in EventBridge
// Scheduler (1,440 minutes).
const MaxFlexWindow = 24 * time.Hour

// Schedule is a recurring (or one-time, for at()) schedule: a target and
// payload that run at every fire time of an expression.
type Schedule struct {
	ID         string
	Tenant     string
	Expression string // canonical (cronexpr.Schedule.String)
	Timezone   string // IANA name; "UTC" when none was given
	Target     task.Target
	Payload    json.RawMessage
	Retry      task.Retry // each occurrence's retry policy
	Start, End time.Time  // optional bounds (zero: none)
	State      State
	// FlexWindow spreads occurrences: each runs Offset() after its fire
	// time, an offset in [0, FlexWindow) fixed per schedule. Zero: off.
	FlexWindow time.Duration
	Misfire    Misfire
	Labels     map[string]string

	// Name and Group name the schedule within its tenant, as EventBridge
	// Scheduler does: (Group, Name) is unique per tenant because a named
	// schedule's ID is NamedID(tenant, group, name). Both are empty for a
	// schedule created through /v1 without a name.
	Name, Group string
	Description string
	// AfterCompletion is what happens once the last occurrence has run:
	// AfterNone (kept) or AfterDelete (the schedule is deleted; its
	// occurrence tasks stay readable).
	AfterCompletion AfterCompletion
	// ClientToken is the token a named schedule was created under: a
	// create repeated with it answers the schedule instead of a conflict.
	ClientToken string
	// DeadLetterArn is the SQS queue a Scheduler-API caller named as the
	// dead-letter queue: recorded, not used (Hourglass dead-letters to its
	// own queue).
	DeadLetterArn string
	// MaxEventAge bounds how late an occurrence may still run (the
	// Scheduler API's MaximumEventAgeInSeconds); zero: unbounded. The
	// worker's check (chain.Chain.Admit) cancels an occurrence, or its
	// retry, older than this past its due time.
	MaxEventAge time.Duration

	// Generation identifies the schedule's current run of occurrences. It
	// grows on every change (and on resume); an occurrence made under an
	// older generation is stale and is cancelled instead of run.
	Generation int64
	Version    int64     // bumped by every write; updates are conditional on it
	PausedAt   time.Time // when it was last disabled (for the misfire policy on resume)
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// AfterCompletion is a schedule's ActionAfterCompletion.
type AfterCompletion string

// The actions after completion.
const (
	AfterNone   AfterCompletion = "NONE"
	AfterDelete AfterCompletion = "DELETE"
)

// DefaultGroup is the group of a named schedule created without one.
const DefaultGroup = "default"

// Completed reports whether the occurrence at at (nominal fire time) of
// generation gen is s's last: s has no fire time after it.
func (s *Schedule) Completed(gen int64, at time.Time) bool {
	if gen != s.Generation {
		return false
	}
	c, err := s.Compile()
	if err != nil {
		return false
	}
	_, more := c.Next(at)
	return !more
}

// Compile parses the expression in the schedule's zone with its bounds.
// A rate() schedule without a start is anchored at its creation (rounded up
// to a whole second), so it fires first when it is created, as in
// EventBridge Scheduler.
func (s *Schedule) Compile() (cronexpr.Schedule, error) {
	c, err := cronexpr.Parse(s.Expression, s.Timezone)
	if err != nil {
		return cronexpr.Schedule{}, err
	}
	switch {
	case !s.Start.IsZero():
		c = c.WithStart(s.Start)
	case c.Kind() == cronexpr.KindRate:
		c = c.WithStart(s.CreatedAt.Add(time.Second - 1).Truncate(time.Second))
	}
	if !s.End.IsZero() {
		c = c.WithEnd(s.End)
	}
	return c, nil
}

// Offset is the schedule's flexible-window offset: a stable hash of its
// tenant and ID modulo the window, in whole seconds. Stable, so the
// occurrences of one schedule stay evenly spaced; a hash, so a million
// schedules on the same cron line spread evenly across the window.
func (s *Schedule) Offset() time.Duration {
	w := int64(s.FlexWindow / time.Second)
	if w <= 0 {
		return 0
	}
	sum := sha256.Sum256([]byte("flex\x00" + s.Tenant + "\x00" + s.ID))
	return time.Duration(binary.BigEndian.Uint64(sum[:8])%uint64(w)) * time.Second
}

// Occ is one occurrence to create: its nominal fire time and when its task
// is due (At plus the offset, or later for a catch-up run).
type Occ struct {
	At  time.Time
	Due time.Time
}

// First returns the first occurrence of a schedule that has just been
// created, changed or resumed at now; false when it fires no more.
// resumed says the schedule was DISABLED before: the fire times it missed
// while paused are handled by its misfire policy — skipped, run once now,
// or all run from the first missed one.
func (s *Schedule) First(now time.Time, resumed bool) (Occ, bool) {
	c, err := s.Compile()
	if err != nil {
		return Occ{}, false
	}
	if resumed && !s.PausedAt.IsZero() {
		if missed, ok := c.Next(s.PausedAt); ok && !missed.After(now) {
			switch s.Misfire {
			case RunAll:
				return Occ{At: missed, Due: missed.Add(s.Offset())}, true
			case RunOnce, "":
				due := missed.Add(s.Offset())
				if due.Before(now) {
					due = now
				}
				return Occ{At: missed, Due: due}, true
			}
		}
	}
	at, ok := c.Next(now)
	if !ok {
		return Occ{}, false
	}
	return Occ{At: at, Due: at.Add(s.Offset())}, true
}

// After returns the occurrence that follows the one at prev, as the chain
// computes it at now: run_all takes the very next fire time, so missed
// ones all run; run_once and skip take the first fire time after now, so
// missed ones collapse into prev.
func (s *Schedule) After(prev, now time.Time) (Occ, bool) {
	c, err := s.Compile()
	if err != nil {
		return Occ{}, false
	}
	from := prev
	if s.Misfire != RunAll && now.After(from) {
		from = now
	}
	at, ok := c.Next(from)
	if !ok {
		return Occ{}, false
	}
	return Occ{At: at, Due: at.Add(s.Offset())}, true
}

// Task builds the task of occurrence o. Its ID is derived from (tenant,
// schedule, generation, fire time), so creating it twice writes one item.
func (s *Schedule) Task(o Occ, shards int, now time.Time) (*task.Task, error) {
	due := o.Due.UTC().Truncate(time.Millisecond)
	seed := "occ\x00" + s.Tenant + "\x00" + s.ID + "\x00" + strconv.FormatInt(s.Generation, 10) + "\x00" + strconv.FormatInt(o.At.UnixMilli(), 10)
	id, err := task.DerivedID(due, shards, []byte(seed))
	if err != nil {
		return nil, err
	}
	return &task.Task{
		ID: id, Tenant: s.Tenant, DueAt: due, Target: s.Target, Payload: s.Payload, Retry: s.Retry,
		Labels: s.Labels, State: task.Scheduled, Version: 1, PayloadHash: task.PayloadHash(s.Target, s.Payload),
		CreatedAt: now, UpdatedAt: now,
		Occurrence: &task.Occurrence{Schedule: s.ID, Generation: s.Generation, At: o.At.UTC()},
	}, nil
}

var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// NewID returns a fresh schedule ID: "s" and 20 characters of random
// lower-case base32hex (100 bits).
func NewID() string {
	var b [13]byte
	_, _ = rand.Read(b[:])
	return "s" + idEncoding.EncodeToString(b[:])[:20]
}

// TokenID is the ID of the schedule Create makes for tenant under token:
// a hash of both, so it is the same on every delivery of one event and
// differs across tenants.
func TokenID(tenant, token string) string {
	sum := sha256.Sum256([]byte(tenant + "\x00" + token))
	return "s" + idEncoding.EncodeToString(sum[:13])[:20]
}

// NamedID is the ID of tenant's schedule named name in group: a hash of
// the three, so that (group, name) is unique per tenant by the store's
// refusal of a second item under one ID.
func NamedID(tenant, group, name string) string {
	sum := sha256.Sum256([]byte("named\x00" + tenant + "\x00" + group + "\x00" + name))
	return "s" + idEncoding.EncodeToString(sum[:13])[:20]
}

// Group is a schedule group: a tenant's namespace of schedule names,
// with tags.
type Group struct {
	Tenant string
	Name   string
	Tags   map[string]string
	// Deleting marks a group whose deletion has begun (EventBridge
	// Scheduler's State DELETING): no schedule may be created in it, and a
	// delete that stopped half-way is finished by the next one.
	Deleting  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ValidID reports whether s can be a schedule ID (a cheap check before a
// read; an ID that cannot exist is reported as not found).
func ValidID(s string) bool {
	if len(s) != 21 || s[0] != 's' {
		return false
	}
	for _, r := range s[1:] {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'v':
		default:
			return false
		}
	}
	return true
}

// OccurrenceRecord is the schedule's own record of one occurrence it
// created, so its history is one Query away (no scan).
type OccurrenceRecord struct {
	At         time.Time // nominal fire time
	Due        time.Time
	Generation int64
	TaskID     task.ID
}
