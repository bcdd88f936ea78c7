package api

import (
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"
)

// Authenticator names the tenant a request acts for.
type Authenticator interface {
	// Tenant returns the caller's tenant, or an error (a 401) when the request
	// carries no acceptable identity.
	Tenant(r *http.Request) (string, error)
}

var tenantRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:@/+=-]{0,127}$`)

// ValidTenant reports whether s can name a tenant: 1–128 characters,
// letters, digits and _ . : @ / + = -, starting with a letter or digit.
// Callers that take a tenant from elsewhere than an Authenticator (the
// ingest function's CreateSchedule) check it with this.
func ValidTenant(s string) bool { return tenantRE.MatchString(s) }

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
	if !ok || !tenantRE.MatchString(tenant) {
		return "", errors.New(`token must be "dev-<tenant>" (letters, digits, _ . : @ / + = -)`)
	}
	return tenant, nil
}

// GatewayAuth takes the tenant from API Gateway's authorizer context, which
// the Lambda adapter attaches to the request: the JWT claim Claim when a JWT
// authorizer ran, else the IAM principal's ARN (SigV4). API Gateway has
// already verified the identity; a request without one never reaches here
// except on the open health route.
type GatewayAuth struct {
	Claim string // JWT claim naming the tenant (default "sub")
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
		return iam.UserARN, nil
	}
	return "", errors.New("no identity in the authorizer context")
}
