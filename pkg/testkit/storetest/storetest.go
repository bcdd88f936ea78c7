// Package storetest is Hourglass's store conformance suite: one exported
// Run that every store implementation passes — the DynamoDB store
// (pkg/ddbstore, against the emulator) and the in-memory store
// (pkg/testkit/memstore) the engines' unit tests use. It is modelled on
// river's riverdrivertest: the suite owns its fixtures and asks the caller
// only for a fresh, empty store.
//
// It covers every task state transition (create, claim, finish, settle,
// cancel, withdraw, redrive, update), fencing (leases, versions), the
// conditional failures and the domain errors they become, idempotency
// keys, paging (partition queries, by_tenant and by_failed listings,
// schedules), schedules with their occurrence records, the scanner cursor
// and the signing secret. Where the two stores disagree, the DynamoDB
// store is the truth.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Store is every method a Hourglass store serves: the union of the ports
// of package app, worker, dispatch, scan, schedules and redrive.
type Store interface {
	Create(ctx context.Context, t *task.Task, clientToken, reqHash string) (*task.Task, bool, error)
	Get(ctx context.Context, id task.ID) (*task.Task, error)
	GetMany(ctx context.Context, ids []task.ID) (map[task.ID]*task.Task, error)
	QueryScheduled(ctx context.Context, bucket int64, shard uint16, after string, limit int32) ([]*task.Task, string, error)
	Cancel(ctx context.Context, id task.ID, tenant string, now time.Time) (*task.Task, error)
	Withdraw(ctx context.Context, id task.ID, tenant string, now time.Time) (*task.Task, error)
	Claim(ctx context.Context, id task.ID, ph, owner string, now, leaseUntil time.Time) (*task.Task, error)
	Finish(ctx context.Context, id task.ID, owner string, o task.Outcome) (*task.Task, error)
	Settle(ctx context.Context, prev *task.Task, o task.Outcome) (*task.Task, error)
	Redrive(ctx context.Context, id task.ID, now time.Time, attempts int) (*task.Task, error)
	Update(ctx context.Context, prev, next *task.Task, now time.Time) (*task.Task, error)
	ListIDs(ctx context.Context, q task.ListQuery) ([]task.ListEntry, bool, error)
	ListFailedIDs(ctx context.Context, q task.ListQuery) ([]task.ListEntry, bool, error)

	GetCursor(ctx context.Context) (task.Cursor, error)
	SetCursorField(ctx context.Context, field string, v int64) error
	EnsureCursor(ctx context.Context, shards int, now time.Time) error

	CreateSchedule(ctx context.Context, s *schedule.Schedule, first *task.Task) error
	GetSchedule(ctx context.Context, tenant, id string) (*schedule.Schedule, error)
	UpdateSchedule(ctx context.Context, s *schedule.Schedule, prevVersion int64, first *task.Task) error
	DeleteSchedule(ctx context.Context, tenant, id string) error
	DeleteScheduleIf(ctx context.Context, tenant, id string, gen int64) error
	ListSchedules(ctx context.Context, tenant, after string, limit int32) ([]*schedule.Schedule, string, error)
	PutOccurrence(ctx context.Context, t *task.Task) (bool, error)
	Occurrences(ctx context.Context, tenant, id string, limit int32) ([]schedule.OccurrenceRecord, error)

	GetSigningSecret(ctx context.Context, tenant string) (task.SigningSecret, error)
	PutSigningSecret(ctx context.Context, r task.SigningSecret, prevVersion int64) error
}

// Options is what a test asks of the store it gets: the store must be
// built with exactly these (they mirror ddbstore.Options).
type Options struct {
	Layout       task.Layout
	CancelCutoff time.Duration
	ListIndex    bool
}

// NewStore returns a fresh, empty store built with o, private to test t
// (subtests run in parallel).
type NewStore func(t *testing.T, o Options) Store
