package devhost_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/client"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// TestDeliveriesVerifyWithTheTenantSecret runs the local host end to end:
// the secret GET /v1/signing-secret answers verifies a real delivery with
// the official Standard Webhooks library; after POST
// /v1/signing-secret:rotate the next delivery carries two signatures, one
// per secret, each verifying; and another tenant's secret verifies neither.
func TestDeliveriesVerifyWithTheTenantSecret(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration test")
	}
	env := awstest.New(t)
	type got struct {
		header http.Header
		body   []byte
	}
	var mu sync.Mutex
	calls := map[string]got{}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		if _, seen := calls[r.Header.Get("Hourglass-Task-Id")]; !seen {
			calls[r.Header.Get("Hourglass-Task-Id")] = got{r.Header.Clone(), b}
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sink.Close()
	base, _ := startHost(t, env, testConfig(), "devsig")
	ctx := context.Background()
	acme, err := client.New(base, client.Options{DevTenant: "acme"})
	require.NoError(t, err)
	globex, err := client.New(base, client.Options{DevTenant: "globex"})
	require.NoError(t, err)

	deliver := func() got {
		t.Helper()
		tk, _, err := acme.Create(ctx, client.CreateTask{DueAt: time.Now().Add(2 * time.Second), Target: client.Webhook(sink.URL + "/hook"),
			Payload: map[string]any{"order": 42}}, "")
		require.NoError(t, err)
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			c, ok := calls[tk.ID]
			mu.Unlock()
			if ok {
				return c
			}
			require.True(t, time.Now().Before(deadline), "task %s not delivered in 30 s", tk.ID)
			time.Sleep(50 * time.Millisecond)
		}
	}
	verifier := func(secret string) *standardwebhooks.Webhook {
		wh, err := standardwebhooks.NewWebhook(secret)
		require.NoError(t, err)
		return wh
	}

	sec, err := acme.SigningSecret(ctx)
	require.NoError(t, err)
	other, err := globex.SigningSecret(ctx)
	require.NoError(t, err)
	d := deliver()
	require.NoError(t, verifier(sec.Secret).Verify(d.body, d.header))
	require.Error(t, verifier(other.Secret).Verify(d.body, d.header), "another tenant's secret")
	require.Regexp(t, `^msg_[0-9a-f]{32}$`, d.header.Get("webhook-id"))

	rot, err := acme.RotateSigningSecret(ctx)
	require.NoError(t, err)
	require.Equal(t, sec.Secret, rot.Previous)
	require.NotNil(t, rot.PreviousExpiresAt)
	d = deliver()
	sigs := strings.Fields(d.header.Get("webhook-signature"))
	require.Len(t, sigs, 2, "both secrets sign during the grace period")
	for i, s := range []string{rot.Secret, rot.Previous} {
		require.NoError(t, verifier(s).Verify(d.body, d.header), "secret %d", i)
	}
	require.Error(t, verifier(other.Secret).Verify(d.body, d.header))
}
