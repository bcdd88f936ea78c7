package app

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// AccessKeyPrefix begins every access key ID Hourglass issues. AWS's own
// long-term keys begin "AKIA"; a distinct prefix keeps Hourglass keys
// apart from AWS keys in logs, secret scanners and the caller's mind, while
// the shape (20 characters, upper case letters and digits) is AWS's, so
// every SDK and the AWS CLI take it.
const AccessKeyPrefix = "AKHG"

// accessKeyIDLen is AWS's access key ID length: the prefix and 16
// characters of base32 (A-Z, 2-7), 80 random bits.
const accessKeyIDLen = 20

// DefaultMaxAccessKeys is a tenant's cap on access keys when
// AccessKeysConfig.MaxPerTenant is zero. Enough to rotate (create the new
// key, switch, revoke the old one) with a few spare for separate callers.
const DefaultMaxAccessKeys = 5

// DefaultAccessKeyCacheTTL is how long Resolve reuses a decrypted secret
// when AccessKeysConfig.CacheTTL is zero: the longest a revoked key keeps
// signing on an instance other than the one that revoked it.
const DefaultAccessKeyCacheTTL = 60 * time.Second

// maxCachedAccessKeys bounds the cache; past it the cache starts afresh.
const maxCachedAccessKeys = 10_000

// ErrUnknownAccessKey is Resolve's answer for an access key ID that was
// never issued, was revoked, or is not of Hourglass's form. (The SigV4
// verifier's ErrUnknownKey is joined to it where the two meet.)
var ErrUnknownAccessKey = errors.New("unknown access key")

// AccessKeyStore keeps access keys: one record by ID, a listing per tenant.
type AccessKeyStore interface {
	// CreateAccessKey stores k unless its tenant holds maxPerTenant keys
	// (task.ErrAccessKeyLimit); an existing ID is task.ErrConflict.
	CreateAccessKey(ctx context.Context, k task.AccessKey, maxPerTenant int) error
	// GetAccessKey reads a key by ID, or task.ErrNotFound.
	GetAccessKey(ctx context.Context, id string) (task.AccessKey, error)
	// ListAccessKeys lists the tenant's keys without their secrets.
	ListAccessKeys(ctx context.Context, tenant string) ([]task.AccessKey, error)
	// DeleteAccessKey deletes the tenant's key, or task.ErrNotFound when
	// it has no such key.
	DeleteAccessKey(ctx context.Context, tenant, id string) error
}

// Envelope seals secrets at rest, bound to a tenant (envelope.KMS in AWS,
// envelope.None in development): the one the webhook signing secrets use.
type Envelope interface {
	Seal(ctx context.Context, tenant string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, tenant string, sealed []byte) ([]byte, error)
}

// AccessKeysConfig configures AccessKeys.
type AccessKeysConfig struct {
	// MaxPerTenant caps each tenant's keys (DefaultMaxAccessKeys when 0).
	MaxPerTenant int
	// CacheTTL is how long Resolve reuses a decrypted secret
	// (DefaultAccessKeyCacheTTL when 0; negative: no cache).
	CacheTTL time.Duration
}

// NewAccessKey is a created key as its creation answers it: the only time
// the secret is shown.
type NewAccessKey struct {
	ID        string
	Secret    string
	CreatedAt time.Time
}

// AccessKeys issues, lists and revokes the tenants' access keys (the
// credentials the EventBridge Scheduler–compatible API verifies SigV4
// signatures with), and resolves a key ID to its tenant and secret.
type AccessKeys struct {
	cfg   AccessKeysConfig
	store AccessKeyStore
	env   Envelope
	clock clock.Clock

	mu    sync.Mutex
	cache map[string]resolvedKey
}

type resolvedKey struct {
	tenant, secret string
	until          time.Time
}

// NewAccessKeys returns the access key service. clk nil is the system clock.
func NewAccessKeys(cfg AccessKeysConfig, store AccessKeyStore, env Envelope, clk clock.Clock) *AccessKeys {
	if cfg.MaxPerTenant <= 0 {
		cfg.MaxPerTenant = DefaultMaxAccessKeys
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultAccessKeyCacheTTL
	}
	if clk == nil {
		clk = clock.System{}
	}
	return &AccessKeys{cfg: cfg, store: store, env: env, clock: clk, cache: map[string]resolvedKey{}}
}

// MaxPerTenant is the configured cap on a tenant's keys.
func (a *AccessKeys) MaxPerTenant() int { return a.cfg.MaxPerTenant }

// Create issues a new key for tenant. A tenant at its cap gets a
// *Conflict saying so.
func (a *AccessKeys) Create(ctx context.Context, tenant string) (NewAccessKey, error) {
	id, err := newAccessKeyID()
	if err != nil {
		return NewAccessKey{}, err
	}
	var raw [30]byte // 40 characters of base64, as AWS secrets
	if _, err := rand.Read(raw[:]); err != nil {
		return NewAccessKey{}, fmt.Errorf("access key secret: %w", err)
	}
	secret := base64.StdEncoding.EncodeToString(raw[:])
	sealed, err := a.env.Seal(ctx, tenant, []byte(secret))
	if err != nil {
		return NewAccessKey{}, fmt.Errorf("seal access key: %w", err)
	}
	created := a.clock.Now().UTC().Truncate(time.Second)
	err = a.store.CreateAccessKey(ctx, task.AccessKey{ID: id, Tenant: tenant, Sealed: sealed, CreatedAt: created}, a.cfg.MaxPerTenant)
	if errors.Is(err, task.ErrAccessKeyLimit) {
		return NewAccessKey{}, &Conflict{Detail: fmt.Sprintf("a tenant holds at most %d access keys; revoke one with DELETE /v1/access-keys/{id} first", a.cfg.MaxPerTenant)}
	}
	if err != nil {
		// An ID collision (80 random bits) is not the caller's doing: a
		// failure to retry like any other.
		return NewAccessKey{}, err
	}
	return NewAccessKey{ID: id, Secret: secret, CreatedAt: created}, nil
}

// List returns the tenant's keys (IDs and creation times, no secrets),
// oldest first.
func (a *AccessKeys) List(ctx context.Context, tenant string) ([]task.AccessKey, error) {
	keys, err := a.store.ListAccessKeys(ctx, tenant)
	if err != nil {
		return nil, err
	}
	sortKeys(keys)
	return keys, nil
}

// Delete revokes the tenant's key id: at once on this instance, within
// CacheTTL on others. An unknown key, or another tenant's, is a *NotFound.
func (a *AccessKeys) Delete(ctx context.Context, tenant, id string) error {
	if !ValidAccessKeyID(id) {
		return &NotFound{What: "access key " + id}
	}
	if err := a.store.DeleteAccessKey(ctx, tenant, id); err != nil {
		if errors.Is(err, task.ErrNotFound) {
			return &NotFound{What: "access key " + id}
		}
		return err
	}
	a.mu.Lock()
	delete(a.cache, id)
	a.mu.Unlock()
	return nil
}

// Resolve returns the tenant and the secret access key of accessKeyID, or
// an error wrapping ErrUnknownAccessKey. Secrets are cached for CacheTTL
// (a GetItem and a KMS Decrypt otherwise per request), so a revocation
// takes up to CacheTTL to reach other instances.
func (a *AccessKeys) Resolve(ctx context.Context, accessKeyID string) (tenant, secret string, err error) {
	if !ValidAccessKeyID(accessKeyID) {
		return "", "", fmt.Errorf("access key %q: %w", accessKeyID, ErrUnknownAccessKey)
	}
	now := a.clock.Now()
	a.mu.Lock()
	c, ok := a.cache[accessKeyID]
	a.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.tenant, c.secret, nil
	}
	k, err := a.store.GetAccessKey(ctx, accessKeyID)
	if errors.Is(err, task.ErrNotFound) {
		return "", "", fmt.Errorf("access key %s: %w", accessKeyID, ErrUnknownAccessKey)
	}
	if err != nil {
		return "", "", err
	}
	plain, err := a.env.Open(ctx, k.Tenant, k.Sealed)
	if err != nil {
		return "", "", fmt.Errorf("open access key %s: %w", accessKeyID, err)
	}
	if a.cfg.CacheTTL > 0 {
		a.mu.Lock()
		if len(a.cache) >= maxCachedAccessKeys {
			a.cache = map[string]resolvedKey{}
		}
		a.cache[accessKeyID] = resolvedKey{tenant: k.Tenant, secret: string(plain), until: now.Add(a.cfg.CacheTTL)}
		a.mu.Unlock()
	}
	return k.Tenant, string(plain), nil
}

// ValidAccessKeyID reports whether id has the form of a key Hourglass
// issues: AccessKeyPrefix and 16 characters of A-Z and 2-7.
func ValidAccessKeyID(id string) bool {
	rest, ok := strings.CutPrefix(id, AccessKeyPrefix)
	if !ok || len(id) != accessKeyIDLen {
		return false
	}
	for _, r := range rest {
		if (r < 'A' || r > 'Z') && (r < '2' || r > '7') {
			return false
		}
	}
	return true
}

func newAccessKeyID() (string, error) {
	var raw [10]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("access key ID: %w", err)
	}
	return AccessKeyPrefix + base32.StdEncoding.EncodeToString(raw[:]), nil
}

// sortKeys orders keys by creation time, then ID.
func sortKeys(keys []task.AccessKey) {
	slices.SortFunc(keys, func(x, y task.AccessKey) int {
		if c := x.CreatedAt.Compare(y.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
}
