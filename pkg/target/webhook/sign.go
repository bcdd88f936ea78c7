package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SignatureVersion prefixes each signature in the Hourglass-Signature header.
const SignatureVersion = "v1"

// DefaultTolerance is the clock skew Verify accepts when given a tolerance ≤ 0.
const DefaultTolerance = 5 * time.Minute

// Errors returned by Verify. Receivers should answer 401 for all of them.
var (
	ErrInvalidTimestamp = errors.New("webhook: invalid Hourglass-Timestamp")
	ErrTimestampSkew    = errors.New("webhook: Hourglass-Timestamp outside tolerance")
	ErrNoSignature      = errors.New("webhook: no v1 signature in Hourglass-Signature")
	ErrBadSignature     = errors.New("webhook: signature mismatch")
)

// DeriveSecret returns the signing secret of a tenant: HMAC-SHA256(master,
// tenant). It is the default SecretFunc's derivation, so an operator can hand
// each tenant its own secret while storing only the master.
func DeriveSecret(master []byte, tenant string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(tenant))
	return m.Sum(nil)
}

func mac(secret []byte, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the Hourglass-Signature header value for body sent at
// timestamp (decimal unix seconds): "v1=" + hex(HMAC-SHA256(secret,
// timestamp + "." + body)).
func Sign(secret []byte, timestamp string, body []byte) string {
	return SignatureVersion + "=" + hex.EncodeToString(mac(secret, timestamp, body))
}

// Verify checks a webhook delivery as a receiver sees it: timestamp is the
// Hourglass-Timestamp header, body the raw request body, signatureHeader the
// Hourglass-Signature header. The header may carry several comma-separated
// signatures (e.g. during a secret rotation); one valid v1 signature suffices,
// and other versions are ignored. The timestamp must lie within tolerance of
// now (DefaultTolerance when tolerance ≤ 0), which bounds replays.
// Signatures are compared in constant time.
func Verify(secret []byte, timestamp string, body []byte, signatureHeader string, now time.Time, tolerance time.Duration) error {
	ts, err := parseTimestamp(timestamp)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	// Compare in seconds so that no subtraction can overflow a Duration.
	skew := now.Unix() - ts
	if ts > now.Unix() {
		skew = ts - now.Unix()
	}
	if skew < 0 || skew > int64(tolerance/time.Second) {
		return ErrTimestampSkew
	}
	want := mac(secret, timestamp, body)
	found := false
	ok := false
	for part := range strings.SplitSeq(signatureHeader, ",") {
		v, sig, has := strings.Cut(strings.TrimSpace(part), "=")
		if !has || v != SignatureVersion {
			continue
		}
		found = true
		got, err := hex.DecodeString(sig)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			ok = true
		}
	}
	switch {
	case ok:
		return nil
	case !found:
		return ErrNoSignature
	default:
		return ErrBadSignature
	}
}

// parseTimestamp accepts only plain decimal unix seconds, the form Sign's
// caller writes, so that "+1", " 1" or "1e9" cannot alias a signed value.
func parseTimestamp(s string) (int64, error) {
	if s == "" || len(s) > 19 {
		return 0, ErrInvalidTimestamp
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, ErrInvalidTimestamp
		}
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, ErrInvalidTimestamp
	}
	return ts, nil
}
