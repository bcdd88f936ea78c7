package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/ddbstore"
	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/envelope"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// resolver is the SigV4 verifier's port (package sigv4's Resolver), copied
// here so that the service is checked against it until the two meet.
type resolver interface {
	Resolve(ctx context.Context, accessKeyID string) (tenant, secret string, err error)
}

var _ resolver = (*app.AccessKeys)(nil)

// setupKeys provisions a fresh table on the emulator and returns its store.
func setupKeys(t *testing.T) *ddbstore.Store {
	t.Helper()
	env := awstest.New(t)
	res, err := provision.Ensure(context.Background(), env.Config, provision.Spec{Prefix: env.Name("ak")})
	require.NoError(t, err)
	return ddbstore.New(dynamodb.NewFromConfig(env.Config), res.Table, task.Layout{Bucket: time.Minute}, ddbstore.Options{})
}

// TestAccessKeysLifecycle: a created key resolves to its tenant and secret,
// is listed (without its secret) for its tenant only, cannot be revoked by
// another tenant, and once revoked is unknown; a second instance that
// cached it keeps it for the cache's TTL and no longer.
func TestAccessKeysLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := setupKeys(t)
	clk := clock.NewManual(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	keys := app.NewAccessKeys(app.AccessKeysConfig{}, store, envelope.None{}, clk)
	other := app.NewAccessKeys(app.AccessKeysConfig{}, store, envelope.None{}, clk) // another API instance

	k, err := keys.Create(ctx, "acme")
	require.NoError(t, err)
	assert.True(t, app.ValidAccessKeyID(k.ID), k.ID)
	assert.True(t, strings.HasPrefix(k.ID, "AKHG"), k.ID)
	assert.Len(t, k.Secret, 40)
	assert.Equal(t, clk.Now(), k.CreatedAt)

	tenant, secret, err := keys.Resolve(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, "acme", tenant)
	assert.Equal(t, k.Secret, secret)
	tenant, secret, err = other.Resolve(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, "acme", tenant)
	assert.Equal(t, k.Secret, secret)

	listed, err := keys.List(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, listed, 1)
	assert.Equal(t, k.ID, listed[0].ID)
	assert.Equal(t, k.CreatedAt, listed[0].CreatedAt)
	assert.Nil(t, listed[0].Sealed, "a listing carries no secret")
	none, err := keys.List(ctx, "globex")
	require.NoError(t, err)
	assert.Empty(t, none)

	var nf *app.NotFound
	require.ErrorAs(t, keys.Delete(ctx, "globex", k.ID), &nf, "another tenant's key")
	_, _, err = keys.Resolve(ctx, k.ID)
	require.NoError(t, err, "still valid after another tenant's attempt")

	require.NoError(t, keys.Delete(ctx, "acme", k.ID))
	_, _, err = keys.Resolve(ctx, k.ID)
	require.ErrorIs(t, err, app.ErrUnknownAccessKey, "revoked at once where revoked")
	require.ErrorAs(t, keys.Delete(ctx, "acme", k.ID), &nf, "revoked twice")
	listed, err = keys.List(ctx, "acme")
	require.NoError(t, err)
	assert.Empty(t, listed)

	_, _, err = other.Resolve(ctx, k.ID)
	require.NoError(t, err, "another instance's cache holds it for up to the TTL")
	clk.Advance(app.DefaultAccessKeyCacheTTL)
	_, _, err = other.Resolve(ctx, k.ID)
	require.ErrorIs(t, err, app.ErrUnknownAccessKey, "and no longer")

	for _, id := range []string{"", "AKHGAAAAAAAAAAAAAAAA", "AKIAIOSFODNN7EXAMPLE", "dev-acme", "AKHG" + strings.Repeat("a", 16)} {
		_, _, err := keys.Resolve(ctx, id)
		require.ErrorIs(t, err, app.ErrUnknownAccessKey, "%q", id)
	}
}

// TestAccessKeysCap: a tenant at its cap gets a Conflict naming the cap;
// revoking one makes room; other tenants are not counted.
func TestAccessKeysCap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keys := app.NewAccessKeys(app.AccessKeysConfig{MaxPerTenant: 2}, setupKeys(t), envelope.None{}, nil)
	a, err := keys.Create(ctx, "acme")
	require.NoError(t, err)
	_, err = keys.Create(ctx, "acme")
	require.NoError(t, err)
	_, err = keys.Create(ctx, "acme")
	var c *app.Conflict
	require.ErrorAs(t, err, &c)
	assert.Contains(t, c.Detail, "at most 2 access keys")
	_, err = keys.Create(ctx, "globex")
	require.NoError(t, err, "the cap is per tenant")
	require.NoError(t, keys.Delete(ctx, "acme", a.ID))
	_, err = keys.Create(ctx, "acme")
	require.NoError(t, err, "a revocation makes room")
	listed, err := keys.List(ctx, "acme")
	require.NoError(t, err)
	assert.Len(t, listed, 2)
}

func TestValidAccessKeyID(t *testing.T) {
	t.Parallel()
	assert.True(t, app.ValidAccessKeyID("AKHGABCDEFGHIJ234567"))
	for _, id := range []string{"AKHGABCDEFGHIJ23456", "AKHGABCDEFGHIJ2345678", "AKIAABCDEFGHIJ234567", "AKHGABCDEFGHIJ234561", "AKHGabcdefghij234567", "AKHG/BCDEFGHIJ234567"} {
		assert.False(t, app.ValidAccessKeyID(id), id)
	}
}

// TestMain fails the run on leaked goroutines (see awstest.VerifyTestMain).
func TestMain(m *testing.M) { awstest.VerifyTestMain(m) }

// BenchmarkAccessKeyResolve compares resolving a key from the cache with
// resolving it from the store each time (a consistent GetItem on the
// emulator, and the envelope's Open), as a SigV4 verification would.
func BenchmarkAccessKeyResolve(b *testing.B) {
	env := awstest.New(b)
	res, err := provision.Ensure(context.Background(), env.Config, provision.Spec{Prefix: env.Name("ak")})
	require.NoError(b, err)
	store := ddbstore.New(dynamodb.NewFromConfig(env.Config), res.Table, task.Layout{Bucket: time.Minute}, ddbstore.Options{})
	for name, ttl := range map[string]time.Duration{"cached": 0, "uncached": -1} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			keys := app.NewAccessKeys(app.AccessKeysConfig{CacheTTL: ttl}, store, envelope.None{}, nil)
			k, err := keys.Create(ctx, "bench-"+name)
			require.NoError(b, err)
			b.ResetTimer()
			for b.Loop() {
				if _, _, err := keys.Resolve(ctx, k.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
