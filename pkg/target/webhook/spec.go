package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Limits on a webhook target spec.
const (
	DefaultTimeout  = 10 * time.Second
	MinTimeout      = 100 * time.Millisecond
	MaxTimeout      = 60 * time.Second
	MaxURLLength    = 2048
	MaxHeaders      = 32
	MaxHeaderName   = 256
	MaxHeaderValue  = 4096
	MaxHeadersBytes = 16 << 10
)

// Spec is the webhook target as a task stores it (Invocation.Spec). See the
// package documentation for the JSON form.
type Spec struct {
	Kind      string            `json:"kind,omitempty"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers,omitempty"`
	TimeoutMS int64             `json:"timeout_ms,omitempty"`
}

// Header names we set on every delivery.
const (
	HeaderTaskID         = "Hourglass-Task-Id"
	HeaderAttempt        = "Hourglass-Attempt"
	HeaderIdempotencyKey = "Idempotency-Key"
	// Delivery facts (target.Delivery), so a receiver can classify
	// duplicates: the queue message ID, its origin, and when the worker
	// received it and its visibility ends (Unix milliseconds). Each is
	// sent only when known.
	HeaderMessageID    = "Hourglass-Message-Id"
	HeaderOrigin       = "Hourglass-Origin"
	HeaderReceivedAt   = "Hourglass-Received-At"
	HeaderVisibleUntil = "Hourglass-Visible-Until"
)

// reservedHeaders may not be set by a task: ours, those the transport owns,
// and the hop-by-hop ones (RFC 9110 §7.6.1). "hourglass-", "webhook-" (the
// Standard Webhooks headers) and "proxy-" are reserved as prefixes.
var reservedHeaders = map[string]bool{
	"idempotency-key":   true,
	"content-type":      true,
	"content-length":    true,
	"content-encoding":  true,
	"host":              true,
	"connection":        true,
	"keep-alive":        true,
	"te":                true,
	"trailer":           true,
	"transfer-encoding": true,
	"upgrade":           true,
	"expect":            true,
}

// endpoint is a validated spec, ready to call.
type endpoint struct {
	url     *url.URL
	headers map[string]string // canonical names
	timeout time.Duration
}

func (e *Executor) parseSpec(raw json.RawMessage) (endpoint, []target.FieldError) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return endpoint{}, []target.FieldError{{Field: "", Reason: "webhook target must be a JSON object"}}
	}
	var (
		ep   = endpoint{timeout: DefaultTimeout}
		errs []target.FieldError
	)
	fail := func(field, format string, args ...any) {
		errs = append(errs, target.FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	for key, val := range fields {
		switch key {
		case "kind":
			// The caller routes on kind; it is accepted and ignored here.
		case "url":
			var s string
			if err := json.Unmarshal(val, &s); err != nil {
				fail("url", "must be a string")
				continue
			}
			u, err := e.checkURL(s)
			if err != nil {
				fail("url", "%s", err)
				continue
			}
			ep.url = u
		case "headers":
			if isNull(val) {
				continue
			}
			var hs map[string]string
			if err := json.Unmarshal(val, &hs); err != nil {
				fail("headers", "must be an object of string values")
				continue
			}
			ep.headers = checkHeaders(hs, fail)
		case "timeout_ms":
			var ms int64
			if err := json.Unmarshal(val, &ms); err != nil {
				fail("timeout_ms", "must be an integer number of milliseconds")
				continue
			}
			if ms < MinTimeout.Milliseconds() || ms > MaxTimeout.Milliseconds() {
				fail("timeout_ms", "must be between %d and %d", MinTimeout.Milliseconds(), MaxTimeout.Milliseconds())
				continue
			}
			ep.timeout = time.Duration(ms) * time.Millisecond
		default:
			fail(key, "unknown field")
		}
	}
	if _, ok := fields["url"]; !ok {
		fail("url", "is required")
	}
	slices.SortFunc(errs, func(a, b target.FieldError) int { return strings.Compare(a.Field, b.Field) })
	return ep, errs
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

func checkHeaders(hs map[string]string, fail func(field, format string, args ...any)) map[string]string {
	if len(hs) > MaxHeaders {
		fail("headers", "at most %d headers", MaxHeaders)
		return nil
	}
	names := make([]string, 0, len(hs))
	for k := range hs {
		names = append(names, k)
	}
	slices.Sort(names) // deterministic duplicate reports
	out := make(map[string]string, len(hs))
	seen := make(map[string]string, len(hs))
	total := 0
	for _, name := range names {
		value := hs[name]
		field := "headers." + name
		lower := strings.ToLower(name)
		canon := textproto.CanonicalMIMEHeaderKey(name)
		total += len(name) + len(value)
		switch {
		case name == "" || len(name) > MaxHeaderName || !isToken(name):
			fail(field, "is not a valid header name")
		case reservedHeaders[lower] || strings.HasPrefix(lower, "hourglass-") || strings.HasPrefix(lower, "webhook-") || strings.HasPrefix(lower, "proxy-"):
			fail(field, "is set by Hourglass or the transport and may not be overridden")
		case seen[canon] != "":
			fail(field, "duplicates headers.%s", seen[canon])
		case len(value) > MaxHeaderValue:
			fail(field, "value is longer than %d bytes", MaxHeaderValue)
		case !validHeaderValue(value):
			fail(field, "value contains control, bidi or line-separator characters, or bytes that are not UTF-8")
		default:
			seen[canon] = name
			out[canon] = value
		}
	}
	if total > MaxHeadersBytes {
		fail("headers", "total size exceeds %d bytes", MaxHeadersBytes)
	}
	return out
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// validHeaderValue refuses what task.Unprintable names (CR/LF above all,
// and the C1 and bidi controls that would spoof the value in a log or a
// console) except tab, which RFC 9110 allows in a field value, and bytes
// that are not UTF-8.
func validHeaderValue(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r != '\t' && task.Unprintable(r) {
			return false
		}
	}
	return true
}

// checkURL validates a webhook URL against scheme, shape and the static part
// of the SSRF guard.
func (e *Executor) checkURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("is required")
	}
	if len(raw) > MaxURLLength {
		return nil, fmt.Errorf("is longer than %d bytes", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("is not a valid URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("scheme must be https")
	}
	if u.Opaque != "" || u.Host == "" {
		return nil, fmt.Errorf("must be an absolute URL with a host")
	}
	if u.User != nil {
		return nil, fmt.Errorf("must not contain user information")
	}
	portStr := u.Port()
	if portStr == "" {
		portStr = "443"
		if u.Scheme == "http" {
			portStr = "80"
		}
	}
	port, err := parsePort(portStr)
	if err != nil {
		return nil, err
	}
	h, err := parseHost(u.Hostname())
	if err != nil {
		return nil, err
	}
	if u.Scheme == "http" && !e.allow.allows(h, port) {
		return nil, fmt.Errorf("scheme must be https (plain http only reaches allow-listed destinations)")
	}
	if err := e.allow.checkStatic(u.Hostname(), h, port); err != nil {
		var r *RefusedError
		if errors.As(err, &r) {
			return nil, fmt.Errorf("refused destination: %s is %s", h.name, r.Reason)
		}
		return nil, err
	}
	return u, nil
}
