package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testKey is a tenant's signing key in these tests: distinct per tenant.
func testKey(tenant string) []byte {
	k := sha256.Sum256([]byte("webhook test key\x00" + tenant))
	return k[:]
}

// testSecrets gives each tenant its testKey.
func testSecrets(_ context.Context, tenant string) ([][]byte, error) {
	return [][]byte{testKey(tenant)}, nil
}

// setup builds an Executor whose pooled connections close with the test.
func setup(t testing.TB, cfg Config) *Executor {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = testSecrets
	}
	e, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(e.CloseIdleConnections)
	return e
}

// specJSON renders a webhook spec.
func specJSON(t testing.TB, fields map[string]any) json.RawMessage {
	t.Helper()
	if _, ok := fields["kind"]; !ok {
		fields["kind"] = Kind
	}
	b, err := json.Marshal(fields)
	require.NoError(t, err)
	return b
}

// fakeResolver answers from a table and counts lookups; unknown names are
// NXDOMAIN. It stands in for DNS, rebinding included.
type fakeResolver struct {
	answers map[string][]netip.Addr
	calls   atomic.Int64
}

func newFakeResolver(pairs ...string) *fakeResolver {
	r := &fakeResolver{answers: map[string][]netip.Addr{}}
	for i := 0; i < len(pairs); i += 2 {
		r.answers[pairs[i]] = append(r.answers[pairs[i]], netip.MustParseAddr(pairs[i+1]))
	}
	return r
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.calls.Add(1)
	if a, ok := r.answers[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// anyResolver answers every name with the same addresses.
type anyResolver []netip.Addr

func (r anyResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return r, nil
}
