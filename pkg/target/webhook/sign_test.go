package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSignKnownVector(t *testing.T) {
	t.Parallel()
	// Computed independently of Sign: the receiver-side recipe in the docs.
	m := hmac.New(sha256.New, []byte("secret"))
	m.Write([]byte(`1700000000.{"a":1}`))
	want := "v1=" + hex.EncodeToString(m.Sum(nil))
	require.Equal(t, want, Sign([]byte("secret"), "1700000000", []byte(`{"a":1}`)))
}

func TestDeriveSecret(t *testing.T) {
	t.Parallel()
	a := DeriveSecret(testMaster, "tenant-a")
	b := DeriveSecret(testMaster, "tenant-b")
	require.Len(t, a, sha256.Size)
	require.NotEqual(t, a, b, "tenants must not share a secret")
	require.Equal(t, a, DeriveSecret(testMaster, "tenant-a"), "derivation must be stable")
	require.NotEqual(t, a, DeriveSecret([]byte("another master secret!!"), "tenant-a"))
}

func TestVerify(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret")
	body := []byte(`{"hello":"world"}`)
	now := time.Unix(1_700_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	good := Sign(secret, ts, body)
	tests := []struct {
		name    string
		secret  []byte
		ts      string
		body    []byte
		header  string
		now     time.Time
		tol     time.Duration
		wantErr error
	}{
		{"valid", secret, ts, body, good, now, time.Minute, nil},
		{"valid among rotated", secret, ts, body, "v1=deadbeef, " + good, now, time.Minute, nil},
		{"valid with future version", secret, ts, body, "v2=abc," + good, now, time.Minute, nil},
		{"uppercase hex", secret, ts, body, "v1=" + upperHex(good[3:]), now, time.Minute, nil},
		{"default tolerance", secret, ts, body, good, now.Add(4 * time.Minute), 0, nil},
		{"edge of tolerance", secret, ts, body, good, now.Add(time.Minute), time.Minute, nil},
		{"too old", secret, ts, body, good, now.Add(61 * time.Second), time.Minute, ErrTimestampSkew},
		{"too new", secret, ts, body, good, now.Add(-61 * time.Second), time.Minute, ErrTimestampSkew},
		{"default tolerance exceeded", secret, ts, body, good, now.Add(6 * time.Minute), 0, ErrTimestampSkew},
		{"wrong secret", []byte("other"), ts, body, good, now, time.Minute, ErrBadSignature},
		{"tampered body", secret, ts, []byte(`{"hello":"World"}`), good, now, time.Minute, ErrBadSignature},
		{"tampered timestamp", secret, strconv.FormatInt(now.Unix()+1, 10), body, good, now, time.Minute, ErrBadSignature},
		{"truncated signature", secret, ts, body, good[:len(good)-2], now, time.Minute, ErrBadSignature},
		{"not hex", secret, ts, body, "v1=zz", now, time.Minute, ErrBadSignature},
		{"empty header", secret, ts, body, "", now, time.Minute, ErrNoSignature},
		{"other version only", secret, ts, body, "v0=" + good[3:], now, time.Minute, ErrNoSignature},
		{"bare hex", secret, ts, body, good[3:], now, time.Minute, ErrNoSignature},
		{"empty timestamp", secret, "", body, good, now, time.Minute, ErrInvalidTimestamp},
		{"signed timestamp", secret, "+" + ts, body, good, now, time.Minute, ErrInvalidTimestamp},
		{"exponent timestamp", secret, "1.7e9", body, good, now, time.Minute, ErrInvalidTimestamp},
		{"huge timestamp", secret, "99999999999999999999", body, good, now, time.Minute, ErrInvalidTimestamp},
		{"max int64 timestamp", secret, "9223372036854775807", body, good, now, time.Minute, ErrTimestampSkew},
		{"zero timestamp", secret, "0", body, good, now, time.Minute, ErrTimestampSkew},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Verify(tt.secret, tt.ts, tt.body, tt.header, tt.now, tt.tol)
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func upperHex(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func TestVerifyFarPastNow(t *testing.T) {
	t.Parallel()
	// A "now" before the epoch must not overflow into acceptance.
	ts := "9223372036854775807"
	sig := Sign([]byte("k"), ts, nil)
	err := Verify([]byte("k"), ts, nil, sig, time.Unix(-9223372036, 0), time.Hour)
	assert.ErrorIs(t, err, ErrTimestampSkew)
}

func BenchmarkSign(b *testing.B) {
	secret := DeriveSecret(testMaster, "tenant")
	for _, size := range []int{256, 4 << 10, 64 << 10} {
		body := make([]byte, size)
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				_ = Sign(secret, "1700000000", body)
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	secret := DeriveSecret(testMaster, "tenant")
	body := make([]byte, 4<<10)
	now := time.Unix(1_700_000_000, 0)
	sig := Sign(secret, "1700000000", body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(secret, "1700000000", body, sig, now, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
