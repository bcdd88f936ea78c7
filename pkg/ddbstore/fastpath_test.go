package ddbstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// originLog records the task messages a dispatcher sends, by task.
type originLog struct {
	mu   sync.Mutex
	sent map[string][]task.Origin
}

func (l *originLog) SendBatch(_ context.Context, _ string, msgs []task.OutMessage) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range msgs {
		tm, _, err := task.DecodeTaskMessage(m.Body)
		if err != nil {
			return err
		}
		l.sent[tm.ID] = append(l.sent[tm.ID], tm.Origin)
	}
	return nil
}

// A task its create marked for the fast path keeps the mark in the item; a
// dispatcher over the DynamoDB store skips it (its create sends it), and a
// sweep of the same partition sends it (the create may have crashed after
// its write).
func TestDispatcherSkipsFastPathTasksAndSweepDoesNot(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	marked := newTask(t, "acme", base.Add(5*time.Second))
	marked.FastPath = true
	plain := newTask(t, "acme", base.Add(6*time.Second))
	for _, tk := range []*task.Task{marked, plain} {
		_, created, err := f.store.Create(ctx, tk, "", "")
		require.NoError(t, err)
		require.True(t, created)
	}
	assert.True(t, f.get(t, marked.ID).FastPath, "the mark survives the round trip")
	assert.False(t, f.get(t, plain.ID).FastPath)

	log := &originLog{sent: map[string][]task.Origin{}}
	d := dispatch.New(dispatch.Config{TaskQueue: "tasks"}, f.store, log, clock.NewManual(base), zerolog.Nop())
	unit := task.ScanUnit{Bucket: task.Layout{Bucket: bucket}.BucketOf(base), Shard: 0}

	st, err := d.Dispatch(ctx, unit)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Sent)
	assert.Empty(t, log.sent[marked.ID.String()], "the dispatcher skips the fast-path task")
	assert.Equal(t, []task.Origin{task.OriginDispatch}, log.sent[plain.ID.String()])

	unit.Sweep = true
	st, err = d.Dispatch(ctx, unit)
	require.NoError(t, err)
	assert.Equal(t, 2, st.Sent)
	assert.Equal(t, []task.Origin{task.OriginSweep}, log.sent[marked.ID.String()], "the sweep sends it")
	assert.Equal(t, []task.Origin{task.OriginDispatch, task.OriginSweep}, log.sent[plain.ID.String()])
}
