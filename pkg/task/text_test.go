package task

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPrintable(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "a", "team=payments", "café", "日本語", "emoji 🙂", "\u200d"} {
		require.True(t, Printable(s), "%q", s)
	}
	for _, s := range []string{
		"\x00", "a\nb", "\t", "\x7f", "\u0085", "\u009f", "\u0080",
		"\u202a", "\u202e", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c",
		"\u2028", "\u2029", "\xff", "a\xc3", "\xed\xa0\x80",
	} {
		require.False(t, Printable(s), "%q", s)
	}
}

func TestParseTimeOffsets(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"2030-01-02T00:00:00+24:00", "2030-01-02T00:00:00-24:00", "2030-01-02T00:00:00+24:59",
		"2030-01-02T00:00:00+23:60", "2030-01-02T00:00:00-23:60", "2030-01-02T00:00:00+99:00", "2030-01-02T00:00:00+00:99",
		"2030-01-02", "2030-01-02T00:00:00", "2030-01-02T24:00:00Z",
	} {
		_, err := ParseTime(s)
		require.Error(t, err, s)
	}
	for s, want := range map[string]time.Time{
		"2030-01-02T00:00:00Z":          time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC),
		"2030-01-02T00:00:00+23:59":     time.Date(2030, 1, 1, 0, 1, 0, 0, time.UTC),
		"2030-01-02T00:00:00-23:59":     time.Date(2030, 1, 2, 23, 59, 0, 0, time.UTC),
		"2030-01-02T00:00:00.123+01:00": time.Date(2030, 1, 1, 23, 0, 0, 123e6, time.UTC),
	} {
		got, err := ParseTime(s)
		require.NoError(t, err, s)
		require.True(t, want.Equal(got), "%s: %s", s, got)
	}
}

// TestBatchItemTokenApart: no Printable key (what a single create may
// send) equals a batch item's token, and distinct (key, index) pairs give
// distinct tokens.
func TestBatchItemTokenApart(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, k := range []string{"K", "K#0", "K#", "a#1", "a", "batch", ""} {
		for i := range 3 {
			tok := BatchItemToken(k, i)
			require.False(t, Printable(tok), "a single create could send %q", tok)
			require.NotEqual(t, k+"#"+strconv.Itoa(i), tok)
			prev, dup := seen[tok]
			require.False(t, dup, "%q and %q#%d share a token", prev, k, i)
			seen[tok] = k + "#" + strconv.Itoa(i)
		}
	}
}
