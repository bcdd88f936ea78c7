// Package signing owns the tenants' webhook signing secrets: one random
// key per tenant, created on first use, stored (sealed by an Envelope,
// KMS in AWS) and never derived; rotation keeps the previous key signing
// beside the new one for a grace period. The API reads and rotates
// secrets through Service.Get and Service.Rotate; the webhook target signs
// with Service.Keys, which caches briefly so that a delivery does not cost
// a table read and a KMS call.
package signing

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/target/webhook"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// DefaultGrace is how long a rotated secret keeps signing when
// Config.Grace is zero.
const DefaultGrace = 24 * time.Hour

// DefaultCacheTTL is how long Keys reuses a tenant's keys when
// Config.CacheTTL is zero: the longest a worker may sign with only the
// previous key after a rotation.
const DefaultCacheTTL = 30 * time.Second

// maxCached bounds the cache; past it the cache starts afresh.
const maxCached = 10_000

// Record is a tenant's secrets as stored: the domain type, kept in task
// so that the DynamoDB adapter imports only the domain.
type Record = task.SigningSecret

// Store keeps one Record per tenant.
type Store interface {
	// GetSigningSecret reads a tenant's record (strongly consistent), or
	// task.ErrNotFound.
	GetSigningSecret(ctx context.Context, tenant string) (Record, error)
	// PutSigningSecret writes r if the stored version is prevVersion
	// (0: no record yet), else task.ErrConflict.
	PutSigningSecret(ctx context.Context, r Record, prevVersion int64) error
}

// Envelope seals keys at rest. The tenant is bound to each sealed key
// (KMS encryption context), so a sealed key copied to another tenant's
// record does not open.
type Envelope interface {
	Seal(ctx context.Context, tenant string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, tenant string, sealed []byte) ([]byte, error)
}

// Secrets are a tenant's keys in the clear.
type Secrets struct {
	Current []byte
	// Previous is nil outside a rotation's grace period.
	Previous          []byte
	PreviousExpiresAt time.Time
}

// Keys returns the keys to sign with: the current one, then the previous
// one while its grace period lasts at now.
func (s Secrets) Keys(now time.Time) [][]byte {
	if s.Previous != nil && now.Before(s.PreviousExpiresAt) {
		return [][]byte{s.Current, s.Previous}
	}
	return [][]byte{s.Current}
}

// Config configures a Service.
type Config struct {
	// Grace is how long a rotated key keeps signing (DefaultGrace when 0).
	Grace time.Duration
	// CacheTTL is how long Keys reuses what it read (DefaultCacheTTL when
	// 0; negative: no cache).
	CacheTTL time.Duration
}

// Service creates, reads and rotates signing secrets.
type Service struct {
	cfg   Config
	store Store
	env   Envelope
	clock clock.Clock

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	s     Secrets
	until time.Time
}

// New returns a Service.
func New(cfg Config, store Store, env Envelope, clk clock.Clock) *Service {
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if clk == nil {
		clk = clock.System{}
	}
	return &Service{cfg: cfg, store: store, env: env, clock: clk, cache: map[string]cached{}}
}

// Grace is the configured grace period.
func (s *Service) Grace() time.Duration { return s.cfg.Grace }

// Get returns the tenant's secrets, creating them on first use. Previous
// is set only while its grace period lasts.
func (s *Service) Get(ctx context.Context, tenant string) (Secrets, error) {
	sec, _, err := s.load(ctx, tenant)
	if err != nil {
		return Secrets{}, err
	}
	return s.visible(sec), nil
}

// Rotate replaces the tenant's current key with a fresh one; the old key
// becomes Previous and keeps signing for the grace period (a previous key
// still in its own grace period is dropped). Two rotations racing: one
// wins, the other gets task.ErrConflict.
func (s *Service) Rotate(ctx context.Context, tenant string) (Secrets, error) {
	cur, ver, err := s.load(ctx, tenant)
	if err != nil {
		return Secrets{}, err
	}
	key, err := webhook.NewSecret()
	if err != nil {
		return Secrets{}, err
	}
	next := Secrets{Current: key, Previous: cur.Current, PreviousExpiresAt: s.clock.Now().Add(s.cfg.Grace).Truncate(time.Second)}
	if err := s.put(ctx, tenant, next, ver); err != nil {
		return Secrets{}, err
	}
	s.forget(tenant)
	return next, nil
}

// Keys returns the keys a delivery for tenant is signed with (the
// webhook target's SecretFunc), from a cache of at most CacheTTL.
func (s *Service) Keys(ctx context.Context, tenant string) ([][]byte, error) {
	now := s.clock.Now()
	s.mu.Lock()
	c, ok := s.cache[tenant]
	s.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.s.Keys(now), nil
	}
	sec, _, err := s.load(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if s.cfg.CacheTTL > 0 {
		s.mu.Lock()
		if len(s.cache) >= maxCached {
			s.cache = map[string]cached{}
		}
		s.cache[tenant] = cached{s: sec, until: now.Add(s.cfg.CacheTTL)}
		s.mu.Unlock()
	}
	return sec.Keys(now), nil
}

func (s *Service) forget(tenant string) {
	s.mu.Lock()
	delete(s.cache, tenant)
	s.mu.Unlock()
}

// visible drops a previous key whose grace period is over.
func (s *Service) visible(sec Secrets) Secrets {
	if sec.Previous != nil && !s.clock.Now().Before(sec.PreviousExpiresAt) {
		sec.Previous, sec.PreviousExpiresAt = nil, time.Time{}
	}
	return sec
}

// load reads and opens the tenant's record, creating it when missing
// (a lost creation race reads the winner's).
func (s *Service) load(ctx context.Context, tenant string) (Secrets, int64, error) {
	for range 3 {
		rec, err := s.store.GetSigningSecret(ctx, tenant)
		if err == nil {
			sec, err := s.open(ctx, rec)
			return sec, rec.Version, err
		}
		if !errors.Is(err, task.ErrNotFound) {
			return Secrets{}, 0, fmt.Errorf("read signing secret: %w", err)
		}
		key, err := webhook.NewSecret()
		if err != nil {
			return Secrets{}, 0, err
		}
		sec := Secrets{Current: key}
		err = s.put(ctx, tenant, sec, 0)
		if err == nil {
			return sec, 1, nil
		}
		if !errors.Is(err, task.ErrConflict) {
			return Secrets{}, 0, err
		}
	}
	return Secrets{}, 0, fmt.Errorf("create signing secret: %w", task.ErrConflict)
}

func (s *Service) put(ctx context.Context, tenant string, sec Secrets, prevVersion int64) error {
	rec := Record{Tenant: tenant, Version: prevVersion + 1, PreviousExpiresAt: sec.PreviousExpiresAt}
	var err error
	if rec.Current, err = s.env.Seal(ctx, tenant, sec.Current); err != nil {
		return fmt.Errorf("seal signing secret: %w", err)
	}
	if sec.Previous != nil {
		if rec.Previous, err = s.env.Seal(ctx, tenant, sec.Previous); err != nil {
			return fmt.Errorf("seal signing secret: %w", err)
		}
	}
	if err := s.store.PutSigningSecret(ctx, rec, prevVersion); err != nil {
		return fmt.Errorf("write signing secret: %w", err)
	}
	return nil
}

func (s *Service) open(ctx context.Context, rec Record) (Secrets, error) {
	sec := Secrets{PreviousExpiresAt: rec.PreviousExpiresAt}
	var err error
	if sec.Current, err = s.env.Open(ctx, rec.Tenant, rec.Current); err != nil {
		return Secrets{}, fmt.Errorf("open signing secret: %w", err)
	}
	if rec.Previous != nil && s.clock.Now().Before(rec.PreviousExpiresAt) {
		if sec.Previous, err = s.env.Open(ctx, rec.Tenant, rec.Previous); err != nil {
			return Secrets{}, fmt.Errorf("open signing secret: %w", err)
		}
	} else {
		sec.PreviousExpiresAt = time.Time{}
	}
	return sec, nil
}
