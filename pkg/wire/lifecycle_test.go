package wire_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	hgevents "github.com/hourglass-sched/hourglass/events"
	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
	"github.com/hourglass-sched/hourglass/pkg/usage"
	"github.com/hourglass-sched/hourglass/pkg/wire"
)

func lifecycleConfig(bus, level string) config.Config {
	return config.Config{Table: "unused", Shards: 2, Bucket: 2 * time.Second, Lookahead: 4 * time.Second, Lease: 5 * time.Second,
		LogLevel: "warn", SigningKey: "service-test-signing-key", Limits: task.DefaultLimits(), BusName: bus, LifecycleEvents: level}
}

func outcomeTask(t *testing.T, state task.State) *task.Task {
	t.Helper()
	due := time.Now().UTC().Truncate(time.Millisecond)
	id, err := task.NewID(due, 2)
	require.NoError(t, err)
	tk := &task.Task{ID: id, Tenant: "acme", DueAt: due, Target: task.Target{Kind: "webhook"}, State: state,
		FinishedAt: due.Add(time.Second), UpdatedAt: due.Add(time.Second),
		Attempts: []task.Attempt{{N: 1, StartedAt: due.Add(10 * time.Millisecond), EndedAt: due.Add(time.Second), StatusCode: 204}}}
	if state == task.Failed {
		tk.Attempts[0].StatusCode, tk.Attempts[0].Error, tk.LastError = 400, "webhook: status 400", "webhook: status 400"
	}
	return tk
}

// TestLifecycleEventsLevel builds the components at each level of
// HOURGLASS_LIFECYCLE_EVENTS, hands their publisher a succeeded and a
// failed task, and checks what reaches a rule on the bus and how many
// EventBridge entries were paid for. By default a succeeded task publishes
// no event and a failed one does; off makes no publisher at all.
func TestLifecycleEventsLevel(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration test")
	}
	for _, tc := range []struct {
		level string
		want  map[string]int
	}{
		{"", map[string]int{"TaskFailed": 1}}, // the default: failures
		{"failures", map[string]int{"TaskFailed": 1}},
		{"all", map[string]int{"TaskSucceeded": 1, "TaskFailed": 1}},
		{"off", map[string]int{}},
	} {
		t.Run("level="+tc.level, func(t *testing.T) {
			t.Parallel()
			env := awstest.New(t)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			bus := env.Name("hourglass")
			_, err := provision.EnsureBus(ctx, eventbridge.NewFromConfig(env.Config), bus)
			require.NoError(t, err)
			queue, err := provision.EnsureQueue(ctx, env.Config, env.Name("mine"))
			require.NoError(t, err)
			require.NoError(t, provision.RuleToQueue(ctx, env.Config, bus, env.Name("mine"), map[string]any{"source": []string{"hourglass"}}, queue))

			counters := &usage.Counters{}
			comps, err := wire.BuildWith(ctx, lifecycleConfig(bus, tc.level), env.Config, nil, counters)
			require.NoError(t, err)
			if tc.level == "off" {
				require.Nil(t, comps.Events, "off: no publisher")
			} else {
				require.NotNil(t, comps.Events)
				comps.Events.TaskFinished(outcomeTask(t, task.Succeeded), false)
				comps.Events.TaskFinished(outcomeTask(t, task.Failed), false)
			}
			require.NoError(t, comps.Events.Flush(ctx)) // a nil publisher flushes nothing
			n := 0
			for _, c := range tc.want {
				n += c
			}
			assert.EqualValues(t, n, counters.Snapshot().EventBridgeEvents, "EventBridge entries paid for")

			seen := map[string]int{}
			q := sqs.NewFromConfig(env.Config)
			// Wait for the expected events, then a little more for any extra.
			deadline := time.Now().Add(20 * time.Second)
			for extra := 0; time.Now().Before(deadline) && extra < 2; {
				out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &queue, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
				require.NoError(t, err)
				for _, m := range out.Messages {
					var ev hgevents.Event[json.RawMessage]
					require.NoError(t, json.Unmarshal([]byte(aws.ToString(m.Body)), &ev))
					seen[ev.DetailType]++
				}
				got := 0
				for _, c := range seen {
					got += c
				}
				if got >= n {
					extra++
				}
			}
			assert.Equal(t, tc.want, seen)
		})
	}
}

func TestBuildRefusesAnUnknownLifecycleLevel(t *testing.T) {
	t.Parallel()
	_, err := wire.BuildWith(context.Background(), lifecycleConfig("hourglass", "succeeded"), aws.Config{Region: "us-east-1"}, nil, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HOURGLASS_LIFECYCLE_EVENTS")
}
