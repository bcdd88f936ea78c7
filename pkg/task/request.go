package task

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Limits bound what one create request may ask for.
type Limits struct {
	MaxPayloadBytes int           // default 256 KiB
	MaxHorizon      time.Duration // how far ahead due_at may be; default 1 year
	MaxAttempts     int           // cap on retry.max_attempts; default 25
}

// DefaultLimits are the limits of a deployment that sets none.
func DefaultLimits() Limits {
	return Limits{MaxPayloadBytes: 256 << 10, MaxHorizon: 366 * 24 * time.Hour, MaxAttempts: 25}
}

// BeyondHorizon reports whether a task due at due, asked for at now, is
// further ahead than the limits allow (MaxHorizon; zero means only what an
// ID can carry) — the one horizon for tasks and for the occurrences
// schedules make.
func (l Limits) BeyondHorizon(now, due time.Time) bool {
	return due.UnixMilli() > maxDueMs || l.MaxHorizon > 0 && due.After(now.Add(l.MaxHorizon))
}

// Defaults for the retry policy when a request gives none.
const (
	DefaultMaxAttempts    = 5
	DefaultInitialBackoff = time.Second
	DefaultMaxBackoff     = 5 * time.Minute
	maxLabels             = 16
	maxLabelLen           = 128
	maxIdemKeyLen         = 256
)

// TargetValidator checks a target object of a given kind; the API wires it to
// the registered executors. Field names are relative to the target object.
type TargetValidator func(kind string, spec json.RawMessage) []FieldError

// TenantTargetValidator checks a target object for a tenant: what a
// target may address depends on who asks (per-tenant allow-lists). The
// doors hold one and bind the caller's tenant with For before decoding.
type TenantTargetValidator func(tenant, kind string, spec json.RawMessage) []FieldError

// For binds tenant; a nil v gives a nil TargetValidator (no checks).
func (v TenantTargetValidator) For(tenant string) TargetValidator {
	if v == nil {
		return nil
	}
	return func(kind string, spec json.RawMessage) []FieldError { return v(tenant, kind, spec) }
}

// CreateRequest is a validated request to create a task.
type CreateRequest struct {
	DueAt          time.Time
	Target         Target
	Payload        json.RawMessage
	Retry          Retry
	IdempotencyKey string
	Labels         map[string]string
	LimitKey       string
}

var createFields = map[string]bool{
	"due_at": true, "target": true, "payload": true, "retry": true,
	"idempotency_key": true, "labels": true, "limit_key": true,
}

// DecodeCreate parses and validates a create-task body. prefix is prepended
// to field names (e.g. "tasks[3]." in a batch). Every problem found is
// reported, each naming its field; nothing is half-accepted.
func DecodeCreate(body []byte, prefix string, now time.Time, lim Limits, validate TargetValidator) (CreateRequest, []FieldError) {
	var req CreateRequest
	var errs []FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: prefix + field, Reason: fmt.Sprintf(format, args...)})
	}
	if fe := CheckJSON(body, prefix); fe != nil {
		return req, []FieldError{*fe}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		field := "body"
		if prefix != "" {
			field = strings.TrimSuffix(prefix, ".")
		}
		return req, []FieldError{{Field: field, Reason: "must be a JSON object" + jsonHint(err)}}
	}
	unknown := make([]string, 0)
	for k := range raw {
		if !createFields[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		add(k, "unknown field")
	}

	// due_at
	if v, ok := raw["due_at"]; !ok || isNull(v) {
		add("due_at", "is required (RFC 3339 time, e.g. 2030-01-02T15:04:05Z)")
	} else {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			add("due_at", "must be a string in RFC 3339 format")
		} else if t, err := ParseTime(s); err != nil {
			add("due_at", "%q is not an RFC 3339 time with an offset within ±23:59 (e.g. 2030-01-02T15:04:05Z)", s)
		} else {
			t = t.UTC().Truncate(time.Millisecond)
			switch {
			case t.UnixMilli() < 0 || t.UnixMilli() > maxDueMs:
				add("due_at", "is out of range")
			case lim.BeyondHorizon(now, t):
				add("due_at", "is more than %s ahead (the limit)", lim.MaxHorizon)
			default:
				req.DueAt = t
			}
		}
	}

	// target
	if v, ok := raw["target"]; !ok || isNull(v) {
		add("target", `is required, e.g. {"kind":"webhook","url":"https://example.com/hook"}`)
	} else {
		var head struct {
			Kind *string `json:"kind"`
		}
		if v[0] != '{' {
			add("target", "must be an object")
		} else if err := json.Unmarshal(v, &head); err != nil {
			add("target.kind", "must be a string") // v is a valid object, so only kind can fail
		} else if head.Kind == nil || *head.Kind == "" {
			add("target.kind", "is required")
		} else {
			req.Target = TargetOf(*head.Kind, compact(v))
			if validate != nil {
				for _, fe := range validate(*head.Kind, v) {
					add("target."+fe.Field, "%s", fe.Reason)
				}
			}
		}
	}

	// payload: any JSON, kept compact.
	if v, ok := raw["payload"]; ok {
		req.Payload = compact(v)
	} else {
		req.Payload = json.RawMessage("null")
	}
	if lim.MaxPayloadBytes > 0 && len(req.Payload) > lim.MaxPayloadBytes {
		add("payload", "is %d bytes; the limit is %d", len(req.Payload), lim.MaxPayloadBytes)
	}

	// retry
	req.Retry = Retry{MaxAttempts: DefaultMaxAttempts, InitialBackoff: DefaultInitialBackoff, MaxBackoff: DefaultMaxBackoff}
	if v, ok := raw["retry"]; ok && !isNull(v) {
		var r struct {
			MaxAttempts      *int   `json:"max_attempts"`
			InitialBackoffMs *int64 `json:"initial_backoff_ms"`
			MaxBackoffMs     *int64 `json:"max_backoff_ms"`
		}
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			add("retry", "must be an object with max_attempts, initial_backoff_ms and max_backoff_ms (integers)%s", jsonHint(err))
		} else {
			maxA := lim.MaxAttempts
			if maxA <= 0 {
				maxA = DefaultLimits().MaxAttempts
			}
			if r.MaxAttempts != nil {
				if *r.MaxAttempts < 1 || *r.MaxAttempts > maxA {
					add("retry.max_attempts", "must be between 1 and %d", maxA)
				} else {
					req.Retry.MaxAttempts = *r.MaxAttempts
				}
			}
			if r.InitialBackoffMs != nil {
				if *r.InitialBackoffMs < 100 || *r.InitialBackoffMs > int64(12*time.Hour/time.Millisecond) {
					add("retry.initial_backoff_ms", "must be between 100 and 43200000 (12 h)")
				} else {
					req.Retry.InitialBackoff = time.Duration(*r.InitialBackoffMs) * time.Millisecond
				}
			}
			if r.MaxBackoffMs != nil {
				if *r.MaxBackoffMs < 100 || *r.MaxBackoffMs > int64(12*time.Hour/time.Millisecond) {
					add("retry.max_backoff_ms", "must be between 100 and 43200000 (12 h)")
				} else {
					req.Retry.MaxBackoff = time.Duration(*r.MaxBackoffMs) * time.Millisecond
				}
			}
			if req.Retry.MaxBackoff < req.Retry.InitialBackoff {
				add("retry.max_backoff_ms", "must not be less than initial_backoff_ms")
			}
		}
	}

	// idempotency_key
	if v, ok := raw["idempotency_key"]; ok && !isNull(v) {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			add("idempotency_key", "must be a string")
		} else if s == "" || len(s) > maxIdemKeyLen || !Printable(s) {
			add("idempotency_key", "must be 1 to %d bytes of printable UTF-8 (no control, bidi or line-separator characters)", maxIdemKeyLen)
		} else {
			req.IdempotencyKey = s
		}
	}

	// limit_key
	if v, ok := raw["limit_key"]; ok && !isNull(v) {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			add("limit_key", "must be a string")
		} else if !ValidLimitKey(s) {
			add("limit_key", LimitKeyRule)
		} else {
			req.LimitKey = s
		}
	}

	// labels
	if v, ok := raw["labels"]; ok && !isNull(v) {
		var m map[string]string
		if err := json.Unmarshal(v, &m); err != nil {
			add("labels", "must be an object of string values")
		} else if len(m) > maxLabels {
			add("labels", "has %d entries; the limit is %d", len(m), maxLabels)
		} else {
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if k == "" || len(k) > maxLabelLen || !Printable(k) || strings.ContainsAny(k, "=#") {
					add("labels", "key %q must be 1 to %d bytes of printable UTF-8 (no control, bidi or line-separator characters), without '=' or '#'", k, maxLabelLen)
				} else if len(m[k]) > maxLabelLen || !Printable(m[k]) {
					add("labels."+k, "must be at most %d bytes of printable UTF-8 (no control, bidi or line-separator characters)", maxLabelLen)
				}
			}
			if len(m) > 0 {
				req.Labels = m
			}
		}
	}
	return req, errs
}

// PayloadHash fingerprints what a task will execute (target and payload). A
// queue message carries it, and a worker refuses a message whose hash no
// longer matches the stored task.
func PayloadHash(t Target, payload json.RawMessage) string {
	h := sha256.New()
	h.Write([]byte(t.Kind))
	h.Write([]byte{0})
	h.Write(t.Spec)
	h.Write([]byte{0})
	h.Write(payload)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// RequestHash fingerprints a whole create request body, for client-token
// idempotency: the same token with a different body is refused.
func RequestHash(body []byte) string {
	sum := sha256.Sum256(compact(body))
	return hex.EncodeToString(sum[:16])
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

func compact(v json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return append(json.RawMessage(nil), v...)
	}
	return b.Bytes()
}

func jsonHint(err error) string {
	if err == nil {
		return ""
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf(" (invalid JSON at byte %d)", se.Offset)
	}
	return ""
}
