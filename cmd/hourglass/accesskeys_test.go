package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAccessKeys: create shows the secret once (table and JSON), list
// shows IDs without secrets, delete revokes (exit 3 for another tenant's
// key or an unknown one).
func TestAccessKeys(t *testing.T) {
	t.Parallel()
	h := setup(t)

	var k struct {
		ID     string `json:"access_key_id"`
		Secret string `json:"secret_access_key"`
	}
	h.okJSON(t, &k, "access-keys", "create")
	require.Regexp(t, `^AKHG[A-Z2-7]{16}$`, k.ID)
	require.Len(t, k.Secret, 40)

	r := h.run(t, "access-keys", "create")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Regexp(t, `access_key_id:\s+AKHG[A-Z2-7]{16}`, r.stdout)
	assert.Regexp(t, `secret_access_key:\s+\S{40}`, r.stdout)
	assert.Contains(t, r.stderr, "shown only now")

	r = h.run(t, "access-keys", "list")
	require.Equal(t, exitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 3, r.stdout)
	assert.Regexp(t, `^ACCESS KEY ID\s+CREATED`, lines[0])
	assert.Contains(t, r.stdout, k.ID)
	assert.NotContains(t, r.stdout, k.Secret)

	r = h.runAs(t, "dev-globex", false, "access-keys", "delete", k.ID)
	assert.Equal(t, exitNotFound, r.code, "another tenant's key: %s", r.stderr)
	r = h.run(t, "access-keys", "delete", k.ID)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "revoked "+k.ID+"\n", r.stdout)
	r = h.run(t, "access-keys", "delete", k.ID)
	assert.Equal(t, exitNotFound, r.code, "already revoked: %s", r.stderr)

	var l struct {
		Keys []struct {
			ID string `json:"access_key_id"`
		} `json:"access_keys"`
	}
	h.okJSON(t, &l, "access-keys", "list")
	require.Len(t, l.Keys, 1)
	assert.NotEqual(t, k.ID, l.Keys[0].ID)
	r = h.runAs(t, "dev-globex", false, "access-keys", "list", "-o", "json")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.JSONEq(t, `{"access_keys": []}`, r.stdout)
}
