package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Authenticator names the tenant a request acts for.
type Authenticator interface {
	// Tenant returns the caller's tenant, or an error (a 401) when the request
	// carries no acceptable identity.
	Tenant(r *http.Request) (string, error)
}

// ValidTenant reports whether s can name a tenant (task.ValidTenant).
// Callers that take a tenant from elsewhere than an Authenticator (the
// ingest function's CreateSchedule) check it with this.
func ValidTenant(s string) bool { return task.ValidTenant(s) }

// DevAuth accepts "Authorization: Bearer dev-<tenant>" — development mode
// only; it is never wired in AWS.
type DevAuth struct{}

// Tenant parses the dev token.
func (DevAuth) Tenant(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return "", errors.New(`missing "Authorization: Bearer dev-<tenant>" header`)
	}
	tenant, ok := strings.CutPrefix(strings.TrimSpace(tok), "dev-")
	if !ok || !task.ValidTenant(tenant) {
		return "", errors.New(`token must be "dev-<tenant>" (letters, digits, _ . : @ / + = -)`)
	}
	return tenant, nil
}

// GatewayAuth takes the tenant from API Gateway's authorizer context, which
// the Lambda adapter attaches to the request: the JWT claim Claim when a JWT
// authorizer ran, else the IAM principal (SigV4). API Gateway has already
// verified the identity; a request without one never reaches here except on
// the open health route.
//
// An IAM caller's tenant is its principal (see Principal), never a name the
// caller picked: every session of a role is the role,
// arn:aws:iam::<account>:role/<name>. Map, when it names the principal,
// replaces it with a named tenant.
type GatewayAuth struct {
	Claim string // JWT claim naming the tenant (default "sub")
	// Map maps IAM principals (as Principal returns them) to tenants
	// (HOURGLASS_TENANT_MAP); an unmapped principal is its own tenant.
	Map map[string]string
}

// Tenant reads the authorizer context.
func (g GatewayAuth) Tenant(r *http.Request) (string, error) {
	rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok || rc.Authorizer == nil {
		return "", errors.New("no authorizer context: call the API through API Gateway with SigV4 or a JWT")
	}
	if jwt := rc.Authorizer.JWT; jwt != nil {
		claim := g.Claim
		if claim == "" {
			claim = "sub"
		}
		if v := jwt.Claims[claim]; v != "" {
			return v, nil
		}
		return "", errors.New("the token has no " + claim + " claim")
	}
	if iam := rc.Authorizer.IAM; iam != nil && iam.UserARN != "" {
		p, err := Principal(iam.UserARN)
		if err != nil {
			return "", err
		}
		if t, ok := g.Map[p]; ok {
			if !task.ValidTenant(t) {
				return "", errors.New("HOURGLASS_TENANT_MAP maps " + p + " to an invalid tenant name")
			}
			return t, nil
		}
		if !task.ValidTenant(p) {
			return "", errors.New("the principal " + p + " cannot name a tenant (over 128 characters?): map it with HOURGLASS_TENANT_MAP")
		}
		return p, nil
	}
	return "", errors.New("no identity in the authorizer context")
}

// Principal returns the IAM identity an authenticated caller's ARN stands
// for, without the parts the caller chooses. An assumed-role session
// arn:<partition>:sts::<account>:assumed-role/<role>/<session> is the role,
// arn:<partition>:iam::<account>:role/<role> (STS ARNs carry no role path,
// so neither does this; the session name, which whoever assumes the role
// picks, is dropped). IAM users and the account root are themselves. A
// federated user (sts federated-user/<name>) is refused: its name is
// chosen by the user that asked for the token.
func Principal(arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[4] == "" {
		return "", errors.New("the caller's ARN " + arn + " is not an IAM principal ARN")
	}
	partition, service, account, resource := parts[1], parts[2], parts[4], parts[5]
	switch {
	case service == "iam":
		return arn, nil
	case service == "sts" && strings.HasPrefix(resource, "assumed-role/"):
		role, session, ok := strings.Cut(strings.TrimPrefix(resource, "assumed-role/"), "/")
		if !ok || role == "" || session == "" {
			return "", errors.New("the caller's ARN " + arn + " is not an assumed-role session")
		}
		return "arn:" + partition + ":iam::" + account + ":role/" + role, nil
	}
	return "", errors.New("the caller " + arn + " has no stable identity to name a tenant (use an IAM role or user)")
}
