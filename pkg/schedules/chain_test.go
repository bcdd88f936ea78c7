package schedules_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/schedules"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// memStore keeps schedules and tasks in maps: enough of the Store port
// for the gate's decisions (the DynamoDB adapter is covered by the
// integration tests).
type memStore struct {
	schedules.Store // unused methods panic
	sched           map[string]*schedule.Schedule
	tasks           map[task.ID]*task.Task
}

func (m *memStore) GetSchedule(_ context.Context, _, id string) (*schedule.Schedule, error) {
	if s, ok := m.sched[id]; ok {
		return s, nil
	}
	return nil, task.ErrNotFound
}

func (m *memStore) Get(_ context.Context, id task.ID) (*task.Task, error) {
	if t, ok := m.tasks[id]; ok {
		return t, nil
	}
	return nil, task.ErrNotFound
}

func (m *memStore) Withdraw(_ context.Context, id task.ID, _ string, _ time.Time) (*task.Task, error) {
	t, ok := m.tasks[id]
	if !ok {
		return nil, task.ErrNotFound
	}
	if !t.State.Cancellable() {
		return t, task.ErrConflict
	}
	t.State = task.Cancelled
	return t, nil
}

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
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := *base
			store := &memStore{sched: map[string]*schedule.Schedule{}, tasks: map[task.ID]*task.Task{}}
			occ := schedule.Occ{At: occAt, Due: occAt}
			tk, err := s.Task(occ, shards, t0)
			require.NoError(t, err)
			tk.AttemptN = tc.attempt
			store.tasks[tk.ID] = tk
			if tc.successor {
				next, ok := s.After(occAt, occAt)
				require.True(t, ok)
				nt, err := s.Task(next, shards, t0)
				require.NoError(t, err)
				store.tasks[nt.ID] = nt
			}
			if tc.change != nil {
				tc.change(&s)
			}
			store.sched[s.ID] = &s
			c := schedules.NewChain(schedules.Config{Shards: shards, MisfireGrace: grace}, store, nil, clock.System{}, zerolog.Nop())
			ok, err := c.Admit(context.Background(), tk, tk.DueAt.Add(tc.late))
			require.NoError(t, err)
			assert.Equal(t, tc.wantAdmit, ok)
			assert.Equal(t, tc.wantCancel, tk.State == task.Cancelled, "state %s", tk.State)
		})
	}
}

func TestAdmitOneOffTaskReadsNothing(t *testing.T) {
	t.Parallel()
	c := schedules.NewChain(schedules.Config{}, &memStore{}, nil, clock.System{}, zerolog.Nop()) // a read would panic
	ok, err := c.Admit(context.Background(), &task.Task{State: task.Scheduled}, t0)
	require.NoError(t, err)
	assert.True(t, ok)
}
