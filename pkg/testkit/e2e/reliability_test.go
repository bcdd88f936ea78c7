package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/redrive"
	"github.com/hourglass-sched/hourglass/pkg/scan"
	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/faults"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
	"github.com/hourglass-sched/hourglass/pkg/wire"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

// stuckTarget is a webhook executor that ignores context cancellation: its
// first call blocks until released, as a target that hangs past the
// worker's execution timeout would.
type stuckTarget struct {
	started, release chan struct{}
	once             sync.Once
}

func (s *stuckTarget) Kind() string                                 { return "webhook" }
func (s *stuckTarget) Validate(json.RawMessage) []target.FieldError { return nil }
func (s *stuckTarget) Execute(context.Context, target.Invocation) (target.Result, error) {
	s.once.Do(func() { close(s.started) })
	<-s.release // deliberately deaf to ctx
	return target.Result{StatusCode: http.StatusOK, Summary: "stale success"}, nil
}

// finishRecorder records what the store answered to each Finish.
type finishRecorder struct {
	worker.Store
	mu   sync.Mutex
	errs []error
}

func (r *finishRecorder) Finish(ctx context.Context, id task.ID, owner string, o task.Outcome) (*task.Task, error) {
	t, err := r.Store.Finish(ctx, id, owner, o)
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	return t, err
}

func (r *finishRecorder) Settle(ctx context.Context, prev *task.Task, o task.Outcome) (*task.Task, error) {
	t, err := r.Store.Settle(ctx, prev, o)
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	return t, err
}

func (r *finishRecorder) finishErrs() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// Guarantee 3: a worker whose lease expired while its target call was still
// running is fenced off — a second worker takes the task over, and the
// stale completion is refused with ErrConflict, leaving one recorded outcome.
func TestLeaseExpiryFencesOffSlowWorker(t *testing.T) {
	s := setup(t, stacktest.Options{Lease: 2 * time.Second, Visibility: 3 * time.Second, ClaimLease: true})
	id := s.Create("acme", time.Now().Add(time.Second), nil)
	msg := stacktest.TaskMessage(s.Get(id))
	ctx := context.Background()

	stuck := &stuckTarget{started: make(chan struct{}), release: make(chan struct{})}
	rec := &finishRecorder{Store: s.Comps.Store}
	stale := worker.New(worker.Config{TaskQueue: s.Res.TaskQueueURL, DLQ: s.Res.TaskDLQURL, Lease: 2 * time.Second, ID: "stale", Claim: true},
		rec, s.Comps.Queue, []target.Executor{stuck}, clock.System{}, s.Comps.Log)
	staleDone := make(chan error, 1)
	go func() { staleDone <- stale.Handle(ctx, worker.Delivery{MessageID: "m-1", Body: msg}) }()
	t.Cleanup(func() {
		select {
		case <-stuck.release:
		default:
			close(stuck.release)
		}
		<-staleDone
	})
	select {
	case <-stuck.started:
	case <-time.After(15 * time.Second):
		t.Fatal("the stale worker never called its target")
	}
	lease := s.Get(id).LeaseUntil
	require.Equal(t, task.Running, s.Get(id).State)
	s.Until(10*time.Second, "the stale worker's lease to expire", func() bool { return time.Now().After(lease) }, nil)

	// A redelivery reaches a healthy worker, which takes the lease over.
	fresh := s.Comps.Worker(func(c *worker.Config) { c.ID = "fresh" })
	require.NoError(t, fresh.Handle(ctx, worker.Delivery{MessageID: "m-2", Body: msg}))
	require.Equal(t, task.Succeeded, s.Get(id).State)

	// Now the stale call returns: its completion must not be recorded.
	close(stuck.release)
	var staleErr error
	select {
	case staleErr = <-staleDone:
		staleDone <- staleErr // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("the stale worker never returned")
	}
	var redeliver *worker.Redeliver
	require.ErrorAs(t, staleErr, &redeliver, "the stale worker keeps its message rather than acknowledging")
	errs := rec.finishErrs()
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], task.ErrConflict, "the stale Finish was fenced off")

	got := s.Get(id)
	assert.Equal(t, task.Succeeded, got.State)
	require.Len(t, got.Attempts, 1, "one recorded outcome")
	assert.Equal(t, "fresh", got.Attempts[0].Worker)
	assert.Equal(t, 2, got.AttemptN, "the second claim took over the expired lease")
	requireRanOnce(t, s, id)
	// A late redelivery of the stale worker's message is dropped.
	require.NoError(t, s.Comps.Worker().Handle(ctx, worker.Delivery{MessageID: "m-1", Body: msg}))
	assert.Len(t, s.Get(id).Attempts, 1)
}

// Guarantee 3 without claims: a slow worker and a duplicate delivery both
// call the target; the duplicate records its outcome first, and the slow
// worker's completion is fenced off by the version it read — one recorded
// outcome, and the slow worker's message is dropped, not retried.
func TestUnclaimedSlowWorkerCompletionIsFencedOff(t *testing.T) {
	s := setup(t, stacktest.Options{})
	id := s.Create("acme", time.Now().Add(time.Second), nil)
	msg := stacktest.TaskMessage(s.Get(id))
	ctx := context.Background()

	stuck := &stuckTarget{started: make(chan struct{}), release: make(chan struct{})}
	rec := &finishRecorder{Store: s.Comps.Store}
	slow := worker.New(worker.Config{TaskQueue: s.Res.TaskQueueURL, DLQ: s.Res.TaskDLQURL, Lease: 2 * time.Second, ID: "slow"},
		rec, s.Comps.Queue, []target.Executor{stuck}, clock.System{}, s.Comps.Log)
	slowDone := make(chan error, 1)
	go func() { slowDone <- slow.Handle(ctx, worker.Delivery{MessageID: "m-1", Body: msg}) }()
	t.Cleanup(func() {
		select {
		case <-stuck.release:
		default:
			close(stuck.release)
		}
		<-slowDone
	})
	select {
	case <-stuck.started:
	case <-time.After(15 * time.Second):
		t.Fatal("the slow worker never called its target")
	}
	require.Equal(t, task.Scheduled, s.Get(id).State, "no claim was written")

	fresh := s.Comps.Worker(func(c *worker.Config) { c.ID = "fresh" })
	require.NoError(t, fresh.Handle(ctx, worker.Delivery{MessageID: "m-2", Body: msg}))
	require.Equal(t, task.Succeeded, s.Get(id).State)

	close(stuck.release)
	var slowErr error
	select {
	case slowErr = <-slowDone:
		slowDone <- slowErr
	case <-time.After(15 * time.Second):
		t.Fatal("the slow worker never returned")
	}
	require.NoError(t, slowErr, "the fenced delivery is done with: the task is settled")
	errs := rec.finishErrs()
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], task.ErrConflict, "the slow Settle was fenced off")
	got := s.Get(id)
	require.Len(t, got.Attempts, 1, "one recorded outcome")
	assert.Equal(t, "fresh", got.Attempts[0].Worker)
	assert.Equal(t, 1, got.AttemptN)
	requireRanOnce(t, s, id)
	assert.Len(t, s.Sink.Calls(id), 1, "the fresh worker's call (the stuck target is not the sink)")
}

// faulty returns components whose every AWS call goes through a fault
// proxy in front of the stack's emulator, with the production retry policy
// (config.Retryer), and the proxy to set rules on.
func faulty(t *testing.T, s *stacktest.Stack, rules ...faults.Rule) (*wire.Components, *faults.Proxy) {
	t.Helper()
	p, err := faults.New(s.Env.Endpoint, rules, uint64(time.Now().UnixNano()))
	require.NoError(t, err)
	srv := httptest.NewServer(p)
	t.Cleanup(func() { srv.Close(); p.Close() })
	cfg := s.Env.Config.Copy()
	cfg.BaseEndpoint = aws.String(srv.URL)
	cfg.Retryer = config.Retryer
	comps, err := wire.BuildWith(context.Background(), s.Cfg, cfg, nil, nil)
	require.NoError(t, err)
	comps.Log = s.Comps.Log
	return comps, p
}

// Guarantee 3, the "may have succeeded" case: the outcome write is applied
// but its answer is lost. The SDK's retry then meets the fence (the task is
// no longer RUNNING), the worker keeps its message, and the redelivery
// finds the task finished: one outcome, one target call.
func TestOutcomeWriteAppliedButAnswerLost(t *testing.T) {
	for _, lease := range []bool{false, true} {
		t.Run(fmt.Sprintf("claim-lease=%v", lease), func(t *testing.T) { outcomeWriteAnswerLost(t, lease) })
	}
}

func outcomeWriteAnswerLost(t *testing.T, lease bool) {
	s := setup(t, stacktest.Options{ClaimLease: lease})
	comps, p := faulty(t, s)
	w := comps.Worker(func(c *worker.Config) {
		c.Crash = func(point string) error {
			if point == "after-execute" {
				p.SetRules([]faults.Rule{{Op: "UpdateItem", Kind: faults.DropAfter, Rate: 1, Max: 1}})
			}
			return nil
		}
	})
	id := s.Create("acme", time.Now().Add(time.Second), nil)
	var errs []error
	s.Until(20*time.Second, "the task to finish", func() bool { return s.Get(id).State.Terminal() }, func() {
		s.Tick()
		s.Dispatch(nil)
		_, e := s.Work(w)
		errs = append(errs, e...)
	})
	assert.EqualValues(t, 1, p.Counts()[faults.DropAfter], "the outcome write's answer was dropped")
	if lease {
		var redeliver *worker.Redeliver
		require.NotEmpty(t, errs)
		require.ErrorAs(t, errs[0], &redeliver)
		assert.Contains(t, redeliver.Reason, "lease lost")
	} else {
		// Without a claim the worker recognises its own applied write.
		assert.Empty(t, errs)
		assert.Len(t, s.Get(id).Attempts, 1)
	}
	requireRanOnce(t, s, id)
	assert.Len(t, s.Sink.Calls(id), 1)
}

// Guarantees 1 and 3 under a storm of injected faults — throttles,
// ProvisionedThroughputExceeded, 500s, latency and dropped-after-applied
// connections on every DynamoDB and SQS call of the API, scanner,
// dispatcher and worker: every task runs, once-recorded, never early.
func TestTasksRunThroughInjectedFaults(t *testing.T) {
	s := setup(t, stacktest.Options{})
	comps, p := faulty(t, s,
		faults.Rule{Op: "*", Kind: faults.Throttle, Rate: 0.1},
		faults.Rule{Op: "DynamoDB_20120810.*", Kind: faults.Provisioned, Rate: 0.05},
		faults.Rule{Op: "*", Kind: faults.ServerError, Rate: 0.05},
		faults.Rule{Op: "*", Kind: faults.DropAfter, Rate: 0.05},
		faults.Rule{Op: "*", Kind: faults.Latency, Rate: 0.1, Delay: 50 * time.Millisecond},
	)
	apiSrv := comps.API(api.DevAuth{}, nil)
	var ids []string
	for i := 0; i < 6; i++ {
		body, _ := json.Marshal(map[string]any{"due_at": time.Now().Add(2*time.Second + time.Duration(i)*300*time.Millisecond).UTC().Format(time.RFC3339Nano), "target": s.Webhook()})
		// A client retries 5xx with the same Idempotency-Key.
		var id string
		for attempt := 0; attempt < 10 && id == ""; attempt++ {
			req := httptest.NewRequest(http.MethodPost, "/v1/tasks", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer dev-acme")
			req.Header.Set("Idempotency-Key", "storm-"+string(rune('a'+i)))
			rr := httptest.NewRecorder()
			apiSrv.ServeHTTP(rr, req)
			if rr.Code == http.StatusCreated || rr.Code == http.StatusOK {
				var out struct{ ID string }
				require.NoError(t, json.Unmarshal(rr.Body.Bytes(), &out))
				id = out.ID
			} else {
				require.GreaterOrEqual(t, rr.Code, 500, "only server errors are retried: %s", rr.Body)
			}
		}
		require.NotEmpty(t, id, "create %d kept failing", i)
		ids = append(ids, id)
	}
	scanner, disp, w := comps.Scanner(), comps.Dispatcher(), comps.Worker()
	s.Until(60*time.Second, "every task to finish", func() bool {
		for _, id := range ids {
			if !s.Get(id).State.Terminal() {
				return false
			}
		}
		return true
	}, func() {
		_, _ = scanner.Tick(context.Background()) // a failed tick is retried by the next
		s.Dispatch(disp)
		s.Work(w)
	})
	for _, id := range ids {
		requireRanOnce(t, s, id)
	}
	assert.Greater(t, p.Injected(), int64(0), "faults were injected: %v", p.Counts())
	t.Logf("faults injected: %v", p.Counts())
}

// Outage catch-up: the scanner is stopped while eight buckets fall due,
// then restarted with a limit of two buckets per tick. The backlog drains
// oldest first, at most two buckets a tick, every task runs once and none
// early; a task due after the outage still waits for its time.
func TestScannerOutageCatchesUpOldestFirst(t *testing.T) {
	s := setup(t, stacktest.Options{Bucket: time.Second, Lookahead: time.Second, SweepDelay: time.Second})
	ctx := context.Background()
	layout := s.Cfg.Layout()
	const perTick = 2
	limited := scan.New(scan.Config{Layout: layout, Shards: s.Cfg.Shards, Lookahead: s.Cfg.Lookahead, SweepDelay: s.Cfg.SweepDelay,
		MaxBuckets: perTick, ScanQueue: s.Res.ScanQueueURL}, s.Comps.Store, s.Comps.Queue, clock.System{}, s.Comps.Log)
	_, err := limited.Tick(ctx) // running before the outage
	require.NoError(t, err)

	t0 := time.Now()
	var backlog []string
	var dues []time.Time
	for i := 0; i < 8; i++ {
		due := t0.Add(3*time.Second + time.Duration(i)*time.Second)
		backlog = append(backlog, s.Create("acme", due, nil))
		dues = append(dues, due)
	}
	later := s.Create("acme", t0.Add(25*time.Second), nil)

	// The outage: no tick until every backlog task is overdue.
	s.Until(20*time.Second, "the outage to pass", func() bool { return time.Now().After(dues[len(dues)-1].Add(time.Second)) }, nil)
	assert.Empty(t, s.Sink.Calls(""), "nothing runs while the scanner is down")

	fannedAt := map[int64]int{} // bucket → tick that fanned it
	ticks, behind := 0, 0
	var prev scan.Result
	s.Until(40*time.Second, "the backlog to drain", func() bool {
		for _, id := range backlog {
			if !s.Get(id).State.Terminal() {
				return false
			}
		}
		return true
	}, func() {
		res, err := limited.Tick(ctx)
		require.NoError(t, err)
		if res.From <= res.Through {
			w := int64(layout.Bucket / time.Second)
			require.LessOrEqual(t, (res.Through-res.From)/w+1, int64(perTick), "at most %d buckets per tick", perTick)
			if prev.From <= prev.Through && prev.Through != 0 {
				require.Equal(t, prev.Through+w, res.From, "buckets are fanned in order, none skipped")
			}
			for b := res.From; b <= res.Through; b += w {
				fannedAt[b] = ticks
			}
			prev = res
		}
		if res.Behind {
			behind++
		}
		ticks++
		s.Dispatch(nil)
		s.Work(nil)
	})
	assert.GreaterOrEqual(t, behind, 3, "the catch-up took several bounded ticks")
	last := -1
	for i, id := range backlog {
		requireRanOnce(t, s, id)
		tick, ok := fannedAt[layout.BucketOf(dues[i])]
		require.True(t, ok, "bucket of task %d was fanned", i)
		assert.GreaterOrEqual(t, tick, last, "oldest first: task %d's bucket was fanned no earlier than the one before", i)
		last = tick
	}
	assert.Empty(t, s.Sink.Calls(later), "the task due after the outage has not run early")
	runAll(t, s, 40*time.Second, later)
	requireRanOnce(t, s, later)
}

// Guarantee 4's way back: a poison task ends FAILED in the DLQ; once its
// target is fixed, redrive gives it a fresh budget and it succeeds, keeping
// its history and idempotency key. Running redrive again finds nothing.
func TestRedriveRerunsDeadLetteredTask(t *testing.T) {
	s := setup(t, stacktest.Options{})
	ctx := context.Background()
	s.Sink.SetStatus(func(stacktest.Call) int { return http.StatusInternalServerError })
	id := s.Create("acme", time.Now().Add(time.Second), map[string]any{"retry": map[string]any{"max_attempts": 2, "initial_backoff_ms": 200, "max_backoff_ms": 400}})
	control := s.Create("acme", time.Now().Add(time.Second), map[string]any{"retry": map[string]any{"max_attempts": 1}})
	runAll(t, s, 30*time.Second, id, control)
	require.Equal(t, task.Failed, s.Get(id).State)

	// The target is fixed. Cancelling the control task's DLQ entry is not
	// needed: redrive only touches what is in the DLQ, FAILED or not.
	s.Sink.SetStatus(func(stacktest.Call) int { return http.StatusNoContent })
	cfg := redrive.Config{DLQ: s.Res.TaskDLQURL, TaskQueue: s.Res.TaskQueueURL, Attempts: 2}
	res, err := redrive.Run(ctx, cfg, s.Comps.Store, s.Comps.Queue, nil, s.Comps.Log)
	require.NoError(t, err)
	assert.Equal(t, 2, res.Redriven, "both FAILED tasks in the DLQ")
	assert.ElementsMatch(t, []string{id, control}, res.IDs)
	got := s.Get(id)
	require.Equal(t, task.Retrying, got.State)
	assert.Equal(t, 4, got.Retry.MaxAttempts, "two attempts made, two more allowed")

	runAll(t, s, 30*time.Second, id, control)
	got = s.Get(id)
	require.Equal(t, task.Succeeded, got.State)
	require.Len(t, got.Attempts, 3)
	assert.Equal(t, []string{"retrying", "failed", "succeeded"}, []string{got.Attempts[0].Outcome, got.Attempts[1].Outcome, got.Attempts[2].Outcome})
	assert.Equal(t, 3, got.Attempts[2].N, "attempt numbers keep counting")
	for _, c := range s.Sink.Calls(id) {
		assert.Equal(t, got.Key(), c.Key, "the same idempotency key after the redrive")
	}
	assert.Equal(t, task.Succeeded, s.Get(control).State)
	assert.Empty(t, s.DLQ(), "redriven messages left the DLQ")

	// Nothing left to do; a finished task cannot be redriven.
	res, err = redrive.Run(ctx, cfg, s.Comps.Store, s.Comps.Queue, nil, s.Comps.Log)
	require.NoError(t, err)
	assert.Zero(t, res.Redriven+res.Resent)
	_, err = s.Comps.Store.Redrive(ctx, got.ID, time.Now(), 1)
	assert.True(t, errors.Is(err, task.ErrConflict), "redrive of a SUCCEEDED task: %v", err)
}

// Guarantee 7: correctness never depends on DynamoDB TTL. A task whose TTL
// attribute says it expired long ago (and that the emulator, like a lagging
// DynamoDB, has not deleted) runs exactly as any other; nothing the
// scheduler decides reads the attribute.
func TestExpiredTTLAttributeChangesNothing(t *testing.T) {
	s := setup(t, stacktest.Options{})
	id := s.Create("acme", time.Now().Add(time.Second), nil)
	tk := s.Get(id)
	db := dynamodb.NewFromConfig(s.Env.Config)
	k := s.Cfg.Layout().KeyOf(tk.ID)
	_, err := db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: &s.Res.Table,
		Key: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: k.PK}, "sk": &ddbtypes.AttributeValueMemberS{Value: k.SK},
		},
		UpdateExpression:          aws.String("SET expires_at = :old"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":old": &ddbtypes.AttributeValueMemberN{Value: "1"}},
	})
	require.NoError(t, err)
	runAll(t, s, 20*time.Second, id)
	requireRanOnce(t, s, id)
}

// A task whose message SQS itself moved to the DLQ (too many receives)
// while the task was still unfinished is re-sent by redrive, never lost;
// a dry run and another tenant's filter change nothing.
func TestRedriveResendsUnfinishedTask(t *testing.T) {
	s := setup(t, stacktest.Options{})
	ctx := context.Background()
	id := s.Create("acme", time.Now().Add(time.Second), nil)
	// As SQS's redrive policy would: the only message is in the DLQ.
	require.NoError(t, s.Comps.Queue.Send(ctx, s.Res.TaskDLQURL, task.OutMessage{Body: stacktest.TaskMessage(s.Get(id))}))
	cfg := redrive.Config{DLQ: s.Res.TaskDLQURL, TaskQueue: s.Res.TaskQueueURL}

	other := cfg
	other.Tenant = "globex"
	res, err := redrive.Run(ctx, other, s.Comps.Store, s.Comps.Queue, nil, s.Comps.Log)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Left, "another tenant's task is left alone")
	assert.Zero(t, res.Resent)

	// A message left in the DLQ is visible again for the next run.
	dry := cfg
	dry.DryRun = true
	res, err = redrive.Run(ctx, dry, s.Comps.Store, s.Comps.Queue, nil, s.Comps.Log)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Resent)
	assert.Equal(t, 1, res.Left, "a dry run deletes nothing")
	n, _ := s.Work(nil)
	assert.Zero(t, n, "a dry run sends nothing")

	res, err = redrive.Run(ctx, cfg, s.Comps.Store, s.Comps.Queue, nil, s.Comps.Log)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Resent)
	assert.Equal(t, []string{id}, res.IDs)
	assert.Equal(t, task.Scheduled, s.Get(id).State, "an unfinished task is not touched, only re-sent")
	assert.Empty(t, s.DLQ(), "the DLQ message was deleted after the re-send")
	// Only the worker runs: no scanner tick, no dispatcher.
	s.Until(20*time.Second, "the re-sent task to run", func() bool { return s.Get(id).State.Terminal() }, func() { s.Work(nil) })
	requireRanOnce(t, s, id)
}
