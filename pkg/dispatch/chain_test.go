package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// recorder is a queue recording what was sent.
type recorder struct {
	mu   sync.Mutex
	sent []string // task IDs
}

func (r *recorder) SendBatch(_ context.Context, _ string, msgs []task.OutMessage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		var tm task.TaskMessage
		if err := json.Unmarshal([]byte(m.Body), &tm); err != nil {
			return err
		}
		r.sent = append(r.sent, tm.ID)
	}
	return nil
}

// chainFunc adapts a function to dispatch.Chain.
type chainFunc func(ctx context.Context, t *task.Task) error

func (f chainFunc) Next(ctx context.Context, t *task.Task) error { return f(ctx, t) }

// A page's occurrences are chained before it is sent; one whose successor
// could not be stored is held back (and the unit fails, to be redelivered);
// one-off tasks are never handed to the chain.
func TestChainBeforeSend(t *testing.T) {
	t.Parallel()
	due := time.Date(2030, 1, 2, 15, 4, 0, 0, time.UTC)
	var tasks []*task.Task
	for i := range 6 {
		id, err := task.NewID(due, 1) // one shard: one partition
		if err != nil {
			t.Fatal(err)
		}
		tk := &task.Task{ID: id, Tenant: "acme", DueAt: due, State: task.Scheduled}
		if i%2 == 1 {
			tk.Occurrence = &task.Occurrence{Schedule: "s" + string(rune('a'+i)), Generation: 1, At: due}
		}
		tasks = append(tasks, tk)
	}
	broken := tasks[3]
	q := &recorder{}
	var mu sync.Mutex
	chained := map[task.ID]bool{}
	chain := chainFunc(func(_ context.Context, tk *task.Task) error {
		if tk.Occurrence == nil {
			t.Errorf("one-off task %s handed to the chain", tk.ID)
		}
		if tk.ID == broken.ID {
			return errors.New("store unavailable")
		}
		q.mu.Lock()
		for _, id := range q.sent {
			if id == tk.ID.String() {
				t.Errorf("occurrence %s sent before its successor was stored", id)
			}
		}
		q.mu.Unlock()
		mu.Lock()
		chained[tk.ID] = true
		mu.Unlock()
		return nil
	})
	d := dispatch.New(dispatch.Config{TaskQueue: "q", Chain: chain}, storeOf(tasks), q, clock.NewManual(due.Add(-time.Minute)), zerolog.Nop())
	st, err := d.Dispatch(context.Background(), task.ScanUnit{Bucket: task.Layout{Bucket: time.Minute}.BucketOf(due), Shard: 0})
	if err == nil {
		t.Fatal("a failed chain did not fail the unit")
	}
	if st.Sent != 5 || len(q.sent) != 5 {
		t.Fatalf("sent %d (stats %d), want the 5 tasks other than the broken occurrence", len(q.sent), st.Sent)
	}
	for _, id := range q.sent {
		if id == broken.ID.String() {
			t.Error("the occurrence whose successor failed was sent")
		}
	}
	if len(chained) != 2 {
		t.Errorf("chained %d occurrences, want 2", len(chained))
	}
}
