package devhost_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	hgevents "github.com/hourglass-sched/hourglass/events"
	"github.com/hourglass-sched/hourglass/pkg/ingest"
	"github.com/hourglass-sched/hourglass/pkg/schedule"
)

// putSchedule puts one CreateSchedule event on the Hourglass bus and
// returns its ID.
func (h *ebHarness) putSchedule(source string, detail map[string]any) string {
	h.t.Helper()
	b, err := json.Marshal(detail)
	require.NoError(h.t, err)
	out, err := h.eb.PutEvents(h.ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(h.bus), Source: aws.String(source), DetailType: aws.String(hgevents.DetailCreateSchedule), Detail: aws.String(string(b)),
	}}})
	require.NoError(h.t, err)
	require.Zero(h.t, out.FailedEntryCount)
	return aws.ToString(out.Entries[0].EventId)
}

// fired waits until a ScheduleFired event of schedule id arrives on the
// user's queue, and returns it (raw).
func (h *ebHarness) fired(id string) json.RawMessage {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if raws := h.firedEvents(id); len(raws) > 0 {
			return raws[0]
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no ScheduleFired event for %s within 30s; got %d events", id, len(h.received))
		}
		h.drain(time.Second)
	}
}

// firedEvents returns the ScheduleFired events of schedule id read so far.
func (h *ebHarness) firedEvents(id string) []json.RawMessage {
	var out []json.RawMessage
	for _, raw := range h.received {
		var ev hgevents.Event[hgevents.ScheduleFired]
		if json.Unmarshal(raw, &ev) == nil && ev.DetailType == hgevents.DetailScheduleFired && ev.Detail.ScheduleID == id {
			out = append(out, raw)
		}
	}
	return out
}

// getSchedule reads a schedule through the local host's API.
func (h *ebHarness) getSchedule(tenant, id string) (int, map[string]any) {
	h.t.Helper()
	req, err := http.NewRequestWithContext(h.ctx, http.MethodGet, h.base+"/v1/schedules/"+id, nil)
	require.NoError(h.t, err)
	req.Header.Set("Authorization", "Bearer dev-"+tenant)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// waitSchedule polls until schedule id of tenant exists.
func (h *ebHarness) waitSchedule(tenant, id string) map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, v := h.getSchedule(tenant, id)
		if code == http.StatusOK {
			return v
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("schedule %s not created within 30s (last answer %d %v)", id, code, v)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestCreateScheduleEventsAndScheduleFired puts CreateSchedule events on
// the local host's bus — good, duplicated (by key and by redelivery) and
// invalid — and checks that each good one makes one schedule, the invalid
// ones reach the ingest DLQ with their reason, and each fire of a schedule
// reaches a rule of the user's own as one ScheduleFired event that
// validates against its schema.
func TestCreateScheduleEventsAndScheduleFired(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration test")
	}
	h := startEBHost(t)
	at := time.Now().Add(5 * time.Second).UTC().Truncate(time.Second)
	sched := func(path string, extra map[string]any) map[string]any {
		d := map[string]any{"tenant": "acme", "expression": fmt.Sprintf("at(%s)", at.Format("2006-01-02T15:04:05")), "timezone": "UTC",
			"target": map[string]any{"kind": "webhook", "url": h.sink.URL + path}}
		for k, v := range extra {
			d[k] = v
		}
		return d
	}

	// Good: an at() schedule that fires once, a few seconds from now.
	good := h.putSchedule("com.example.orders", sched("/sched-good", nil))
	// Two events carrying one idempotency_key: one schedule.
	h.putSchedule("com.example.orders", sched("/sched-key", map[string]any{"idempotency_key": "nightly-report"}))
	h.putSchedule("com.example.orders", sched("/sched-key", map[string]any{"idempotency_key": "nightly-report"}))
	// One event delivered twice, as SQS may redeliver: one schedule.
	ev := map[string]any{"version": "0", "id": "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f", "detail-type": "CreateSchedule", "source": "com.example.orders",
		"account": h.env.AccountID, "time": time.Now().UTC().Format(time.RFC3339), "region": "us-east-1", "resources": []string{},
		"detail": sched("/sched-redelivered", nil)}
	body, err := json.Marshal(ev)
	require.NoError(t, err)
	for range 2 {
		_, err := h.q.SendMessage(h.ctx, &sqs.SendMessageInput{QueueUrl: &h.ingestQ, MessageBody: aws.String(string(body))})
		require.NoError(t, err)
	}
	// Invalid and unauthorized: the ingest DLQ, with the reason.
	bad := h.putSchedule("com.example.orders", sched("/sched-bad", map[string]any{"expression": "rate(3 fortnights)"}))
	unauthorized := h.putSchedule("com.example.orders", sched("/sched-unauthorized", map[string]any{"tenant": "initech"}))

	ids := map[string]string{
		"/sched-good":        schedule.TokenID("acme", good),
		"/sched-key":         schedule.TokenID("acme", "nightly-report"),
		"/sched-redelivered": schedule.TokenID("acme", "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"),
	}
	for path, id := range ids {
		v := h.waitSchedule("acme", id)
		assert.Equal(t, "ENABLED", v["state"], path)
	}

	for id, want := range map[string]string{
		bad:          "detail.expression",
		unauthorized: `may not create schedules for tenant "initech"`,
	} {
		m := h.rejected(id)
		assert.Contains(t, aws.ToString(m.MessageAttributes[ingest.AttrReason].StringValue), want)
		assert.Equal(t, "CreateSchedule", aws.ToString(m.MessageAttributes[ingest.AttrDetailType].StringValue))
	}

	for path, id := range ids {
		hits := h.waitHits(path, 1)
		assert.False(t, hits[0].Before(at), "%s ran %s early", path, at.Sub(hits[0]))
		raw := h.fired(id)
		requireValid(t, raw)
		var f hgevents.Event[hgevents.ScheduleFired]
		require.NoError(t, json.Unmarshal(raw, &f))
		assert.Equal(t, "hourglass", f.Source)
		assert.Equal(t, "acme", f.Detail.Tenant)
		assert.True(t, at.Equal(f.Detail.OccurrenceAt), "occurrence_at %s, want %s", f.Detail.OccurrenceAt, at)
		assert.Equal(t, "SUCCEEDED", f.Detail.State)
		assert.Equal(t, 1, f.Detail.Attempts)
		assert.False(t, f.Detail.FiredAt.Before(f.Detail.DueAt), "fired_at %s before due_at %s", f.Detail.FiredAt, f.Detail.DueAt)
		assert.Len(t, f.Detail.TaskID, 26)
		// Its TaskSucceeded names the same task.
		succ := h.lifecycle(hgevents.DetailTaskSucceeded, func(d hgevents.TaskDetail) bool { return d.TaskID == f.Detail.TaskID })
		requireValid(t, succ)
	}

	// One fire each: duplicates made no second schedule, and an at() fires
	// once — one recorded outcome, one ScheduleFired. Give a stray second
	// event two more seconds to show up. The webhook itself may be called
	// twice (with one idempotency key): an occurrence created just as its
	// bucket is announced can be sent by both the schedule's first kick and
	// the dispatcher, and without claims (HOURGLASS_CLAIM=none, the
	// default) two concurrent deliveries both call the target.
	h.drain(2 * time.Second)
	for path, id := range ids {
		assert.Len(t, h.firedEvents(id), 1, path)
		hits := len(h.sink.hits(path))
		assert.True(t, hits == 1 || hits == 2, "%s: %d calls", path, hits)
	}
	for _, p := range []string{"/sched-bad", "/sched-unauthorized"} {
		assert.Empty(t, h.sink.hits(p), p)
	}
}
