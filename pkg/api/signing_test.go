package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
)

// callHTTP sends one request to the whole HTTP API (wire.HTTP: the task
// API with the schedule and signing-secret routes), checked against the
// OpenAPI document.
func callHTTP(t *testing.T, h http.Handler, method, path, tenant string) response {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(nil))
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

func secretOf(t *testing.T, r response) api.SigningSecret {
	t.Helper()
	require.Equal(t, http.StatusOK, r.code, "body: %s", r.raw)
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	var s api.SigningSecret
	require.NoError(t, json.Unmarshal(r.raw, &s))
	require.True(t, strings.HasPrefix(s.Secret, "whsec_"), s.Secret)
	return s
}

// TestSigningSecretRoutes: the secret is created on first read and then
// stable, per tenant; a rotation answers the new and the previous secret
// with the grace period's end, and reads show the same; wrong methods and
// no credentials are problems.
func TestSigningSecretRoutes(t *testing.T) {
	t.Parallel()
	s := setup(t)
	h := s.Comps.HTTP(api.DevAuth{}, nil)

	requireProblem(t, callHTTP(t, h, http.MethodGet, "/v1/signing-secret", ""), http.StatusUnauthorized)
	requireProblem(t, callHTTP(t, h, http.MethodPost, "/v1/signing-secret:rotate", ""), http.StatusUnauthorized)

	first := secretOf(t, callHTTP(t, h, http.MethodGet, "/v1/signing-secret", "acme"))
	assert.Empty(t, first.Previous)
	assert.Nil(t, first.PreviousExpiresAt)
	assert.NotContains(t, string(callHTTP(t, h, http.MethodGet, "/v1/signing-secret", "acme").raw), "previous")
	assert.Equal(t, first, secretOf(t, callHTTP(t, h, http.MethodGet, "/v1/signing-secret", "acme")), "stable")
	other := secretOf(t, callHTTP(t, h, http.MethodGet, "/v1/signing-secret", "globex"))
	assert.NotEqual(t, first.Secret, other.Secret, "one secret per tenant")

	before := time.Now()
	rot := secretOf(t, callHTTP(t, h, http.MethodPost, "/v1/signing-secret:rotate", "acme"))
	assert.NotEqual(t, first.Secret, rot.Secret)
	assert.Equal(t, first.Secret, rot.Previous)
	require.NotNil(t, rot.PreviousExpiresAt)
	assert.WithinDuration(t, before.Add(24*time.Hour), *rot.PreviousExpiresAt, 5*time.Second, "default grace: 24 h")
	assert.Equal(t, rot, secretOf(t, callHTTP(t, h, http.MethodGet, "/v1/signing-secret", "acme")))
	assert.Equal(t, other, secretOf(t, callHTTP(t, h, http.MethodGet, "/v1/signing-secret", "globex")), "another tenant's rotation leaves it alone")

	requireProblem(t, callHTTP(t, h, http.MethodGet, "/v1/signing-secret:rotate", "acme"), http.StatusNotFound)
	requireProblem(t, callHTTP(t, h, http.MethodDelete, "/v1/signing-secret", "acme"), http.StatusNotFound)
	requireProblem(t, callHTTP(t, h, http.MethodPost, "/v1/signing-secret/", "acme"), http.StatusNotFound)
	r := callHTTP(t, h, http.MethodGet, "//v1/signing-secret", "acme")
	requireProblem(t, r, http.StatusNotFound)
	assert.Equal(t, problem.ContentType, r.header.Get("Content-Type"))
}

// TestDeliverySignedWithTenantSecret: a task's delivery, through the
// scanner, dispatcher and worker, verifies with the official library and
// the secret GET /v1/signing-secret answers; after a rotation the next
// delivery carries two signatures and each secret verifies it.
func TestDeliverySignedWithTenantSecret(t *testing.T) {
	t.Parallel()
	s := setup(t)
	h := s.Comps.HTTP(api.DevAuth{}, nil)
	run := func(id string) stacktest.Call {
		s.Until(30*time.Second, "task "+id+" delivered", func() bool { return len(s.Sink.Calls(id)) > 0 }, func() {
			s.Tick()
			s.Dispatch(nil)
			s.Work(nil)
		})
		return s.Sink.Calls(id)[0]
	}
	sec := secretOf(t, callHTTP(t, h, http.MethodGet, "/v1/signing-secret", "acme"))
	c := run(s.Create("acme", time.Now().Add(time.Second), nil))
	wh, err := standardwebhooks.NewWebhook(sec.Secret)
	require.NoError(t, err)
	require.NoError(t, wh.Verify(c.Body, c.Header))
	require.Len(t, strings.Fields(c.Header.Get("webhook-signature")), 1)
	require.NoError(t, s.Verify("acme", c))

	rot := secretOf(t, callHTTP(t, h, http.MethodPost, "/v1/signing-secret:rotate", "acme"))
	// The API and the worker share this stack's signing service, whose
	// rotation drops its cached keys, so the next delivery has both.
	c = run(s.Create("acme", time.Now().Add(time.Second), nil))
	sigs := strings.Fields(c.Header.Get("webhook-signature"))
	require.Len(t, sigs, 2, "current and previous: %v", sigs)
	for i, k := range []string{rot.Secret, rot.Previous} {
		wh, err := standardwebhooks.NewWebhook(k)
		require.NoError(t, err)
		require.NoError(t, wh.Verify(c.Body, c.Header), "secret %d", i)
		only := c.Header.Clone()
		only.Set("webhook-signature", sigs[i])
		require.NoError(t, wh.Verify(c.Body, only), "signature %d is secret %d's", i, i)
	}
	stale, err := standardwebhooks.NewWebhook(sec.Secret)
	require.NoError(t, err)
	require.NoError(t, stale.Verify(c.Body, c.Header), "the first secret is the previous one: still verifies in the grace period")
}
