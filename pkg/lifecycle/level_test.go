package lifecycle_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/lifecycle"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// publishEverything hands p one task of every kind: a succeeded and a
// failed (dead-lettered) schedule occurrence, a succeeded and a failed
// one-off task, and a cancelled task.
func publishEverything(t *testing.T, p *lifecycle.Publisher) {
	t.Helper()
	p.TaskFinished(occurrence(t, 1, task.Succeeded), false)
	p.TaskFinished(occurrence(t, 2, task.Failed), true)
	p.TaskFinished(finished(t, 3, task.Succeeded), false)
	p.TaskFinished(finished(t, 4, task.Failed), false)
	p.TaskCancelled(finished(t, 5, task.Cancelled))
}

// sentTypes is the detail types f was sent, in order.
func sentTypes(f *fake) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var types []string
	for _, c := range f.calls {
		for _, e := range c {
			types = append(types, aws.ToString(e.DetailType))
		}
	}
	return types
}

// TestLevels checks which detail types each level publishes, and that the
// events a level leaves out are never buffered nor sent.
func TestLevels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		level lifecycle.Level
		want  []string
	}{
		{"", []string{"TaskFailed", "TaskDeadLettered", "TaskFailed", "TaskCancelled"}}, // the default: failures
		{lifecycle.LevelFailures, []string{"TaskFailed", "TaskDeadLettered", "TaskFailed", "TaskCancelled"}},
		{lifecycle.LevelAll, []string{"ScheduleFired", "TaskSucceeded", "ScheduleFired", "TaskFailed", "TaskDeadLettered", "TaskSucceeded", "TaskFailed", "TaskCancelled"}},
		{lifecycle.LevelOff, nil},
	} {
		t.Run("level="+string(tc.level), func(t *testing.T) {
			t.Parallel()
			f := &fake{}
			p := lifecycle.New(lifecycle.Config{Bus: "hourglass", Level: tc.level}, f, zerolog.Nop())
			publishEverything(t, p)
			assert.Equal(t, len(tc.want), p.Pending(), "left-out events are not buffered")
			require.NoError(t, p.Flush(context.Background()))
			assert.Equal(t, tc.want, sentTypes(f))
			if tc.want == nil {
				assert.Empty(t, f.sizes(), "nothing to publish: no PutEvents call")
			}
		})
	}
}

func TestDefaultLevelDropsSucceededTasks(t *testing.T) {
	t.Parallel()
	f := &fake{}
	p := lifecycle.New(lifecycle.Config{Bus: "hourglass"}, f, zerolog.Nop())
	p.TaskFinished(finished(t, 1, task.Succeeded), false)
	assert.Zero(t, p.Pending(), "a succeeded task publishes nothing by default")
	require.NoError(t, p.Flush(context.Background()))
	assert.Empty(t, f.sizes(), "no PutEvents call")

	p.TaskFinished(finished(t, 2, task.Failed), false)
	require.NoError(t, p.Flush(context.Background()))
	assert.Equal(t, []string{"TaskFailed"}, sentTypes(f), "a failed one publishes TaskFailed")
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]lifecycle.Level{"": lifecycle.LevelFailures, "failures": lifecycle.LevelFailures, "all": lifecycle.LevelAll, "off": lifecycle.LevelOff} {
		got, err := lifecycle.ParseLevel(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"ALL", "none", "succeeded", " all"} {
		_, err := lifecycle.ParseLevel(in)
		assert.Error(t, err, in)
	}
}

func TestLevelPublishes(t *testing.T) {
	t.Parallel()
	failures := map[string]bool{"TaskFailed": true, "TaskDeadLettered": true, "TaskCancelled": true, "TaskSucceeded": false, "ScheduleFired": false}
	for dt, want := range failures {
		assert.Equal(t, want, lifecycle.LevelFailures.Publishes(dt), "failures: %s", dt)
		assert.True(t, lifecycle.LevelAll.Publishes(dt), "all: %s", dt)
		assert.False(t, lifecycle.LevelOff.Publishes(dt), "off: %s", dt)
		assert.Equal(t, want, lifecycle.Level("bogus").Publishes(dt), "an unknown level acts as failures: %s", dt)
	}
}
