package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
)

// TestMain fails the run on leaked goroutines (see awstest.VerifyTestMain).
func TestMain(m *testing.M) { awstest.VerifyTestMain(m) }

func setup(t *testing.T) *stacktest.Stack {
	t.Helper()
	s := stacktest.New(t, stacktest.Options{})
	return s
}

// setupListing is setup with the list index on (HOURGLASS_LIST_INDEX=1),
// for the tests that list tasks: without it GET /v1/tasks is a 501.
func setupListing(t *testing.T) *stacktest.Stack {
	t.Helper()
	return stacktest.New(t, stacktest.Options{ListIndex: true})
}

// response is a recorded API response with its JSON body decoded.
type response struct {
	code   int
	header http.Header
	raw    []byte
	body   map[string]any
}

// call sends one request to the stack's API. tenant "" sends no
// Authorization header; headers are name/value pairs.
func call(t *testing.T, s *stacktest.Stack, method, path, tenant string, body []byte, headers ...string) response {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if tenant != "" {
		req.Header.Set("Authorization", "Bearer dev-"+tenant)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	s.API.ServeHTTP(rec, req)
	checkContract(t, req, rec) // every response the suite sees is checked against the OpenAPI document
	require.Less(t, rec.Code, 500, "%s %s answered %d: %s", method, path, rec.Code, rec.Body.Bytes())
	r := response{code: rec.Code, header: rec.Header(), raw: rec.Body.Bytes()}
	_ = json.Unmarshal(r.raw, &r.body)
	return r
}

// requireProblem asserts a problem+json response with status.
func requireProblem(t *testing.T, r response, status int) {
	t.Helper()
	require.Equal(t, status, r.code, "body: %s", r.raw)
	assert.Equal(t, problem.ContentType, r.header.Get("Content-Type"))
	assert.EqualValues(t, status, r.body["status"])
	assert.NotEmpty(t, r.body["type"])
	assert.NotEmpty(t, r.body["title"])
}

// fields lists the errors[].field of a problem response.
func fields(r response) []string {
	var out []string
	errs, _ := r.body["errors"].([]any)
	for _, e := range errs {
		if m, ok := e.(map[string]any); ok {
			out = append(out, fmt.Sprint(m["field"]))
		}
	}
	return out
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// validBody is a create body due an hour from now (well outside the
// look-ahead, so the fast path leaves the task SCHEDULED).
func validBody(s *stacktest.Stack) map[string]any {
	return map[string]any{
		"due_at":  time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano),
		"target":  s.Webhook(),
		"payload": map[string]any{"hello": "world"},
	}
}

// countTasks scans the whole table (strongly consistent) for task items,
// the only items with a tenant attribute.
func countTasks(t *testing.T, s *stacktest.Stack) int {
	t.Helper()
	db := dynamodb.NewFromConfig(s.Env.Config)
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{
		TableName: &s.Res.Table, FilterExpression: aws.String("attribute_exists(tenant)"), ConsistentRead: aws.Bool(true),
	})
	n := 0
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		require.NoError(t, err)
		n += len(out.Items)
	}
	return n
}

func TestAuth(t *testing.T) {
	t.Parallel()
	s := setup(t)
	for name, header := range map[string]string{
		"none":         "",
		"basic":        "Basic ZGV2OmRldg==",
		"no dev-":      "Bearer acme",
		"empty tenant": "Bearer dev-",
		"bad tenant":   "Bearer dev-a b",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var hs []string
			if header != "" {
				hs = []string{"Authorization", header}
			}
			for _, rt := range []struct{ method, path string }{
				{http.MethodPost, "/v1/tasks"},
				{http.MethodGet, "/v1/tasks/00000000000000000000000000"},
				{http.MethodDelete, "/v1/tasks/00000000000000000000000000"},
				{http.MethodPatch, "/v1/tasks/00000000000000000000000000"},
				{http.MethodGet, "/v1/tasks"},
				{http.MethodPost, "/v1/tasks:batch"},
			} {
				r := call(t, s, rt.method, rt.path, "", mustJSON(t, validBody(s)), hs...)
				requireProblem(t, r, http.StatusUnauthorized)
				assert.Equal(t, "https://hourglass.dev/problems/unauthorized", r.body["type"])
			}
		})
	}
	t.Run("dev token", func(t *testing.T) {
		t.Parallel()
		r := call(t, s, http.MethodPost, "/v1/tasks", "", mustJSON(t, validBody(s)), "Authorization", "Bearer dev-acme")
		require.Equal(t, http.StatusCreated, r.code, "body: %s", r.raw)
	})
}

func TestCreateAndGet(t *testing.T) {
	t.Parallel()
	s := setup(t)
	due := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond).Add(123 * time.Millisecond)
	body := validBody(s)
	body["due_at"] = due.Format(time.RFC3339Nano)
	body["labels"] = map[string]string{"team": "billing"}

	r := call(t, s, http.MethodPost, "/v1/tasks", "acme", mustJSON(t, body))
	require.Equal(t, http.StatusCreated, r.code, "body: %s", r.raw)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.NotEmpty(t, r.header.Get("X-Request-Id"))
	id, _ := r.body["id"].(string)
	_, err := task.ParseID(id)
	require.NoError(t, err, "id %q", id)
	assert.Equal(t, "/v1/tasks/"+id, r.header.Get("Location"))
	assert.Equal(t, "SCHEDULED", r.body["state"])
	gotDue, err := time.Parse(time.RFC3339Nano, fmt.Sprint(r.body["due_at"]))
	require.NoError(t, err)
	assert.True(t, due.Equal(gotDue), "due_at %v, want %v", gotDue, due)

	g := call(t, s, http.MethodGet, r.header.Get("Location"), "acme", nil, "X-Request-Id", "req-123")
	require.Equal(t, http.StatusOK, g.code, "body: %s", g.raw)
	assert.Equal(t, "req-123", g.header.Get("X-Request-Id"), "a caller's request ID is echoed")
	assert.Equal(t, id, g.body["id"])
	assert.Equal(t, "SCHEDULED", g.body["state"])
	assert.Equal(t, []any{}, g.body["attempts"], "attempts is an empty list, not null")
	assert.EqualValues(t, 0, g.body["attempt_count"])
	assert.Equal(t, id, g.body["idempotency_key"], "the key defaults to the task ID")
	assert.Equal(t, map[string]any{"hello": "world"}, g.body["payload"])
	assert.Equal(t, map[string]any{"team": "billing"}, g.body["labels"])
	assert.Equal(t, map[string]any{"max_attempts": 5.0, "initial_backoff_ms": 1000.0, "max_backoff_ms": 300000.0}, g.body["retry"])

	stored := s.Get(id)
	assert.Equal(t, "acme", stored.Tenant)
	assert.True(t, due.Equal(stored.DueAt))
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	s := setup(t)
	lim := s.Cfg.Limits.MaxPayloadBytes
	with := func(k string, v any) []byte {
		b := validBody(s)
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return mustJSON(t, b)
	}
	cases := []struct {
		name    string
		body    []byte
		headers []string
		field   string
	}{
		{"due_at missing", with("due_at", nil), nil, "due_at"},
		{"due_at not RFC 3339", with("due_at", "tomorrow at noon"), nil, "due_at"},
		{"due_at not a string", with("due_at", 1700000000), nil, "due_at"},
		{"target missing", with("target", nil), nil, "target"},
		{"target not an object", with("target", "https://example.com"), nil, "target"},
		{"target.kind missing", with("target", map[string]any{"url": "https://example.com/"}), nil, "target.kind"},
		{"target.kind unknown", with("target", map[string]any{"kind": "carrier-pigeon", "url": "https://example.com/"}), nil, "target.kind"},
		{"target.url missing", with("target", map[string]any{"kind": "webhook"}), nil, "target.url"},
		{"target.url not https", with("target", map[string]any{"kind": "webhook", "url": "http://example.com/hook"}), nil, "target.url"},
		{"target.url metadata service over http", with("target", map[string]any{"kind": "webhook", "url": "http://169.254.169.254/"}), nil, "target.url"},
		{"target.url metadata service over https", with("target", map[string]any{"kind": "webhook", "url": "https://169.254.169.254/latest/meta-data/"}), nil, "target.url"},
		{"target.url private network", with("target", map[string]any{"kind": "webhook", "url": "https://10.0.0.1/"}), nil, "target.url"},
		{"payload too large", with("payload", strings.Repeat("x", lim)), nil, "payload"},
		{"retry.max_attempts 0", with("retry", map[string]any{"max_attempts": 0}), nil, "retry.max_attempts"},
		{"retry not an object", with("retry", 3), nil, "retry"},
		{"unknown top-level field", with("priority", 5), nil, "priority"},
		{"labels not an object", with("labels", []string{"a"}), nil, "labels"},
		{"labels key with '='", with("labels", map[string]string{"a=b": "c"}), nil, "labels"},
		{"idempotency_key empty", with("idempotency_key", ""), nil, "idempotency_key"},
		{"body not JSON", []byte(`{"due_at":`), nil, "body"},
		{"body a JSON array", []byte(`[]`), nil, "body"},
		{"body empty", nil, nil, "body"},
		{"Idempotency-Key header too long", mustJSON(t, validBody(s)), []string{"Idempotency-Key", strings.Repeat("k", 256)}, "header:Idempotency-Key"},
	}
	t.Run("cases", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				r := call(t, s, http.MethodPost, "/v1/tasks", "acme", tc.body, tc.headers...)
				requireProblem(t, r, http.StatusBadRequest)
				assert.Equal(t, "https://hourglass.dev/problems/invalid-request", r.body["type"])
				assert.Contains(t, fields(r), tc.field, "body: %s", r.raw)
			})
		}
		t.Run("body beyond the limit plus 64 KiB", func(t *testing.T) {
			t.Parallel()
			body := with("payload", strings.Repeat("x", lim+64<<10))
			r := call(t, s, http.MethodPost, "/v1/tasks", "acme", body)
			requireProblem(t, r, http.StatusRequestEntityTooLarge)
		})
	})
	// Every bad request was refused before anything was written.
	assert.Equal(t, 0, countTasks(t, s), "a refused create left a task item")

	// The limit itself is accepted (the control for "payload too large"):
	// the JSON string of lim-2 characters and its quotes is exactly lim bytes.
	r := call(t, s, http.MethodPost, "/v1/tasks", "acme", with("payload", strings.Repeat("x", lim-2)))
	require.Equal(t, http.StatusCreated, r.code, "body: %s", r.raw)
	assert.Equal(t, 1, countTasks(t, s))
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	s := setup(t)
	body := mustJSON(t, validBody(s))

	first := call(t, s, http.MethodPost, "/v1/tasks", "acme", body, "Idempotency-Key", "order-1")
	require.Equal(t, http.StatusCreated, first.code, "body: %s", first.raw)
	id := first.body["id"]

	again := call(t, s, http.MethodPost, "/v1/tasks", "acme", body, "Idempotency-Key", "order-1")
	require.Equal(t, http.StatusOK, again.code, "body: %s", again.raw)
	assert.Equal(t, id, again.body["id"])
	assert.Empty(t, again.header.Get("Location"))

	changed := validBody(s)
	changed["payload"] = map[string]any{"hello": "mars"}
	diff := call(t, s, http.MethodPost, "/v1/tasks", "acme", mustJSON(t, changed), "Idempotency-Key", "order-1")
	requireProblem(t, diff, http.StatusUnprocessableEntity)

	other := call(t, s, http.MethodPost, "/v1/tasks", "globex", body, "Idempotency-Key", "order-1")
	require.Equal(t, http.StatusCreated, other.code, "another tenant's key is its own: %s", other.raw)
	assert.NotEqual(t, id, other.body["id"])
	otherDiff := call(t, s, http.MethodPost, "/v1/tasks", "globex", mustJSON(t, changed), "Idempotency-Key", "order-2")
	require.Equal(t, http.StatusCreated, otherDiff.code, "body: %s", otherDiff.raw)

	assert.Equal(t, 3, countTasks(t, s))
	g := call(t, s, http.MethodGet, "/v1/tasks/"+fmt.Sprint(id), "acme", nil)
	require.Equal(t, http.StatusOK, g.code)
	assert.Equal(t, map[string]any{"hello": "world"}, g.body["payload"], "the refused body changed nothing")
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	s := setup(t)
	id := s.Create("acme", time.Now().Add(time.Hour), nil)
	before := s.Get(id)
	missing, err := task.NewID(time.Now().Add(time.Hour), s.Cfg.Shards)
	require.NoError(t, err)

	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			theirs := call(t, s, method, "/v1/tasks/"+id, "globex", nil)
			none := call(t, s, method, "/v1/tasks/"+missing.String(), "globex", nil)
			requireProblem(t, theirs, http.StatusNotFound)
			requireProblem(t, none, http.StatusNotFound)
			for _, k := range []string{"type", "title", "status"} {
				assert.Equal(t, none.body[k], theirs.body[k], k)
			}
			assert.Equal(t, strings.ReplaceAll(fmt.Sprint(none.body["detail"]), missing.String(), id), theirs.body["detail"])
			assert.NotContains(t, string(theirs.raw), "acme")
			assert.NotContains(t, string(theirs.raw), "hello")
		})
	}
	t.Cleanup(func() {
		// Runs after the subtests: A's task is as it was.
		assert.Equal(t, before, s.Get(id))
	})
}

func TestDelete(t *testing.T) {
	t.Parallel()
	s := setup(t)

	t.Run("SCHEDULED, then again", func(t *testing.T) {
		t.Parallel()
		id := s.Create("acme", time.Now().Add(time.Hour), nil)
		r := call(t, s, http.MethodDelete, "/v1/tasks/"+id, "acme", nil)
		require.Equal(t, http.StatusOK, r.code, "body: %s", r.raw)
		assert.Equal(t, "CANCELLED", r.body["state"])
		assert.NotEmpty(t, r.body["finished_at"])
		assert.Equal(t, task.Cancelled, s.Get(id).State)

		again := call(t, s, http.MethodDelete, "/v1/tasks/"+id, "acme", nil)
		require.Equal(t, http.StatusOK, again.code, "body: %s", again.raw)
		assert.Equal(t, "CANCELLED", again.body["state"])
		assert.Equal(t, r.body["updated_at"], again.body["updated_at"], "the second cancel wrote nothing")
	})

	t.Run("RUNNING is a conflict", func(t *testing.T) {
		t.Parallel()
		id := s.Create("acme", time.Now().Add(time.Hour), nil)
		tk := s.Get(id)
		now := time.Now()
		_, err := s.Comps.Store.Claim(context.Background(), tk.ID, tk.PayloadHash, "w1", now, now.Add(time.Minute))
		require.NoError(t, err)
		r := call(t, s, http.MethodDelete, "/v1/tasks/"+id, "acme", nil)
		requireProblem(t, r, http.StatusConflict)
		assert.Contains(t, r.body["detail"], "RUNNING")
		assert.Equal(t, task.Running, s.Get(id).State)
	})

	t.Run("malformed ID", func(t *testing.T) {
		t.Parallel()
		for _, bad := range []string{"nope", strings.Repeat("z", 26), strings.ToUpper(s.Create("acme", time.Now().Add(time.Hour), nil))} {
			r := call(t, s, http.MethodDelete, "/v1/tasks/"+bad, "acme", nil)
			requireProblem(t, r, http.StatusNotFound)
			r = call(t, s, http.MethodGet, "/v1/tasks/"+bad, "acme", nil)
			requireProblem(t, r, http.StatusNotFound)
		}
	})
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	s := setup(t)

	t.Run("unknown route", func(t *testing.T) {
		t.Parallel()
		for _, p := range []struct{ method, path string }{
			{http.MethodGet, "/v2/tasks"},
			{http.MethodGet, "/"},
			{http.MethodPost, "/v1/tasks/x/run"},
		} {
			r := call(t, s, p.method, p.path, "acme", nil)
			requireProblem(t, r, http.StatusNotFound)
			assert.Equal(t, "https://hourglass.dev/problems/not-found", r.body["type"])
			assert.NotEmpty(t, r.header.Get("X-Request-Id"))
		}
	})

	t.Run("healthz", func(t *testing.T) {
		t.Parallel()
		r := call(t, s, http.MethodGet, "/healthz", "", nil)
		require.Equal(t, http.StatusOK, r.code)
		assert.Equal(t, "ok", r.body["status"])
	})
}

func TestTargetSecretsRedacted(t *testing.T) {
	t.Parallel()
	s := setup(t)
	const secret = "s3cr3t-token-value"
	tg := s.Webhook()
	tg["headers"] = map[string]string{"Authorization": secret, "X-Tenant": "also-hidden"}
	body := validBody(s)
	body["target"] = tg

	created := call(t, s, http.MethodPost, "/v1/tasks", "acme", mustJSON(t, body))
	require.Equal(t, http.StatusCreated, created.code, "body: %s", created.raw)
	assert.NotContains(t, string(created.raw), secret)

	id := fmt.Sprint(created.body["id"])
	g := call(t, s, http.MethodGet, "/v1/tasks/"+id, "acme", nil)
	require.Equal(t, http.StatusOK, g.code)
	assert.NotContains(t, string(g.raw), secret)
	assert.NotContains(t, string(g.raw), "also-hidden")
	target, _ := g.body["target"].(map[string]any)
	assert.Equal(t, map[string]any{"Authorization": "[redacted]", "X-Tenant": "[redacted]"}, target["headers"])
	assert.Equal(t, s.Sink.URL+"/hook", target["url"], "only header values are hidden")

	d := call(t, s, http.MethodDelete, "/v1/tasks/"+id, "acme", nil)
	require.Equal(t, http.StatusOK, d.code)
	assert.NotContains(t, string(d.raw), secret)

	// The store keeps the secret: the worker needs it.
	assert.Contains(t, string(s.Get(id).Target.Spec), secret)
}
