package dispatch_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// downStore is a task store whose every query fails, as in a DynamoDB
// outage.
type downStore struct{}

func (downStore) QueryScheduled(context.Context, int64, uint16, string, int32) ([]*task.Task, string, error) {
	return nil, "", errors.New("503 ServiceUnavailable")
}

// delays records the visibility changes asked for.
type delays struct {
	url, handle string
	got         []time.Duration
}

func (d *delays) ChangeVisibility(_ context.Context, url, handle string, after time.Duration) error {
	d.url, d.handle = url, handle
	d.got = append(d.got, after)
	return nil
}

// A unit whose dispatch failed comes back later with each receive, so that
// the scan queue's maxReceiveCount outlasts an outage instead of
// dead-lettering the unit (and its partition's tasks) after ten quick polls.
func TestFailedUnitRedeliveryBacksOff(t *testing.T) {
	t.Parallel()
	vis := &delays{}
	d := dispatch.New(dispatch.Config{TaskQueue: "tasks", ScanQueue: "scan", Visibility: vis}, downStore{}, &recorder{},
		clock.NewManual(time.Date(2030, 1, 2, 15, 4, 0, 0, time.UTC)), zerolog.Nop())
	for _, n := range []string{"1", "2", "5"} {
		resp, err := d.HandleSQS(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{
			MessageId: "m", ReceiptHandle: "rh", Body: `{"bucket":1893596640,"shard":1,"sweep":false}`,
			Attributes: map[string]string{"ApproximateReceiveCount": n},
		}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.BatchItemFailures) != 1 {
			t.Fatalf("receive %s: the unit must stay on the queue, got %+v", n, resp)
		}
	}
	want := []time.Duration{3 * time.Second, 6 * time.Second, 48 * time.Second}
	if len(vis.got) != len(want) || vis.got[0] != want[0] || vis.got[1] != want[1] || vis.got[2] != want[2] {
		t.Errorf("delays %v, want %v", vis.got, want)
	}
	if vis.url != "scan" || vis.handle != "rh" {
		t.Errorf("changed %q %q, want the scan queue's message", vis.url, vis.handle)
	}
}
