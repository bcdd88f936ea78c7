package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/api"
)

// TestAccessKeyRoutes: a created key is listed (without its secret) for its
// tenant only; another tenant's DELETE is a 404 and leaves it; its own
// revokes it; the cap is a 409; malformed IDs, wrong methods and missing
// credentials are problems. Every answer is checked against the OpenAPI
// document.
func TestAccessKeyRoutes(t *testing.T) {
	t.Parallel()
	s := setup(t)
	h := s.Comps.HTTP(api.DevAuth{}, nil)

	requireProblem(t, callHTTP(t, h, http.MethodPost, "/v1/access-keys", ""), http.StatusUnauthorized)
	requireProblem(t, callHTTP(t, h, http.MethodGet, "/v1/access-keys", ""), http.StatusUnauthorized)
	requireProblem(t, callHTTP(t, h, http.MethodDelete, "/v1/access-keys/AKHGABCDEFGHIJ234567", ""), http.StatusUnauthorized)

	r := callHTTP(t, h, http.MethodPost, "/v1/access-keys", "acme")
	require.Equal(t, http.StatusCreated, r.code, "body: %s", r.raw)
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	var k api.CreatedAccessKey
	require.NoError(t, json.Unmarshal(r.raw, &k))
	assert.Equal(t, "/v1/access-keys/"+k.AccessKeyID, r.header.Get("Location"))
	assert.Len(t, k.SecretAccessKey, 40)
	assert.False(t, k.CreatedAt.IsZero())

	list := func(tenant string) api.AccessKeyList {
		t.Helper()
		r := callHTTP(t, h, http.MethodGet, "/v1/access-keys", tenant)
		require.Equal(t, http.StatusOK, r.code, "body: %s", r.raw)
		assert.NotContains(t, string(r.raw), "secret")
		var l api.AccessKeyList
		require.NoError(t, json.Unmarshal(r.raw, &l))
		return l
	}
	assert.Equal(t, api.AccessKeyList{AccessKeys: []api.AccessKey{{AccessKeyID: k.AccessKeyID, CreatedAt: k.CreatedAt}}}, list("acme"))
	assert.Equal(t, api.AccessKeyList{AccessKeys: []api.AccessKey{}}, list("globex"))
	assert.Contains(t, string(callHTTP(t, h, http.MethodGet, "/v1/access-keys", "globex").raw), `"access_keys":[]`, "an empty list, not null")

	r = callHTTP(t, h, http.MethodDelete, "/v1/access-keys/"+k.AccessKeyID, "globex")
	requireProblem(t, r, http.StatusNotFound)
	assert.Contains(t, r.body["detail"], k.AccessKeyID)
	assert.Len(t, list("acme").AccessKeys, 1, "another tenant's DELETE leaves the key")

	r = callHTTP(t, h, http.MethodDelete, "/v1/access-keys/"+k.AccessKeyID, "acme")
	require.Equal(t, http.StatusNoContent, r.code, "body: %s", r.raw)
	assert.Empty(t, list("acme").AccessKeys)
	requireProblem(t, callHTTP(t, h, http.MethodDelete, "/v1/access-keys/"+k.AccessKeyID, "acme"), http.StatusNotFound)
	requireProblem(t, callHTTP(t, h, http.MethodDelete, "/v1/access-keys/not-a-key", "acme"), http.StatusNotFound)

	for range 5 {
		require.Equal(t, http.StatusCreated, callHTTP(t, h, http.MethodPost, "/v1/access-keys", "acme").code)
	}
	r = callHTTP(t, h, http.MethodPost, "/v1/access-keys", "acme")
	requireProblem(t, r, http.StatusConflict)
	assert.Contains(t, r.body["detail"], "at most 5 access keys")

	requireProblem(t, callHTTP(t, h, http.MethodPut, "/v1/access-keys", "acme"), http.StatusNotFound)
	requireProblem(t, callHTTP(t, h, http.MethodGet, "/v1/access-keys/"+k.AccessKeyID, "acme"), http.StatusNotFound)
	requireProblem(t, callHTTP(t, h, http.MethodDelete, "/v1/access-keys/", "acme"), http.StatusNotFound)
}
