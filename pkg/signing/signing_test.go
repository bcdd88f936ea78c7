package signing_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/ddbstore"
	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/envelope"
	"github.com/hourglass-sched/hourglass/pkg/signing"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// TestMain fails the run on leaked goroutines (see awstest.VerifyTestMain).
func TestMain(m *testing.M) { awstest.VerifyTestMain(m) }

// countingStore counts the store calls the service makes.
type countingStore struct {
	signing.Store
	gets atomic.Int64
}

func (c *countingStore) GetSigningSecret(ctx context.Context, tenant string) (signing.Record, error) {
	c.gets.Add(1)
	return c.Store.GetSigningSecret(ctx, tenant)
}

type fixture struct {
	store *countingStore
	ddb   *ddbstore.Store
	clk   *clock.Manual
}

// setup provisions a fresh table in its own emulator account.
func setup(t *testing.T) fixture {
	t.Helper()
	env := awstest.New(t)
	res, err := provision.Ensure(context.Background(), env.Config, provision.Spec{Prefix: env.Name("sig")})
	require.NoError(t, err)
	st := ddbstore.New(dynamodb.NewFromConfig(env.Config), res.Table, task.Layout{Bucket: time.Minute}, ddbstore.Options{})
	return fixture{store: &countingStore{Store: st}, ddb: st, clk: clock.NewManual(time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC))}
}

func (f fixture) service(cfg signing.Config) *signing.Service {
	return signing.New(cfg, f.store, envelope.None{}, f.clk)
}

// TestCreatedLazilyOnceAndStored: the first read creates a random key
// and stores it; every later read, by any instance, returns that key.
func TestCreatedLazilyOnceAndStored(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	_, err := f.ddb.GetSigningSecret(ctx, "acme")
	require.ErrorIs(t, err, task.ErrNotFound, "nothing before first use")

	// Two instances racing on first use agree on one key.
	a, b := f.service(signing.Config{}), f.service(signing.Config{})
	var wg sync.WaitGroup
	got := make([]signing.Secrets, 8)
	for i := range got {
		wg.Go(func() {
			svc := a
			if i%2 == 1 {
				svc = b
			}
			s, err := svc.Get(ctx, "acme")
			require.NoError(t, err)
			got[i] = s
		})
	}
	wg.Wait()
	for _, s := range got {
		require.Equal(t, got[0].Current, s.Current)
		require.Len(t, s.Current, 32)
		require.Nil(t, s.Previous)
	}
	rec, err := f.ddb.GetSigningSecret(ctx, "acme")
	require.NoError(t, err)
	require.EqualValues(t, 1, rec.Version)
	require.NotEqual(t, got[0].Current, rec.Current, "stored sealed, not as is")

	other, err := a.Get(ctx, "acme-2")
	require.NoError(t, err)
	require.NotEqual(t, got[0].Current, other.Current, "tenants do not share keys")
}

// TestRotateGracePeriod: after a rotation both keys sign until the grace
// period ends; then only the new one. A second rotation drops the first
// key at once.
func TestRotateGracePeriod(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	svc := f.service(signing.Config{Grace: time.Hour, CacheTTL: -1})
	first, err := svc.Get(ctx, "acme")
	require.NoError(t, err)

	rot, err := svc.Rotate(ctx, "acme")
	require.NoError(t, err)
	require.NotEqual(t, first.Current, rot.Current)
	require.Equal(t, first.Current, rot.Previous)
	require.Equal(t, f.clk.Now().Add(time.Hour), rot.PreviousExpiresAt)
	got, err := svc.Get(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, rot, got)
	keys, err := svc.Keys(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, [][]byte{rot.Current, first.Current}, keys, "current first, then previous")

	f.clk.Advance(time.Hour)
	got, err = svc.Get(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, signing.Secrets{Current: rot.Current}, got, "grace over: no previous")
	keys, err = svc.Keys(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, [][]byte{rot.Current}, keys)

	f.clk.Advance(-30 * time.Minute)
	again, err := svc.Rotate(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, rot.Current, again.Previous)
	keys, err = svc.Keys(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, [][]byte{again.Current, rot.Current}, keys, "the first key no longer signs")
	rec, err := f.ddb.GetSigningSecret(ctx, "acme")
	require.NoError(t, err)
	require.EqualValues(t, 3, rec.Version)
}

// TestRotationsRace: of two rotations from the same version one wins.
func TestRotationsRace(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	svc := f.service(signing.Config{})
	_, err := svc.Get(ctx, "acme")
	require.NoError(t, err)
	rec, err := f.ddb.GetSigningSecret(ctx, "acme")
	require.NoError(t, err)
	next := rec
	next.Version = 2
	require.NoError(t, f.ddb.PutSigningSecret(ctx, next, 1))
	require.ErrorIs(t, f.ddb.PutSigningSecret(ctx, next, 1), task.ErrConflict)
	first := rec
	require.ErrorIs(t, f.ddb.PutSigningSecret(ctx, first, 0), task.ErrConflict, "creation never overwrites")
}

// TestKeysCached: the worker's path reads the store once per CacheTTL,
// not once per delivery, and a rotation on this instance is seen at once.
func TestKeysCached(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	svc := f.service(signing.Config{CacheTTL: 30 * time.Second})
	first, err := svc.Keys(ctx, "acme")
	require.NoError(t, err)
	reads := f.store.gets.Load()
	for range 100 {
		k, err := svc.Keys(ctx, "acme")
		require.NoError(t, err)
		require.Equal(t, first, k)
	}
	require.Equal(t, reads, f.store.gets.Load(), "100 deliveries, no store read")

	// Another instance rotates: this one signs with the old key until
	// its cache entry expires, then with both.
	other := f.service(signing.Config{})
	rot, err := other.Rotate(ctx, "acme")
	require.NoError(t, err)
	k, err := svc.Keys(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, first, k, "cached")
	reads = f.store.gets.Load()
	f.clk.Advance(30 * time.Second)
	k, err = svc.Keys(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, [][]byte{rot.Current, rot.Previous}, k)
	require.Equal(t, reads+1, f.store.gets.Load())
}

// TestSealedBoundToTenant: a sealed key copied into another tenant's
// record does not open.
func TestSealedBoundToTenant(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	svc := f.service(signing.Config{})
	_, err := svc.Get(ctx, "acme")
	require.NoError(t, err)
	rec, err := f.ddb.GetSigningSecret(ctx, "acme")
	require.NoError(t, err)
	rec.Tenant = "mallory"
	require.NoError(t, f.ddb.PutSigningSecret(ctx, rec, 0))
	_, err = svc.Get(ctx, "mallory")
	require.ErrorIs(t, err, envelope.ErrWrongTenant)
}
