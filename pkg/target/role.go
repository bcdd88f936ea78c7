package target

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// RoleField is the target field (sqs, eventbridge and lambda kinds) naming
// the IAM role Hourglass assumes to call a target in another AWS account:
//
//	{"kind": "sqs", "queue_url": "https://sqs.eu-west-1.amazonaws.com/210987654321/orders",
//	 "role_arn": "arn:aws:iam::210987654321:role/hourglass-orders"}
//
// When the target is in Hourglass's own account the role is recorded with
// the task and not assumed: Hourglass's own role calls it. Either way the
// role must be in the tenant's target allow-list (Policy.CheckRole), so no
// tenant can make Hourglass assume a role another tenant was granted.
const RoleField = "role_arn"

// ExternalIDPrefix begins the sts:ExternalId Hourglass passes when it
// assumes a tenant's role: the ID is "hourglass:<tenant>", so a role's
// trust policy can admit one tenant and no other.
const ExternalIDPrefix = "hourglass:"

// ExternalID is the sts:ExternalId for tenant's roles.
func ExternalID(tenant string) string { return ExternalIDPrefix + tenant }

// roleARN matches an IAM role ARN (path included) and captures its account.
var roleARN = regexp.MustCompile(`^arn:aws(?:-cn|-us-gov)?:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$`)

// RoleAccount returns the account of an IAM role ARN, ok false when arn is
// not one.
func RoleAccount(arn string) (account string, ok bool) {
	m := roleARN.FindStringSubmatch(arn)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// RoleOf returns the role a target spec names ("" when none, or when the
// field is not a string: ValidateRole reports that).
func RoleOf(spec json.RawMessage) string {
	var s struct {
		Role string `json:"role_arn"`
	}
	if json.Unmarshal(spec, &s) != nil {
		return ""
	}
	return s.Role
}

// ValidateRole checks the role field of a spec, when present: a string
// that is an IAM role ARN.
func ValidateRole(spec json.RawMessage) []FieldError {
	var probe map[string]json.RawMessage
	if json.Unmarshal(spec, &probe) != nil {
		return nil
	}
	raw, ok := probe[RoleField]
	if !ok {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return []FieldError{{Field: RoleField, Reason: "must be a string: an IAM role ARN"}}
	}
	if _, ok := RoleAccount(s); !ok {
		return []FieldError{{Field: RoleField, Reason: "must be an IAM role ARN like arn:aws:iam::123456789012:role/my-role"}}
	}
	return nil
}

// Roles supplies credentials for calls to targets in other accounts.
type Roles interface {
	// Credentials returns the credentials of role (assumed for tenant,
	// with ExternalID(tenant)) when account differs from Hourglass's own,
	// or nil when Hourglass's own credentials are to be used.
	Credentials(ctx context.Context, tenant, role, account string) (aws.CredentialsProvider, error)
}

// CallerCredentials returns the credentials an executor calls a with for
// inv: nil (its client's own) when roles is nil, the spec names no role,
// or a is in Hourglass's own account (or names none: a bus or function
// given by name is Hourglass's account's). A failure to assume the role
// is returned as is, and retried like any call failure: a trust policy
// being fixed starts working without the task being re-created.
func CallerCredentials(ctx context.Context, roles Roles, inv Invocation, a Address) (aws.CredentialsProvider, error) {
	role := RoleOf(inv.Spec)
	if roles == nil || role == "" || a.Account == "" {
		return nil, nil
	}
	creds, err := roles.Credentials(ctx, inv.Tenant, role, a.Account)
	if err != nil {
		return nil, fmt.Errorf("assume %s for tenant %q: %w", role, inv.Tenant, err)
	}
	return creds, nil
}

// CheckRole returns the refusal of role for tenant, or nil when tenant
// may have Hourglass assume it: it must be in the tenant's allow-list (a
// nil allow-list, development mode, allows every role).
func (p *Policy) CheckRole(tenant, role string) *FieldError {
	if p == nil || p.Allow == nil || role == "" {
		return nil
	}
	if !p.Allow.Allows(tenant, role) {
		return &FieldError{Field: RoleField, Reason: fmt.Sprintf("%s is not in this tenant's target allow-list (HOURGLASS_TARGET_ALLOW)", role)}
	}
	return nil
}
