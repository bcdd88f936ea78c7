// Package apitest checks HTTP responses against Hourglass's OpenAPI
// document (api.OpenAPI), for the tests of every package that serves part of
// the API (tasks, schedules).
package apitest

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
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	docErr error
)

// Contract loads the embedded OpenAPI document once, validated, with a
// router over its paths (servers dropped so any host matches).
func Contract(tb testing.TB) (*openapi3.T, routers.Router) {
	tb.Helper()
	once.Do(func() {
		d, err := openapi3.NewLoader().LoadFromData(api.OpenAPI)
		if err != nil {
			docErr = err
			return
		}
		if err := d.Validate(context.Background()); err != nil {
			docErr = err
			return
		}
		d.Servers = nil
		doc = d
		router, docErr = gorillamux.NewRouter(d)
	})
	require.NoError(tb, docErr, "the OpenAPI document")
	return doc, router
}

// CheckResponse validates one recorded response against the document: the
// status is documented for the route, headers and body are as described. A
// request no route matches must be a problem+json 404 or 405.
func CheckResponse(tb testing.TB, req *http.Request, rec *httptest.ResponseRecorder) {
	tb.Helper()
	d, r := Contract(tb)
	route, params, err := r.FindRoute(req)
	if err != nil {
		require.Contains(tb, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, rec.Code, "no route in the document for %s %s, yet %d: %s", req.Method, req.URL, rec.Code, rec.Body.Bytes())
		assert.Equal(tb, "application/problem+json", rec.Header().Get("Content-Type"))
		var body any
		require.NoError(tb, json.Unmarshal(rec.Body.Bytes(), &body))
		require.NoError(tb, d.Components.Schemas["Problem"].Value.VisitJSON(body, openapi3.EnableJSONSchema2020()), "problem body %s", rec.Body.Bytes())
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
	require.NoError(tb, openapi3filter.ValidateResponse(context.Background(), in), "%s %s → %d %s", req.Method, req.URL, rec.Code, rec.Body.Bytes())
}
