package ddbstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestInFlightAcquireRelease: reservations are granted in order up to the
// cap, per tenant; a release frees a slot; a duplicate release or a
// release of an unknown tenant is no error; an expired reservation lapses.
func TestInFlightAcquireRelease(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	until := base.Add(5 * time.Minute)

	n, err := f.store.AcquireInFlight(ctx, "acme", 2, []string{"a", "b", "c"}, base, until)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = f.store.AcquireInFlight(ctx, "other", 2, []string{"x"}, base, until)
	require.NoError(t, err)
	require.Equal(t, 1, n, "another tenant has its own count")
	n, err = f.store.AcquireInFlight(ctx, "acme", 2, []string{"c"}, base, until)
	require.NoError(t, err)
	require.Zero(t, n, "acme is at its cap")

	require.NoError(t, f.store.ReleaseInFlight(ctx, "acme", "a"))
	require.NoError(t, f.store.ReleaseInFlight(ctx, "acme", "a"), "a second release is no error")
	require.NoError(t, f.store.ReleaseInFlight(ctx, "nobody", "a"), "nor is a tenant without reservations")
	n, err = f.store.AcquireInFlight(ctx, "acme", 2, []string{"c", "d"}, base, until)
	require.NoError(t, err)
	require.Equal(t, 1, n, "a's slot went to c")
	held, err := f.store.InFlight(ctx, "acme", base)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"b", "c"}, keys(held))

	// Past their expiry, the reservations lapse: a crash's are not kept.
	n, err = f.store.AcquireInFlight(ctx, "acme", 2, []string{"d", "e"}, until.Add(time.Second), until.Add(10*time.Minute))
	require.NoError(t, err)
	require.Equal(t, 2, n)
	held, err = f.store.InFlight(ctx, "acme", until.Add(time.Second))
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"d", "e"}, keys(held))
}

func keys(m map[string]time.Time) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
