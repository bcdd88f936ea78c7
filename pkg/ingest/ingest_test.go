package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/ingest"
	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

func TestParseSources(t *testing.T) {
	t.Parallel()
	s, err := ingest.ParseSources(" com.example.orders = acme | globex , com.example.billing=*,")
	require.NoError(t, err)
	assert.Equal(t, "com.example.billing=*,com.example.orders=acme|globex", s.String())
	for _, tc := range []struct {
		source, tenant string
		ok             bool
	}{
		{"com.example.orders", "acme", true},
		{"com.example.orders", "globex", true},
		{"com.example.orders", "initech", false},
		{"com.example.billing", "anyone", true},
		{"com.example.other", "acme", false},
	} {
		assert.Equal(t, tc.ok, s.Allows(tc.source, tc.tenant), "%s for %s", tc.source, tc.tenant)
	}
	any, err := ingest.ParseSources("*=acme")
	require.NoError(t, err)
	assert.True(t, any.Allows("whoever", "acme"))
	assert.False(t, any.Allows("whoever", "globex"))

	none, err := ingest.ParseSources("")
	require.NoError(t, err)
	assert.False(t, none.Allows("com.example.orders", "acme"), "nothing is allowed by default")

	for _, bad := range []string{"noequals", "=acme", "src=", "src=a||b", "hourglass=*", "Hourglass=acme", "aws.events=*"} {
		_, err := ingest.ParseSources(bad)
		assert.Error(t, err, bad)
	}
}

// Finding (high): a task's event with source "hourglass" and a detail
// type of CreateTask was ingest. Hourglass's own source (and AWS's) never
// creates tasks, even where every source may.
func TestSourcesRefuseLifecycleSource(t *testing.T) {
	t.Parallel()
	s, err := ingest.ParseSources("*=*")
	require.NoError(t, err)
	assert.True(t, s.Allows("com.example.orders", "acme"))
	assert.False(t, s.Allows("hourglass", "acme"))
	assert.False(t, s.Allows("aws.s3", "acme"))
}

// creator records what it is asked to create and answers with err.
type creator struct {
	mu    sync.Mutex
	calls []call
	err   error
}

type call struct{ tenant, body, token string }

func (c *creator) Create(_ context.Context, _ zerolog.Logger, tenant string, req app.CreateTask) (app.Created, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, call{tenant, string(req.Body), req.Token})
	if c.err != nil {
		return app.Created{}, c.err
	}
	id, err := task.NewID(time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC), 1)
	if err != nil {
		return app.Created{}, err
	}
	return app.Created{Task: &task.Task{ID: id, Tenant: tenant}, New: true}, nil
}

// queue records sends, failing them when err is set.
type queue struct {
	mu   sync.Mutex
	sent []task.OutMessage
	err  error
}

func (q *queue) Send(_ context.Context, _ string, m task.OutMessage) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.sent = append(q.sent, m)
	return nil
}

func setup(t *testing.T, c *creator, q *queue) *ingest.Handler {
	t.Helper()
	s, err := ingest.ParseSources("com.example.orders=acme")
	require.NoError(t, err)
	return ingest.New(ingest.Config{DLQ: "https://dlq", Sources: s}, c, q, zerolog.Nop())
}

func record(id, body string) awsevents.SQSMessage {
	return awsevents.SQSMessage{MessageId: id, Body: body}
}

const good = `{"version":"0","id":"ev-1","detail-type":"CreateTask","source":"com.example.orders","time":"2030-01-02T15:04:05Z",
	"detail":{"tenant":"acme","due_at":"2030-01-02T15:04:05Z","target":{"kind":"sqs","queue_url":"https://q/1/x"}}}`

func TestCreatesWithEventIDAsToken(t *testing.T) {
	t.Parallel()
	c, q := &creator{}, &queue{}
	resp, err := setup(t, c, q).HandleSQS(context.Background(), awsevents.SQSEvent{Records: []awsevents.SQSMessage{record("m1", good)}})
	require.NoError(t, err)
	assert.Empty(t, resp.BatchItemFailures)
	require.Len(t, c.calls, 1)
	assert.Equal(t, "acme", c.calls[0].tenant)
	assert.Equal(t, "ev-1", c.calls[0].token)
	assert.JSONEq(t, `{"due_at":"2030-01-02T15:04:05Z","target":{"kind":"sqs","queue_url":"https://q/1/x"}}`, c.calls[0].body, "tenant is not part of the create body")
	assert.Empty(t, q.sent)
}

func TestDetailKeyIsTheToken(t *testing.T) {
	t.Parallel()
	c := &creator{}
	body := `{"id":"ev-2","detail-type":"CreateTask","source":"com.example.orders","detail":{"tenant":"acme","idempotency_key":"order-7","due_at":"x","target":{}}}`
	_, err := setup(t, c, &queue{}).HandleSQS(context.Background(), awsevents.SQSEvent{Records: []awsevents.SQSMessage{record("m1", body)}})
	require.NoError(t, err)
	require.Len(t, c.calls, 1)
	assert.Equal(t, "order-7", c.calls[0].token)
}

func TestRejectionsGoToTheDLQWithTheReason(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		body, reason string
		err          error
	}{
		"not json":        {body: `nope`, reason: "not an EventBridge event"},
		"other type":      {body: `{"id":"e","detail-type":"CreateWidget","source":"com.example.orders","detail":{}}`, reason: `detail-type "CreateWidget" is not supported`},
		"detail array":    {body: `{"id":"e","detail-type":"CreateTask","source":"com.example.orders","detail":[]}`, reason: "detail: must be a JSON object"},
		"no tenant":       {body: `{"id":"e","detail-type":"CreateTask","source":"com.example.orders","detail":{}}`, reason: "detail.tenant: is required"},
		"tenant twice":    {body: `{"id":"e","detail-type":"CreateTask","source":"com.example.orders","detail":{"tenant":"globex","tenant":"acme"}}`, reason: "detail.tenant: is named twice"},
		"target twice":    {body: `{"id":"e","detail-type":"CreateTask","source":"com.example.orders","detail":{"tenant":"acme","target":{"kind":"webhook","url":"http://169.254.169.254/"},"target":{"kind":"webhook","url":"https://example.com/"}}}`, reason: "detail.target: is named twice"},
		"wrong tenant":    {body: `{"id":"e","detail-type":"CreateTask","source":"com.example.orders","detail":{"tenant":"globex"}}`, reason: `may not create tasks for tenant "globex"`},
		"wrong source":    {body: `{"id":"e","detail-type":"CreateTask","source":"com.example.evil","detail":{"tenant":"acme"}}`, reason: `source "com.example.evil" may not`},
		"invalid request": {body: good, err: &app.Invalid{Fields: []task.FieldError{{Field: "target.url", Reason: "is required"}}}, reason: "detail.target.url: is required"},
		"key reused":      {body: good, err: fmt.Errorf("create: %w", app.ErrIdempotencyMismatch), reason: "422"},
		"too large":       {body: good, err: &app.TooLarge{Detail: "the body exceeds the payload limit plus 64 KiB"}, reason: "413"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			q := &queue{}
			resp, err := setup(t, &creator{err: tc.err}, q).HandleSQS(context.Background(), awsevents.SQSEvent{Records: []awsevents.SQSMessage{record("m1", tc.body)}})
			require.NoError(t, err)
			assert.Empty(t, resp.BatchItemFailures, "a rejected event is done with")
			require.Len(t, q.sent, 1)
			assert.Equal(t, tc.body, q.sent[0].Body, "the DLQ gets the event as is")
			assert.Contains(t, q.sent[0].Attributes[ingest.AttrReason], tc.reason)
		})
	}
}

func TestPassingFailuresAreRedelivered(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		err error
		dlq error
	}{
		"rate limited":     {err: &app.LimitExceeded{Detail: "slow down", RetryAfter: time.Second}},
		"store down":       {err: errors.New("dynamodb: connection reset")},
		"crash hook":       {err: app.ErrCrashed},
		"dlq send failure": {err: &app.Invalid{Fields: []task.FieldError{{Field: "due_at", Reason: "bad"}}}, dlq: errors.New("sqs down")},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			q := &queue{err: tc.dlq}
			resp, err := setup(t, &creator{err: tc.err}, q).HandleSQS(context.Background(), awsevents.SQSEvent{Records: []awsevents.SQSMessage{record("m1", good), record("m2", good)}})
			require.NoError(t, err)
			assert.ElementsMatch(t, []awsevents.SQSBatchItemFailure{{ItemIdentifier: "m1"}, {ItemIdentifier: "m2"}}, resp.BatchItemFailures)
			assert.Empty(t, q.sent)
		})
	}
}

// scheduler records what schedules it is asked to create and answers
// with err.
type scheduler struct {
	mu    sync.Mutex
	calls []call
	err   error
}

func (c *scheduler) CreateWithToken(_ context.Context, _ zerolog.Logger, tenant string, body []byte, token string) (*schedule.Schedule, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, call{tenant, string(body), token})
	if c.err != nil {
		return nil, false, c.err
	}
	return &schedule.Schedule{ID: "s0000000000000000000a", Tenant: tenant}, true, nil
}

func setupSchedules(t *testing.T, c *creator, s *scheduler, q *queue) *ingest.Handler {
	t.Helper()
	src, err := ingest.ParseSources("com.example.orders=acme")
	require.NoError(t, err)
	return ingest.New(ingest.Config{DLQ: "https://dlq", Sources: src, Schedules: s}, c, q, zerolog.Nop())
}

const goodSchedule = `{"version":"0","id":"ev-9","detail-type":"CreateSchedule","source":"com.example.orders","time":"2030-01-02T15:04:05Z",
	"detail":{"tenant":"acme","expression":"rate(5 minutes)","target":{"kind":"sqs","queue_url":"https://q/1/x"}}}`

func TestCreateScheduleWithEventIDAsToken(t *testing.T) {
	t.Parallel()
	c, s, q := &creator{}, &scheduler{}, &queue{}
	resp, err := setupSchedules(t, c, s, q).HandleSQS(context.Background(), awsevents.SQSEvent{Records: []awsevents.SQSMessage{record("m1", goodSchedule)}})
	require.NoError(t, err)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Empty(t, c.calls, "a CreateSchedule event creates no task")
	require.Len(t, s.calls, 1)
	assert.Equal(t, "acme", s.calls[0].tenant)
	assert.Equal(t, "ev-9", s.calls[0].token)
	assert.JSONEq(t, `{"expression":"rate(5 minutes)","target":{"kind":"sqs","queue_url":"https://q/1/x"}}`, s.calls[0].body, "tenant is not part of the create body")
	assert.Empty(t, q.sent)
}

func TestCreateScheduleDetailKeyIsTheToken(t *testing.T) {
	t.Parallel()
	s := &scheduler{}
	body := `{"id":"ev-2","detail-type":"CreateSchedule","source":"com.example.orders","detail":{"tenant":"acme","idempotency_key":"nightly","expression":"x"}}`
	_, err := setupSchedules(t, &creator{}, s, &queue{}).HandleSQS(context.Background(), awsevents.SQSEvent{Records: []awsevents.SQSMessage{record("m1", body)}})
	require.NoError(t, err)
	require.Len(t, s.calls, 1)
	assert.Equal(t, "nightly", s.calls[0].token)
	assert.JSONEq(t, `{"expression":"x"}`, s.calls[0].body, "the key is the token, not a schedule field")
}

func TestCreateScheduleRejections(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		body, reason string
		err          error
	}{
		"no tenant":       {body: `{"id":"e","detail-type":"CreateSchedule","source":"com.example.orders","detail":{}}`, reason: "detail.tenant: is required (a string naming the tenant the schedule is for)"},
		"wrong tenant":    {body: `{"id":"e","detail-type":"CreateSchedule","source":"com.example.orders","detail":{"tenant":"globex"}}`, reason: `may not create schedules for tenant "globex"`},
		"wrong source":    {body: `{"id":"e","detail-type":"CreateSchedule","source":"com.example.evil","detail":{"tenant":"acme"}}`, reason: `source "com.example.evil" may not`},
		"empty key":       {body: `{"id":"e","detail-type":"CreateSchedule","source":"com.example.orders","detail":{"tenant":"acme","idempotency_key":""}}`, reason: "detail.idempotency_key: must be a non-empty string"},
		"detail array":    {body: `{"id":"e","detail-type":"CreateSchedule","source":"com.example.orders","detail":[]}`, reason: "the body of POST /v1/schedules plus tenant"},
		"invalid request": {body: goodSchedule, err: &app.Invalid{Fields: []task.FieldError{{Field: "expression", Reason: "unknown unit"}}}, reason: "detail.expression: unknown unit"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			q := &queue{}
			s := &scheduler{err: tc.err}
			resp, err := setupSchedules(t, &creator{}, s, q).HandleSQS(context.Background(), awsevents.SQSEvent{Records: []awsevents.SQSMessage{record("m1", tc.body)}})
			require.NoError(t, err)
			assert.Empty(t, resp.BatchItemFailures, "a rejected event is done with")
			require.Len(t, q.sent, 1)
			assert.Equal(t, tc.body, q.sent[0].Body, "the DLQ gets the event as is")
			assert.Contains(t, q.sent[0].Attributes[ingest.AttrReason], tc.reason)
			assert.Equal(t, "CreateSchedule", q.sent[0].Attributes[ingest.AttrDetailType])
		})
	}
}

func TestCreateScheduleStoreDownIsRedelivered(t *testing.T) {
	t.Parallel()
	q := &queue{}
	resp, err := setupSchedules(t, &creator{}, &scheduler{err: &app.Unavailable{Detail: "schedule is being created concurrently; retry", RetryAfter: time.Second}}, q).
		HandleSQS(context.Background(), awsevents.SQSEvent{Records: []awsevents.SQSMessage{record("m1", goodSchedule)}})
	require.NoError(t, err)
	assert.Equal(t, []awsevents.SQSBatchItemFailure{{ItemIdentifier: "m1"}}, resp.BatchItemFailures)
	assert.Empty(t, q.sent)
}

func TestCreateScheduleWithoutSchedulerIsNotSupported(t *testing.T) {
	t.Parallel()
	q := &queue{}
	_, err := setup(t, &creator{}, q).HandleSQS(context.Background(), awsevents.SQSEvent{Records: []awsevents.SQSMessage{record("m1", goodSchedule)}})
	require.NoError(t, err)
	require.Len(t, q.sent, 1)
	assert.Contains(t, q.sent[0].Attributes[ingest.AttrReason], `detail-type "CreateSchedule" is not supported (supported: CreateTask)`)
}
