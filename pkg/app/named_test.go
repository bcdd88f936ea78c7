package app_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/chain"
	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/ddbstore"
	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// deleteAfterCheck is a group store whose first GetGroup answers the group
// as it was read and then, before the caller goes on, lets a whole group
// delete run: the interleaving of DeleteScheduleGroup between a
// CreateSchedule's group check and its write.
type deleteAfterCheck struct {
	*ddbstore.Store
	t       *testing.T
	deleter *app.Named
	done    bool
}

func (d *deleteAfterCheck) GetGroup(ctx context.Context, tenant, name string) (*schedule.Group, error) {
	g, err := d.Store.GetGroup(ctx, tenant, name)
	if err != nil || d.done {
		return g, err
	}
	d.done = true
	require.NoError(d.t, d.deleter.DeleteGroup(ctx, tenant, name))
	return g, nil
}

// setupNamed returns the named-schedule service on a fresh table, with a
// chain that sends nothing (its occurrences are an hour ahead).
func setupNamed(t *testing.T) (*ddbstore.Store, *app.Schedules) {
	t.Helper()
	store := setupKeys(t)
	clk := clock.System{}
	chain := chain.New(chain.Config{Layout: task.Layout{Bucket: time.Minute}, Shards: 1}, store, nil, clk, zerolog.Nop())
	return store, app.NewSchedules(app.SchedulesConfig{}, store, chain, clk, zerolog.Nop())
}

func namedIn(t *testing.T, group, name string) app.NamedSchedule {
	t.Helper()
	at := time.Now().UTC().Add(time.Hour).Format("2006-01-02T15:04:05")
	def, err := json.Marshal(map[string]any{"expression": "at(" + at + ")", "target": map[string]any{"kind": "webhook", "url": "https://example.com/hook"}})
	require.NoError(t, err)
	return app.NamedSchedule{Group: group, Name: name, Definition: def}
}

// TestCreateRacingGroupDeleteLeavesNoOrphan: a schedule created while its
// group is deleted is either deleted with the group or refused, never left
// in a group that no longer exists; a group being deleted takes no new
// schedule, shows itself DELETING, and a second delete finishes it.
func TestCreateRacingGroupDeleteLeavesNoOrphan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, svc := setupNamed(t)
	plain := app.NewNamed(svc, store)
	_, err := plain.CreateGroup(ctx, "acme", "batch", nil)
	require.NoError(t, err)

	racing := app.NewNamed(svc, &deleteAfterCheck{Store: store, t: t, deleter: plain})
	_, created, err := racing.Create(ctx, "acme", namedIn(t, "batch", "nightly"))
	assert.Error(t, err, "the group went away under the create")
	assert.False(t, created)
	_, err = store.GetSchedule(ctx, "acme", schedule.NamedID("acme", "batch", "nightly"))
	require.ErrorIs(t, err, task.ErrNotFound, "no schedule is left without its group")
	_, err = plain.GetGroup(ctx, "acme", "batch")
	require.ErrorIs(t, err, task.ErrNotFound)

	// A group whose delete stopped after its mark (a crash): creates are
	// refused, and the next delete finishes it.
	g, err := plain.CreateGroup(ctx, "acme", "half", nil)
	require.NoError(t, err)
	g.Deleting = true
	require.NoError(t, store.PutGroup(ctx, g))
	got, err := plain.GetGroup(ctx, "acme", "half")
	require.NoError(t, err)
	assert.True(t, got.Deleting)
	_, _, err = plain.Create(ctx, "acme", namedIn(t, "half", "late"))
	var conflict *app.Conflict
	require.ErrorAs(t, err, &conflict, "a create into a DELETING group")
	assert.Contains(t, conflict.Detail, "being deleted")
	require.NoError(t, plain.DeleteGroup(ctx, "acme", "half"))
	_, err = plain.GetGroup(ctx, "acme", "half")
	require.ErrorIs(t, err, task.ErrNotFound)

	// A group that does not exist takes no schedule.
	_, _, err = plain.Create(ctx, "acme", namedIn(t, "nosuch", "x"))
	var nf *app.NotFound
	require.ErrorAs(t, err, &nf)
}

// TestGroupQuota: a tenant has at most the cap of groups, the default group
// counted; the next create is *QuotaExceeded until one is deleted, and
// another tenant's groups do not count.
func TestGroupQuota(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, svc := setupNamed(t)
	named := app.NewNamed(svc, store)
	named.SetMaxGroups(3)
	for _, name := range []string{"a", "b"} {
		_, err := named.CreateGroup(ctx, "acme", name, nil)
		require.NoError(t, err)
	}
	_, err := named.CreateGroup(ctx, "acme", "c", nil)
	var qe *app.QuotaExceeded
	require.ErrorAs(t, err, &qe, "default, a and b make three")
	assert.Contains(t, qe.Detail, "3 schedule groups")
	_, err = named.GetGroup(ctx, "acme", "c")
	require.ErrorIs(t, err, task.ErrNotFound, "nothing was written")

	// Tagging the default group stores it; it still counts once.
	require.NoError(t, named.TagGroup(ctx, "acme", schedule.DefaultGroup, map[string]string{"k": "v"}))
	_, err = named.CreateGroup(ctx, "acme", "c", nil)
	require.ErrorAs(t, err, &qe)

	_, err = named.CreateGroup(ctx, "globex", "c", nil)
	require.NoError(t, err, "the cap is per tenant")

	require.NoError(t, named.DeleteGroup(ctx, "acme", "a"))
	_, err = named.CreateGroup(ctx, "acme", "c", nil)
	require.NoError(t, err, "room again after a delete")
}
