package cronexpr

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind is the type of a schedule expression.
type Kind string

// The kinds of schedule expression.
const (
	KindAt   Kind = "at"   // one fire: at(yyyy-mm-ddThh:mm:ss)
	KindRate Kind = "rate" // fixed period: rate(value unit)
	KindCron Kind = "cron" // calendar: cron(min hour dom month dow year)
)

// Schedule is a parsed schedule expression bound to a time zone. The zero
// Schedule never fires. A Schedule is an immutable value, safe for
// concurrent use.
type Schedule struct {
	kind Kind
	loc  *time.Location
	zone string // IANA name, "UTC" for the empty name

	cron   *cronSpec
	at     time.Time // KindAt: the instant, UTC
	atText string    // KindAt: canonical wall time
	period int64     // KindRate: seconds
	unit   string    // KindRate: canonical "value unit"

	start, end time.Time // optional bounds; zero when unset
}

// Parse parses an EventBridge Scheduler expression evaluated in the IANA
// time zone tz ("" means UTC). Surrounding white space is ignored, and
// fields inside rate() and cron() may be separated by any run of white
// space. Errors are *Error, blaming FieldExpression or FieldTimezone.
func Parse(expr, tz string) (Schedule, error) {
	loc, err := loadLocation(tz)
	if err != nil {
		return Schedule{}, err
	}
	s := Schedule{loc: loc, zone: loc.String()}
	expr = strings.TrimSpace(expr)
	kind, body, ok := strings.Cut(expr, "(")
	if !ok || !strings.HasSuffix(body, ")") {
		return Schedule{}, exprErr("%q must be at(...), rate(...) or cron(...)", clip(expr))
	}
	body = body[:len(body)-1]
	switch Kind(kind) {
	case KindCron:
		s.kind = KindCron
		s.cron, err = parseCron(body)
	case KindRate:
		s.kind = KindRate
		s.period, s.unit, err = parseRate(body)
	case KindAt:
		s.kind = KindAt
		s.at, s.atText, err = parseAt(body, loc)
	default:
		return Schedule{}, exprErr("%q must be at(...), rate(...) or cron(...)", clip(expr))
	}
	if err != nil {
		return Schedule{}, err
	}
	return s, nil
}

// MustParse is Parse for expressions known to be valid, such as constants
// in tests; it panics on error.
func MustParse(expr, tz string) Schedule {
	s, err := Parse(expr, tz)
	if err != nil {
		panic(err)
	}
	return s
}

// Kind reports the expression's kind; "" for the zero Schedule.
func (s Schedule) Kind() Kind { return s.kind }

// String returns the expression in canonical form: single spaces, month and
// day names and the letters L and W upper-case, numbers without leading
// zeros. Parsing
// it again (in the same zone) gives an equivalent Schedule. The time zone
// and the bounds are not part of it.
func (s Schedule) String() string {
	switch s.kind {
	case KindCron:
		return s.cron.String()
	case KindRate:
		return "rate(" + s.unit + ")"
	case KindAt:
		return "at(" + s.atText + ")"
	}
	return ""
}

// TimeZone returns the IANA name of the zone the expression is evaluated
// in; "UTC" when Parse was given "".
func (s Schedule) TimeZone() string { return s.zone }

// Location returns the zone the expression is evaluated in.
func (s Schedule) Location() *time.Location { return s.loc }

// Period returns a rate() schedule's period, and 0 for other kinds.
func (s Schedule) Period() time.Duration { return time.Duration(s.period) * time.Second }

// WithStart returns a copy of s that never fires before start, like
// EventBridge's StartDate. For rate() it is also the anchor: fires are
// start + k×period, the first at start itself (rounded up to a whole
// second). The zero time removes the bound (and rate() anchors at the
// Unix epoch again).
func (s Schedule) WithStart(start time.Time) Schedule {
	s.start = start
	return s
}

// WithEnd returns a copy of s that never fires at or after end, like
// EventBridge's EndDate. The zero time removes the bound.
func (s Schedule) WithEnd(end time.Time) Schedule {
	s.end = end
	return s
}

// Next returns the first fire time strictly after after, in UTC and whole
// seconds, and false when there is none: an at() already passed, cron()
// years exhausted (the year field ends at 2199), the end bound reached, or
// a rate() fire beyond year 9999. after may be in any location.
func (s Schedule) Next(after time.Time) (time.Time, bool) {
	if !s.start.IsZero() && after.Before(s.start) {
		// The first fire may be start itself.
		after = s.start.Add(-time.Nanosecond)
	}
	var t time.Time
	var ok bool
	switch s.kind {
	case KindCron:
		t, ok = s.cron.next(s.loc, after)
	case KindRate:
		t, ok = s.nextRate(after)
	case KindAt:
		t, ok = s.at, s.at.After(after)
	}
	if !ok || (!s.end.IsZero() && !t.Before(s.end)) {
		return time.Time{}, false
	}
	return t, true
}

// NextN returns up to n successive fire times after after, fewer if the
// schedule runs out.
func (s Schedule) NextN(after time.Time, n int) []time.Time {
	var out []time.Time
	for len(out) < n {
		t, ok := s.Next(after)
		if !ok {
			break
		}
		out = append(out, t)
		after = t
	}
	return out
}

// maxUnix is 9999-12-31T23:59:59Z; rate() fires stop there, which keeps
// the arithmetic far from overflow.
const maxUnix = 253402300799

func (s Schedule) nextRate(after time.Time) (time.Time, bool) {
	var anchor int64 // Unix epoch by default
	if !s.start.IsZero() {
		anchor = s.start.Unix() // Unix() floors; round up to not precede start
		if s.start.Nanosecond() != 0 {
			anchor++
		}
	}
	a := after.Unix() // floor: a fire at a whole second > after is > a
	var t int64
	if a < anchor {
		t = anchor
	} else {
		t = anchor + ((a-anchor)/s.period+1)*s.period
	}
	if t > maxUnix || a > maxUnix {
		return time.Time{}, false
	}
	return time.Unix(t, 0).UTC(), true
}

// rateUnits maps each unit to its length in seconds and its two spellings.
var rateUnits = []struct {
	one, many string
	seconds   int64
}{
	{"second", "seconds", 1},
	{"minute", "minutes", 60},
	{"hour", "hours", 3600},
	{"day", "days", 86400},
}

// maxRateSeconds caps the period at 36,525 days (100 years).
const maxRateSeconds = 36525 * 86400

func parseRate(body string) (int64, string, error) {
	parts := strings.Fields(body)
	if len(parts) != 2 {
		return 0, "", exprErr(`rate: expected "rate(value unit)", got %d part(s) in %q`, len(parts), clip(body))
	}
	valueText, unitText := parts[0], parts[1]
	v, err := strconv.ParseInt(valueText, 10, 64)
	if !isDigits(valueText) || (err == nil && v < 1) {
		return 0, "", exprErr("rate: value %q must be a positive integer", clip(valueText))
	}
	for _, u := range rateUnits {
		if unitText != u.one && unitText != u.many {
			continue
		}
		if err != nil || v > maxRateSeconds/u.seconds {
			return 0, "", exprErr("rate: value %q is too large: at most %d %s", clip(valueText), maxRateSeconds/u.seconds, u.many)
		}
		if v == 1 && unitText != u.one {
			return 0, "", exprErr("rate: unit %q must be singular (%q) when the value is 1", unitText, u.one)
		}
		if v != 1 && unitText != u.many {
			return 0, "", exprErr("rate: unit %q must be plural (%q) when the value is %d", unitText, u.many, v)
		}
		return v * u.seconds, strconv.FormatInt(v, 10) + " " + unitText, nil
	}
	return 0, "", exprErr("rate: unknown unit %q; want second(s), minute(s), hour(s) or day(s)", clip(unitText))
}

const atLayout = "2006-01-02T15:04:05"

func parseAt(body string, loc *time.Location) (time.Time, string, error) {
	body = strings.TrimSpace(body)
	// time.Parse accepts some variants (e.g. single-digit fields elsewhere);
	// insist on the exact shape first so that messages are precise.
	wall, err := time.Parse(atLayout, body)
	if err != nil || len(body) != len(atLayout) {
		return time.Time{}, "", exprErr("at: %q is not a date-time yyyy-mm-ddThh:mm:ss", clip(body))
	}
	if y := wall.Year(); y < minYear || y > maxYear {
		return time.Time{}, "", exprErr("at: year %d out of range %d-%d", y, minYear, maxYear)
	}
	t, ok := resolve(loc, wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second())
	if !ok {
		return time.Time{}, "", exprErr("at: %s does not exist in %s: the clocks skip it (daylight-saving change)", body, loc)
	}
	return t, body, nil
}

// Compile-time check that Schedule prints as its expression.
var _ fmt.Stringer = Schedule{}
