package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSignKnownVector(t *testing.T) {
	t.Parallel()
	// Computed independently of Sign: the receiver-side recipe in the spec.
	m := hmac.New(sha256.New, []byte("secret"))
	m.Write([]byte(`msg_1.1700000000.{"a":1}`))
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	require.Equal(t, want, Sign("msg_1", "1700000000", []byte(`{"a":1}`), []byte("secret")))
	two := Sign("msg_1", "1700000000", []byte(`{"a":1}`), []byte("secret"), []byte("old"))
	require.True(t, strings.HasPrefix(two, want+" v1,"), "current first, space-separated: %s", two)
}

// TestSpecVector is the Standard Webhooks spec's own example (its
// libraries' test vector): the key, ID, timestamp and body it signs, and
// the signature it expects.
func TestSpecVector(t *testing.T) {
	t.Parallel()
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	require.NoError(t, err)
	got := Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 2432232314}`), key)
	require.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", got)
}

func TestMessageID(t *testing.T) {
	t.Parallel()
	a := MessageID("acme", "key-1")
	require.Regexp(t, `^msg_[0-9a-f]{32}$`, a)
	require.Equal(t, a, MessageID("acme", "key-1"), "stable: the same on every attempt")
	require.NotEqual(t, a, MessageID("acme", "key-2"), "unique per task")
	require.NotEqual(t, a, MessageID("other", "key-1"), "two tenants' equal keys differ")
	// Without the length prefix these two would hash the same input.
	require.NotEqual(t, MessageID("ab", "c"), MessageID("a", "bc"))
}

func TestSecretForm(t *testing.T) {
	t.Parallel()
	k, err := NewSecret()
	require.NoError(t, err)
	require.Len(t, k, SecretBytes)
	s := FormatSecret(k)
	require.True(t, strings.HasPrefix(s, "whsec_"))
	back, err := ParseSecret(s)
	require.NoError(t, err)
	require.Equal(t, k, back)
	for _, bad := range []string{"", "whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!!", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))} {
		_, err := ParseSecret(bad)
		require.ErrorIs(t, err, ErrBadSecret, bad)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	key := []byte("s3cret")
	id := "msg_abc"
	body := []byte(`{"hello":"world"}`)
	now := time.Unix(1_700_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	good := Sign(id, ts, body, key)
	tests := []struct {
		name    string
		key     []byte
		id, ts  string
		body    []byte
		header  string
		now     time.Time
		tol     time.Duration
		wantErr error
	}{
		{"valid", key, id, ts, body, good, now, time.Minute, nil},
		{"valid among rotated", key, id, ts, body, "v1,AAAA " + good, now, time.Minute, nil},
		{"valid with future version", key, id, ts, body, "v1a,abc " + good, now, time.Minute, nil},
		{"default tolerance", key, id, ts, body, good, now.Add(4 * time.Minute), 0, nil},
		{"edge of tolerance", key, id, ts, body, good, now.Add(time.Minute), time.Minute, nil},
		{"too old", key, id, ts, body, good, now.Add(61 * time.Second), time.Minute, ErrTimestampSkew},
		{"too new", key, id, ts, body, good, now.Add(-61 * time.Second), time.Minute, ErrTimestampSkew},
		{"default tolerance exceeded", key, id, ts, body, good, now.Add(6 * time.Minute), 0, ErrTimestampSkew},
		{"wrong key", []byte("other"), id, ts, body, good, now, time.Minute, ErrBadSignature},
		{"another webhook-id", key, "msg_abd", ts, body, good, now, time.Minute, ErrBadSignature},
		{"tampered body", key, id, ts, []byte(`{"hello":"World"}`), good, now, time.Minute, ErrBadSignature},
		{"tampered timestamp", key, id, strconv.FormatInt(now.Unix()+1, 10), body, good, now, time.Minute, ErrBadSignature},
		{"truncated signature", key, id, ts, body, good[:len(good)-2], now, time.Minute, ErrBadSignature},
		{"not base64", key, id, ts, body, "v1,!!", now, time.Minute, ErrBadSignature},
		{"empty header", key, id, ts, body, "", now, time.Minute, ErrMissingHeaders},
		{"empty id", key, "", ts, body, good, now, time.Minute, ErrMissingHeaders},
		{"other version only", key, id, ts, body, "v2," + good[3:], now, time.Minute, ErrNoSignature},
		{"bare base64", key, id, ts, body, good[3:], now, time.Minute, ErrNoSignature},
		{"empty timestamp", key, id, "", body, good, now, time.Minute, ErrMissingHeaders},
		{"signed timestamp", key, id, "+" + ts, body, good, now, time.Minute, ErrInvalidTimestamp},
		{"exponent timestamp", key, id, "1.7e9", body, good, now, time.Minute, ErrInvalidTimestamp},
		{"huge timestamp", key, id, "99999999999999999999", body, good, now, time.Minute, ErrInvalidTimestamp},
		{"max int64 timestamp", key, id, "9223372036854775807", body, good, now, time.Minute, ErrTimestampSkew},
		{"zero timestamp", key, id, "0", body, good, now, time.Minute, ErrTimestampSkew},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Verify(tt.key, tt.id, tt.ts, tt.body, tt.header, tt.now, tt.tol)
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func TestVerifyFarPastNow(t *testing.T) {
	t.Parallel()
	// A "now" before the epoch must not overflow into acceptance.
	ts := "9223372036854775807"
	sig := Sign("msg_1", ts, nil, []byte("k"))
	err := Verify([]byte("k"), "msg_1", ts, nil, sig, time.Unix(-9223372036, 0), time.Hour)
	assert.ErrorIs(t, err, ErrTimestampSkew)
}

func BenchmarkSign(b *testing.B) {
	key := testKey("tenant")
	for _, size := range []int{256, 4 << 10, 64 << 10} {
		body := make([]byte, size)
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				_ = Sign("msg_0123456789abcdef0123456789abcdef", "1700000000", body, key)
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	key := testKey("tenant")
	body := make([]byte, 4<<10)
	now := time.Unix(1_700_000_000, 0)
	sig := Sign("msg_1", "1700000000", body, key)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(key, "msg_1", "1700000000", body, sig, now, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
