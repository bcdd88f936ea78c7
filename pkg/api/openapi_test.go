package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/testkit/apitest"
)

// contract and checkContract are apitest's, under this suite's names.
func contract(t *testing.T) (*openapi3.T, routers.Router) { return apitest.Contract(t) }

func checkContract(t *testing.T, req *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	apitest.CheckResponse(t, req, rec)
}

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	doc, _ := contract(t)
	assert.Equal(t, "3.1.0", doc.OpenAPI)
	for _, p := range []string{"/v1/tasks", "/v1/tasks:batch", "/v1/tasks/{id}", "/v1/openapi.json", "/healthz",
		"/v1/schedules", "/v1/schedules/{id}", "/v1/schedules/{id}/occurrences", "/v1/schedules:preview"} {
		assert.NotNil(t, doc.Paths.Find(p), "path %s is documented", p)
	}
	s := setup(t)
	r := call(t, s, http.MethodGet, "/v1/openapi.json", "", nil)
	require.Equal(t, http.StatusOK, r.code)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.JSONEq(t, string(api.OpenAPI), string(r.raw), "the served document is the embedded one")
}

// TestContractCanFail shows the response check is live: a task without its
// ID, an undocumented status and a wrong content type are each refused.
func TestContractCanFail(t *testing.T) {
	t.Parallel()
	_, router := contract(t)
	req := httptest.NewRequest(http.MethodGet, "/v1/tasks/0123456789abcdefghijklmnop", nil)
	route, params, err := router.FindRoute(req)
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		status int
		ctype  string
		body   string
	}{
		"task without id":     {200, "application/json", `{"state":"SCHEDULED"}`},
		"undocumented status": {418, "application/problem+json", `{"type":"x","title":"x","status":418}`},
		"problem as json":     {404, "application/json", `{"type":"x","title":"x","status":404}`},
		"unknown state":       {200, "application/json", `{"id":"0123456789abcdefghijklmnop","state":"NAPPING"}`},
	} {
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
			Status:                 tc.status,
			Header:                 http.Header{"Content-Type": {tc.ctype}},
			Body:                   io.NopCloser(bytes.NewReader([]byte(tc.body))),
			Options:                &openapi3filter.Options{IncludeResponseStatus: true},
		}
		assert.Error(t, openapi3filter.ValidateResponse(context.Background(), in), name)
	}
}
