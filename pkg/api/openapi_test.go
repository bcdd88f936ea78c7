package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/api"
)

var (
	contractOnce   sync.Once
	contractDoc    *openapi3.T
	contractRouter routers.Router
	contractErr    error
)

// contract loads the embedded OpenAPI document once, validated, with a
// router over its paths (servers dropped so any host matches).
func contract(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	contractOnce.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI)
		if err != nil {
			contractErr = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			contractErr = err
			return
		}
		doc.Servers = nil
		contractDoc = doc
		contractRouter, contractErr = gorillamux.NewRouter(doc)
	})
	require.NoError(t, contractErr, "the OpenAPI document")
	return contractDoc, contractRouter
}

// checkContract validates one recorded response against the OpenAPI
// document: status documented for the route, headers and body as
// described. A request no route matches must be a problem+json 404 or 405.
func checkContract(t *testing.T, req *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	doc, router := contract(t)
	route, params, err := router.FindRoute(req)
	if err != nil {
		require.Contains(t, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, rec.Code, "no route in the document for %s %s, yet %d: %s", req.Method, req.URL, rec.Code, rec.Body.Bytes())
		assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
		var body any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		require.NoError(t, doc.Components.Schemas["Problem"].Value.VisitJSON(body, openapi3.EnableJSONSchema2020()), "problem body %s", rec.Body.Bytes())
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status:  rec.Code,
		Header:  rec.Header(),
		Body:    io.NopCloser(bytes.NewReader(rec.Body.Bytes())),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	require.NoError(t, openapi3filter.ValidateResponse(context.Background(), in), "%s %s → %d %s", req.Method, req.URL, rec.Code, rec.Body.Bytes())
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
