package chain_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/chain"
	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/memstore"
)

// newStore returns the in-memory store (pkg/testkit/memstore, which passes
// the store conformance suite).
func newStore() *memstore.Store {
	return memstore.New(task.Layout{Bucket: time.Minute}, memstore.Options{})
}

// noReads is a store every call of which panics: for a path that must not
// touch the store.
type noReads struct{ chain.Store }

func TestAdmit(t *testing.T) {
	t.Parallel()
	const shards = 4
	base := sched("rate(1 minute)", schedule.RunOnce)
	occAt := t0
	grace := 30 * time.Second // rate(1 minute): successors are due 60 s after
	for _, tc := range []struct {
		name       string
		change     func(s *schedule.Schedule)
		attempt    int
		late       time.Duration // now − due
		successor  bool          // the next occurrence is stored
		wantAdmit  bool
		wantCancel bool
	}{
		{name: "on time", wantAdmit: true},
		{name: "within grace", late: grace, wantAdmit: true},
		{name: "disabled", change: func(s *schedule.Schedule) { s.State = schedule.Disabled }, wantCancel: true},
		{name: "changed", change: func(s *schedule.Schedule) { s.Generation++ }, wantCancel: true},
		{name: "deleted", change: func(s *schedule.Schedule) { s.ID = "gone" }, wantCancel: true},
		{name: "skip, late", change: func(s *schedule.Schedule) { s.Misfire = schedule.Skip }, late: 2 * grace, wantCancel: true},
		{name: "skip, late retry", change: func(s *schedule.Schedule) { s.Misfire = schedule.Skip }, attempt: 1, late: 2 * grace, wantAdmit: true},
		{name: "run_all, late", change: func(s *schedule.Schedule) { s.Misfire = schedule.RunAll }, late: 10 * grace, successor: true, wantAdmit: true},
		{name: "run_once, late, latest missed", late: 2 * time.Minute, wantAdmit: true},
		{name: "run_once, late, successor due too", late: 90 * time.Second, successor: true, wantCancel: true},
		{name: "run_once, late, successor not yet due", late: 45 * time.Second, successor: true, wantAdmit: true},
		{name: "within maximum event age", change: func(s *schedule.Schedule) { s.MaxEventAge, s.Misfire = time.Minute, schedule.RunAll }, late: time.Minute, wantAdmit: true},
		{name: "older than maximum event age", change: func(s *schedule.Schedule) { s.MaxEventAge, s.Misfire = time.Minute, schedule.RunAll }, late: 61 * time.Second, wantCancel: true},
		{name: "retry older than maximum event age", change: func(s *schedule.Schedule) { s.MaxEventAge = time.Minute }, attempt: 2, late: 2 * time.Minute, wantCancel: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := *base
			store := newStore()
			occ := schedule.Occ{At: occAt, Due: occAt}
			tk, err := s.Task(occ, shards, t0)
			require.NoError(t, err)
			tk.AttemptN = tc.attempt
			_, _, err = store.Create(context.Background(), tk, "", "")
			require.NoError(t, err)
			if tc.successor {
				next, ok := s.After(occAt, occAt)
				require.True(t, ok)
				nt, err := s.Task(next, shards, t0)
				require.NoError(t, err)
				_, _, err = store.Create(context.Background(), nt, "", "")
				require.NoError(t, err)
			}
			if tc.change != nil {
				tc.change(&s)
			}
			require.NoError(t, store.CreateSchedule(context.Background(), &s, nil))
			c := chain.New(chain.Config{Shards: shards, MisfireGrace: grace}, store, nil, clock.System{}, zerolog.Nop())
			ok, err := c.Admit(context.Background(), tk, tk.DueAt.Add(tc.late))
			require.NoError(t, err)
			assert.Equal(t, tc.wantAdmit, ok)
			got, err := store.Get(context.Background(), tk.ID)
			require.NoError(t, err)
			assert.Equal(t, tc.wantCancel, got.State == task.Cancelled, "state %s", got.State)
		})
	}
}

func TestAdmitOneOffTaskReadsNothing(t *testing.T) {
	t.Parallel()
	c := chain.New(chain.Config{}, noReads{}, nil, clock.System{}, zerolog.Nop()) // a read would panic
	ok, err := c.Admit(context.Background(), &task.Task{State: task.Scheduled}, t0)
	require.NoError(t, err)
	assert.True(t, ok)
}

// updateAfterRead is a store whose first GetSchedule is followed, before
// the caller's next step, by an update of the schedule to a new generation:
// the interleaving of an UpdateSchedule between Completed's read and its
// delete.
type updateAfterRead struct {
	*memstore.Store
	t    *testing.T
	done bool
}

func (u *updateAfterRead) GetSchedule(ctx context.Context, tenant, id string) (*schedule.Schedule, error) {
	s, err := u.Store.GetSchedule(ctx, tenant, id)
	if err != nil || u.done {
		return s, err
	}
	u.done = true
	up := *s
	up.Expression, up.Generation, up.Version = "at(2031-01-01T00:00:00)", s.Generation+1, s.Version+1
	require.NoError(u.t, u.Store.UpdateSchedule(ctx, &up, s.Version, nil))
	return s, nil
}

func TestCompletedKeepsAScheduleUpdatedMeanwhile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, raced := range []bool{false, true} {
		s := sched("at(2030-03-04T09:00:00)", schedule.RunOnce)
		s.AfterCompletion, s.Version = schedule.AfterDelete, 1
		mem := newStore()
		require.NoError(t, mem.CreateSchedule(ctx, s, nil))
		tk, err := s.Task(schedule.Occ{At: t0, Due: t0}, 1, t0)
		require.NoError(t, err)

		var store chain.Store = mem
		if raced {
			store = &updateAfterRead{Store: mem, t: t}
		}
		chain.New(chain.Config{}, store, nil, clock.System{}, zerolog.Nop()).Completed(ctx, tk)

		got, err := mem.GetSchedule(ctx, s.Tenant, s.ID)
		if !raced {
			assert.ErrorIs(t, err, task.ErrNotFound, "its last occurrence done, the schedule is deleted")
			continue
		}
		require.NoError(t, err, "the update's new generation is not deleted with the finished one")
		assert.Equal(t, int64(2), got.Generation)
	}
}
