package target_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/target"
)

func TestRoleAccount(t *testing.T) {
	t.Parallel()
	for arn, account := range map[string]string{
		"arn:aws:iam::210987654321:role/orders":            "210987654321",
		"arn:aws:iam::210987654321:role/path/to/orders":    "210987654321",
		"arn:aws-cn:iam::210987654321:role/orders":         "210987654321",
		"arn:aws:iam::210987654321:user/orders":            "",
		"arn:aws:iam::21098765432:role/orders":             "",
		"arn:aws:iam:us-east-1:210987654321:role/orders":   "",
		"arn:aws:sts::210987654321:assumed-role/orders/s1": "",
		"": "",
	} {
		got, ok := target.RoleAccount(arn)
		assert.Equal(t, account != "", ok, arn)
		assert.Equal(t, account, got, arn)
	}
}

func TestValidateRole(t *testing.T) {
	t.Parallel()
	assert.Empty(t, target.ValidateRole(json.RawMessage(`{"kind":"sqs"}`)))
	assert.Empty(t, target.ValidateRole(json.RawMessage(`{"role_arn":"arn:aws:iam::210987654321:role/x"}`)))
	for _, spec := range []string{`{"role_arn":7}`, `{"role_arn":""}`, `{"role_arn":"x"}`, `{"role_arn":null}`} {
		errs := target.ValidateRole(json.RawMessage(spec))
		require.Len(t, errs, 1, spec)
		assert.Equal(t, "role_arn", errs[0].Field, spec)
	}
	assert.Equal(t, "arn:aws:iam::210987654321:role/x", target.RoleOf(json.RawMessage(`{"role_arn":"arn:aws:iam::210987654321:role/x"}`)))
	assert.Empty(t, target.RoleOf(json.RawMessage(`{"role_arn":7}`)))
	assert.Equal(t, "hourglass:acme", target.ExternalID("acme"))
}

func TestPolicyCheckRole(t *testing.T) {
	t.Parallel()
	role := "arn:aws:iam::210987654321:role/acme"
	allow, err := target.ParseAllow("acme="+role+",*=arn:aws:sqs:*", nil)
	require.NoError(t, err)
	p := &target.Policy{Allow: allow}
	assert.Nil(t, p.CheckRole("acme", role))
	assert.Nil(t, p.CheckRole("globex", ""), "no role, nothing to check")
	fe := p.CheckRole("globex", role)
	require.NotNil(t, fe)
	assert.Equal(t, "role_arn", fe.Field)
	assert.Contains(t, fe.Reason, role)
	assert.Nil(t, (&target.Policy{}).CheckRole("globex", role), "a nil allow-list (development) allows every role")
}
