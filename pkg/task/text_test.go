package task

import (
	"testing"

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
