package task

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// testValidator stands in for the executors: webhook targets need an https
// url; other kinds are unknown.
func testValidator(kind string, spec json.RawMessage) []FieldError {
	switch kind {
	case "webhook":
		var s struct {
			URL     any `json:"url"`
			Timeout any `json:"timeout_ms"`
		}
		if err := json.Unmarshal(spec, &s); err != nil {
			return []FieldError{{Field: "", Reason: "bad"}}
		}
		var errs []FieldError
		if u, _ := s.URL.(string); !strings.HasPrefix(u, "https://") {
			errs = append(errs, FieldError{Field: "url", Reason: "must be an https URL"})
		}
		if s.Timeout != nil {
			errs = append(errs, FieldError{Field: "timeout_ms", Reason: "is not supported"})
		}
		return errs
	case "sqs":
		return nil
	default:
		return []FieldError{{Field: "kind", Reason: fmt.Sprintf("%q is not a target kind", kind)}}
	}
}

const goodTarget = `{"kind":"webhook","url":"https://example.com/hook"}`

// body builds a create body from a valid one, with fields replaced (a value
// of "" deletes the field).
func body(t testing.TB, replace map[string]string) []byte {
	t.Helper()
	fields := map[string]string{
		"due_at": `"2030-01-02T15:04:05Z"`,
		"target": goodTarget,
	}
	for k, v := range replace {
		if v == "" {
			delete(fields, k)
		} else {
			fields[k] = v
		}
	}
	m := make(map[string]json.RawMessage, len(fields))
	for k, v := range fields {
		m[k] = json.RawMessage(v)
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

func fieldsOf(errs []FieldError) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, e.Field)
	}
	return out
}

func manyLabels(n int) string {
	m := make(map[string]string, n)
	for i := range n {
		m[fmt.Sprintf("k%02d", i)] = "v"
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestDecodeCreateRejects(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return `"` + strings.Repeat("a", n) + `"` }
	for _, tc := range []struct {
		name   string
		body   []byte
		prefix string
		lim    *Limits
		fields []string
		reason string // a substring of the first error's reason
	}{
		// body
		{name: "empty body", body: []byte(""), fields: []string{"body"}, reason: "JSON object"},
		{name: "truncated body", body: []byte(`{"due_at":`), fields: []string{"body"}, reason: "invalid JSON at byte"},
		{name: "null body", body: []byte("null"), fields: []string{"body"}},
		{name: "array body", body: []byte(`[{"due_at":"2030-01-02T15:04:05Z"}]`), fields: []string{"body"}},
		{name: "string body", body: []byte(`"hello"`), fields: []string{"body"}},
		{name: "number body", body: []byte(`42`), fields: []string{"body"}},
		{name: "trailing garbage", body: append(body(t, nil), '}'), fields: []string{"body"}},
		{name: "unknown top-level field", body: body(t, map[string]string{"extra": `1`}), fields: []string{"extra"}, reason: "unknown field"},
		{name: "misspelt field", body: body(t, map[string]string{"due_at": "", "dueAt": `"2030-01-02T15:04:05Z"`}), fields: []string{"dueAt", "due_at"}},
		{name: "unknown fields sorted", body: body(t, map[string]string{"zz": `1`, "aa": `2`}), fields: []string{"aa", "zz"}},
		{name: "field names are case-sensitive", body: body(t, map[string]string{"Due_At": `"2030-01-02T15:04:05Z"`, "due_at": ""}), fields: []string{"Due_At", "due_at"}},

		// due_at
		{name: "missing due_at", body: body(t, map[string]string{"due_at": ""}), fields: []string{"due_at"}, reason: "is required"},
		{name: "null due_at", body: body(t, map[string]string{"due_at": `null`}), fields: []string{"due_at"}, reason: "is required"},
		{name: "numeric due_at", body: body(t, map[string]string{"due_at": `1893456000`}), fields: []string{"due_at"}, reason: "must be a string"},
		{name: "bad due_at", body: body(t, map[string]string{"due_at": `"tomorrow"`}), fields: []string{"due_at"}, reason: `"tomorrow" is not an RFC 3339 time`},
		{name: "due_at without zone", body: body(t, map[string]string{"due_at": `"2030-01-02T15:04:05"`}), fields: []string{"due_at"}},
		{name: "date-only due_at", body: body(t, map[string]string{"due_at": `"2030-01-02"`}), fields: []string{"due_at"}},
		{name: "due_at offset +24:00", body: body(t, map[string]string{"due_at": `"2030-01-02T15:04:05+24:00"`}), fields: []string{"due_at"}, reason: "±23:59"},
		{name: "due_at offset -24:00", body: body(t, map[string]string{"due_at": `"2030-01-02T15:04:05-24:00"`}), fields: []string{"due_at"}},
		{name: "due_at offset +23:60", body: body(t, map[string]string{"due_at": `"2030-01-02T15:04:05+23:60"`}), fields: []string{"due_at"}},
		{name: "due_at before 1970", body: body(t, map[string]string{"due_at": `"1969-12-31T23:59:59.999Z"`}), fields: []string{"due_at"}, reason: "out of range"},
		{name: "due beyond horizon", body: body(t, map[string]string{"due_at": `"2031-01-02T00:00:00.001Z"`}), fields: []string{"due_at"}, reason: "ahead"},
		{name: "due beyond a custom horizon", body: body(t, map[string]string{"due_at": `"2030-01-01T01:00:00.001Z"`}),
			lim: &Limits{MaxHorizon: time.Hour}, fields: []string{"due_at"}},

		// target
		{name: "missing target", body: body(t, map[string]string{"target": ""}), fields: []string{"target"}, reason: "is required"},
		{name: "null target", body: body(t, map[string]string{"target": `null`}), fields: []string{"target"}, reason: "is required"},
		{name: "string target", body: body(t, map[string]string{"target": `"https://example.com"`}), fields: []string{"target"}, reason: "must be an object"},
		{name: "array target", body: body(t, map[string]string{"target": `[{"kind":"sqs"}]`}), fields: []string{"target"}, reason: "must be an object"},
		{name: "number target", body: body(t, map[string]string{"target": `7`}), fields: []string{"target"}, reason: "must be an object"},
		{name: "missing kind", body: body(t, map[string]string{"target": `{"url":"https://example.com"}`}), fields: []string{"target.kind"}, reason: "is required"},
		{name: "empty kind", body: body(t, map[string]string{"target": `{"kind":""}`}), fields: []string{"target.kind"}},
		{name: "null kind", body: body(t, map[string]string{"target": `{"kind":null}`}), fields: []string{"target.kind"}},
		{name: "numeric kind", body: body(t, map[string]string{"target": `{"kind":5}`}), fields: []string{"target.kind"}, reason: "must be a string"},
		{name: "validator error prefixed", body: body(t, map[string]string{"target": `{"kind":"webhook","url":"http://x"}`}), fields: []string{"target.url"}, reason: "https"},
		{name: "validator errors all reported", body: body(t, map[string]string{"target": `{"kind":"webhook","timeout_ms":5}`}), fields: []string{"target.url", "target.timeout_ms"}},
		{name: "unknown kind", body: body(t, map[string]string{"target": `{"kind":"carrier-pigeon"}`}), fields: []string{"target.kind"}, reason: "carrier-pigeon"},

		// payload
		{name: "payload too large", body: body(t, map[string]string{"payload": long(100)}), lim: &Limits{MaxPayloadBytes: 64}, fields: []string{"payload"}, reason: "102 bytes; the limit is 64"},
		{name: "payload one byte too large", body: body(t, map[string]string{"payload": long(63)}), lim: &Limits{MaxPayloadBytes: 64}, fields: []string{"payload"}},
		{name: "payload too large by default", body: body(t, map[string]string{"payload": long(256 << 10)}), fields: []string{"payload"}},

		// retry
		{name: "retry not an object", body: body(t, map[string]string{"retry": `5`}), fields: []string{"retry"}},
		{name: "retry an array", body: body(t, map[string]string{"retry": `[1,2]`}), fields: []string{"retry"}},
		{name: "unknown retry field", body: body(t, map[string]string{"retry": `{"max_attempt":3}`}), fields: []string{"retry"}},
		{name: "string max_attempts", body: body(t, map[string]string{"retry": `{"max_attempts":"3"}`}), fields: []string{"retry"}},
		{name: "fractional max_attempts", body: body(t, map[string]string{"retry": `{"max_attempts":2.5}`}), fields: []string{"retry"}},
		{name: "zero max_attempts", body: body(t, map[string]string{"retry": `{"max_attempts":0}`}), fields: []string{"retry.max_attempts"}, reason: "between 1 and 25"},
		{name: "too many max_attempts", body: body(t, map[string]string{"retry": `{"max_attempts":26}`}), fields: []string{"retry.max_attempts"}},
		{name: "max_attempts above a custom cap", body: body(t, map[string]string{"retry": `{"max_attempts":4}`}), lim: &Limits{MaxAttempts: 3}, fields: []string{"retry.max_attempts"}, reason: "between 1 and 3"},
		{name: "initial backoff too short", body: body(t, map[string]string{"retry": `{"initial_backoff_ms":99}`}), fields: []string{"retry.initial_backoff_ms"}},
		{name: "initial backoff too long", body: body(t, map[string]string{"retry": `{"initial_backoff_ms":43200001,"max_backoff_ms":43200000}`}), fields: []string{"retry.initial_backoff_ms"}},
		{name: "max backoff too short", body: body(t, map[string]string{"retry": `{"initial_backoff_ms":100,"max_backoff_ms":99}`}), fields: []string{"retry.max_backoff_ms"}, reason: "between 100 and"},
		{name: "max backoff too long", body: body(t, map[string]string{"retry": `{"max_backoff_ms":43200001}`}), fields: []string{"retry.max_backoff_ms"}},
		{name: "max below initial", body: body(t, map[string]string{"retry": `{"initial_backoff_ms":5000,"max_backoff_ms":2000}`}), fields: []string{"retry.max_backoff_ms"}, reason: "not be less than initial_backoff_ms"},
		{name: "max below default initial", body: body(t, map[string]string{"retry": `{"max_backoff_ms":500}`}), fields: []string{"retry.max_backoff_ms"}},
		{name: "every retry field bad", body: body(t, map[string]string{"retry": `{"max_attempts":-1,"initial_backoff_ms":1,"max_backoff_ms":1}`}),
			fields: []string{"retry.max_attempts", "retry.initial_backoff_ms", "retry.max_backoff_ms"}},

		// idempotency_key
		{name: "empty idempotency_key", body: body(t, map[string]string{"idempotency_key": `""`}), fields: []string{"idempotency_key"}, reason: "1 to 256 bytes of printable UTF-8"},
		{name: "idempotency_key too long", body: body(t, map[string]string{"idempotency_key": long(257)}), fields: []string{"idempotency_key"}},
		{name: "idempotency_key with tab", body: body(t, map[string]string{"idempotency_key": `"a\tb"`}), fields: []string{"idempotency_key"}},
		{name: "idempotency_key with NUL", body: body(t, map[string]string{"idempotency_key": `"a\u0000b"`}), fields: []string{"idempotency_key"}},
		{name: "idempotency_key with DEL", body: body(t, map[string]string{"idempotency_key": `"a\u007fb"`}), fields: []string{"idempotency_key"}},
		{name: "idempotency_key with C1 NEL", body: body(t, map[string]string{"idempotency_key": `"a\u0085b"`}), fields: []string{"idempotency_key"}},
		{name: "idempotency_key with bidi override", body: body(t, map[string]string{"idempotency_key": `"a\u202eb"`}), fields: []string{"idempotency_key"}},
		{name: "idempotency_key with paragraph separator", body: body(t, map[string]string{"idempotency_key": `"a\u2029b"`}), fields: []string{"idempotency_key"}},
		{name: "numeric idempotency_key", body: body(t, map[string]string{"idempotency_key": `42`}), fields: []string{"idempotency_key"}, reason: "must be a string"},

		// labels
		{name: "too many labels", body: body(t, map[string]string{"labels": manyLabels(17)}), fields: []string{"labels"}, reason: "17 entries; the limit is 16"},
		{name: "labels an array", body: body(t, map[string]string{"labels": `["a"]`}), fields: []string{"labels"}},
		{name: "label value a number", body: body(t, map[string]string{"labels": `{"a":1}`}), fields: []string{"labels"}},
		{name: "empty label key", body: body(t, map[string]string{"labels": `{"":"v"}`}), fields: []string{"labels"}},
		{name: "label key with =", body: body(t, map[string]string{"labels": `{"a=b":"v"}`}), fields: []string{"labels"}, reason: `"a=b"`},
		{name: "label key with #", body: body(t, map[string]string{"labels": `{"a#b":"v"}`}), fields: []string{"labels"}},
		{name: "label key with newline", body: body(t, map[string]string{"labels": `{"a\nb":"v"}`}), fields: []string{"labels"}},
		{name: "label key too long", body: body(t, map[string]string{"labels": `{` + long(129) + `:"v"}`}), fields: []string{"labels"}},
		{name: "label value too long", body: body(t, map[string]string{"labels": `{"team":` + long(129) + `}`}), fields: []string{"labels.team"}},
		{name: "label value with control", body: body(t, map[string]string{"labels": `{"team":"a\u0001"}`}), fields: []string{"labels.team"}},
		{name: "label value with C1 NEL", body: body(t, map[string]string{"labels": `{"team":"a\u0085b"}`}), fields: []string{"labels.team"}, reason: "at most 128 bytes"},
		{name: "label value with bidi override", body: body(t, map[string]string{"labels": `{"team":"\u202egnp.exe"}`}), fields: []string{"labels.team"}},
		{name: "label value with bidi isolate", body: body(t, map[string]string{"labels": `{"team":"a\u2066b"}`}), fields: []string{"labels.team"}},
		{name: "label value with line separator", body: body(t, map[string]string{"labels": `{"team":"a\u2028b"}`}), fields: []string{"labels.team"}},
		{name: "label value with right-to-left mark", body: body(t, map[string]string{"labels": `{"team":"a\u200fb"}`}), fields: []string{"labels.team"}},
		{name: "label key with bidi override", body: body(t, map[string]string{"labels": `{"a\u202eb":"v"}`}), fields: []string{"labels"}, reason: `\u202e`},
		{name: "label key with C1 control", body: body(t, map[string]string{"labels": `{"a\u009bb":"v"}`}), fields: []string{"labels"}},

		// prefix
		{name: "prefix on a field", prefix: "tasks[2].", body: body(t, map[string]string{"due_at": ""}), fields: []string{"tasks[2].due_at"}},
		{name: "prefix on a non-object body", prefix: "tasks[2].", body: []byte(`[]`), fields: []string{"tasks[2]"}},
		{name: "prefix on target validator errors", prefix: "tasks[2].", body: body(t, map[string]string{"target": `{"kind":"webhook"}`}), fields: []string{"tasks[2].target.url"}},
		{name: "prefix on unknown field", prefix: "tasks[0].", body: body(t, map[string]string{"x": `1`}), fields: []string{"tasks[0].x"}},

		// everything at once: every problem is reported
		{name: "everything wrong", body: []byte(`{"extra":1,"due_at":"soon","target":{"kind":"webhook"},"payload":"` + strings.Repeat("p", 70) +
			`","retry":{"max_attempts":0},"idempotency_key":"","labels":{"a#":"b"}}`), lim: &Limits{MaxPayloadBytes: 64},
			fields: []string{"extra", "due_at", "target.url", "payload", "retry.max_attempts", "idempotency_key", "labels"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lim := DefaultLimits()
			if tc.lim != nil {
				lim = *tc.lim
			}
			_, errs := DecodeCreate(tc.body, tc.prefix, testNow, lim, testValidator)
			require.NotEmpty(t, errs)
			assert.Equal(t, tc.fields, fieldsOf(errs))
			if tc.reason != "" {
				assert.Contains(t, errs[0].Reason, tc.reason)
			}
			for _, e := range errs {
				assert.NotEmpty(t, e.Reason, e.Field)
			}
		})
	}
}

func TestDecodeCreateAccepts(t *testing.T) {
	t.Parallel()
	defaultRetry := Retry{MaxAttempts: DefaultMaxAttempts, InitialBackoff: DefaultInitialBackoff, MaxBackoff: DefaultMaxBackoff}
	for _, tc := range []struct {
		name string
		body string
		lim  *Limits
		want CreateRequest
	}{
		{
			name: "minimal: defaults applied",
			body: `{"due_at":"2030-01-02T15:04:05Z","target":{"kind":"sqs","queue_url":"q"}}`,
			want: CreateRequest{
				DueAt:   time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC),
				Target:  Target{Kind: "sqs", Spec: json.RawMessage(`{"kind":"sqs","queue_url":"q"}`)},
				Payload: json.RawMessage(`null`),
				Retry:   defaultRetry,
			},
		},
		{
			name: "due truncated to ms and UTC; whitespace compacted",
			body: "{ \"due_at\" : \"2030-01-02T17:04:05.123999999+02:00\",\n \"target\" :\t{ \"kind\": \"webhook\", \"url\" : \"https://example.com/a b\" },\n" +
				" \"payload\" : { \"order\" : [ 1, 2, { \"x\" : \"y z\" } ] } }",
			want: CreateRequest{
				DueAt:   time.Date(2030, 1, 2, 15, 4, 5, 123_000_000, time.UTC),
				Target:  Target{Kind: "webhook", Spec: json.RawMessage(`{"kind":"webhook","url":"https://example.com/a b"}`)},
				Payload: json.RawMessage(`{"order":[1,2,{"x":"y z"}]}`),
				Retry:   defaultRetry,
			},
		},
		{
			name: "everything given",
			body: `{"due_at":"2030-06-01T00:00:00.5Z","target":` + goodTarget + `,"payload":"hi <b>","retry":{"max_attempts":25,"initial_backoff_ms":100,"max_backoff_ms":43200000},` +
				`"idempotency_key":"order-42 ✓","labels":{"team":"billing","env":""}}`,
			want: CreateRequest{
				DueAt:          time.Date(2030, 6, 1, 0, 0, 0, 500_000_000, time.UTC),
				Target:         Target{Kind: "webhook", Spec: json.RawMessage(goodTarget)},
				Payload:        json.RawMessage(`"hi <b>"`),
				Retry:          Retry{MaxAttempts: 25, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 12 * time.Hour},
				IdempotencyKey: "order-42 ✓",
				Labels:         map[string]string{"team": "billing", "env": ""},
			},
		},
		{
			name: "nulls mean absent; empty labels dropped; partial retry",
			body: `{"due_at":"2030-01-02T15:04:05Z","target":` + goodTarget + `,"payload":null,"retry":{"max_attempts":1},"idempotency_key":null,"labels":{}}`,
			want: CreateRequest{
				DueAt:   time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC),
				Target:  Target{Kind: "webhook", Spec: json.RawMessage(goodTarget)},
				Payload: json.RawMessage(`null`),
				Retry:   Retry{MaxAttempts: 1, InitialBackoff: DefaultInitialBackoff, MaxBackoff: DefaultMaxBackoff},
			},
		},
		{
			name: "null retry and labels",
			body: `{"due_at":"2030-01-02T15:04:05Z","target":` + goodTarget + `,"retry":null,"labels":null}`,
			want: CreateRequest{
				DueAt:   time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC),
				Target:  Target{Kind: "webhook", Spec: json.RawMessage(goodTarget)},
				Payload: json.RawMessage(`null`),
				Retry:   defaultRetry,
			},
		},
		{
			name: "due exactly at the horizon; due in the past",
			body: `{"due_at":"2030-01-01T01:00:00Z","target":` + goodTarget + `}`,
			lim:  &Limits{MaxHorizon: time.Hour},
			want: CreateRequest{
				DueAt:   time.Date(2030, 1, 1, 1, 0, 0, 0, time.UTC),
				Target:  Target{Kind: "webhook", Spec: json.RawMessage(goodTarget)},
				Payload: json.RawMessage(`null`),
				Retry:   defaultRetry,
			},
		},
		{
			name: "past due is accepted (runs at once)",
			body: `{"due_at":"1970-01-01T00:00:00Z","target":` + goodTarget + `}`,
			want: CreateRequest{
				DueAt:   time.Unix(0, 0).UTC(),
				Target:  Target{Kind: "webhook", Spec: json.RawMessage(goodTarget)},
				Payload: json.RawMessage(`null`),
				Retry:   defaultRetry,
			},
		},
		{
			name: "payload exactly at the limit after compaction",
			body: `{"due_at":"2030-01-02T15:04:05Z","target":` + goodTarget + `,"payload":  [ "` + strings.Repeat("x", 60) + `" ]  }`,
			lim:  &Limits{MaxPayloadBytes: 64},
			want: CreateRequest{
				DueAt:   time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC),
				Target:  Target{Kind: "webhook", Spec: json.RawMessage(goodTarget)},
				Payload: json.RawMessage(`["` + strings.Repeat("x", 60) + `"]`),
				Retry:   defaultRetry,
			},
		},
		{
			name: "sixteen labels; label key with spaces and unicode",
			body: `{"due_at":"2030-01-02T15:04:05Z","target":` + goodTarget + `,"labels":` + manyLabels(15)[:len(manyLabels(15))-1] + `,"équipe paie":"x"}}`,
			want: CreateRequest{
				DueAt:   time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC),
				Target:  Target{Kind: "webhook", Spec: json.RawMessage(goodTarget)},
				Payload: json.RawMessage(`null`),
				Retry:   defaultRetry,
				Labels: func() map[string]string {
					m := map[string]string{"équipe paie": "x"}
					for i := range 15 {
						m[fmt.Sprintf("k%02d", i)] = "v"
					}
					return m
				}(),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lim := DefaultLimits()
			if tc.lim != nil {
				lim = *tc.lim
			}
			got, errs := DecodeCreate([]byte(tc.body), "", testNow, lim, testValidator)
			require.Empty(t, errs)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, time.UTC, got.DueAt.Location())
			assert.True(t, json.Valid(got.Payload))
		})
	}
}

// The validator sees the target object as sent; with no validator any kind passes.
func TestDecodeCreateValidator(t *testing.T) {
	t.Parallel()
	var gotKind string
	var gotSpec json.RawMessage
	v := func(kind string, spec json.RawMessage) []FieldError {
		gotKind, gotSpec = kind, spec
		return nil
	}
	b := body(t, map[string]string{"target": `{"kind":"lambda","function":"f"}`})
	req, errs := DecodeCreate(b, "", testNow, DefaultLimits(), v)
	require.Empty(t, errs)
	assert.Equal(t, "lambda", gotKind)
	assert.JSONEq(t, `{"kind":"lambda","function":"f"}`, string(gotSpec))
	assert.Equal(t, "lambda", req.Target.Kind)

	req, errs = DecodeCreate(body(t, map[string]string{"target": `{"kind":"anything"}`}), "", testNow, DefaultLimits(), nil)
	require.Empty(t, errs)
	assert.Equal(t, "anything", req.Target.Kind)
}

// Zero limits mean "no limit" for the payload and horizon and the default cap
// for attempts.
func TestDecodeCreateZeroLimits(t *testing.T) {
	t.Parallel()
	b := body(t, map[string]string{
		"due_at":  `"2200-01-01T00:00:00Z"`,
		"payload": `"` + strings.Repeat("x", 300<<10) + `"`,
		"retry":   `{"max_attempts":25}`,
	})
	req, errs := DecodeCreate(b, "", testNow, Limits{}, testValidator)
	require.Empty(t, errs)
	assert.Equal(t, 25, req.Retry.MaxAttempts)

	_, errs = DecodeCreate(body(t, map[string]string{"retry": `{"max_attempts":26}`}), "", testNow, Limits{}, testValidator)
	assert.Equal(t, []string{"retry.max_attempts"}, fieldsOf(errs))
}

func TestPayloadHash(t *testing.T) {
	t.Parallel()
	tgt := Target{Kind: "webhook", Spec: json.RawMessage(goodTarget)}
	payload := json.RawMessage(`{"a":1}`)
	h := PayloadHash(tgt, payload)
	assert.Len(t, h, 32)
	assert.Equal(t, h, PayloadHash(Target{Kind: "webhook", Spec: json.RawMessage(goodTarget)}, json.RawMessage(`{"a":1}`)), "deterministic")

	for name, other := range map[string]string{
		"payload":     PayloadHash(tgt, json.RawMessage(`{"a":2}`)),
		"null":        PayloadHash(tgt, json.RawMessage(`null`)),
		"kind":        PayloadHash(Target{Kind: "sqs", Spec: tgt.Spec}, payload),
		"spec":        PayloadHash(Target{Kind: "webhook", Spec: json.RawMessage(`{"kind":"webhook","url":"https://example.com/other"}`)}, payload),
		"boundary":    PayloadHash(Target{Kind: tgt.Kind, Spec: append(append(json.RawMessage{}, tgt.Spec...), '{')}, json.RawMessage(`"a":1}`)),
		"kind suffix": PayloadHash(Target{Kind: "webhoo", Spec: append(json.RawMessage("k"), tgt.Spec...)}, payload),
	} {
		assert.NotEqual(t, h, other, name)
	}
}

func TestRequestHash(t *testing.T) {
	t.Parallel()
	a := RequestHash([]byte(`{"due_at":"2030-01-02T15:04:05Z","payload":{"x":[1,2]}}`))
	assert.Len(t, a, 32)
	assert.Equal(t, a, RequestHash([]byte("{\n  \"due_at\": \"2030-01-02T15:04:05Z\",\n\t\"payload\" : { \"x\" : [ 1 , 2 ] }\n}\n")))
	assert.NotEqual(t, a, RequestHash([]byte(`{"due_at":"2030-01-02T15:04:06Z","payload":{"x":[1,2]}}`)))
	assert.NotEqual(t, a, RequestHash([]byte(`{"due_at":"2030-01-02T15:04:05Z","payload":{"x":[1,2 ]}, "y":1}`)))
	// Whitespace inside strings is content.
	assert.NotEqual(t, RequestHash([]byte(`{"k":"a b"}`)), RequestHash([]byte(`{"k":"ab"}`)))
	// Bodies that are not JSON still hash, byte for byte.
	assert.Equal(t, RequestHash([]byte(`{not json`)), RequestHash([]byte(`{not json`)))
	assert.NotEqual(t, RequestHash([]byte(`{not json`)), RequestHash([]byte(`{not  json`)))
}
