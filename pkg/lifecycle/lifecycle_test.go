package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/events"
	"github.com/hourglass-sched/hourglass/events/eventschema"
	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/lifecycle"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
	"github.com/hourglass-sched/hourglass/pkg/usage"
)

var due = time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)

func finished(t *testing.T, n int, state task.State) *task.Task {
	t.Helper()
	id, err := task.NewID(due, 4)
	require.NoError(t, err)
	tk := &task.Task{ID: id, Tenant: "acme", DueAt: due, Target: task.Target{Kind: "webhook"}, State: state,
		Labels: map[string]string{"n": fmt.Sprint(n)}, FinishedAt: due.Add(2 * time.Second), UpdatedAt: due.Add(2 * time.Second)}
	switch state {
	case task.Succeeded:
		tk.Attempts = []task.Attempt{{N: 1, StartedAt: due.Add(150 * time.Millisecond), EndedAt: due.Add(time.Second), Outcome: "succeeded", StatusCode: 204}}
	case task.Failed:
		tk.Attempts = []task.Attempt{
			{N: 1, StartedAt: due.Add(20 * time.Millisecond), Outcome: "retrying", Error: "timeout"},
			{N: 2, StartedAt: due.Add(time.Second), Outcome: "failed", StatusCode: 503, Error: "webhook: status 503"},
		}
		tk.LastError = "webhook: status 503"
	}
	return tk
}

// fake is a PutEvents that rejects chosen entries a given number of times.
type fake struct {
	mu      sync.Mutex
	calls   [][]types.PutEventsRequestEntry
	reject  int   // reject the first entry of each call this many times in all
	callErr error // fail whole calls with this
}

func (f *fake) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, in.Entries)
	if f.callErr != nil {
		return nil, f.callErr
	}
	out := &eventbridge.PutEventsOutput{Entries: make([]types.PutEventsResultEntry, len(in.Entries))}
	for i := range in.Entries {
		if i == 0 && f.reject > 0 {
			f.reject--
			out.FailedEntryCount++
			out.Entries[i] = types.PutEventsResultEntry{ErrorCode: aws.String("ThrottlingException"), ErrorMessage: aws.String("slow down")}
			continue
		}
		out.Entries[i] = types.PutEventsResultEntry{EventId: aws.String(fmt.Sprint("e", i))}
	}
	return out, nil
}

func (f *fake) sizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []int
	for _, c := range f.calls {
		s = append(s, len(c))
	}
	return s
}

func TestBatchesOfAtMostTen(t *testing.T) {
	t.Parallel()
	f := &fake{}
	p := lifecycle.New(lifecycle.Config{Bus: "hourglass", Level: lifecycle.LevelAll}, f, zerolog.Nop())
	for i := range 23 {
		p.TaskFinished(finished(t, i, task.Succeeded), false)
	}
	require.Equal(t, 23, p.Pending(), "publishing only buffers")
	assert.Empty(t, f.sizes(), "no call before Flush")
	require.NoError(t, p.Flush(context.Background()))
	assert.Equal(t, []int{10, 10, 3}, f.sizes())
	assert.Zero(t, p.Pending())
}

func TestRejectedEntriesAreRetried(t *testing.T) {
	t.Parallel()
	f := &fake{reject: 2}
	p := lifecycle.New(lifecycle.Config{Bus: "hourglass", Level: lifecycle.LevelAll}, f, zerolog.Nop())
	p.TaskFinished(finished(t, 1, task.Succeeded), false)
	p.TaskFinished(finished(t, 2, task.Succeeded), false)
	require.NoError(t, p.Flush(context.Background()))
	// Round 1 sends both and one is rejected; round 2 resends it and it is
	// rejected again; round 3 gets it through.
	assert.Equal(t, []int{2, 1, 1}, f.sizes())
	assert.Zero(t, p.Pending())
}

func TestUnsentEventsStayForTheNextFlush(t *testing.T) {
	t.Parallel()
	f := &fake{callErr: errors.New("network down")}
	p := lifecycle.New(lifecycle.Config{Bus: "hourglass", Rounds: 2}, f, zerolog.Nop())
	p.TaskFinished(finished(t, 1, task.Failed), true) // TaskFailed + TaskDeadLettered
	err := p.Flush(context.Background())
	require.ErrorContains(t, err, "network down")
	assert.Equal(t, 2, p.Pending())

	f.mu.Lock()
	f.callErr = nil
	f.mu.Unlock()
	require.NoError(t, p.Flush(context.Background()))
	assert.Zero(t, p.Pending())
}

func TestFlushIsBoundedInTime(t *testing.T) {
	t.Parallel()
	p := lifecycle.New(lifecycle.Config{Bus: "hourglass", FlushTimeout: 100 * time.Millisecond}, blocking{}, zerolog.Nop())
	p.TaskCancelled(&task.Task{State: task.Cancelled, DueAt: due})
	start := time.Now()
	require.Error(t, p.Flush(context.Background()))
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Equal(t, 1, p.Pending())
}

// blocking is a PutEvents that waits for its context.
type blocking struct{}

func (blocking) PutEvents(ctx context.Context, _ *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestBufferIsBounded(t *testing.T) {
	t.Parallel()
	f := &fake{}
	p := lifecycle.New(lifecycle.Config{Bus: "hourglass", Level: lifecycle.LevelAll, MaxBuffer: 5}, f, zerolog.Nop())
	for i := range 8 {
		p.TaskFinished(finished(t, i, task.Succeeded), false)
	}
	assert.Equal(t, 5, p.Pending())
	require.NoError(t, p.Flush(context.Background()))
	// The oldest three were dropped: the newest five went out.
	require.Len(t, f.calls, 1)
	var first events.TaskSucceeded
	require.NoError(t, json.Unmarshal([]byte(aws.ToString(f.calls[0][0].Detail)), &first))
	assert.Equal(t, "3", first.Labels["n"])
}

func TestWhatIsPublished(t *testing.T) {
	t.Parallel()
	f := &fake{}
	p := lifecycle.New(lifecycle.Config{Bus: "my-bus", Level: lifecycle.LevelAll}, f, zerolog.Nop())
	p.TaskFinished(finished(t, 1, task.Succeeded), true) // dead-lettered is ignored on success
	p.TaskFinished(finished(t, 2, task.Failed), false)
	p.TaskFinished(finished(t, 3, task.Failed), true)
	p.TaskFinished(finished(t, 4, task.Retrying), false) // not an outcome
	p.TaskCancelled(finished(t, 5, task.Cancelled))
	p.TaskCancelled(finished(t, 6, task.Running)) // not cancelled
	require.NoError(t, p.Flush(context.Background()))
	require.Len(t, f.calls, 1)
	var types []string
	for _, e := range f.calls[0] {
		types = append(types, aws.ToString(e.DetailType))
		assert.Equal(t, "my-bus", aws.ToString(e.EventBusName))
		assert.Equal(t, events.Source, aws.ToString(e.Source))
	}
	assert.Equal(t, []string{"TaskSucceeded", "TaskFailed", "TaskFailed", "TaskDeadLettered", "TaskCancelled"}, types)

	var ok events.TaskSucceeded
	require.NoError(t, json.Unmarshal([]byte(aws.ToString(f.calls[0][0].Detail)), &ok))
	require.NotNil(t, ok.LatenessMS)
	assert.EqualValues(t, 150, *ok.LatenessMS, "lateness is the first attempt's start minus due")
	assert.Equal(t, 204, ok.Outcome.StatusCode)
	var failed events.TaskFailed
	require.NoError(t, json.Unmarshal([]byte(aws.ToString(f.calls[0][1].Detail)), &failed))
	assert.Equal(t, 2, failed.Attempts)
	assert.EqualValues(t, 20, *failed.LatenessMS)
	assert.Equal(t, "webhook: status 503", failed.Outcome.Error)
	var cancelled events.TaskCancelled
	require.NoError(t, json.Unmarshal([]byte(aws.ToString(f.calls[0][4].Detail)), &cancelled))
	assert.Nil(t, cancelled.LatenessMS)
}

// occurrence is finished(t, n, state) as an occurrence of a schedule, due
// 90s after its nominal time (a flexible window's offset).
func occurrence(t *testing.T, n int, state task.State) *task.Task {
	t.Helper()
	tk := finished(t, n, state)
	tk.Occurrence = &task.Occurrence{Schedule: "s0ppn4k8ug006b4c8r5mh", Generation: 3, At: due.Add(-90 * time.Second)}
	return tk
}

// TestScheduleFired checks that an occurrence whose outcome is recorded
// publishes one ScheduleFired before its task event, one that validates
// against the schema, and that an occurrence that did not fire (no outcome
// yet, cancelled, no attempt) and a one-off task publish none.
func TestScheduleFired(t *testing.T) {
	t.Parallel()
	f := &fake{}
	p := lifecycle.New(lifecycle.Config{Bus: "hourglass", Level: lifecycle.LevelAll}, f, zerolog.Nop())
	p.TaskFinished(occurrence(t, 1, task.Succeeded), false)
	p.TaskFinished(occurrence(t, 2, task.Failed), true)
	p.TaskFinished(occurrence(t, 3, task.Retrying), false)
	p.TaskCancelled(occurrence(t, 4, task.Cancelled))
	unrun := occurrence(t, 5, task.Failed)
	unrun.Attempts = nil
	p.TaskFinished(unrun, false)
	p.TaskFinished(finished(t, 6, task.Succeeded), false)
	require.NoError(t, p.Flush(context.Background()))
	require.Len(t, f.calls, 1)
	var types []string
	var fired []events.ScheduleFired
	for _, e := range f.calls[0] {
		types = append(types, aws.ToString(e.DetailType))
		if aws.ToString(e.DetailType) != events.DetailScheduleFired {
			continue
		}
		// The event as a rule delivers it validates against the schema.
		env := fmt.Sprintf(`{"version":"0","id":"x","detail-type":%q,"source":%q,"time":"2030-01-02T15:04:06Z","region":"us-east-1","resources":[],"detail":%s}`,
			aws.ToString(e.DetailType), aws.ToString(e.Source), aws.ToString(e.Detail))
		require.NoError(t, eventschema.Validate([]byte(env)), env)
		var d events.ScheduleFired
		require.NoError(t, json.Unmarshal([]byte(aws.ToString(e.Detail)), &d))
		fired = append(fired, d)
	}
	assert.Equal(t, []string{"ScheduleFired", "TaskSucceeded", "ScheduleFired", "TaskFailed", "TaskDeadLettered", "TaskCancelled", "TaskFailed", "TaskSucceeded"}, types)
	require.Len(t, fired, 2)
	ok := fired[0]
	assert.Equal(t, "s0ppn4k8ug006b4c8r5mh", ok.ScheduleID)
	assert.Equal(t, "acme", ok.Tenant)
	assert.EqualValues(t, 3, ok.Generation)
	assert.Equal(t, due.Add(-90*time.Second), ok.OccurrenceAt)
	assert.Equal(t, due, ok.DueAt)
	assert.Equal(t, due.Add(150*time.Millisecond), ok.FiredAt, "fired_at is the first attempt's start")
	assert.Equal(t, "SUCCEEDED", ok.State)
	assert.Equal(t, 1, ok.Attempts)
	assert.Equal(t, "FAILED", fired[1].State)
	assert.Equal(t, 2, fired[1].Attempts)
	assert.Equal(t, due.Add(20*time.Millisecond), fired[1].FiredAt)
}

func TestNilPublisherFlushes(t *testing.T) {
	t.Parallel()
	var p *lifecycle.Publisher
	assert.NoError(t, p.Flush(context.Background()))
}

// TestPublishThroughEmulator sends 12 events (two batches) to a bus whose
// rule feeds a queue, reads them back and validates each against its
// schema, and checks that usage counts entries, not calls.
func TestPublishThroughEmulator(t *testing.T) {
	t.Parallel()
	env := awstest.New(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	counters := &usage.Counters{}
	cfg := env.Config.Copy()
	cfg.APIOptions = append(cfg.APIOptions, counters.Middleware())
	eb := eventbridge.NewFromConfig(cfg)
	bus := env.Name("hourglass")
	_, err := provision.EnsureBus(ctx, eb, bus)
	require.NoError(t, err)
	queue, err := provision.EnsureQueue(ctx, env.Config, env.Name("seen"))
	require.NoError(t, err)
	require.NoError(t, provision.RuleToQueue(ctx, env.Config, bus, env.Name("all"), map[string]any{"source": []string{"hourglass"}}, queue))

	p := lifecycle.New(lifecycle.Config{Bus: bus, Level: lifecycle.LevelAll, FlushTimeout: 30 * time.Second}, eb, zerolog.Nop())
	for i := range 5 {
		p.TaskFinished(finished(t, i, task.Succeeded), false)
		p.TaskFinished(finished(t, i, task.Failed), true)
	}
	p.TaskCancelled(finished(t, 9, task.Cancelled))
	p.TaskCancelled(finished(t, 10, task.Cancelled))
	p.TaskFinished(occurrence(t, 11, task.Succeeded), false) // ScheduleFired and TaskSucceeded
	require.NoError(t, p.Flush(ctx))
	assert.EqualValues(t, 19, counters.Snapshot().EventBridgeEvents)

	q := sqs.NewFromConfig(env.Config)
	seen := map[string]int{}
	deadline := time.Now().Add(30 * time.Second)
	for n := 0; n < 19 && time.Now().Before(deadline); {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &queue, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		require.NoError(t, err)
		for _, m := range out.Messages {
			body := aws.ToString(m.Body)
			require.NoError(t, eventschema.Validate([]byte(body)), body)
			var ev events.Event[json.RawMessage]
			require.NoError(t, json.Unmarshal([]byte(body), &ev))
			seen[ev.DetailType]++
			n++
		}
	}
	assert.Equal(t, map[string]int{"TaskSucceeded": 6, "TaskFailed": 5, "TaskDeadLettered": 5, "TaskCancelled": 2, "ScheduleFired": 1}, seen)
}

// TestConcurrentPublishAndFlush sends every event exactly once when worker
// batches publish and flush at the same time.
func TestConcurrentPublishAndFlush(t *testing.T) {
	t.Parallel()
	f := &fake{}
	p := lifecycle.New(lifecycle.Config{Bus: "hourglass", Level: lifecycle.LevelAll}, f, zerolog.Nop())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				p.TaskFinished(finished(t, g*100+i, task.Succeeded), false)
				if i%5 == 4 {
					assert.NoError(t, p.Flush(context.Background()))
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, p.Flush(context.Background()))
	seen := map[string]int{}
	for _, c := range f.calls {
		assert.LessOrEqual(t, len(c), 10)
		for _, e := range c {
			var d events.TaskSucceeded
			require.NoError(t, json.Unmarshal([]byte(aws.ToString(e.Detail)), &d))
			seen[d.Labels["n"]]++
		}
	}
	assert.Len(t, seen, 200)
	for n, c := range seen {
		assert.Equal(t, 1, c, "event %s sent %d times", n, c)
	}
}

func TestFlushRespectsTheCallersDeadline(t *testing.T) {
	t.Parallel()
	p := lifecycle.New(lifecycle.Config{Bus: "hourglass", FlushTimeout: time.Minute}, blocking{}, zerolog.Nop())
	p.TaskCancelled(&task.Task{State: task.Cancelled, DueAt: due})
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	require.Error(t, p.Flush(ctx))
	assert.Less(t, time.Since(start), 700*time.Millisecond, "returns before the caller's deadline")
	assert.Equal(t, 1, p.Pending())

	// A cancelled (not expired) caller context does not stop a flush.
	f := &fake{}
	q := lifecycle.New(lifecycle.Config{Bus: "hourglass"}, f, zerolog.Nop())
	q.TaskCancelled(&task.Task{State: task.Cancelled, DueAt: due})
	gone, stop := context.WithCancel(context.Background())
	stop()
	require.NoError(t, q.Flush(gone))
	assert.Equal(t, []int{1}, f.sizes())
}

// PublishFinished sends at once, buffers nothing, and names the tasks whose
// events were not all sent, so that the worker can keep their messages.
func TestPublishFinishedNamesTheUnsentTasks(t *testing.T) {
	t.Parallel()
	ok, failed := finished(t, 1, task.Succeeded), finished(t, 2, task.Failed)
	f := &fake{}
	p := lifecycle.New(lifecycle.Config{Bus: "hourglass", Level: lifecycle.LevelAll, Rounds: 1}, f, zerolog.Nop())
	unsent, err := p.PublishFinished(context.Background(), []*task.Task{ok, failed}, []bool{false, true})
	require.NoError(t, err)
	assert.Empty(t, unsent)
	assert.Equal(t, []int{3}, f.sizes(), "TaskSucceeded, TaskFailed and TaskDeadLettered in one call")

	// The first entry (the succeeded task's) is rejected in the only round.
	f = &fake{reject: 1}
	p = lifecycle.New(lifecycle.Config{Bus: "hourglass", Level: lifecycle.LevelAll, Rounds: 1}, f, zerolog.Nop())
	unsent, err = p.PublishFinished(context.Background(), []*task.Task{ok, failed}, []bool{false, true})
	require.Error(t, err)
	assert.Equal(t, []task.ID{ok.ID}, unsent)
	assert.Zero(t, p.Pending(), "nothing buffered: the caller keeps the record")

	// A whole call failing leaves every task unsent; a second round resends.
	f = &fake{callErr: errors.New("503")}
	p = lifecycle.New(lifecycle.Config{Bus: "hourglass", Level: lifecycle.LevelAll, Rounds: 2, FlushTimeout: time.Second}, f, zerolog.Nop())
	unsent, err = p.PublishFinished(context.Background(), []*task.Task{ok, failed}, []bool{false, true})
	require.Error(t, err)
	assert.ElementsMatch(t, []task.ID{ok.ID, failed.ID}, unsent)
	assert.Len(t, f.sizes(), 2, "two rounds")
	// The bus did not answer: the next publish within BusBackoff reports
	// every task unsent without calling, so an outage costs a batch no wait.
	unsent, err = p.PublishFinished(context.Background(), []*task.Task{ok}, nil)
	require.Error(t, err)
	assert.Equal(t, []task.ID{ok.ID}, unsent)
	assert.Len(t, f.sizes(), 2, "no call while backing off")

	// The level decides, as for TaskFinished: failures leaves a success out.
	f = &fake{}
	p = lifecycle.New(lifecycle.Config{Bus: "hourglass", Level: lifecycle.LevelFailures}, f, zerolog.Nop())
	unsent, err = p.PublishFinished(context.Background(), []*task.Task{ok}, []bool{false})
	require.NoError(t, err)
	assert.Empty(t, unsent)
	assert.Empty(t, f.sizes(), "no call for nothing to send")

	var nilPub *lifecycle.Publisher
	unsent, err = nilPub.PublishFinished(context.Background(), []*task.Task{ok}, nil)
	assert.NoError(t, err)
	assert.Empty(t, unsent)
}
