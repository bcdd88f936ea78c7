package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/target"
)

// Kind is the target kind this package serves.
const Kind = "webhook"

// Response handling limits.
const (
	MaxResponseRead = 64 << 10 // bytes of a response body read before the connection is dropped
	MaxSummary      = 256      // bytes of the body kept in Result.Summary
	MaxRetryAfter   = 24 * time.Hour
)

// UserAgent is sent unless the task sets its own User-Agent header.
const UserAgent = "Hourglass-Webhook/1"

// SecretFunc returns the signing keys of a tenant: its current secret
// first, then a rotated one still in its grace period (each delivery
// carries one signature per key). Returning an error wrapped with
// target.Permanent fails the task; any other error is retried.
type SecretFunc func(ctx context.Context, tenant string) ([][]byte, error)

// StaticSecrets is a SecretFunc that gives every tenant the same keys
// (tests and tools; Hourglass itself stores a secret per tenant).
func StaticSecrets(keys ...[]byte) SecretFunc {
	keys = slices.Clone(keys)
	return func(context.Context, string) ([][]byte, error) { return keys, nil }
}

// Config builds an Executor.
type Config struct {
	// Secret returns a tenant's signing keys; required.
	Secret SecretFunc
	// Allow lists destinations the SSRF guard lets through even though they
	// are internal, and the only ones plain http may reach. Entries are CIDRs
	// ("10.1.0.0/16"), IPs ("127.0.0.1", any port), IP:port ("127.0.0.1:8080",
	// "[::1]:8080") or host:port ("sink.local:8080", skips address checks for
	// that name). Dev mode lists its local sink; production lists nothing.
	Allow []string
	// Resolver resolves host names at dial time; net.DefaultResolver when nil.
	Resolver Resolver
	// Clock stamps webhook-timestamp; the system clock when nil.
	Clock clock.Clock
	// TLSConfig, when set, is cloned for the transport (e.g. private roots).
	TLSConfig *tls.Config
}

// Executor delivers webhook targets. It is safe for concurrent use; build one
// per process and reuse it so connections are pooled.
type Executor struct {
	client *http.Client
	secret SecretFunc
	clock  clock.Clock
	allow  allowList
}

var _ target.Executor = (*Executor)(nil)

// New builds an Executor with its own HTTP client: proxies from the
// environment are ignored, redirects are not followed and every connection
// goes through the SSRF guard.
func New(cfg Config) (*Executor, error) {
	al, err := parseAllowList(cfg.Allow)
	if err != nil {
		return nil, err
	}
	secret := cfg.Secret
	if secret == nil {
		return nil, errors.New("webhook: Config needs a Secret function (the tenants' signing secrets)")
	}
	var resolver Resolver = net.DefaultResolver
	if cfg.Resolver != nil {
		resolver = cfg.Resolver
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.System{}
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		tlsConf = cfg.TLSConfig.Clone()
		if tlsConf.MinVersion < tls.VersionTLS12 {
			tlsConf.MinVersion = tls.VersionTLS12
		}
	}
	g := &guard{allow: al, resolver: resolver}
	transport := &http.Transport{
		Proxy:                  nil, // HTTP_PROXY must not route around the guard
		DialContext:            g.DialContext,
		TLSClientConfig:        tlsConf,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    10 * time.Second,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    10,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &Executor{
		client: &http.Client{
			Transport: transport,
			// A redirect could point anywhere; the 3xx itself is the outcome.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		secret: secret,
		clock:  clk,
		allow:  al,
	}, nil
}

// Kind returns "webhook".
func (e *Executor) Kind() string { return Kind }

// Validate checks a webhook spec without network I/O: host names are resolved
// and checked again when dialled.
func (e *Executor) Validate(spec json.RawMessage) []target.FieldError {
	_, errs := e.parseSpec(spec)
	return errs
}

// CloseIdleConnections closes pooled connections (shutdown, tests).
func (e *Executor) CloseIdleConnections() { e.client.CloseIdleConnections() }

// StatusError is a non-2xx response.
type StatusError struct {
	StatusCode int
	Summary    string
}

func (e *StatusError) Error() string {
	if e.Summary == "" {
		return fmt.Sprintf("webhook: status %d", e.StatusCode)
	}
	return fmt.Sprintf("webhook: status %d: %s", e.StatusCode, e.Summary)
}

// Execute POSTs the payload, signed, and maps the outcome: 2xx succeeds;
// 408, 425, 429 and 5xx are retried (429/503 with Retry-After as a
// target.RetryAfterError); 3xx and other 4xx are permanent; network errors
// and timeouts are retried; a destination refused by the guard is permanent.
func (e *Executor) Execute(ctx context.Context, inv target.Invocation) (target.Result, error) {
	ep, errs := e.parseSpec(inv.Spec)
	if len(errs) > 0 {
		parts := make([]string, len(errs))
		for i, fe := range errs {
			parts[i] = fe.Field + ": " + fe.Reason
		}
		return target.Result{}, target.Permanent(fmt.Errorf("webhook: invalid target: %s", strings.Join(parts, "; ")))
	}
	body := []byte(inv.Payload)
	if len(body) == 0 {
		body = []byte("null")
	}
	if !json.Valid(body) {
		return target.Result{}, target.Permanent(errors.New("webhook: payload is not valid JSON"))
	}
	ours := map[string]string{
		HeaderTaskID:         inv.TaskID,
		HeaderAttempt:        strconv.Itoa(inv.Attempt),
		HeaderIdempotencyKey: inv.IdempotencyKey,
		HeaderMessageID:      inv.Delivery.MessageID,
		HeaderOrigin:         inv.Delivery.Origin,
		HeaderReceivedAt:     unixMs(inv.Delivery.ReceivedAt),
		HeaderVisibleUntil:   unixMs(inv.Delivery.VisibleUntil),
	}
	for k, v := range ours {
		if !validHeaderValue(v) {
			return target.Result{}, target.Permanent(fmt.Errorf("webhook: %s contains control characters", k))
		}
	}
	keys, err := e.secret(ctx, inv.Tenant)
	if err != nil {
		err = fmt.Errorf("webhook: signing secret for tenant %q: %w", inv.Tenant, err)
		if target.IsPermanent(err) {
			return target.Result{}, err
		}
		// Our store failed, not the target: no attempt is charged.
		return target.Result{}, target.NotAttempted(err)
	}
	if len(keys) == 0 || slices.ContainsFunc(keys, func(k []byte) bool { return len(k) == 0 }) {
		return target.Result{}, fmt.Errorf("webhook: empty signing secret for tenant %q", inv.Tenant)
	}
	// Every attempt is stamped afresh; the ID is the task's, on every one.
	ts := strconv.FormatInt(e.clock.Now().Unix(), 10)
	msgID := MessageID(inv.Tenant, inv.IdempotencyKey)

	ctx, cancel := context.WithTimeout(ctx, ep.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url.String(), bytes.NewReader(body))
	if err != nil {
		return target.Result{}, target.Permanent(fmt.Errorf("webhook: build request: %w", err))
	}
	for k, v := range ep.headers {
		req.Header.Set(k, v)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", UserAgent)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range ours {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	// Set directly: Header.Set would canonicalise to Webhook-Id, which is
	// the same header to HTTP, but the spec spells them in lower case.
	req.Header[HeaderWebhookID] = []string{msgID}
	req.Header[HeaderWebhookTimestamp] = []string{ts}
	req.Header[HeaderWebhookSignature] = []string{Sign(msgID, ts, body, keys...)}

	resp, err := e.client.Do(req)
	if err != nil {
		var refused *RefusedError
		switch {
		case errors.As(err, &refused):
			return target.Result{}, target.Permanent(refused)
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
			return target.Result{}, fmt.Errorf("webhook: POST %s: no response within %s: %w", ep.url.Host, ep.timeout, err)
		default:
			return target.Result{}, fmt.Errorf("webhook: POST %s: %w", ep.url.Host, err)
		}
	}
	defer resp.Body.Close()
	// The status is the outcome; the body only feeds the summary, so a read
	// error (or a body longer than the cap) does not change it.
	data, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponseRead))
	res := target.Result{StatusCode: resp.StatusCode, Summary: summarize(data)}
	return res, e.outcome(resp, res)
}

func (e *Executor) outcome(resp *http.Response, res target.Result) error {
	code := resp.StatusCode
	if code >= 200 && code <= 299 {
		return nil
	}
	serr := &StatusError{StatusCode: code, Summary: res.Summary}
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		if after, ok := parseRetryAfter(resp.Header.Get("Retry-After"), e.clock.Now()); ok {
			return &target.RetryAfterError{Err: serr, After: after}
		}
		return serr
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly || code >= 500 && code <= 599:
		return serr
	case code >= 300 && code <= 399:
		return target.Permanent(fmt.Errorf("%w (redirects are not followed)", serr))
	default:
		return target.Permanent(serr)
	}
}

// parseRetryAfter reads delta-seconds or an HTTP date, capped at MaxRetryAfter.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		if n > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	} else if errors.Is(err, strconv.ErrRange) {
		return MaxRetryAfter, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	return min(max(d, 0), MaxRetryAfter), true
}

// summarize keeps the first MaxSummary bytes of a body, cut on a rune
// boundary, with invalid UTF-8 replaced.
func summarize(b []byte) string {
	truncated := len(b) > MaxSummary
	if truncated {
		b = b[:MaxSummary]
		for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
			if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size != 1 {
				break
			}
			b = b[:len(b)-1]
		}
	}
	s := strings.ToValidUTF8(strings.TrimSpace(string(b)), "\uFFFD")
	if truncated {
		s += "…"
	}
	return s
}

// unixMs renders t as Unix milliseconds, or "" (header left out) when zero.
func unixMs(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}
