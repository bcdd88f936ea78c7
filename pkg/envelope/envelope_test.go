package envelope_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/envelope"
	"github.com/hourglass-sched/hourglass/pkg/signing"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// TestMain fails the run on leaked goroutines (see awstest.VerifyTestMain).
func TestMain(m *testing.M) { awstest.VerifyTestMain(m) }

// conformance: what every Envelope must do.
func conformance(t *testing.T, e signing.Envelope) {
	t.Helper()
	ctx := context.Background()
	key := []byte("0123456789abcdef0123456789abcdef")
	sealed, err := e.Seal(ctx, "acme", key)
	require.NoError(t, err)
	opened, err := e.Open(ctx, "acme", sealed)
	require.NoError(t, err)
	require.Equal(t, key, opened)
	_, err = e.Open(ctx, "acme-2", sealed)
	require.Error(t, err, "another tenant's value does not open")
	_, err = e.Open(ctx, "acme", append([]byte("x"), sealed...))
	require.Error(t, err, "a tampered value does not open")
}

func TestNone(t *testing.T) {
	t.Parallel()
	conformance(t, envelope.None{})
}

// TestKMS runs against the emulator's KMS over HTTP.
func TestKMS(t *testing.T) {
	t.Parallel()
	env := awstest.New(t)
	client := kms.NewFromConfig(env.Config)
	out, err := client.CreateKey(context.Background(), &kms.CreateKeyInput{})
	require.NoError(t, err)
	e := envelope.NewKMS(client, *out.KeyMetadata.KeyId)
	conformance(t, e)
	sealed, err := e.Seal(context.Background(), "acme", []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	require.NotContains(t, string(sealed), "0123456789abcdef", "sealed, not stored in the clear")
}
