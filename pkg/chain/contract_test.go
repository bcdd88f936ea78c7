package chain_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/testkit/apitest"
)

// TestContractCoversEveryScheduleRoute sends each schedule route one
// request and checks (in e.do, as for every request of this suite) its
// answer against the document.
func TestContractCoversEveryScheduleRoute(t *testing.T) {
	e := setup(t)
	doc, _ := apitest.Contract(t)
	for _, p := range []string{"/v1/schedules", "/v1/schedules/{id}", "/v1/schedules/{id}/occurrences", "/v1/schedules:preview"} {
		require.NotNil(t, doc.Paths.Find(p), "path %s is documented", p)
	}
	v := e.create("acme", map[string]any{"expression": "cron(0 9 ? * MON-FRI *)", "timezone": "Europe/Berlin", "payload": map[string]any{"a": 1},
		// start_at may be at most the task horizon (366 days) ahead.
		"start_at": time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339), "end_at": "2031-01-01T00:00:00Z", "flexible_window_minutes": 5, "labels": map[string]string{"team": "x"}})
	id := v["id"].(string)
	for _, rt := range []struct {
		method, path string
		body         any
		want         int
	}{
		{http.MethodGet, "/v1/schedules/" + id, nil, 200},
		{http.MethodGet, "/v1/schedules?page_size=1", nil, 200},
		{http.MethodGet, "/v1/schedules/" + id + "/occurrences", nil, 200},
		{http.MethodGet, "/v1/schedules:preview?expression=rate(5%20minutes)&after=2030-01-01T00:00:00Z&count=3", nil, 200},
		{http.MethodGet, "/v1/schedules:preview?expression=rate(5%20fortnights)", nil, 400},
		{http.MethodPatch, "/v1/schedules/" + id, map[string]any{"state": "DISABLED"}, 200},
		{http.MethodPatch, "/v1/schedules/" + id, map[string]any{"misfire_policy": "sometimes"}, 400},
		{http.MethodGet, "/v1/schedules/" + id + "/occurrences?limit=0", nil, 400},
		{http.MethodPost, "/v1/schedules", map[string]any{"expression": "rate(0 minutes)"}, 400},
		{http.MethodDelete, "/v1/schedules/" + id, nil, 204},
		{http.MethodGet, "/v1/schedules/" + id, nil, 404},
		{http.MethodDelete, "/v1/schedules/" + id, nil, 404},
	} {
		code, body := e.do(rt.method, rt.path, "acme", rt.body)
		assert.Equal(t, rt.want, code, "%s %s: %v", rt.method, rt.path, body)
	}
	code, _ := e.do(http.MethodGet, "/v1/schedules", "", nil)
	assert.Equal(t, http.StatusUnauthorized, code)
}

// TestScheduleContractCanFail shows the check bites on schedule routes: a
// schedule without its ID, a problem sent as application/json, an
// undocumented status, an unknown field, a preview of non-times and an
// occurrence without its task are each refused.
func TestScheduleContractCanFail(t *testing.T) {
	t.Parallel()
	_, router := apitest.Contract(t)
	for name, tc := range map[string]struct {
		path   string
		status int
		body   string
	}{
		"schedule without id": {"/v1/schedules/s0000000000000000000a", 200, `{"expression":"rate(1 hour)","state":"ENABLED"}`},
		"problem as json":     {"/v1/schedules/s0000000000000000000a", 404, `{"type":"x","title":"x","status":404}`},
		"undocumented status": {"/v1/schedules", 418, `{"schedules":[]}`},
		"list field":          {"/v1/schedules", 200, `{"schedules":[],"cursor":"x"}`},
		"preview not times":   {"/v1/schedules:preview?expression=x", 200, `{"times":["soon"]}`},
		"occurrence no task":  {"/v1/schedules/s0000000000000000000a/occurrences", 200, `{"occurrences":[{"at":"2030-01-01T00:00:00Z","due_at":"2030-01-01T00:00:00Z","generation":1}],"upcoming":[]}`},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		route, params, err := router.FindRoute(req)
		require.NoError(t, err, name)
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
			Status:                 tc.status,
			Header:                 http.Header{"Content-Type": {"application/json"}}, // a problem must be application/problem+json
			Body:                   io.NopCloser(bytes.NewReader([]byte(tc.body))),
			Options:                &openapi3filter.Options{IncludeResponseStatus: true},
		}
		assert.Error(t, openapi3filter.ValidateResponse(context.Background(), in), name)
	}
}
