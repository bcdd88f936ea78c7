package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers (https://www.standardwebhooks.com/) every
// delivery carries. HTTP header names are case-insensitive; the spec
// writes them in lower case, as here.
const (
	// HeaderWebhookID is the message ID: MessageID(tenant, idempotency
	// key), the same on every attempt of a task. Receivers deduplicate
	// on it: it is signed, unlike Idempotency-Key.
	HeaderWebhookID = "webhook-id"
	// HeaderWebhookTimestamp is the attempt's send time in decimal unix
	// seconds, fresh on every attempt.
	HeaderWebhookTimestamp = "webhook-timestamp"
	// HeaderWebhookSignature is one or more space-separated "v1,<base64>"
	// signatures: two while a rotated secret's grace period lasts.
	HeaderWebhookSignature = "webhook-signature"
)

// SignatureVersion prefixes each signature in the webhook-signature header.
const SignatureVersion = "v1"

// SecretPrefix starts a signing secret in its Standard Webhooks form:
// "whsec_" + base64 of the key bytes.
const SecretPrefix = "whsec_"

// SecretBytes is the length of the keys NewSecret makes (the spec asks
// for 24 to 64 bytes).
const SecretBytes = 32

// DefaultTolerance is the clock skew Verify accepts when given a tolerance ≤ 0
// (the spec's, and the official libraries', five minutes).
const DefaultTolerance = 5 * time.Minute

// Errors returned by Verify and ParseSecret. Receivers should answer 401
// for all of Verify's.
var (
	ErrMissingHeaders   = errors.New("webhook: webhook-id, webhook-timestamp or webhook-signature missing")
	ErrInvalidTimestamp = errors.New("webhook: invalid webhook-timestamp")
	ErrTimestampSkew    = errors.New("webhook: webhook-timestamp outside tolerance")
	ErrNoSignature      = errors.New("webhook: no v1 signature in webhook-signature")
	ErrBadSignature     = errors.New("webhook: signature mismatch")
	ErrBadSecret        = errors.New(`webhook: signing secret must be "whsec_" + base64 of at least 24 bytes`)
)

// NewSecret returns a fresh random signing key of SecretBytes bytes.
func NewSecret() ([]byte, error) {
	k := make([]byte, SecretBytes)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("webhook: new signing secret: %w", err)
	}
	return k, nil
}

// FormatSecret renders a key in the form the official libraries take:
// "whsec_" + standard base64.
func FormatSecret(key []byte) string { return SecretPrefix + base64.StdEncoding.EncodeToString(key) }

// ParseSecret reads a "whsec_…" secret back into its key bytes.
func ParseSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, ErrBadSecret
	}
	k, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(k) < 24 {
		return nil, ErrBadSecret
	}
	return k, nil
}

// MessageID is a task's webhook-id: "msg_" + the first 128 bits, in hex,
// of SHA-256 over the tenant and the idempotency key (length-prefixed, so
// that no two (tenant, key) pairs share an input). An idempotency key is
// unique per task within its tenant and the same on every attempt and
// every duplicate delivery, so the ID is too; the tenant in the hash keeps
// two tenants' equal keys apart.
func MessageID(tenant, idempotencyKey string) string {
	h := sha256.New()
	h.Write([]byte("hourglass webhook-id\x00"))
	h.Write([]byte(strconv.Itoa(len(tenant)) + ":" + tenant))
	h.Write([]byte(idempotencyKey))
	return "msg_" + hex.EncodeToString(h.Sum(nil)[:16])
}

func mac(key []byte, id, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the webhook-signature header value for a message: for each
// key, "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." +
// body)), space-separated, in the order given (the current secret first,
// then a rotated one still in its grace period).
func Sign(id, timestamp string, body []byte, keys ...[]byte) string {
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, SignatureVersion+","+base64.StdEncoding.EncodeToString(mac(k, id, timestamp, body)))
	}
	return strings.Join(parts, " ")
}

// Verify checks a delivery as a receiver sees it, per the Standard
// Webhooks spec: id, timestamp and signatureHeader are the webhook-id,
// webhook-timestamp and webhook-signature headers, body the raw request
// body. One valid v1 signature among the space-separated ones suffices;
// other versions are ignored. The timestamp must lie within tolerance of
// now (DefaultTolerance when tolerance ≤ 0), which bounds replays; a
// receiver that also remembers the webhook-ids it has seen for that long
// refuses every replay. Signatures are compared in constant time.
func Verify(key []byte, id, timestamp string, body []byte, signatureHeader string, now time.Time, tolerance time.Duration) error {
	if id == "" || timestamp == "" || signatureHeader == "" {
		return ErrMissingHeaders
	}
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
	want := mac(key, id, timestamp, body)
	found, ok := false, false
	for part := range strings.FieldsSeq(signatureHeader) {
		v, sig, has := strings.Cut(part, ",")
		if !has || v != SignatureVersion {
			continue
		}
		found = true
		got, err := base64.StdEncoding.DecodeString(sig)
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
