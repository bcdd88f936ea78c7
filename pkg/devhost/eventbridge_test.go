package devhost_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	hgevents "github.com/hourglass-sched/hourglass/events"
	"github.com/hourglass-sched/hourglass/events/eventschema"
	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/ingest"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// hookSink records webhook calls by path and answers 400 on /reject.
type hookSink struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string][]time.Time
}

func newHookSink(t *testing.T) *hookSink {
	s := &hookSink{calls: map[string][]time.Time{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls[r.URL.Path] = append(s.calls[r.URL.Path], time.Now())
		s.mu.Unlock()
		if r.URL.Path == "/reject" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *hookSink) hits(path string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.calls[path]...)
}

// ebHarness is a running local host plus the user's side of its bus: a
// rule of the user's own sending every Hourglass event to a queue.
type ebHarness struct {
	t        *testing.T
	ctx      context.Context
	env      *awstest.Env
	base     string
	bus      string
	eb       *eventbridge.Client
	q        *sqs.Client
	mine     string // the user's queue (all source=hourglass events)
	dlq      string // the ingest DLQ
	ingestQ  string
	sink     *hookSink
	received []json.RawMessage  // lifecycle events read from mine so far
	dead     []sqstypes.Message // messages read from the ingest DLQ so far
}

func startEBHost(t *testing.T) *ebHarness {
	t.Helper()
	// These tests look at every lifecycle event, TaskSucceeded and
	// ScheduleFired among them, so they publish all.
	return startEBHostAt(t, "all")
}

// startEBHostAt is startEBHost publishing the lifecycle events of level
// (HOURGLASS_LIFECYCLE_EVENTS; "" is the default).
func startEBHostAt(t *testing.T, level string) *ebHarness {
	t.Helper()
	env := awstest.New(t)
	h := &ebHarness{t: t, env: env, sink: newHookSink(t), eb: eventbridge.NewFromConfig(env.Config), q: sqs.NewFromConfig(env.Config)}
	cfg := testConfig()
	cfg.BusName, cfg.IngestSources = "hourglass", "com.example.orders=acme|globex"
	cfg.LifecycleEvents = level
	// The default claim mode (none): these tests count each task's
	// lifecycle events, that is its recorded outcomes, which a single
	// version-conditioned write fences to one.
	h.base, _ = startHost(t, env, cfg, "hourglass")
	h.ctx, h.bus = t.Context(), "hourglass"
	// The user's own rule: every lifecycle event to their queue.
	var err error
	h.mine, err = provision.EnsureQueue(h.ctx, env.Config, "my-hourglass-events")
	require.NoError(t, err)
	require.NoError(t, provision.RuleToQueue(h.ctx, env.Config, h.bus, "my-hourglass-events", map[string]any{"source": []string{"hourglass"}}, h.mine))
	out, err := h.q.GetQueueUrl(h.ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("hourglass-ingest-dlq")})
	require.NoError(t, err)
	h.dlq = aws.ToString(out.QueueUrl)
	out, err = h.q.GetQueueUrl(h.ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("hourglass-ingest")})
	require.NoError(t, err)
	h.ingestQ = aws.ToString(out.QueueUrl)
	return h
}

// put puts one CreateTask event on the Hourglass bus and returns its ID.
func (h *ebHarness) put(source string, detail map[string]any) string {
	h.t.Helper()
	b, err := json.Marshal(detail)
	require.NoError(h.t, err)
	out, err := h.eb.PutEvents(h.ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(h.bus), Source: aws.String(source), DetailType: aws.String("CreateTask"), Detail: aws.String(string(b)),
	}}})
	require.NoError(h.t, err)
	require.Zero(h.t, out.FailedEntryCount)
	return aws.ToString(out.Entries[0].EventId)
}

func (h *ebHarness) detail(tenant, path string, due time.Time, extra map[string]any) map[string]any {
	d := map[string]any{"tenant": tenant, "due_at": due.UTC().Format(time.RFC3339Nano),
		"target": map[string]any{"kind": "webhook", "url": h.sink.URL + path}, "payload": map[string]any{"path": path}}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

// lifecycle waits until an event of detailType about a task matching
// match arrives on the user's queue, and returns it (raw).
func (h *ebHarness) lifecycle(detailType string, match func(hgevents.TaskDetail) bool) json.RawMessage {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, raw := range h.received {
			var ev hgevents.Event[hgevents.TaskDetail]
			require.NoError(h.t, json.Unmarshal(raw, &ev))
			if ev.DetailType == detailType && match(ev.Detail) {
				return raw
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no %s event within 30s; got %d events", detailType, len(h.received))
		}
		out, err := h.q.ReceiveMessage(h.ctx, &sqs.ReceiveMessageInput{QueueUrl: &h.mine, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		require.NoError(h.t, err)
		for _, m := range out.Messages {
			h.received = append(h.received, json.RawMessage(aws.ToString(m.Body)))
		}
	}
}

// rejected waits for the ingest DLQ message of event id. Messages read
// are kept (a read hides them from the next receive).
func (h *ebHarness) rejected(id string) sqstypes.Message {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, m := range h.dead {
			if a, ok := m.MessageAttributes[ingest.AttrEventID]; ok && aws.ToString(a.StringValue) == id {
				return m
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("event %s not on the ingest DLQ within 30s", id)
		}
		out, err := h.q.ReceiveMessage(h.ctx, &sqs.ReceiveMessageInput{QueueUrl: &h.dlq, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageAttributeNames: []string{"All"}})
		require.NoError(h.t, err)
		h.dead = append(h.dead, out.Messages...)
	}
}

func (h *ebHarness) waitHits(path string, n int) []time.Time {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if got := h.sink.hits(path); len(got) >= n {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("webhook %s called %d times within 30s, want %d", path, len(h.sink.hits(path)), n)
	return nil
}

func requireValid(t *testing.T, raw json.RawMessage) {
	t.Helper()
	require.NoError(t, eventschema.Validate(raw), string(raw))
}

// TestEventBridgeInAndOut is issue 4's "done when" on the local host: a
// CreateTask event put on the hourglass bus becomes a task that runs at its
// due time, and a rule of the user's own receives its TaskSucceeded event.
// It also covers ingest's bad, unauthorized and duplicate events, and every
// lifecycle event, each validated against its schema as emitted.
func TestEventBridgeInAndOut(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration test")
	}
	h := startEBHost(t)
	due := time.Now().Add(4 * time.Second).Truncate(time.Millisecond)
	label := func(c string) map[string]any { return map[string]any{"labels": map[string]string{"case": c}} }
	withCase := func(c string) func(hgevents.TaskDetail) bool {
		return func(d hgevents.TaskDetail) bool { return d.Labels["case"] == c }
	}

	// Good: runs at its due time; TaskSucceeded reaches the user's rule.
	h.put("com.example.orders", h.detail("acme", "/good", due, label("good")))
	// Failing target (400): TaskFailed and TaskDeadLettered.
	h.put("com.example.orders", h.detail("globex", "/reject", due, label("reject")))
	// Due in an hour, cancelled through the API: TaskCancelled.
	h.put("com.example.orders", h.detail("acme", "/never", due.Add(time.Hour), map[string]any{"idempotency_key": "cancel-me", "labels": map[string]string{"case": "cancel"}}))
	// Due in an hour, rescheduled through the API: TaskCancelled with
	// replaced_by.
	h.put("com.example.orders", h.detail("acme", "/moved", due.Add(time.Hour), map[string]any{"idempotency_key": "move-me", "labels": map[string]string{"case": "move"}}))
	// Two events carrying one idempotency_key: one task.
	dupKey := h.detail("acme", "/dup-key", due, map[string]any{"idempotency_key": "order-7", "labels": map[string]string{"case": "dup-key"}})
	h.put("com.example.orders", dupKey)
	h.put("com.example.orders", dupKey)
	// One event delivered twice, as SQS may redeliver: one task.
	ev := map[string]any{"version": "0", "id": "5b4e3f52-1c0e-4b8e-9d57-3a8d2a4f0b11", "detail-type": "CreateTask", "source": "com.example.orders",
		"account": h.env.AccountID, "time": time.Now().UTC().Format(time.RFC3339), "region": "us-east-1", "resources": []string{},
		"detail": h.detail("acme", "/dup-event", due, label("dup-event"))}
	body, err := json.Marshal(ev)
	require.NoError(t, err)
	for range 2 {
		_, err := h.q.SendMessage(h.ctx, &sqs.SendMessageInput{QueueUrl: &h.ingestQ, MessageBody: aws.String(string(body))})
		require.NoError(t, err)
	}
	// Bad and unauthorized events go to the ingest DLQ with the reason.
	bad := h.put("com.example.orders", map[string]any{"tenant": "acme", "target": map[string]any{"kind": "webhook", "url": h.sink.URL + "/bad"}})
	unauthorized := h.put("com.example.orders", h.detail("initech", "/unauthorized", due, nil))
	stranger := h.put("com.example.stranger", h.detail("acme", "/stranger", due, nil))

	hits := h.waitHits("/good", 1)
	assert.False(t, hits[0].Before(due), "ran %s early", due.Sub(hits[0]))
	raw := h.lifecycle(hgevents.DetailTaskSucceeded, withCase("good"))
	requireValid(t, raw)
	var ok hgevents.Event[hgevents.TaskSucceeded]
	require.NoError(t, json.Unmarshal(raw, &ok))
	assert.Equal(t, "hourglass", ok.Source)
	assert.Equal(t, "acme", ok.Detail.Tenant)
	assert.Equal(t, "SUCCEEDED", ok.Detail.State)
	assert.True(t, due.Equal(ok.Detail.DueAt), "due_at %s, want %s", ok.Detail.DueAt, due)
	assert.Equal(t, 1, ok.Detail.Attempts)
	require.NotNil(t, ok.Detail.LatenessMS)
	assert.GreaterOrEqual(t, *ok.Detail.LatenessMS, int64(0))
	assert.Equal(t, 204, ok.Detail.Outcome.StatusCode)
	assert.Equal(t, "webhook", ok.Detail.TargetKind)

	raw = h.lifecycle(hgevents.DetailTaskFailed, withCase("reject"))
	requireValid(t, raw)
	var failed hgevents.Event[hgevents.TaskFailed]
	require.NoError(t, json.Unmarshal(raw, &failed))
	assert.Equal(t, "globex", failed.Detail.Tenant)
	assert.Contains(t, failed.Detail.Outcome.Error, "400")
	requireValid(t, h.lifecycle(hgevents.DetailTaskDeadLettered, withCase("reject")))

	id := h.taskIDByKey("acme", "cancel-me")
	req, err := http.NewRequest(http.MethodDelete, h.base+"/v1/tasks/"+id, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer dev-acme")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	raw = h.lifecycle(hgevents.DetailTaskCancelled, withCase("cancel"))
	requireValid(t, raw)
	assert.Contains(t, string(raw), id)

	id = h.taskIDByKey("acme", "move-me")
	req, err = http.NewRequest(http.MethodPatch, h.base+"/v1/tasks/"+id, strings.NewReader(`{"due_at":"`+due.Add(2*time.Hour).UTC().Format(time.RFC3339)+`"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer dev-acme")
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	var moved struct{ ID, Replaces string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&moved))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, id, moved.Replaces)
	raw = h.lifecycle(hgevents.DetailTaskCancelled, withCase("move"))
	requireValid(t, raw)
	var replaced hgevents.Event[hgevents.TaskCancelled]
	require.NoError(t, json.Unmarshal(raw, &replaced))
	assert.Equal(t, id, replaced.Detail.TaskID)
	assert.Equal(t, moved.ID, replaced.Detail.ReplacedBy)

	for id, want := range map[string]string{
		bad:          "detail.due_at: is required",
		unauthorized: `may not create tasks for tenant "initech"`,
		stranger:     `source "com.example.stranger" may not`,
	} {
		m := h.rejected(id)
		assert.Contains(t, aws.ToString(m.MessageAttributes[ingest.AttrReason].StringValue), want)
		assert.Contains(t, aws.ToString(m.Body), id, "the DLQ holds the original event")
	}

	// Duplicates: each made one task with one recorded outcome. Both copies
	// were long consumed when the first ran (due is seconds after the
	// puts); give a second task's TaskSucceeded two more seconds to show
	// up. (The webhook may see the one task twice, with one idempotency
	// key, when its message was sent by both the API's fast path and the
	// dispatcher: without claims, concurrent deliveries both call.)
	h.waitHits("/dup-key", 1)
	h.waitHits("/dup-event", 1)
	h.lifecycle(hgevents.DetailTaskSucceeded, withCase("dup-key"))
	h.lifecycle(hgevents.DetailTaskSucceeded, withCase("dup-event"))
	h.drain(2 * time.Second)
	for _, c := range []string{"dup-key", "dup-event"} {
		assert.Equal(t, 1, h.count(hgevents.DetailTaskSucceeded, withCase(c)), c)
		hits := len(h.sink.hits("/" + c))
		assert.True(t, hits == 1 || hits == 2, "%s: %d calls", c, hits)
	}
	for _, p := range []string{"/bad", "/unauthorized", "/stranger", "/never", "/moved"} {
		assert.Empty(t, h.sink.hits(p), p)
	}
}

// drain reads the user's queue for d more.
func (h *ebHarness) drain(d time.Duration) {
	h.t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		out, err := h.q.ReceiveMessage(h.ctx, &sqs.ReceiveMessageInput{QueueUrl: &h.mine, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		require.NoError(h.t, err)
		for _, m := range out.Messages {
			h.received = append(h.received, json.RawMessage(aws.ToString(m.Body)))
		}
	}
}

// count counts the received events of detailType matching match.
func (h *ebHarness) count(detailType string, match func(hgevents.TaskDetail) bool) int {
	n := 0
	for _, raw := range h.received {
		var ev hgevents.Event[hgevents.TaskDetail]
		if json.Unmarshal(raw, &ev) == nil && ev.DetailType == detailType && match(ev.Detail) {
			n++
		}
	}
	return n
}

// taskIDByKey finds the task an event created under an idempotency key
// (the test reads the table: the list API is another issue's).
func (h *ebHarness) taskIDByKey(tenant, key string) string {
	h.t.Helper()
	db := dynamodb.NewFromConfig(h.env.Config)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out, err := db.Scan(h.ctx, &dynamodb.ScanInput{TableName: aws.String("hourglass-tasks"),
			FilterExpression:          aws.String("tenant = :t AND idem = :k"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":t": &ddbtypes.AttributeValueMemberS{Value: tenant}, ":k": &ddbtypes.AttributeValueMemberS{Value: key}}})
		require.NoError(h.t, err)
		if len(out.Items) == 1 {
			// A task item's sort key is "<due ms>#<id>" (package ddbstore).
			if v, ok := out.Items[0]["sk"].(*ddbtypes.AttributeValueMemberS); ok {
				if _, id, ok := strings.Cut(v.Value, "#"); ok {
					return id
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.t.Fatalf("no task of tenant %s with idempotency key %s within 30s", tenant, key)
	return ""
}

// TestCrossTenantTargetsRefused (issue 14): mallory's task putting a
// CreateTask event naming acme on the Hourglass bus is a 400 naming
// target.bus; so are forged lifecycle events, Hourglass's queues as SQS
// targets, and the same targets in a schedule. An event from Hourglass's
// own source is never ingest, whatever its detail type.
func TestCrossTenantTargetsRefused(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration test")
	}
	h := startEBHostAt(t, "")
	due := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	post := func(path, body string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, h.base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer dev-mallory")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	for tgt, field := range map[string]string{
		`{"kind":"eventbridge","bus":"hourglass","source":"com.example.orders","detail_type":"CreateTask"}`: "target.bus",
		`{"kind":"eventbridge","bus":"hourglass","source":"hourglass","detail_type":"TaskFailed"}`:          "target.bus",
		`{"kind":"sqs","queue_url":"` + h.ingestQ + `"}`:                                                    "target.queue_url",
		`{"kind":"sqs","queue_url":"` + h.dlq + `"}`:                                                        "target.queue_url",
	} {
		code, body := post("/v1/tasks", `{"due_at":"`+due+`","target":`+tgt+`,"payload":{"tenant":"acme","due_at":"`+due+`","target":{"kind":"webhook","url":"`+h.sink.URL+`/x"}}}`)
		assert.Equal(t, http.StatusBadRequest, code, body)
		assert.Contains(t, body, `"field":"`+field+`"`, tgt)
		code, body = post("/v1/schedules", `{"expression":"rate(1 hour)","target":`+tgt+`}`)
		assert.Equal(t, http.StatusBadRequest, code, body)
		assert.Contains(t, body, `"field":"`+field+`"`, tgt)
	}
	forged := h.put("hourglass", h.detail("acme", "/forged", time.Now().Add(2*time.Second), nil))
	assert.Contains(t, aws.ToString(h.rejected(forged).MessageAttributes[ingest.AttrReason].StringValue), `source "hourglass" may not`)
}
