package wire_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/wire"
)

// guardSetup builds the whole HTTP API from cfg without an emulator: a
// refused target is answered before any AWS call, so none is made.
func guardSetup(t *testing.T, cfg config.Config) http.Handler {
	t.Helper()
	cfg.TaskQueueURL = "http://localhost:4566/000000000000/hg-tasks"
	cfg.TaskDLQURL = "http://localhost:4566/000000000000/hg-tasks-dlq"
	cfg.IngestQueueURL = "http://localhost:4566/000000000000/hg-ingest"
	c, err := wire.BuildWith(context.Background(), cfg, aws.Config{Region: "us-east-1"}, nil, nil)
	require.NoError(t, err)
	return c.HTTP(api.DevAuth{}, nil)
}

// due is a due time an hour ahead, within every limit.
func due() string { return time.Now().Add(time.Hour).UTC().Format(time.RFC3339) }

// post sends body as tenant and returns the status and the problem's
// field names.
func post(t *testing.T, h http.Handler, path, tenant, body string) (int, []string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer dev-"+tenant)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var p struct {
		Errors []struct{ Field string } `json:"errors"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &p)
	var fields []string
	for _, e := range p.Errors {
		fields = append(fields, e.Field)
	}
	return rec.Code, fields
}

// Finding (high): mallory's task put a CreateTask event naming another
// tenant on the Hourglass bus. Task and schedule creation now answer 400
// naming target.bus; a task queue target is refused alike.
func TestCreateRefusesHourglassResources(t *testing.T) {
	t.Parallel()
	h := guardSetup(t, lifecycleConfig("hourglass", "failures"))
	for name, tgt := range map[string]string{
		"CreateTask on the bus": `{"kind":"eventbridge","bus":"hourglass","source":"com.mallory","detail_type":"CreateTask"}`,
		"forged TaskFailed":     `{"kind":"eventbridge","bus":"arn:aws:events:us-east-1:123456789012:event-bus/hourglass","source":"hourglass","detail_type":"TaskFailed"}`,
		"the task queue":        `{"kind":"sqs","queue_url":"http://localhost:4566/000000000000/hg-tasks"}`,
		"the ingest queue":      `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/000000000000/hg-ingest"}`,
		"a Hourglass function":  `{"kind":"lambda","function":"hourglass-prod-ingest"}`,
	} {
		field := map[bool]string{true: "target.bus", false: "target.queue_url"}[strings.Contains(tgt, "eventbridge")]
		if strings.Contains(tgt, "lambda") {
			field = "target.function"
		}
		code, fields := post(t, h, "/v1/tasks", "mallory", `{"due_at":"`+due()+`","payload":{"tenant":"acme"},"target":`+tgt+`}`)
		assert.Equal(t, http.StatusBadRequest, code, name)
		assert.Contains(t, fields, field, name)
		req := httptest.NewRequest(http.MethodPost, "/v1/tasks:batch", strings.NewReader(`{"tasks":[{"due_at":"`+due()+`","target":`+tgt+`}]}`))
		req.Header.Set("Authorization", "Bearer dev-mallory")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Contains(t, rec.Body.String(), `"tasks[0].`+field+`"`, name)
		assert.NotContains(t, rec.Body.String(), `"status":201`, name)
		code, fields = post(t, h, "/v1/schedules", "mallory", `{"expression":"rate(1 hour)","target":`+tgt+`}`)
		assert.Equal(t, http.StatusBadRequest, code, name)
		assert.Contains(t, fields, field, name)
	}
}

// Finding (medium): the target allow-list was shared by every tenant.
// Outside development mode a tenant may target only its own entries.
func TestCreateAppliesTenantAllowList(t *testing.T) {
	t.Parallel()
	cfg := lifecycleConfig("hourglass", "failures")
	allow, err := target.ParseAllow("acme=arn:aws:sqs:*:123456789012:acme-*", nil)
	require.NoError(t, err)
	cfg.TargetAllow = allow
	h := guardSetup(t, cfg)
	body := `{"due_at":"` + due() + `","target":{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/123456789012/acme-orders"}}`
	code, fields := post(t, h, "/v1/tasks", "globex", body)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, []string{"target.queue_url"}, fields)
	code, fields = post(t, h, "/v1/schedules", "globex", `{"expression":"rate(1 hour)","target":{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/123456789012/acme-orders"}}`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, fields, "target.queue_url")
}

// A cross-account target's role_arn passes the tenant's allow-list too:
// globex may target the queue but not have Hourglass assume acme's role,
// so it cannot make Hourglass act as acme's deputy. Task and schedule
// creation answer 400 naming target.role_arn, as for any refused target
// field; a malformed role is refused alike, and webhooks take no role.
func TestCreateAppliesAllowListToRoles(t *testing.T) {
	t.Parallel()
	cfg := lifecycleConfig("hourglass", "failures")
	role := "arn:aws:iam::210987654321:role/acme-orders"
	allow, err := target.ParseAllow("acme=arn:aws:sqs:*:210987654321:*|"+role+",globex=arn:aws:sqs:*:210987654321:*", nil)
	require.NoError(t, err)
	cfg.TargetAllow = allow
	h := guardSetup(t, cfg)
	tgt := func(role string) string {
		return `{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/210987654321/acme-orders","role_arn":"` + role + `"}`
	}
	code, fields := post(t, h, "/v1/tasks", "globex", `{"due_at":"`+due()+`","target":`+tgt(role)+`}`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, []string{"target.role_arn"}, fields)
	code, fields = post(t, h, "/v1/schedules", "globex", `{"expression":"rate(1 hour)","target":`+tgt(role)+`}`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, fields, "target.role_arn")
	code, fields = post(t, h, "/v1/tasks", "acme", `{"due_at":"`+due()+`","target":`+tgt("arn:aws:iam::210987654321:user/acme")+`}`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, []string{"target.role_arn"}, fields, "not a role ARN")
	code, fields = post(t, h, "/v1/tasks", "acme", `{"due_at":"`+due()+`","target":{"kind":"webhook","url":"https://example.com/hook","role_arn":"`+role+`"}}`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, []string{"target.role_arn"}, fields, "webhooks take no role")
	// acme's own role passes validation: the request gets past it to the
	// store, which this emulator-less setup does not have.
	code, fields = post(t, h, "/v1/tasks", "acme", `{"due_at":"`+due()+`","target":`+tgt(role)+`}`)
	assert.NotEqual(t, http.StatusBadRequest, code)
	assert.Empty(t, fields)
}
