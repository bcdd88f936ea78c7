package task

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"
)

// Unprintable reports whether r must not appear in text that Hourglass
// stores and shows or forwards as a short string (labels, idempotency keys,
// header names and values, event sources): the C0 and C1 controls and DEL,
// and the invisible formatting characters that reorder or break the text a
// reader sees — the bidi embeddings and overrides (U+202A–U+202E), isolates
// (U+2066–U+2069) and marks (U+200E, U+200F, U+061C), and the line and
// paragraph separators (U+2028, U+2029). It is the one rule every door and
// target uses; callers that allow tab (HTTP field values) test for it first.
func Unprintable(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x200e, r == 0x200f, r == 0x061c, r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

// Printable reports whether s is valid UTF-8 without an Unprintable rune.
func Printable(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || Unprintable(r) {
			return false
		}
		i += n
	}
	return true
}

// BatchItemToken is the client token under which item i of a batch
// created with Idempotency-Key k is stored. Single creates store their key
// as it is, and a key is Printable, so it never holds U+001F; batch items'
// tokens begin with "batch" and U+001F and end with U+001F and i. So no
// single create can name a batch item (Idempotency-Key "K#0" on a single
// create is its own key, not task 0 of batch K), nor can two batches'
// items meet.
func BatchItemToken(k string, i int) string {
	return "batch\x1f" + k + "\x1f" + strconv.Itoa(i)
}

// maxOffset is the largest UTC offset RFC 3339 can mean: ±23:59.
const maxOffset = 23*3600 + 59*60

// ParseTime parses an RFC 3339 time as every door reads one. time.Parse
// also takes offsets of +24:00 through +24:59 and minute 60 (+23:60), which
// RFC 3339 does not allow and which silently move the time by a day;
// ParseTime refuses any offset beyond ±23:59.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	if _, off := t.Zone(); off > maxOffset || off < -maxOffset {
		return time.Time{}, fmt.Errorf("parsing time %q: UTC offset beyond ±23:59", s)
	}
	return t, nil
}

var tenantRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:@/+=-]{0,127}$`)

// ValidTenant reports whether s can name a tenant: 1–128 characters,
// letters, digits and _ . : @ / + = -, starting with a letter or digit.
func ValidTenant(s string) bool { return tenantRE.MatchString(s) }
