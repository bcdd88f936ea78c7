package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/api"
)

// callWith sends one request with a body to the whole HTTP API (the limit
// routes are mounted beside the task API), checked against the OpenAPI
// document.
func callWith(t *testing.T, h http.Handler, method, path, tenant, body string) response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if tenant != "" {
		req.Header.Set("Authorization", "Bearer dev-"+tenant)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	checkContract(t, req, rec)
	require.Less(t, rec.Code, 500, "%s %s answered %d: %s", method, path, rec.Code, rec.Body.Bytes())
	r := response{code: rec.Code, header: rec.Header(), raw: rec.Body.Bytes()}
	_ = json.Unmarshal(r.raw, &r.body)
	return r
}

// TestLimitRoutes: put creates (201) then replaces (200), a field left
// out is unlimited, get and list show the tenant's own limits only,
// delete removes (204, then 404).
func TestLimitRoutes(t *testing.T) {
	t.Parallel()
	s := setup(t)
	h := s.Comps.HTTP(api.DevAuth{}, nil)

	requireProblem(t, callWith(t, h, http.MethodGet, "/v1/limits", "", ""), http.StatusUnauthorized)
	r := callWith(t, h, http.MethodGet, "/v1/limits", "acme", "")
	require.Equal(t, http.StatusOK, r.code, "body: %s", r.raw)
	assert.JSONEq(t, `{"limits":[]}`, string(r.raw))

	r = callWith(t, h, http.MethodPut, "/v1/limits/api.example.com", "acme", `{"max_concurrency": 5, "per_second": 20}`)
	require.Equal(t, http.StatusCreated, r.code, "body: %s", r.raw)
	var l api.LimitView
	require.NoError(t, json.Unmarshal(r.raw, &l))
	assert.Equal(t, "api.example.com", l.Key)
	require.NotNil(t, l.MaxConcurrency)
	require.NotNil(t, l.PerSecond)
	assert.Equal(t, 5, *l.MaxConcurrency)
	assert.Equal(t, 20, *l.PerSecond)
	assert.WithinDuration(t, time.Now(), l.UpdatedAt, time.Minute)

	r = callWith(t, h, http.MethodPut, "/v1/limits/api.example.com", "acme", `{"per_second": 2}`)
	require.Equal(t, http.StatusOK, r.code, "body: %s", r.raw)
	assert.NotContains(t, r.body, "max_concurrency", "left out: unlimited")
	r = callWith(t, h, http.MethodPut, "/v1/limits/b", "acme", `{"max_concurrency": null}`)
	require.Equal(t, http.StatusCreated, r.code, "body: %s", r.raw)

	r = callWith(t, h, http.MethodGet, "/v1/limits/api.example.com", "acme", "")
	require.Equal(t, http.StatusOK, r.code)
	assert.EqualValues(t, 2, r.body["per_second"])
	requireProblem(t, callWith(t, h, http.MethodGet, "/v1/limits/api.example.com", "other", ""), http.StatusNotFound)

	r = callWith(t, h, http.MethodGet, "/v1/limits", "acme", "")
	require.Equal(t, http.StatusOK, r.code)
	var list api.LimitList
	require.NoError(t, json.Unmarshal(r.raw, &list))
	require.Len(t, list.Limits, 2)
	assert.Equal(t, "api.example.com", list.Limits[0].Key)
	assert.Equal(t, "b", list.Limits[1].Key)
	r = callWith(t, h, http.MethodGet, "/v1/limits", "other", "")
	assert.JSONEq(t, `{"limits":[]}`, string(r.raw))

	r = callWith(t, h, http.MethodDelete, "/v1/limits/api.example.com", "acme", "")
	require.Equal(t, http.StatusNoContent, r.code, "body: %s", r.raw)
	requireProblem(t, callWith(t, h, http.MethodDelete, "/v1/limits/api.example.com", "acme", ""), http.StatusNotFound)
	requireProblem(t, callWith(t, h, http.MethodGet, "/v1/limits/api.example.com", "acme", ""), http.StatusNotFound)
	requireProblem(t, callWith(t, h, http.MethodPost, "/v1/limits/b", "acme", "{}"), http.StatusNotFound)
}

// TestLimitRoutesRejectBadInput: every bad field is a 400 naming it,
// and nothing is written.
func TestLimitRoutesRejectBadInput(t *testing.T) {
	t.Parallel()
	s := setup(t)
	h := s.Comps.HTTP(api.DevAuth{}, nil)
	for _, c := range []struct {
		path, body string
		fields     []string
	}{
		{"/v1/limits/k", `{"max_concurrency": 0}`, []string{"max_concurrency"}},
		{"/v1/limits/k", `{"max_concurrency": 1001}`, []string{"max_concurrency"}},
		{"/v1/limits/k", `{"max_concurrency": 2.5}`, []string{"max_concurrency"}},
		{"/v1/limits/k", `{"per_second": "20"}`, []string{"per_second"}},
		{"/v1/limits/k", `{"per_second": -1, "max_concurrency": true}`, []string{"max_concurrency", "per_second"}},
		{"/v1/limits/k", `{"per_sec": 1}`, []string{"per_sec"}},
		{"/v1/limits/k", `[1]`, []string{"body"}},
		{"/v1/limits/k", `{"per_second": 1, "per_second": 2}`, []string{"per_second"}},
		{"/v1/limits/a%20b", `{"per_second": 1}`, []string{"key"}},
		{"/v1/limits/" + strings.Repeat("x", 65), `{"per_second": 1}`, []string{"key"}},
	} {
		r := callWith(t, h, http.MethodPut, c.path, "acme", c.body)
		requireProblem(t, r, http.StatusBadRequest)
		assert.ElementsMatch(t, c.fields, fields(r), "%s %s: %s", c.path, c.body, r.raw)
	}
	r := callWith(t, h, http.MethodGet, "/v1/limits", "acme", "")
	assert.JSONEq(t, `{"limits":[]}`, string(r.raw), "nothing written")
}

// TestTaskLimitKey: a task names its limit key, shown in its view with
// the wait record at zero; a bad key is a 400 naming limit_key; a patch
// cannot change it.
func TestTaskLimitKey(t *testing.T) {
	t.Parallel()
	s := setup(t)
	due := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	body := func(key any) []byte {
		b, _ := json.Marshal(map[string]any{"due_at": due, "target": s.Webhook(), "limit_key": key})
		return b
	}
	r := call(t, s, http.MethodPost, "/v1/tasks", "acme", body("api.example.com"))
	require.Equal(t, http.StatusCreated, r.code, "body: %s", r.raw)
	assert.Equal(t, "api.example.com", r.body["limit_key"])
	assert.EqualValues(t, 0, r.body["limit_waits"])
	assert.EqualValues(t, 0, r.body["limit_waited_ms"])
	id := r.body["id"].(string)
	r = call(t, s, http.MethodGet, "/v1/tasks/"+id, "acme", nil)
	assert.Equal(t, "api.example.com", r.body["limit_key"])

	for _, bad := range []any{"", "a b", "a/b", strings.Repeat("k", 65), 7} {
		r := call(t, s, http.MethodPost, "/v1/tasks", "acme", body(bad))
		requireProblem(t, r, http.StatusBadRequest)
		assert.Equal(t, []string{"limit_key"}, fields(r), "%v", bad)
	}
	r = call(t, s, http.MethodPatch, "/v1/tasks/"+id, "acme", []byte(`{"limit_key":"other"}`))
	requireProblem(t, r, http.StatusBadRequest)
	assert.Equal(t, []string{"limit_key"}, fields(r))
}
