package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/cronexpr"
	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// ScheduleStore is what the schedule service needs of storage.
type ScheduleStore interface {
	// CreateSchedule writes a new schedule and, when first is not nil, its
	// first occurrence in one transaction; task.ErrConflict: the ID exists.
	CreateSchedule(ctx context.Context, s *schedule.Schedule, first *task.Task) error
	// GetSchedule reads a tenant's schedule; task.ErrNotFound when absent.
	GetSchedule(ctx context.Context, tenant, id string) (*schedule.Schedule, error)
	// UpdateSchedule replaces a schedule if its stored version is still
	// prevVersion, with first (if not nil) in the same transaction.
	UpdateSchedule(ctx context.Context, s *schedule.Schedule, prevVersion int64, first *task.Task) error
	// DeleteSchedule removes a schedule; task.ErrNotFound if it did not exist.
	DeleteSchedule(ctx context.Context, tenant, id string) error
	// DeleteScheduleIf removes a schedule only while it is in generation
	// gen; task.ErrConflict if it moved on, task.ErrNotFound if it is gone.
	DeleteScheduleIf(ctx context.Context, tenant, id string, gen int64) error
	// ListSchedules returns one page of a tenant's schedules in ID order.
	ListSchedules(ctx context.Context, tenant, after string, limit int32) ([]*schedule.Schedule, string, error)
	// Occurrences returns a schedule's latest occurrence records, newest first.
	Occurrences(ctx context.Context, tenant, id string, limit int32) ([]schedule.OccurrenceRecord, error)
	// GetMany reads up to 100 tasks by ID; missing ones are absent.
	GetMany(ctx context.Context, ids []task.ID) (map[task.ID]*task.Task, error)
	EnsureCursor(ctx context.Context, shards int, now time.Time) error
}

// Chain is what the schedule service needs of the chain that turns fire
// times into tasks (chain.Chain).
type Chain interface {
	// First builds the first occurrence task of s, just created, changed
	// or resumed at now (nil when s is disabled, fires no more, or its
	// next fire time is beyond the horizon).
	First(s *schedule.Schedule, now time.Time, resumed bool) (*task.Task, schedule.Occ, error)
	// Kick continues from a first occurrence just stored with its
	// schedule (sending it if its bucket is already announced); a failure
	// is logged and left to the sweep.
	Kick(ctx context.Context, s *schedule.Schedule, occ schedule.Occ, first *task.Task, now time.Time)
}

// SchedulesConfig configures the schedule service.
type SchedulesConfig struct {
	Shards   int // shards of the task IDs occurrences get
	Limits   task.Limits
	Validate task.TenantTargetValidator
}

// Schedules is the schedule service.
type Schedules struct {
	cfg   SchedulesConfig
	store ScheduleStore
	chain Chain
	clock clock.Clock
	log   zerolog.Logger

	cursorReady ensured
}

// NewSchedules returns the schedule service.
func NewSchedules(cfg SchedulesConfig, store ScheduleStore, chain Chain, clk clock.Clock, log zerolog.Logger) *Schedules {
	if cfg.Shards <= 0 {
		cfg.Shards = 1
	}
	return &Schedules{cfg: cfg, store: store, chain: chain, clock: clk, log: log.With().Str("component", "schedules").Logger()}
}

// MaxBody is the largest schedule document: the payload limit plus 64 KiB.
func (h *Schedules) MaxBody() int {
	lim := h.cfg.Limits.MaxPayloadBytes
	if lim <= 0 {
		lim = task.DefaultLimits().MaxPayloadBytes
	}
	return lim + 64<<10
}

// storeError names what a store error was about: not found and conflicts
// become *NotFound and *Conflict; anything else is returned as is.
func storeError(err error, what string) error {
	switch {
	case errors.Is(err, task.ErrNotFound):
		return &NotFound{What: what}
	case errors.Is(err, task.ErrConflict):
		return &Conflict{Detail: what + " changed concurrently; read it and retry"}
	}
	return err
}

// ensureCursor makes sure, once per process, that the scanner cursor
// exists and knows the shard count before the first occurrence is written.
func (h *Schedules) ensureCursor(ctx context.Context, now time.Time) error {
	return h.cursorReady.do(func() error { return h.store.EnsureCursor(ctx, h.cfg.Shards, now) })
}

// Create validates body (the create document, POST /v1/schedules) and
// stores it as a new schedule of tenant with its first occurrence.
func (h *Schedules) Create(ctx context.Context, tenant string, body []byte) (*schedule.Schedule, error) {
	if len(body) > h.MaxBody() {
		return nil, &TooLarge{Detail: "the body exceeds the payload limit plus 64 KiB"}
	}
	raw, fe := schedule.DecodeBody(body)
	if fe != nil {
		return nil, &Invalid{Fields: []task.FieldError{*fe}}
	}
	return h.create(ctx, tenant, schedule.NewID(), raw, nil)
}

// create validates raw and stores it as schedule id of tenant with its
// first occurrence — the one path of Create and CreateWithToken. The
// store's task.ErrConflict (id exists) comes back as *Conflict.
func (h *Schedules) create(ctx context.Context, tenant, id string, raw map[string]json.RawMessage, decorate func(*schedule.Schedule)) (*schedule.Schedule, error) {
	now := h.clock.Now().UTC().Truncate(time.Millisecond)
	sp, errs := schedule.DecodeSpec(raw, now, h.cfg.Limits, h.cfg.Validate.For(tenant))
	if len(errs) > 0 {
		return nil, &Invalid{Fields: errs}
	}
	s := &schedule.Schedule{ID: id, Tenant: tenant, Generation: 1, Version: 1, CreatedAt: now, UpdatedAt: now}
	s.Apply(sp)
	if decorate != nil {
		decorate(s)
	}
	first, occ, err := h.chain.First(s, now, false)
	if err != nil {
		return nil, invalid("expression", err.Error())
	}
	if err := h.ensureCursor(ctx, now); err != nil {
		return nil, fmt.Errorf("ensure cursor: %w", err)
	}
	if err := h.store.CreateSchedule(ctx, s, first); err != nil {
		return nil, storeError(fmt.Errorf("create schedule %s: %w", s.ID, err), "schedule")
	}
	h.chain.Kick(ctx, s, occ, first, now)
	h.log.Info().Str("tenant", s.Tenant).Str("schedule", s.ID).Str("expression", s.Expression).Msg("schedule created")
	return s, nil
}

// CreateWithToken creates a schedule for tenant from a create document,
// idempotently under token (an event's ID, or the detail's
// idempotency_key): the schedule's ID is derived from tenant and token
// (schedule.TokenID), and the store refuses a second schedule under one
// ID, so a repeated call returns the schedule the first created and false.
// Unlike a task, a schedule keeps no hash of its request: a replay is not
// compared with the first body, and once the schedule is deleted the same
// token creates it again (a new incarnation: see freshGeneration).
func (h *Schedules) CreateWithToken(ctx context.Context, log zerolog.Logger, tenant string, body []byte, token string) (*schedule.Schedule, bool, error) {
	var errs []task.FieldError
	if !task.ValidTenant(tenant) {
		errs = append(errs, task.FieldError{Field: "tenant", Reason: "must be 1–128 characters: letters, digits, _ . : @ / + = - (starting with a letter or digit)"})
	}
	if token == "" || len(token) > MaxIdempotencyKey || !task.Printable(token) {
		errs = append(errs, task.FieldError{Field: "idempotency token", Reason: "must be 1 to 255 bytes of printable UTF-8 (no control, bidi or line-separator characters)"})
	}
	if len(errs) > 0 {
		return nil, false, &Invalid{Fields: errs}
	}
	if len(body) > h.MaxBody() {
		return nil, false, &TooLarge{Detail: "the body exceeds the payload limit plus 64 KiB"}
	}
	raw, fe := schedule.DecodeBody(body)
	if fe != nil {
		return nil, false, &Invalid{Fields: []task.FieldError{*fe}}
	}
	id := schedule.TokenID(tenant, token)
	for attempt := 0; ; attempt++ {
		s, err := h.create(ctx, tenant, id, raw, freshGeneration)
		if err == nil {
			return s, true, nil
		}
		if !errors.Is(err, task.ErrConflict) {
			return nil, false, err
		}
		// Created before under this token: answer with that schedule.
		prev, gerr := h.store.GetSchedule(ctx, tenant, id)
		if gerr == nil {
			log.Info().Str("tenant", tenant).Str("schedule", id).Msg("schedule exists for this token; replay")
			return prev, false, nil
		}
		if !errors.Is(gerr, task.ErrNotFound) {
			return nil, false, fmt.Errorf("read schedule %s after a conflict: %w", id, gerr)
		}
		// Refused, yet not there: two deliveries of one event raced, and
		// DynamoDB may cancel both transactions (TransactionConflict). Try
		// again now rather than after the queue's visibility timeout, by
		// which time an at() may be past.
		if attempt >= 3 {
			return nil, false, &Unavailable{Detail: "schedule " + id + " is being created concurrently; retry", RetryAfter: time.Second}
		}
		jitter := time.Duration(25+rand.IntN(50)) * time.Millisecond //nolint:gosec // jitter needs no cryptographic randomness
		if !sleep(ctx, jitter<<attempt) {
			return nil, false, fmt.Errorf("create schedule %s: %w", id, ctx.Err())
		}
	}
}

// freshGeneration starts a schedule whose ID is deterministic (a token's,
// or a name's) at the generation of its creation millisecond rather than
// 1: once deleted, the same ID can be created again, and the deleted
// incarnation's occurrence tasks — whose IDs derive from schedule ID,
// generation and fire time, and which outlive it — must not collide with
// the new one's. Changes count up from there.
func freshGeneration(s *schedule.Schedule) { s.Generation = s.CreatedAt.UnixMilli() }

// sleep waits d, or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Get returns tenant's schedule id.
func (h *Schedules) Get(ctx context.Context, tenant, id string) (*schedule.Schedule, error) {
	if !schedule.ValidID(id) {
		return nil, &NotFound{What: "schedule " + id}
	}
	s, err := h.store.GetSchedule(ctx, tenant, id)
	if err != nil {
		return nil, storeError(err, "schedule "+id)
	}
	return s, nil
}

// Patch changes tenant's schedule id by a merge patch (body). Every change
// starts a new generation: the pending occurrence of the old one is
// cancelled when it comes due, and the first occurrence of the new one is
// stored with the change. Setting state DISABLED pauses; setting it
// ENABLED again resumes, handling the fire times missed meanwhile by the
// misfire policy. ifMatch, when set, makes the change conditional on the
// schedule's version (*PreconditionFailed if it moved); without it a
// concurrent change is retried on the new version.
func (h *Schedules) Patch(ctx context.Context, tenant, id string, body []byte, ifMatch string) (*schedule.Schedule, error) {
	if len(body) > h.MaxBody() {
		return nil, &TooLarge{Detail: "the body exceeds the payload limit plus 64 KiB"}
	}
	raw, fe := schedule.DecodeBody(body)
	if fe != nil {
		return nil, &Invalid{Fields: []task.FieldError{*fe}}
	}
	return h.change(ctx, tenant, id, ifMatch, func(prev *schedule.Schedule) map[string]json.RawMessage {
		return schedule.MergePatch(prev, raw)
	}, nil)
}

// change applies a new definition — def of the stored schedule, then
// decorate, if any — to tenant's schedule id as one new generation.
func (h *Schedules) change(ctx context.Context, tenant, id, ifMatch string, def func(prev *schedule.Schedule) map[string]json.RawMessage, decorate func(*schedule.Schedule)) (*schedule.Schedule, error) {
	for attempt := 0; ; attempt++ {
		prev, err := h.Get(ctx, tenant, id)
		if err != nil {
			return nil, err
		}
		if v := strconv.FormatInt(prev.Version, 10); ifMatch != "" && ifMatch != v && ifMatch != `"`+v+`"` {
			return nil, &PreconditionFailed{Detail: "schedule " + prev.ID + " is at version " + v + ", not " + ifMatch}
		}
		now := h.clock.Now().UTC().Truncate(time.Millisecond)
		sp, errs := schedule.DecodeSpec(def(prev), now, h.cfg.Limits, h.cfg.Validate.For(prev.Tenant))
		if len(errs) > 0 {
			return nil, &Invalid{Fields: errs}
		}
		next := *prev
		next.Apply(sp)
		if decorate != nil {
			decorate(&next)
		}
		next.Version, next.Generation, next.UpdatedAt = prev.Version+1, prev.Generation+1, now
		resumed := prev.State != schedule.Enabled && next.State == schedule.Enabled
		if prev.State == schedule.Enabled && next.State != schedule.Enabled {
			next.PausedAt = now
		}
		first, occ, err := h.chain.First(&next, now, resumed)
		if err != nil {
			return nil, invalid("expression", err.Error())
		}
		if err := h.ensureCursor(ctx, now); err != nil {
			return nil, err
		}
		err = h.store.UpdateSchedule(ctx, &next, prev.Version, first)
		if errors.Is(err, task.ErrConflict) && attempt < 2 && ifMatch == "" {
			continue // a concurrent change: apply the patch to the new version
		}
		if err != nil {
			return nil, storeError(err, "schedule "+prev.ID)
		}
		h.chain.Kick(ctx, &next, occ, first, now)
		h.log.Info().Str("tenant", next.Tenant).Str("schedule", next.ID).Str("state", string(next.State)).Bool("resumed", resumed).Msg("schedule changed")
		return &next, nil
	}
}

// Delete deletes tenant's schedule id.
func (h *Schedules) Delete(ctx context.Context, tenant, id string) error {
	if !schedule.ValidID(id) {
		return &NotFound{What: "schedule " + id}
	}
	if err := h.store.DeleteSchedule(ctx, tenant, id); err != nil {
		return storeError(err, "schedule "+id)
	}
	return nil
}

// SchedulePage is a page of schedules.
type SchedulePage struct {
	Schedules []*schedule.Schedule
	// NextPageToken continues the listing; empty on its last page.
	NextPageToken string
}

// List returns one page of tenant's schedules in ID order: size (1 to 100)
// of them after pageToken (a NextPageToken, or "" for the first page).
// A token that is not one this listing returned is *Invalid
// ("page_token").
func (h *Schedules) List(ctx context.Context, tenant string, size int, pageToken string) (SchedulePage, error) {
	after := ""
	if pageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(pageToken)
		if err != nil || !schedule.ValidID(string(b)) {
			return SchedulePage{}, invalid("page_token", "is not a token this API returned")
		}
		after = string(b)
	}
	list, next, err := h.store.ListSchedules(ctx, tenant, after, int32(size))
	if err != nil {
		return SchedulePage{}, storeError(err, "")
	}
	out := SchedulePage{Schedules: list}
	if next != "" {
		// The token is the last key read, inside the caller's own
		// partition: a forged one can only skip within its own schedules.
		out.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(next))
	}
	return out, nil
}

// Occurrence is one occurrence a schedule created, with its task's state
// ("" once the task has expired).
type Occurrence struct {
	schedule.OccurrenceRecord
	State task.State
}

// ScheduleOccurrences is a schedule's history and what comes next.
type ScheduleOccurrences struct {
	Schedule    *schedule.Schedule
	Occurrences []Occurrence   // newest first
	Upcoming    []schedule.Occ // the next fire times with no task yet, in order
}

// maxUpcoming is how many upcoming fire times Occurrences shows.
const maxUpcoming = 5

// Occurrences returns the latest limit occurrences of tenant's schedule id,
// with their tasks' states, and its next fire times.
func (h *Schedules) Occurrences(ctx context.Context, tenant, id string, limit int) (ScheduleOccurrences, error) {
	s, err := h.Get(ctx, tenant, id)
	if err != nil {
		return ScheduleOccurrences{}, err
	}
	recs, err := h.store.Occurrences(ctx, s.Tenant, s.ID, int32(limit))
	if err != nil {
		return ScheduleOccurrences{}, storeError(err, "")
	}
	ids := make([]task.ID, 0, len(recs))
	for _, rec := range recs {
		ids = append(ids, rec.TaskID)
	}
	tasks := map[task.ID]*task.Task{}
	if len(ids) > 0 {
		if tasks, err = h.store.GetMany(ctx, ids); err != nil {
			return ScheduleOccurrences{}, storeError(err, "")
		}
	}
	out := ScheduleOccurrences{Schedule: s, Occurrences: make([]Occurrence, 0, len(recs)), Upcoming: []schedule.Occ{}}
	for _, rec := range recs {
		o := Occurrence{OccurrenceRecord: rec}
		if t, ok := tasks[rec.TaskID]; ok && t.Tenant == s.Tenant {
			o.State = t.State
		}
		out.Occurrences = append(out.Occurrences, o)
	}
	if s.State == schedule.Enabled {
		now := h.clock.Now()
		from := now
		if len(recs) > 0 && recs[0].Generation == s.Generation && recs[0].At.After(from) {
			from = recs[0].At
		}
		for len(out.Upcoming) < maxUpcoming {
			occ, ok := s.After(from, now)
			if !ok {
				break
			}
			out.Upcoming = append(out.Upcoming, occ)
			from = occ.At
		}
	}
	return out, nil
}

// Preview asks for the next fire times of an expression.
type Preview struct {
	Expression string
	Timezone   string
	After      time.Time // zero: now
	Start      time.Time // anchors a rate(); zero: the Unix epoch
	Count      int
}

// Preview returns the next req.Count fire times of an expression strictly
// after req.After. A rate() is anchored at Start when given, else at the
// Unix epoch (a created schedule without start_at is anchored at its
// creation instead). fieldErrs are the caller's own decoding errors: they
// are reported together with the expression's, in one *Invalid.
func (h *Schedules) Preview(req Preview, fieldErrs ...task.FieldError) ([]time.Time, error) {
	errs := fieldErrs
	var c cronexpr.Schedule
	if req.Expression == "" {
		errs = append(errs, task.FieldError{Field: "expression", Reason: "is required, e.g. cron(0 9 ? * MON-FRI *), rate(5 minutes) or at(2030-01-02T15:04:05)"})
	} else {
		var err error
		c, err = cronexpr.Parse(req.Expression, req.Timezone)
		var se *cronexpr.Error
		if errors.As(err, &se) {
			errs = append(errs, task.FieldError{Field: se.Field, Reason: se.Message})
		} else if err != nil {
			errs = append(errs, task.FieldError{Field: "expression", Reason: err.Error()})
		}
	}
	if len(errs) > 0 {
		return nil, &Invalid{Fields: errs}
	}
	if !req.Start.IsZero() {
		c = c.WithStart(req.Start)
	}
	after := req.After
	if after.IsZero() {
		after = h.clock.Now()
	}
	times := c.NextN(after, req.Count)
	if times == nil {
		times = []time.Time{}
	}
	return times, nil
}
