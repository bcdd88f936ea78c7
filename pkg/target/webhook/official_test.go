package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/target/webhook"
)

// captured is one request as the receiver saw it.
type captured struct {
	header http.Header
	body   []byte
}

// deliver runs attempts of one task through a real Executor to a local
// receiver and returns what the receiver got. keys are the tenant's
// signing keys; clk stamps the timestamps (the official library checks
// them against the real clock, so tests pass a clock near it).
func deliver(t *testing.T, clk clock.Clock, keys [][]byte, attempts ...int) []captured {
	t.Helper()
	got := make(chan captured, len(attempts))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- captured{r.Header.Clone(), b}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	e, err := webhook.New(webhook.Config{Allow: []string{srv.Listener.Addr().String()}, Clock: clk, Secret: webhook.StaticSecrets(keys...)})
	require.NoError(t, err)
	t.Cleanup(e.CloseIdleConnections)
	spec, _ := json.Marshal(map[string]string{"kind": "webhook", "url": srv.URL + "/hook"})
	var out []captured
	for _, n := range attempts {
		_, err := e.Execute(context.Background(), target.Invocation{
			TaskID: "06h2abcdefghijklmnopqrstuv", Tenant: "acme", Attempt: n, IdempotencyKey: "order-42",
			Payload: json.RawMessage(`{"order":42}`), Spec: spec,
		})
		require.NoError(t, err)
		out = append(out, <-got)
	}
	return out
}

func official(t *testing.T, key []byte) *standardwebhooks.Webhook {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(webhook.FormatSecret(key))
	require.NoError(t, err)
	return wh
}

// TestOfficialLibraryVerifies: a delivery verifies with the official
// Standard Webhooks Go library; the same delivery with another webhook-id,
// another timestamp or another body does not.
func TestOfficialLibraryVerifies(t *testing.T) {
	t.Parallel()
	key, err := webhook.NewSecret()
	require.NoError(t, err)
	d := deliver(t, clock.System{}, [][]byte{key}, 1)[0]
	wh := official(t, key)
	require.NoError(t, wh.Verify(d.body, d.header))
	require.Equal(t, webhook.MessageID("acme", "order-42"), d.header.Get("webhook-id"))
	require.Regexp(t, `^v1,[A-Za-z0-9+/]{43}=$`, d.header.Get("webhook-signature"))

	other := func(name, value string) http.Header {
		h := d.header.Clone()
		h.Set(name, value)
		return h
	}
	require.ErrorIs(t, wh.Verify(d.body, other("webhook-id", webhook.MessageID("acme", "order-43"))), standardwebhooks.ErrNoMatchingSignature)
	ts, _ := strconv.ParseInt(d.header.Get("webhook-timestamp"), 10, 64)
	require.ErrorIs(t, wh.Verify(d.body, other("webhook-timestamp", strconv.FormatInt(ts-1, 10))), standardwebhooks.ErrNoMatchingSignature)
	require.ErrorIs(t, wh.Verify([]byte(`{"order":43}`), d.header), standardwebhooks.ErrNoMatchingSignature)
	require.ErrorIs(t, wh.Verify(append([]byte(" "), d.body...), d.header), standardwebhooks.ErrNoMatchingSignature)
	another, _ := webhook.NewSecret()
	require.ErrorIs(t, official(t, another).Verify(d.body, d.header), standardwebhooks.ErrNoMatchingSignature, "another tenant's secret")
}

// TestEveryAttemptFreshTimestampSameID: attempts of one task share the
// webhook-id and each carries its own timestamp and signature, so a
// captured attempt is not the next one.
func TestEveryAttemptFreshTimestampSameID(t *testing.T) {
	t.Parallel()
	key, _ := webhook.NewSecret()
	clk := clock.NewManual(time.Now().Add(-30 * time.Second))
	step := &steppingClock{m: clk, by: 7 * time.Second}
	ds := deliver(t, step, [][]byte{key}, 1, 2)
	a, b := ds[0].header, ds[1].header
	require.Equal(t, a.Get("webhook-id"), b.Get("webhook-id"))
	require.NotEqual(t, a.Get("webhook-timestamp"), b.Get("webhook-timestamp"))
	require.NotEqual(t, a.Get("webhook-signature"), b.Get("webhook-signature"))
	require.Equal(t, "1", a.Get("Hourglass-Attempt"))
	require.Equal(t, "2", b.Get("Hourglass-Attempt"))
	wh := official(t, key)
	require.NoError(t, wh.Verify(ds[0].body, a))
	require.NoError(t, wh.Verify(ds[1].body, b))
}

// steppingClock moves on by a fixed step each time it is read.
type steppingClock struct {
	m  *clock.Manual
	by time.Duration
}

func (s *steppingClock) Now() time.Time { s.m.Advance(s.by); return s.m.Now() }

// TestRotationTwoSignatures: with a rotated secret in its grace period a
// delivery carries two signatures, and each secret alone verifies it.
func TestRotationTwoSignatures(t *testing.T) {
	t.Parallel()
	current, _ := webhook.NewSecret()
	previous, _ := webhook.NewSecret()
	d := deliver(t, clock.System{}, [][]byte{current, previous}, 1)[0]
	sigs := strings.Split(d.header.Get("webhook-signature"), " ")
	require.Len(t, sigs, 2)
	require.NoError(t, official(t, current).Verify(d.body, d.header))
	require.NoError(t, official(t, previous).Verify(d.body, d.header))
	for i, k := range [][]byte{current, previous} {
		only := d.header.Clone()
		only.Set("webhook-signature", sigs[i])
		require.NoError(t, official(t, k).Verify(d.body, only), "signature %d is key %d's", i, i)
	}
	stranger, _ := webhook.NewSecret()
	require.Error(t, official(t, stranger).Verify(d.body, d.header))
}
