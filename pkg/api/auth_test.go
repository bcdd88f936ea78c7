package api_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/api"
)

// gatewayTenant replays one API Gateway v2 (payload 2.0) request event
// from testdata/authorizer through the Lambda adapter, as the API function
// receives it, and returns the tenant GatewayAuth g names.
func gatewayTenant(t *testing.T, g api.GatewayAuth, file string) (string, error) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "authorizer", file))
	require.NoError(t, err)
	var ev events.APIGatewayV2HTTPRequest
	require.NoError(t, json.Unmarshal(b, &ev))
	var acc core.RequestAccessorV2
	r, err := acc.EventToRequestWithContext(context.Background(), ev)
	require.NoError(t, err)
	return g.Tenant(r)
}

// Finding (medium): an assumed-role caller's tenant was its session ARN,
// whose last part the caller picks — a session named after another tenant,
// or a fresh tenant per session. The tenant is now the role; two sessions
// of one role are one tenant.
func TestGatewayAuthAssumedRoleIsTheRole(t *testing.T) {
	t.Parallel()
	g := api.GatewayAuth{}
	a, err := gatewayTenant(t, g, "iam-assumed-role-session-a.json")
	require.NoError(t, err)
	b, err := gatewayTenant(t, g, "iam-assumed-role-session-b.json")
	require.NoError(t, err)
	assert.Equal(t, "arn:aws:iam::123456789012:role/orders-service", a)
	assert.Equal(t, a, b, "two sessions of one role are one tenant")
	other, err := gatewayTenant(t, g, "iam-assumed-role-other.json")
	require.NoError(t, err)
	assert.Equal(t, "arn:aws:iam::123456789012:role/mallory-role", other, "a session named after another role is still its own role")
	assert.True(t, api.ValidTenant(a))
}

func TestGatewayAuthUsersJWTAndFederation(t *testing.T) {
	t.Parallel()
	u, err := gatewayTenant(t, api.GatewayAuth{}, "iam-user.json")
	require.NoError(t, err)
	assert.Equal(t, "arn:aws:iam::123456789012:user/ops/deploy-bot", u, "an IAM user is itself, path included")
	j, err := gatewayTenant(t, api.GatewayAuth{}, "jwt.json")
	require.NoError(t, err)
	assert.Equal(t, "acme", j, "JWT: the sub claim, unchanged")
	_, err = gatewayTenant(t, api.GatewayAuth{}, "iam-federated-user.json")
	assert.ErrorContains(t, err, "no stable identity", "a federated user's name is picked by its caller")
}

func TestGatewayAuthTenantMap(t *testing.T) {
	t.Parallel()
	g := api.GatewayAuth{Map: map[string]string{
		"arn:aws:iam::123456789012:role/orders-service": "orders",
		// Keys are principals, not sessions: this entry never matches.
		"arn:aws:sts::123456789012:assumed-role/mallory-role/orders-service": "orders",
	}}
	for file, want := range map[string]string{
		"iam-assumed-role-session-a.json": "orders",
		"iam-assumed-role-session-b.json": "orders",
		"iam-assumed-role-other.json":     "arn:aws:iam::123456789012:role/mallory-role",
		"iam-user.json":                   "arn:aws:iam::123456789012:user/ops/deploy-bot",
	} {
		got, err := gatewayTenant(t, g, file)
		require.NoError(t, err, file)
		assert.Equal(t, want, got, file)
	}
	_, err := gatewayTenant(t, api.GatewayAuth{Map: map[string]string{"arn:aws:iam::123456789012:role/orders-service": "bad tenant"}}, "iam-assumed-role-session-a.json")
	assert.Error(t, err)
}

func TestPrincipal(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"arn:aws:sts::123456789012:assumed-role/r/s":            "arn:aws:iam::123456789012:role/r",
		"arn:aws-us-gov:sts::123456789012:assumed-role/r/s@x.y": "arn:aws-us-gov:iam::123456789012:role/r",
		"arn:aws:iam::123456789012:root":                        "arn:aws:iam::123456789012:root",
		"arn:aws:iam::123456789012:role/path/r":                 "arn:aws:iam::123456789012:role/path/r",
	} {
		got, err := api.Principal(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "acme", "arn:aws:sts::123456789012:assumed-role/r", "arn:aws:sts::123456789012:federated-user/x", "arn:aws:s3:::bucket"} {
		_, err := api.Principal(in)
		assert.Error(t, err, in)
	}
}
