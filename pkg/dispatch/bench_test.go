package dispatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/memstore"
)

// page builds n SCHEDULED tasks of one partition, as a store would return them.
func page(b *testing.B, n int, due time.Time) []*task.Task {
	b.Helper()
	target := task.Target{Kind: "webhook", Spec: json.RawMessage(`{"kind":"webhook","url":"https://hooks.example.com/x"}`)}
	payload := json.RawMessage(`{"order":42,"note":"benchmark"}`)
	ts := make([]*task.Task, n)
	for i := range ts {
		id, err := task.NewID(due.Add(time.Duration(i)*time.Millisecond), 1) // one partition
		if err != nil {
			b.Fatal(err)
		}
		ts[i] = &task.Task{ID: id, Tenant: "bench", DueAt: id.Due(), Target: target, Payload: payload,
			State: task.Scheduled, PayloadHash: task.PayloadHash(target, payload)}
	}
	return ts
}

// BenchmarkBuildMessages is the dispatcher's pure per-page work: encode each
// task's message and compute its delay (one page = 200 tasks).
func BenchmarkBuildMessages(b *testing.B) {
	now := time.Date(2030, 1, 2, 15, 4, 0, 0, time.UTC)
	ts := page(b, 200, now.Add(30*time.Second))
	b.ReportAllocs()
	for b.Loop() {
		if msgs := dispatch.BuildMessages(ts, now, time.Second, task.OriginDispatch); len(msgs) != len(ts) {
			b.Fatal("short page")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ts)), "ns/task")
}

// storeOf returns the in-memory store (pkg/testkit/memstore) holding ts.
func storeOf(ts []*task.Task) *memstore.Store {
	st := memstore.New(task.Layout{Bucket: time.Minute}, memstore.Options{})
	for _, t := range ts {
		st.Put(t)
	}
	return st
}

// nopSender accepts every batch.
type nopSender struct{ n int }

func (s *nopSender) SendBatch(_ context.Context, _ string, msgs []task.OutMessage) error {
	s.n += len(msgs)
	return nil
}

// BenchmarkDispatchUnit is a whole unit's dispatch (paging, building,
// sending) against the in-memory store and a queue that accepts everything:
// the dispatcher's own in-process cost per task, with no AWS in the way. The
// store copies every task it returns (as DynamoDB's adapter decodes each
// item), about half of the figure.
func BenchmarkDispatchUnit(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("tasks=%d", n), func(b *testing.B) {
			due := time.Date(2030, 1, 2, 15, 4, 30, 0, time.UTC)
			st := storeOf(page(b, n, due))
			q := &nopSender{}
			d := dispatch.New(dispatch.Config{TaskQueue: "q"}, st, q, clock.NewManual(due.Add(-time.Minute)), zerolog.Nop())
			u := task.ScanUnit{Bucket: due.Unix() - due.Unix()%60, Shard: 0}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.Dispatch(context.Background(), u); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/task")
		})
	}
}
