package task

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		"", "0", "00000000000000000000000000", "vvvvvvvvvvvvvvvvvvvvvvvvvs", "vvvvvvvvvvvvvvvvvvvvvvvvvv",
		ID{DueMs: 1_893_456_000_123, Shard: 11, Random: 0x0123456789abcdef}.String(),
		"1pdgr5i0bg0b04i6ah6ujf3po", "1PDGR5I0BG0B04I6AH6UJF3POS", "1pdgr5i0bg0b\n4i6ah6ujf3pos",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			require.ErrorIs(t, err, ErrBadID)
			require.Equal(t, ID{}, id)
			return
		}
		require.Equal(t, s, id.String(), "accepted text must re-encode to itself")
		require.GreaterOrEqual(t, id.DueMs, int64(0))
		require.LessOrEqual(t, id.DueMs, int64(maxDueMs))
	})
}

func FuzzIDRoundTrip(f *testing.F) {
	f.Add(int64(0), uint16(0), uint64(0))
	f.Add(int64(1_893_456_000_123), uint16(11), uint64(0x0123456789abcdef))
	f.Add(int64(maxDueMs), uint16(math.MaxUint16), uint64(math.MaxUint64))
	f.Add(int64(-1), uint16(1), uint64(1))
	f.Fuzz(func(t *testing.T, due int64, shard uint16, random uint64) {
		// Fold any int64 into the range an ID can carry.
		due &= maxDueMs
		id := ID{DueMs: due, Shard: shard, Random: random}
		s := id.String()
		require.Len(t, s, idLen)
		got, err := ParseID(s)
		require.NoError(t, err)
		require.Equal(t, id, got)
		require.Equal(t, due, got.Due().UnixMilli())
		// The key a reader derives from the text is the writer's key.
		l := Layout{Bucket: time.Minute}
		require.Equal(t, Key{PK: PartitionKey(l.BucketOf(time.UnixMilli(due)), shard), SK: SortKey(due, s)}, l.KeyOf(got))
	})
}

func FuzzDecodeCreate(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `{"due_at":`,
		`{"due_at":"2030-01-02T15:04:05Z","target":{"kind":"webhook","url":"https://example.com/hook"}}`,
		`{"due_at":"2030-01-02T15:04:05.123456+02:00","target":{"kind":"sqs"},"payload":{"a":[1,2,3]},"retry":{"max_attempts":3,"initial_backoff_ms":200,"max_backoff_ms":60000},"idempotency_key":"k","labels":{"team":"x"}}`,
		`{"due_at":"1969-12-31T23:59:59Z","target":"x","retry":{"bogus":1},"labels":{"a#b":"c"}}`,
		`{"due_at":null,"target":{"kind":5},"payload":"\u0000","idempotency_key":"\u007f"}`,
		`{"target":{"KIND":"webhook"},"retry":{"MAX_ATTEMPTS":3},"due_at":"9999-12-31T23:59:59.999999999Z"}`,
		`{"due_at":"2030-01-02T15:04:05+24:00","target":{"kind":"webhook","url":"http://169.254.169.254/","url":"https://example.com/"}}`,
		"{\"due_at\":\"2030-01-02T15:04:05Z\",\"target\":{\"kind\":\"sqs\"},\"payload\":\"\xff\",\"labels\":{\"a\":\"\u202e\"}}",
	} {
		f.Add([]byte(s))
	}
	lim := Limits{MaxPayloadBytes: 1024, MaxHorizon: 366 * 24 * time.Hour, MaxAttempts: 25}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, errs := DecodeCreate(body, "p.", testNow, lim, testValidator)
		for _, e := range errs {
			require.NotEmpty(t, e.Reason)
			require.True(t, e.Field == "p" || strings.HasPrefix(e.Field, "p."), "field %q lacks the prefix", e.Field)
		}
		_ = RequestHash(body)
		if len(errs) > 0 {
			return
		}
		require.False(t, req.DueAt.IsZero())
		require.Equal(t, time.UTC, req.DueAt.Location())
		require.Equal(t, req.DueAt, req.DueAt.Truncate(time.Millisecond))
		require.False(t, req.DueAt.After(testNow.Add(lim.MaxHorizon)))
		require.NotEmpty(t, req.Target.Kind)
		require.True(t, json.Valid(req.Target.Spec), "spec %q", req.Target.Spec)
		require.True(t, json.Valid(req.Payload), "payload %q", req.Payload)
		require.True(t, utf8.Valid(req.Payload) && utf8.Valid(req.Target.Spec), "bytes that are not UTF-8 were accepted")
		require.Nil(t, CheckJSON(body, ""), "an accepted body must mean one thing")
		for k, v := range req.Labels {
			require.True(t, Printable(k) && Printable(v), "label %q=%q", k, v)
		}
		require.True(t, Printable(req.IdempotencyKey), "idempotency_key %q", req.IdempotencyKey)
		require.LessOrEqual(t, len(req.Payload), lim.MaxPayloadBytes)
		require.GreaterOrEqual(t, req.Retry.MaxAttempts, 1)
		require.LessOrEqual(t, req.Retry.MaxAttempts, lim.MaxAttempts)
		require.GreaterOrEqual(t, req.Retry.MaxBackoff, req.Retry.InitialBackoff)
		require.LessOrEqual(t, len(req.Labels), maxLabels)
		_, err := NewID(req.DueAt, 16)
		require.NoError(t, err, "an accepted due time must make an ID")
		_ = PayloadHash(req.Target, req.Payload)
	})
}

// nominalBackoff is an independent model of the un-jittered wait.
func nominalBackoff(r Retry, n int) time.Duration {
	base := r.InitialBackoff
	if base <= 0 {
		base = DefaultInitialBackoff
	}
	maxB := max(r.MaxBackoff, base)
	d := base
	for i := 1; i < n && i < 64 && d < maxB; i++ { // 64 doublings pass any int64 cap
		if d > math.MaxInt64/2 {
			d = math.MaxInt64
		} else {
			d *= 2
		}
	}
	return min(d, maxB)
}

func FuzzBackoff(f *testing.F) {
	f.Add(int64(time.Second), int64(5*time.Minute), 1, 0.0)
	f.Add(int64(time.Second), int64(5*time.Minute), 3, 0.5)
	f.Add(int64(100*time.Millisecond), int64(12*time.Hour), 100, 0.999)
	f.Add(int64(0), int64(0), 0, 1.0)
	f.Add(int64(-1), int64(-1), -1, -1.0)
	f.Add(int64(1), int64(math.MaxInt64), math.MaxInt, 0.9999999999999999)
	f.Add(int64(math.MaxInt64), int64(math.MaxInt64), 2, math.NaN())
	f.Fuzz(func(t *testing.T, initial, maxB int64, n int, rnd float64) {
		r := Retry{InitialBackoff: time.Duration(initial), MaxBackoff: time.Duration(maxB)}
		got := Backoff(r, n, func() float64 { return rnd })
		d := nominalBackoff(r, n)
		require.GreaterOrEqual(t, got, d/2, "nominal %d", d)
		require.LessOrEqual(t, got, d, "nominal %d", d)
		capB := max(r.MaxBackoff, r.InitialBackoff)
		if r.InitialBackoff <= 0 {
			capB = max(r.MaxBackoff, DefaultInitialBackoff)
		}
		require.LessOrEqual(t, got, capB)
		if !(rnd >= 0 && rnd < 1) {
			require.Equal(t, d/2, got, "out-of-range rnd means no jitter")
		}
	})
}
