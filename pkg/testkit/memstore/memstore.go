// Package memstore is an in-memory Hourglass store for tests: tasks,
// client tokens, the scanner cursor, schedules and their occurrence
// records, and signing secrets, behind one mutex. It makes the same
// conditional transitions as the DynamoDB store (package ddbstore) and
// returns the same domain errors; the store conformance suite
// (pkg/testkit/storetest) runs against both, and where they disagree the
// DynamoDB store is the truth.
//
// It keeps what a DynamoDB item keeps: times at millisecond precision in
// UTC, only the attributes the DynamoDB store writes (a created task starts
// with no attempts, lease or error whatever the caller passed), and copies
// in and out, so a caller's change to a returned value changes nothing
// stored. It knows nothing of TTL: finished items stay.
package memstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Options tunes a Store as ddbstore.Options tunes the DynamoDB store.
type Options struct {
	// CancelCutoff: see ddbstore.Options.CancelCutoff.
	CancelCutoff time.Duration
	// ListIndex: see ddbstore.Options.ListIndex. Off, ListIDs finds nothing.
	ListIndex bool
}

// Store is the in-memory store. The zero value is not usable: call New.
type Store struct {
	layout task.Layout
	opts   Options

	mu      sync.Mutex
	tasks   map[task.ID]*record
	parts   map[string][]*record // by partition key, in sort key order
	tokens  map[tokenKey]token
	cursor  *cursor
	sched   map[schedKey]*schedule.Schedule
	occs    map[schedKey]map[string]schedule.OccurrenceRecord // by occurrence sort key
	secrets map[string]task.SigningSecret
}

// record is a stored task and what the DynamoDB item holds beside it.
type record struct {
	t *task.Task
	// listed: the item carries the by_tenant index keys (Options.ListIndex
	// at create).
	listed bool
	// failed: the item carries failed_sk (in the by_failed index).
	failed bool
	sk     string // the item's sort key
}

type tokenKey struct{ tenant, token string }

type token struct {
	id   task.ID
	hash string
}

type schedKey struct{ tenant, id string }

// cursor is the scanner cursor item; a nil field is an absent attribute.
type cursor struct {
	fields map[string]int64 // "dispatching", "fanned", "swept", "shards"
}

// New returns an empty store over layout.
func New(layout task.Layout, opts Options) *Store {
	return &Store{
		layout: layout, opts: opts,
		tasks:   map[task.ID]*record{},
		parts:   map[string][]*record{},
		tokens:  map[tokenKey]token{},
		sched:   map[schedKey]*schedule.Schedule{},
		occs:    map[schedKey]map[string]schedule.OccurrenceRecord{},
		secrets: map[string]task.SigningSecret{},
	}
}

// Layout returns the bucket layout the store was built with.
func (s *Store) Layout() task.Layout { return s.layout }

// ListIndex reports Options.ListIndex.
func (s *Store) ListIndex() bool { return s.opts.ListIndex }

// Put stores t as it is, in any state, replacing whatever has its ID: for
// tests that need a task in a state no sequence of store calls reaches
// cheaply. It keeps the item fields a DynamoDB item would (see package doc).
func (s *Store) Put(t *task.Task) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store(&record{t: clone(t), listed: s.opts.ListIndex, failed: t.State == task.Failed})
}

// store adds or replaces r, keeping its partition in sort key order.
func (s *Store) store(r *record) {
	k := s.layout.KeyOf(r.t.ID)
	r.sk = k.SK
	part := s.parts[k.PK]
	i, found := slices.BinarySearchFunc(part, k.SK, func(e *record, sk string) int { return strings.Compare(e.sk, sk) })
	if found {
		part[i] = r
	} else {
		part = slices.Insert(part, i, r)
	}
	s.parts[k.PK] = part
	s.tasks[r.t.ID] = r
}

// ms is t as a DynamoDB number attribute of Unix milliseconds reads back:
// zero stays zero (an absent attribute), the rest UTC at ms precision.
func ms(t time.Time) time.Time {
	if t.IsZero() || t.UnixMilli() == 0 {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

func msDur(d time.Duration) time.Duration { return d.Truncate(time.Millisecond) }

// clone deep-copies t with the precision a DynamoDB item keeps.
func clone(t *task.Task) *task.Task {
	c := *t
	c.DueAt, c.NextAt, c.LeaseUntil = ms(t.DueAt), ms(t.NextAt), ms(t.LeaseUntil)
	c.CreatedAt, c.UpdatedAt, c.FinishedAt = ms(t.CreatedAt), ms(t.UpdatedAt), ms(t.FinishedAt)
	c.Retry.InitialBackoff, c.Retry.MaxBackoff = msDur(t.Retry.InitialBackoff), msDur(t.Retry.MaxBackoff)
	c.Target.Spec = append([]byte(nil), t.Target.Spec...)
	c.Payload = append([]byte(nil), t.Payload...)
	if len(t.Labels) > 0 {
		c.Labels = maps.Clone(t.Labels)
	} else {
		c.Labels = nil
	}
	if t.Occurrence != nil {
		o := *t.Occurrence
		o.At = ms(o.At)
		c.Occurrence = &o
	}
	c.Attempts = nil
	for _, a := range t.Attempts {
		c.Attempts = append(c.Attempts, attempt(a))
	}
	return &c
}

func attempt(a task.Attempt) task.Attempt {
	a.StartedAt, a.EndedAt = ms(a.StartedAt), ms(a.EndedAt)
	return a
}

// created is the item a create writes for t: what ddbstore's marshalTask
// keeps, and nothing of an attempt.
func created(t *task.Task) *task.Task {
	c := clone(t)
	c.AttemptN, c.Attempts, c.NextAt, c.LeaseOwner, c.LeaseUntil = 0, nil, time.Time{}, "", time.Time{}
	c.LastError, c.FinishedAt, c.ReplacedBy = "", time.Time{}, ""
	return c
}

func (s *Store) get(id task.ID) (*task.Task, bool) {
	r, ok := s.tasks[id]
	if !ok {
		return nil, false
	}
	return clone(r.t), true
}

func (s *Store) insert(t *task.Task) {
	s.store(&record{t: created(t), listed: s.opts.ListIndex})
}

// Create writes a new task in state SCHEDULED, idempotently with a client
// token, as ddbstore.Store.Create does.
func (s *Store) Create(_ context.Context, t *task.Task, clientToken, reqHash string) (*task.Task, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, exists := s.tasks[t.ID]
	if clientToken == "" {
		if exists {
			cur, _ := s.get(t.ID)
			if cur.Tenant == t.Tenant && cur.PayloadHash == t.PayloadHash && cur.CreatedAt.UnixMilli() == t.CreatedAt.UnixMilli() {
				return cur, true, nil
			}
			return nil, false, fmt.Errorf("create task %s: %w (ID collision)", t.ID, task.ErrConflict)
		}
		s.insert(t)
		return t, true, nil // as DynamoDB's adapter: the caller's own task
	}
	k := tokenKey{t.Tenant, clientToken}
	tok, hasTok := s.tokens[k]
	if !exists && !hasTok {
		s.insert(t)
		s.tokens[k] = token{id: t.ID, hash: reqHash}
		return t, true, nil
	}
	if !hasTok {
		return nil, false, fmt.Errorf("create task %s: transaction cancelled (ID collision)", t.ID)
	}
	if tok.hash != reqHash {
		return nil, false, task.ErrIdempotencyMismatch
	}
	existing, ok := s.get(tok.id)
	if !ok {
		return nil, false, fmt.Errorf("create task: load task of client token: get task %s: %w", tok.id, task.ErrNotFound)
	}
	if existing.Tenant != t.Tenant {
		return nil, false, task.ErrIdempotencyMismatch
	}
	return existing, false, nil
}

// Get reads a task by ID; a missing one is task.ErrNotFound.
func (s *Store) Get(_ context.Context, id task.ID) (*task.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.get(id)
	if !ok {
		return nil, fmt.Errorf("get task %s: %w", id, task.ErrNotFound)
	}
	return t, nil
}

// GetMany reads tasks by ID (at most 100); missing ones are absent.
func (s *Store) GetMany(_ context.Context, ids []task.ID) (map[task.ID]*task.Task, error) {
	if len(ids) > 100 {
		return nil, fmt.Errorf("get tasks: %d IDs; at most 100 per call", len(ids))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	found := make(map[task.ID]*task.Task, len(ids))
	for _, id := range ids {
		if t, ok := s.get(id); ok {
			found[id] = t
		}
	}
	return found, nil
}

// QueryScheduled pages through the SCHEDULED tasks of a partition in due
// order. As DynamoDB's Limit does, limit counts the items read before the
// state filter: a page may hold fewer tasks than limit (even none) and
// still name a next cursor.
func (s *Store) QueryScheduled(_ context.Context, bucket int64, shard uint16, after string, limit int32) ([]*task.Task, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*task.Task
	read := 0
	next := ""
	part := s.parts[task.PartitionKey(bucket, shard)]
	from, _ := slices.BinarySearchFunc(part, after, func(e *record, sk string) int { return strings.Compare(e.sk, sk) })
	for _, r := range part[from:] {
		sk := r.sk
		if sk <= after {
			continue
		}
		if read == int(limit) {
			break
		}
		read++
		if r.t.State == task.Scheduled {
			out = append(out, clone(r.t))
		}
		if read == int(limit) {
			next = sk
		}
	}
	if next != "" && part[len(part)-1].sk == next {
		next = "" // DynamoDB may name a last key on an exact fit; the suite accepts either
	}
	return out, next, nil
}

// Cancel moves a tenant's task to CANCELLED as ddbstore.Store.Cancel does.
func (s *Store) Cancel(_ context.Context, id task.ID, tenant string, now time.Time) (*task.Task, error) {
	return s.cancel(id, tenant, now, s.opts.CancelCutoff)
}

// Withdraw cancels without the cut-off (ddbstore.Store.Withdraw).
func (s *Store) Withdraw(_ context.Context, id task.ID, tenant string, now time.Time) (*task.Task, error) {
	return s.cancel(id, tenant, now, 0)
}

func (s *Store) cancel(id task.ID, tenant string, now time.Time, cutoff time.Duration) (*task.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.tasks[id]
	if !ok {
		return nil, fmt.Errorf("get task %s: %w", id, task.ErrNotFound)
	}
	t := r.t
	okState := t.State == task.Scheduled || t.State == task.Retrying
	if cutoff > 0 {
		cut := now.Add(cutoff).UnixMilli()
		okState = (t.State == task.Scheduled && t.DueAt.UnixMilli() > cut) ||
			(t.State == task.Retrying && !t.NextAt.IsZero() && t.NextAt.UnixMilli() > cut)
	}
	if t.Tenant == tenant && okState {
		t.State, t.Version, t.UpdatedAt, t.FinishedAt = task.Cancelled, t.Version+1, ms(now), ms(now)
		return clone(t), nil
	}
	cur := clone(t)
	switch {
	case cur.Tenant != tenant:
		return nil, fmt.Errorf("cancel %s: %w", id, task.ErrNotFound)
	case cur.State == task.Cancelled:
		return cur, nil
	case cur.State.Cancellable():
		return cur, fmt.Errorf("cancel %s: task runs at %s, within the %s cut-off: %w", id, cur.RunAt().UTC().Format(time.RFC3339Nano), cutoff, task.ErrConflict)
	default:
		return cur, fmt.Errorf("cancel %s: task is %s: %w", id, cur.State, task.ErrConflict)
	}
}

// Claim starts an attempt under a lease (ddbstore.Store.Claim). A missing
// task, like any other refused claim, is task.ErrConflict.
func (s *Store) Claim(_ context.Context, id task.ID, ph, owner string, now, leaseUntil time.Time) (*task.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.tasks[id]
	if !ok {
		return nil, fmt.Errorf("claim %s: %w", id, task.ErrConflict)
	}
	t := r.t
	n := now.UnixMilli()
	open := (t.State == task.Scheduled || t.State == task.Retrying) && (t.NextAt.IsZero() || t.NextAt.UnixMilli() <= n)
	expired := t.State == task.Running && t.LeaseUntil.UnixMilli() < n
	if t.PayloadHash != ph || !(open || expired) {
		return nil, fmt.Errorf("claim %s: %w", id, task.ErrConflict)
	}
	t.State, t.LeaseOwner, t.LeaseUntil, t.UpdatedAt = task.Running, owner, ms(leaseUntil), ms(now)
	t.AttemptN++
	t.Version++
	return clone(t), nil
}

// apply makes outcome o's write on r (ddbstore's outcomeUpdate).
func apply(r *record, o task.Outcome) {
	t := r.t
	a := attempt(o.Attempt)
	t.State, t.Version, t.UpdatedAt = o.State, t.Version+1, a.EndedAt
	t.Attempts = append(t.Attempts, a)
	t.LastError = o.LastError
	t.NextAt = time.Time{}
	if o.State == task.Retrying {
		t.NextAt = ms(o.NextAt)
	}
	r.failed = o.State == task.Failed
	if o.State.Terminal() {
		t.FinishedAt = a.EndedAt
	}
}

// Finish records the outcome of the attempt owner holds the lease of
// (ddbstore.Store.Finish); a lost lease is task.ErrConflict.
func (s *Store) Finish(_ context.Context, id task.ID, owner string, o task.Outcome) (*task.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.tasks[id]
	if !ok || r.t.State != task.Running || r.t.LeaseOwner != owner {
		return nil, fmt.Errorf("finish %s: lease lost: %w", id, task.ErrConflict)
	}
	apply(r, o)
	r.t.LeaseOwner, r.t.LeaseUntil = "", time.Time{}
	return clone(r.t), nil
}

// Settle records the outcome of an attempt made without a claim, fenced on
// prev's version (ddbstore.Store.Settle).
func (s *Store) Settle(_ context.Context, prev *task.Task, o task.Outcome) (*task.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.tasks[prev.ID]
	if !ok || r.t.Version != prev.Version || (r.t.State != task.Scheduled && r.t.State != task.Retrying) {
		return nil, fmt.Errorf("settle %s: the task changed since it was read: %w", prev.ID, task.ErrConflict)
	}
	apply(r, o)
	r.t.AttemptN = prev.AttemptN
	return clone(r.t), nil
}

// Redrive gives a FAILED task a fresh budget of attempts
// (ddbstore.Store.Redrive).
func (s *Store) Redrive(_ context.Context, id task.ID, now time.Time, attempts int) (*task.Task, error) {
	if attempts < 1 {
		return nil, fmt.Errorf("redrive %s: attempts must be at least 1, not %d", id, attempts)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.tasks[id]
	if !ok {
		return nil, fmt.Errorf("get task %s: %w", id, task.ErrNotFound)
	}
	t := r.t
	if t.State != task.Failed {
		return clone(t), fmt.Errorf("redrive %s: task is %s, not FAILED: %w", id, t.State, task.ErrConflict)
	}
	t.State, t.NextAt, t.Retry.MaxAttempts = task.Retrying, ms(now), t.AttemptN+attempts
	t.Version++
	t.UpdatedAt, t.FinishedAt, t.LeaseOwner, t.LeaseUntil = ms(now), time.Time{}, "", time.Time{}
	r.failed = false
	return clone(t), nil
}

// Update changes a SCHEDULED task whose bucket is not announced, in place
// or by replacing it with next (ddbstore.Store.Update).
func (s *Store) Update(_ context.Context, prev, next *task.Task, now time.Time) (*task.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.tasks[prev.ID]
	announced := s.cursor != nil && s.cursor.has("dispatching") && s.cursor.fields["dispatching"] >= s.layout.BucketOf(prev.ID.Due())
	_, nextExists := s.tasks[next.ID]
	switch {
	case !ok:
		return nil, fmt.Errorf("update task %s: %w", prev.ID, task.ErrNotFound)
	case r.t.Tenant != prev.Tenant:
		return nil, fmt.Errorf("update task %s: %w", prev.ID, task.ErrNotFound)
	case r.t.State != task.Scheduled:
		return clone(r.t), fmt.Errorf("update task %s: task is %s: %w", prev.ID, r.t.State, task.ErrConflict)
	case r.t.Version != prev.Version:
		return clone(r.t), fmt.Errorf("update task %s: changed concurrently: %w", prev.ID, task.ErrConflict)
	case announced:
		return clone(r.t), fmt.Errorf("update task %s: already dispatched: %w", prev.ID, task.ErrConflict)
	case next.ID != prev.ID && nextExists:
		return nil, fmt.Errorf("update task %s: transaction cancelled (the new ID exists)", prev.ID)
	}
	t := r.t
	t.Version++
	t.UpdatedAt = ms(now)
	if next.ID == prev.ID {
		n := clone(next)
		t.Target, t.Payload, t.PayloadHash, t.Retry, t.Labels = n.Target, n.Payload, n.PayloadHash, n.Retry, n.Labels
		return clone(t), nil
	}
	t.State, t.ReplacedBy, t.FinishedAt = task.Cancelled, next.ID.String(), ms(now)
	s.insert(next)
	return clone(s.tasks[next.ID].t), nil
}

// ListIDs reads one page of a tenant's tasks created with
// Options.ListIndex, newest due first (ddbstore.Store.ListIDs).
func (s *Store) ListIDs(_ context.Context, q task.ListQuery) ([]task.ListEntry, bool, error) {
	return s.list(q, func(r *record) bool { return r.listed })
}

// ListFailedIDs reads one page of a tenant's FAILED tasks, newest due
// first (ddbstore.Store.ListFailedIDs).
func (s *Store) ListFailedIDs(_ context.Context, q task.ListQuery) ([]task.ListEntry, bool, error) {
	return s.list(q, func(r *record) bool { return r.failed })
}

func (s *Store) list(q task.ListQuery, in func(*record) bool) ([]task.ListEntry, bool, error) {
	if q.After != "" {
		if _, err := task.ParsePosition(q.After); err != nil {
			return nil, false, fmt.Errorf("list tasks: bad position: %w", err)
		}
	}
	lo, hi, empty := q.Bounds()
	if empty {
		return nil, false, nil
	}
	s.mu.Lock()
	var all []task.ListEntry
	for _, r := range s.tasks {
		sk := r.sk
		if r.t.Tenant == q.Tenant && in(r) && sk >= lo && sk <= hi && (q.After == "" || sk < q.After) {
			all = append(all, task.ListEntry{ID: r.t.ID, Pos: sk})
		}
	}
	s.mu.Unlock()
	slices.SortFunc(all, func(a, b task.ListEntry) int { return strings.Compare(b.Pos, a.Pos) })
	limit := int(max(q.Limit, 1))
	if len(all) > limit {
		return all[:limit], true, nil
	}
	return all, false, nil
}

func (c *cursor) has(f string) bool {
	_, ok := c.fields[f]
	return ok
}

// GetCursor reads the scanner cursor; a missing one has Exists false.
func (s *Store) GetCursor(context.Context) (task.Cursor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cursor == nil {
		return task.Cursor{}, nil
	}
	f := s.cursor.fields
	return task.Cursor{Dispatching: f["dispatching"], Fanned: f["fanned"], Swept: f["swept"], Shards: int(f["shards"]), Exists: true}, nil
}

// SetCursorField raises one cursor field to v, never lowering it.
func (s *Store) SetCursorField(_ context.Context, field string, v int64) error {
	switch field {
	case "dispatching", "fanned", "swept":
	default:
		return fmt.Errorf("set scanner cursor: unknown field %q", field)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cursor == nil {
		s.cursor = &cursor{fields: map[string]int64{}}
	}
	if cur, ok := s.cursor.fields[field]; !ok || cur < v {
		s.cursor.fields[field] = v
	}
	return nil
}

// EnsureCursor creates the cursor at the bucket before now's if missing and
// raises its shard count (ddbstore.Store.EnsureCursor).
func (s *Store) EnsureCursor(_ context.Context, shards int, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cursor == nil {
		s.cursor = &cursor{fields: map[string]int64{}}
	}
	f := s.cursor.fields
	if cur, ok := f["shards"]; ok && cur >= int64(shards) {
		return nil
	}
	start := s.layout.BucketOf(now) - int64(s.layout.Bucket/time.Second)
	f["shards"] = int64(shards)
	for _, k := range []string{"dispatching", "fanned", "swept"} {
		if _, ok := f[k]; !ok {
			f[k] = start
		}
	}
	return nil
}

func cloneSchedule(sc *schedule.Schedule) *schedule.Schedule {
	c := *sc
	c.Target.Spec = append([]byte(nil), sc.Target.Spec...)
	c.Payload = append([]byte(nil), sc.Payload...)
	c.Start, c.End, c.PausedAt, c.CreatedAt, c.UpdatedAt = ms(sc.Start), ms(sc.End), ms(sc.PausedAt), ms(sc.CreatedAt), ms(sc.UpdatedAt)
	c.Retry.InitialBackoff, c.Retry.MaxBackoff = msDur(sc.Retry.InitialBackoff), msDur(sc.Retry.MaxBackoff)
	c.FlexWindow = sc.FlexWindow.Truncate(time.Second)
	if len(sc.Labels) > 0 {
		c.Labels = maps.Clone(sc.Labels)
	} else {
		c.Labels = nil
	}
	return &c
}

// firstExists reports that a schedule write's first occurrence is taken
// (its transaction would be cancelled).
func (s *Store) firstExists(first *task.Task) bool {
	if first == nil {
		return false
	}
	_, ok := s.tasks[first.ID]
	return ok
}

// putFirst writes a schedule's first occurrence and its record.
func (s *Store) putFirst(first *task.Task) {
	if first == nil {
		return
	}
	s.insert(first)
	s.putOccurrenceRecord(first)
}

func (s *Store) putOccurrenceRecord(t *task.Task) {
	o := t.Occurrence
	k := schedKey{t.Tenant, o.Schedule}
	if s.occs[k] == nil {
		s.occs[k] = map[string]schedule.OccurrenceRecord{}
	}
	s.occs[k][fmt.Sprintf("%015d#%d", o.At.UnixMilli(), o.Generation)] = schedule.OccurrenceRecord{
		At: ms(o.At), Due: ms(t.DueAt), Generation: o.Generation, TaskID: t.ID,
	}
}

// CreateSchedule writes a schedule and its first occurrence (if any) all or
// nothing; an existing schedule or first task is task.ErrConflict.
func (s *Store) CreateSchedule(_ context.Context, sc *schedule.Schedule, first *task.Task) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := schedKey{sc.Tenant, sc.ID}
	if _, ok := s.sched[k]; ok {
		return fmt.Errorf("create schedule %s: %w", sc.ID, task.ErrConflict)
	}
	if s.firstExists(first) {
		return fmt.Errorf("create schedule %s: first occurrence exists: %w", sc.ID, task.ErrConflict)
	}
	s.sched[k] = cloneSchedule(sc)
	s.putFirst(first)
	return nil
}

// GetSchedule reads a tenant's schedule, or task.ErrNotFound.
func (s *Store) GetSchedule(_ context.Context, tenant, id string) (*schedule.Schedule, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.sched[schedKey{tenant, id}]
	if !ok {
		return nil, fmt.Errorf("get schedule %s: %w", id, task.ErrNotFound)
	}
	return cloneSchedule(sc), nil
}

// UpdateSchedule replaces a schedule whose stored version is prevVersion,
// with first (if any), all or nothing (ddbstore.Store.UpdateSchedule).
func (s *Store) UpdateSchedule(_ context.Context, sc *schedule.Schedule, prevVersion int64, first *task.Task) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := schedKey{sc.Tenant, sc.ID}
	cur, ok := s.sched[k]
	if !ok {
		return fmt.Errorf("get schedule %s: %w", sc.ID, task.ErrNotFound)
	}
	if cur.Version != prevVersion {
		return fmt.Errorf("update schedule %s: changed concurrently: %w", sc.ID, task.ErrConflict)
	}
	if s.firstExists(first) {
		return fmt.Errorf("update schedule %s: first occurrence exists: %w", sc.ID, task.ErrConflict)
	}
	s.sched[k] = cloneSchedule(sc)
	s.putFirst(first)
	return nil
}

// DeleteSchedule deletes a schedule (its occurrences stay), or
// task.ErrNotFound.
func (s *Store) DeleteSchedule(_ context.Context, tenant, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := schedKey{tenant, id}
	if _, ok := s.sched[k]; !ok {
		return fmt.Errorf("delete schedule %s: %w", id, task.ErrNotFound)
	}
	delete(s.sched, k)
	return nil
}

// DeleteScheduleIf deletes a schedule still in generation gen;
// task.ErrConflict if it moved on, task.ErrNotFound if it is gone
// (ddbstore.Store.DeleteScheduleIf).
func (s *Store) DeleteScheduleIf(_ context.Context, tenant, id string, gen int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := schedKey{tenant, id}
	cur, ok := s.sched[k]
	if !ok {
		return fmt.Errorf("delete schedule %s: %w", id, task.ErrNotFound)
	}
	if cur.Generation != gen {
		return fmt.Errorf("delete schedule %s: generation is no longer %d: %w", id, gen, task.ErrConflict)
	}
	delete(s.sched, k)
	return nil
}

// ListSchedules returns one page of a tenant's schedules in ID order.
func (s *Store) ListSchedules(_ context.Context, tenant, after string, limit int32) ([]*schedule.Schedule, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for k := range s.sched {
		if k.tenant == tenant && (after == "" || k.id > after) {
			ids = append(ids, k.id)
		}
	}
	slices.Sort(ids)
	next := ""
	if len(ids) > int(limit) {
		ids = ids[:limit]
		next = ids[len(ids)-1]
	}
	list := make([]*schedule.Schedule, 0, len(ids))
	for _, id := range ids {
		list = append(list, cloneSchedule(s.sched[schedKey{tenant, id}]))
	}
	return list, next, nil
}

// PutOccurrence stores an occurrence task unless one has its ID (created
// false), then its record (ddbstore.Store.PutOccurrence).
func (s *Store) PutOccurrence(_ context.Context, t *task.Task) (bool, error) {
	if t.Occurrence == nil {
		return false, fmt.Errorf("put occurrence %s: the task belongs to no schedule", t.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, exists := s.tasks[t.ID]
	if !exists {
		s.insert(t)
	}
	s.putOccurrenceRecord(t)
	return !exists, nil
}

// Occurrences returns a schedule's latest occurrence records, newest first.
func (s *Store) Occurrences(_ context.Context, tenant, id string, limit int32) ([]schedule.OccurrenceRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs := s.occs[schedKey{tenant, id}]
	keys := slices.Sorted(maps.Keys(recs))
	slices.Reverse(keys)
	if len(keys) > int(limit) {
		keys = keys[:limit]
	}
	out := make([]schedule.OccurrenceRecord, 0, len(keys))
	for _, k := range keys {
		out = append(out, recs[k])
	}
	return out, nil
}

// GetSigningSecret reads a tenant's signing secret record, or
// task.ErrNotFound.
func (s *Store) GetSigningSecret(_ context.Context, tenant string) (task.SigningSecret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.secrets[tenant]
	if !ok {
		return task.SigningSecret{}, fmt.Errorf("signing secret of %q: %w", tenant, task.ErrNotFound)
	}
	return cloneSecret(r), nil
}

// PutSigningSecret writes r when the stored version is prevVersion (0:
// none stored), else task.ErrConflict.
func (s *Store) PutSigningSecret(_ context.Context, r task.SigningSecret, prevVersion int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.secrets[r.Tenant]
	if (prevVersion == 0 && ok) || (prevVersion != 0 && (!ok || cur.Version != prevVersion)) {
		return fmt.Errorf("signing secret of %q changed concurrently: %w", r.Tenant, task.ErrConflict)
	}
	s.secrets[r.Tenant] = cloneSecret(r)
	return nil
}

func cloneSecret(r task.SigningSecret) task.SigningSecret {
	r.Current = append([]byte(nil), r.Current...)
	if len(r.Previous) > 0 {
		r.Previous = append([]byte(nil), r.Previous...)
		r.PreviousExpiresAt = ms(r.PreviousExpiresAt)
	} else {
		r.Previous, r.PreviousExpiresAt = nil, time.Time{}
	}
	return r
}
