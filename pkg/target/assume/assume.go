// Package assume gives the AWS target kinds (sqs, eventbridge, lambda)
// credentials for targets in other AWS accounts: it assumes the role a
// task's target names (target.RoleField) with STS AssumeRole, passing the
// external ID "hourglass:<tenant>" (target.ExternalID), and caches the
// credentials until shortly before they expire. A target in Hourglass's
// own account is called with Hourglass's own credentials: its role is
// recorded with the task, not assumed.
package assume

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/hourglass-sched/hourglass/pkg/target"
)

// STSAPI is what Roles needs of the STS client.
type STSAPI interface {
	stscreds.AssumeRoleAPIClient
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// ExpiryWindow is how long before their expiry cached credentials are
// renewed, so that no call starts with credentials about to lapse.
const ExpiryWindow = 5 * time.Minute

// maxCached bounds the cache of (role, tenant) credentials; past it the
// cache starts afresh.
const maxCached = 1_000

// Roles assumes targets' roles with STS.
type Roles struct {
	sts STSAPI

	mu    sync.Mutex
	own   string // Hourglass's account, once known
	cache map[string]*aws.CredentialsCache
}

var _ target.Roles = (*Roles)(nil)

// New returns Roles calling client. ownAccount is Hourglass's own account
// ID, or "" to ask STS GetCallerIdentity on first use.
func New(client STSAPI, ownAccount string) *Roles {
	return &Roles{sts: client, own: ownAccount, cache: map[string]*aws.CredentialsCache{}}
}

// OwnAccount returns Hourglass's own account ID.
func (r *Roles) OwnAccount(ctx context.Context) (string, error) {
	r.mu.Lock()
	own := r.own
	r.mu.Unlock()
	if own != "" {
		return own, nil
	}
	out, err := r.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("sts get caller identity: %w", err)
	}
	own = aws.ToString(out.Account)
	if own == "" {
		return "", errors.New("sts get caller identity: no account in the answer")
	}
	r.mu.Lock()
	r.own = own
	r.mu.Unlock()
	return own, nil
}

// Credentials returns nil when account is Hourglass's own; otherwise the
// credentials of role assumed for tenant, from the cache while they are
// more than ExpiryWindow from expiry.
func (r *Roles) Credentials(ctx context.Context, tenant, role, account string) (aws.CredentialsProvider, error) {
	own, err := r.OwnAccount(ctx)
	if err != nil {
		return nil, err
	}
	if account == "" || account == own {
		return nil, nil
	}
	key := role + "\x00" + tenant
	r.mu.Lock()
	c, ok := r.cache[key]
	if !ok {
		if len(r.cache) >= maxCached {
			r.cache = map[string]*aws.CredentialsCache{}
		}
		c = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(r.sts, role, func(o *stscreds.AssumeRoleOptions) {
			o.ExternalID = aws.String(target.ExternalID(tenant))
			o.RoleSessionName = SessionName(tenant)
		}), func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = ExpiryWindow })
		r.cache[key] = c
	}
	r.mu.Unlock()
	// Retrieve now, so that a refused AssumeRole is this call's error
	// rather than a signing failure inside the target's SDK call.
	creds, err := c.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	return credentials{creds}, nil
}

// credentials hands the target's client the credentials just retrieved.
type credentials struct{ aws.Credentials }

func (c credentials) Retrieve(context.Context) (aws.Credentials, error) { return c.Credentials, nil }

// SessionName is the role session name for tenant: "hourglass-" and the
// tenant, with characters STS does not take replaced by "-", at most 64
// characters. It shows in the target account's CloudTrail.
func SessionName(tenant string) string {
	var b strings.Builder
	b.WriteString("hourglass-")
	for _, r := range tenant {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("_=,.@-", r):
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := b.String()
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}
