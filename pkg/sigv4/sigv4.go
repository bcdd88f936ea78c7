// Package sigv4 verifies AWS Signature Version 4 requests (the
// Authorization-header form) for the doors that speak an AWS wire protocol,
// such as the EventBridge Scheduler–compatible API. It owns the canonical
// request, the string to sign, the derived key and the clock-skew rule; it
// learns a key's tenant and secret from a Resolver, so where keys are kept
// (the dev convention, a store of per-tenant keys) is not its concern.
package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/httpbinding"
)

// Resolver finds the tenant and secret of an access key.
type Resolver interface {
	// Resolve returns the tenant and the secret access key for an access key ID,
	// or an error wrapping ErrUnknownKey.
	Resolve(ctx context.Context, accessKeyID string) (tenant, secret string, err error)
}

// ErrUnknownKey: no tenant holds the access key.
var ErrUnknownKey = errors.New("sigv4: unknown access key")

// The AWS error codes a refused request answers with (all HTTP 403).
const (
	// CodeInvalidSignature: the signature does not match, the request is
	// malformed, or its date is more than MaxSkew off.
	CodeInvalidSignature = "InvalidSignatureException"
	// CodeUnrecognizedClient: the access key is unknown.
	CodeUnrecognizedClient = "UnrecognizedClientException"
	// CodeMissingToken: the request carries no Authorization header.
	CodeMissingToken = "MissingAuthenticationTokenException"
)

// Error is a refusal: Code is the AWS error code, Message the reason
// (safe to show the caller: it never contains a secret or the expected
// signature). Status is always 403.
type Error struct {
	Code    string
	Message string
	err     error // the resolver's error, for logs
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap returns the resolver's error, if any.
func (e *Error) Unwrap() error { return e.err }

// Status is the HTTP status of every refusal.
func (e *Error) Status() int { return http.StatusForbidden }

func invalid(format string, a ...any) *Error {
	return &Error{Code: CodeInvalidSignature, Message: fmt.Sprintf(format, a...)}
}

// MaxSkew is how far a request's X-Amz-Date may be from the verifier's
// clock, as in AWS.
const MaxSkew = 5 * time.Minute

// Verifier verifies requests signed for one service.
type Verifier struct {
	Service  string   // the signing name, e.g. "scheduler"
	Resolver Resolver // finds the key's tenant and secret
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

const (
	algorithm  = "AWS4-HMAC-SHA256"
	dateFormat = "20060102T150405Z"
)

// auth is a parsed Authorization header.
type auth struct {
	keyID, date, region, service string
	signed                       []string
	signature                    string
}

func parseAuth(h string) (auth, *Error) {
	rest, ok := strings.CutPrefix(h, algorithm+" ")
	if !ok {
		return auth{}, invalid("the Authorization header must use %s", algorithm)
	}
	var a auth
	var cred, signed string
	seen := map[string]bool{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || seen[k] {
			return auth{}, invalid("malformed Authorization header component %q", k)
		}
		seen[k] = true
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			a.signature = v
		default:
			return auth{}, invalid("unknown Authorization header component %q", k)
		}
	}
	if cred == "" || signed == "" || a.signature == "" {
		return auth{}, invalid("the Authorization header needs Credential, SignedHeaders and Signature")
	}
	f := strings.Split(cred, "/")
	if len(f) != 5 || f[0] == "" || f[4] != "aws4_request" || f[2] == "" {
		return auth{}, invalid("Credential must be <key>/<date>/<region>/<service>/aws4_request")
	}
	a.keyID, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
	a.signed = strings.Split(signed, ";")
	for i, h := range a.signed {
		if h == "" || h != strings.ToLower(h) || (i > 0 && a.signed[i-1] >= h) {
			return auth{}, invalid("SignedHeaders must be lower-case header names in order")
		}
	}
	if len(a.signature) != 64 {
		return auth{}, invalid("Signature must be 64 hex digits")
	}
	return a, nil
}

// Identity is who signed a verified request.
type Identity struct {
	Tenant      string
	AccessKeyID string
	Region      string // the region of the credential scope
}

// Verify checks r, whose body has been read into body, and returns the
// tenant of the key that signed it. A refusal is an *Error; any other
// error (the resolver failed) is the server's fault.
func (v *Verifier) Verify(ctx context.Context, r *http.Request, body []byte) (string, error) {
	id, err := v.VerifyIdentity(ctx, r, body)
	return id.Tenant, err
}

// VerifyIdentity is Verify, answering the whole identity.
func (v *Verifier) VerifyIdentity(ctx context.Context, r *http.Request, body []byte) (Identity, error) {
	tenant, a, err := v.verify(ctx, r, body)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Tenant: tenant, AccessKeyID: a.keyID, Region: a.region}, nil
}

func (v *Verifier) verify(ctx context.Context, r *http.Request, body []byte) (string, auth, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", auth{}, &Error{Code: CodeMissingToken, Message: "Missing Authentication Token"}
	}
	a, perr := parseAuth(h)
	if perr != nil {
		return "", auth{}, perr
	}
	if a.service != v.Service {
		return "", auth{}, invalid("Credential should be scoped to correct service: '%s'", v.Service)
	}
	amz := r.Header.Get("X-Amz-Date")
	at, err := time.Parse(dateFormat, amz)
	if err != nil {
		return "", auth{}, invalid("X-Amz-Date must be a date like 20060102T150405Z")
	}
	if a.date != amz[:8] {
		return "", auth{}, invalid("the Credential's date must be X-Amz-Date's")
	}
	if !contains(a.signed, "host") || !contains(a.signed, "x-amz-date") {
		return "", auth{}, invalid("SignedHeaders must include host and x-amz-date")
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if d := now().Sub(at); d > MaxSkew || d < -MaxSkew {
		return "", auth{}, invalid("Signature expired: %s is now earlier than %s or later than %s (5 minutes)",
			amz, now().Add(-MaxSkew).UTC().Format(dateFormat), now().Add(MaxSkew).UTC().Format(dateFormat))
	}
	tenant, secret, err := v.Resolver.Resolve(ctx, a.keyID)
	if errors.Is(err, ErrUnknownKey) {
		return "", auth{}, &Error{Code: CodeUnrecognizedClient, Message: "The security token included in the request is invalid.", err: err}
	}
	if err != nil {
		return "", auth{}, fmt.Errorf("resolve access key: %w", err)
	}
	scope := a.date + "/" + a.region + "/" + a.service + "/aws4_request"
	canon := CanonicalRequest(r, a.signed, body)
	sts := algorithm + "\n" + amz + "\n" + scope + "\n" + hexSHA([]byte(canon))
	want := hex.EncodeToString(hmacSHA(SigningKey(secret, a.date, a.region, a.service), []byte(sts)))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(a.signature))) {
		return "", auth{}, invalid("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	return tenant, a, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CanonicalRequest is r's canonical request over the signed headers, as
// the SDKs build it for services other than S3: the path as it came on the
// wire (r.URL.EscapedPath, so a %2F stays one), escaped once more; the
// query sorted and RFC 3986-encoded; each signed header's values trimmed,
// inner spaces collapsed and joined by commas; the body's SHA-256.
func CanonicalRequest(r *http.Request, signed []string, body []byte) string {
	p := r.URL.EscapedPath()
	if r.URL.Opaque != "" {
		p = r.URL.Opaque
	}
	if p == "" {
		p = "/"
	}
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(httpbinding.EscapePath(p, false))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery))
	b.WriteByte('\n')
	for _, h := range signed {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(headerValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	b.WriteString(hexSHA(body))
	return b.String()
}

func canonicalQuery(raw string) string {
	// An unparsable pair is dropped, as url.URL.Query (the SDK's parse)
	// drops it.
	q, _ := url.ParseQuery(raw)
	type pair struct{ k, v string }
	pairs := make([]pair, 0, len(q))
	for k, vs := range q {
		ek := escapeQuery(k)
		for _, v := range vs {
			pairs = append(pairs, pair{ek, escapeQuery(v)})
		}
	}
	// Sorted by the encoded key, then value: the byte order of what is
	// signed, which is not always the raw strings' order.
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

func escapeQuery(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

func headerValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return r.Host
	case "content-length":
		if r.ContentLength >= 0 && r.Header.Get("Content-Length") == "" {
			return strconv.FormatInt(r.ContentLength, 10)
		}
	}
	vals := r.Header.Values(name)
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

// SigningKey derives the signing key of secret for a date (YYYYMMDD),
// region and service.
func SigningKey(secret, date, region, service string) []byte {
	k := hmacSHA([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA(k, []byte(region))
	k = hmacSHA(k, []byte(service))
	return hmacSHA(k, []byte("aws4_request"))
}

func hmacSHA(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// DevResolver is development mode's resolver: the access key ID
// "dev-<tenant>" with the secret "dev" signs as <tenant>, where <tenant> is
// 1 to 128 of [A-Za-z0-9_-]. It is never wired outside development mode.
type DevResolver struct{}

// Resolve implements Resolver.
func (DevResolver) Resolve(_ context.Context, id string) (string, string, error) {
	t, ok := strings.CutPrefix(id, "dev-")
	if !ok || !devTenant(t) {
		return "", "", fmt.Errorf("%w %q (development mode accepts dev-<tenant>)", ErrUnknownKey, id)
	}
	return t, "dev", nil
}

func devTenant(t string) bool {
	if t == "" || len(t) > 128 {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Chain resolves with each resolver in turn: the first that knows the key
// answers; an error other than ErrUnknownKey stops the search.
func Chain(rs ...Resolver) Resolver { return chain(rs) }

type chain []Resolver

func (c chain) Resolve(ctx context.Context, id string) (string, string, error) {
	for _, r := range c {
		t, s, err := r.Resolve(ctx, id)
		if err == nil || !errors.Is(err, ErrUnknownKey) {
			return t, s, err
		}
	}
	return "", "", fmt.Errorf("%w %q", ErrUnknownKey, id)
}
