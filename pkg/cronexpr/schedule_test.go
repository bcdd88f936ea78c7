package cronexpr

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// utc builds a UTC instant; tests read better with the fields spelled out.
func utc(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}

// setup parses expr in tz, failing the test on error.
func setup(t *testing.T, expr, tz string) Schedule {
	t.Helper()
	s, err := Parse(expr, tz)
	if err != nil {
		t.Fatalf("Parse(%q, %q): %v", expr, tz, err)
	}
	return s
}

// assertTimes compares fire times, printing both lists on mismatch.
func assertTimes(t *testing.T, got []time.Time, want ...time.Time) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].Equal(want[i]) && got[i].Location() == time.UTC
	}
	if !ok {
		t.Fatalf("fire times\n got: %v\nwant: %v", got, want)
	}
}

// wed is Wednesday 2025-06-18 12:34:56 UTC, the reference "now".
var wed = utc(2025, 6, 18, 12, 34, 56)

// TestCronExamples runs the examples of the EventBridge cron reference and
// the L, W and # forms, in UTC.
func TestCronExamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr  string
		after time.Time
		want  []time.Time
	}{
		// AWS: "Run at 10:00 am (UTC+0) every day".
		{"cron(0 10 * * ? *)", wed, []time.Time{utc(2025, 6, 19, 10, 0, 0), utc(2025, 6, 20, 10, 0, 0)}},
		// AWS: "Run at 12:15 pm (UTC+0) every day"; today's already passed.
		{"cron(15 12 * * ? *)", wed, []time.Time{utc(2025, 6, 19, 12, 15, 0)}},
		// AWS: "Run at 6:00 pm (UTC+0) every Monday through Friday".
		{"cron(0 18 ? * MON-FRI *)", wed, []time.Time{utc(2025, 6, 18, 18, 0, 0), utc(2025, 6, 19, 18, 0, 0), utc(2025, 6, 20, 18, 0, 0), utc(2025, 6, 23, 18, 0, 0)}},
		// AWS: "Run at 8:00 am (UTC+0) every first day of the month".
		{"cron(0 8 1 * ? *)", wed, []time.Time{utc(2025, 7, 1, 8, 0, 0), utc(2025, 8, 1, 8, 0, 0)}},
		// AWS: "Run every 15 minutes".
		{"cron(0/15 * * * ? *)", wed, []time.Time{utc(2025, 6, 18, 12, 45, 0), utc(2025, 6, 18, 13, 0, 0)}},
		// AWS: "Run every 10 minutes Monday through Friday".
		{"cron(0/10 * ? * MON-FRI *)", utc(2025, 6, 20, 23, 45, 0), []time.Time{utc(2025, 6, 20, 23, 50, 0), utc(2025, 6, 23, 0, 0, 0)}},
		// AWS: "Run every 5 minutes Monday through Friday between 8:00 am and 5:55 pm".
		{"cron(0/5 8-17 ? * MON-FRI *)", wed, []time.Time{utc(2025, 6, 18, 12, 35, 0), utc(2025, 6, 18, 12, 40, 0)}},
		{"cron(0/5 8-17 ? * MON-FRI *)", utc(2025, 6, 20, 17, 50, 0), []time.Time{utc(2025, 6, 20, 17, 55, 0), utc(2025, 6, 23, 8, 0, 0)}},
		// AWS: "Run at 9 a.m. (UTC) the first Monday of each month". 1 July 2025 is a Tuesday.
		{"cron(0 9 ? * 2#1 *)", wed, []time.Time{utc(2025, 7, 7, 9, 0, 0), utc(2025, 8, 4, 9, 0, 0), utc(2025, 9, 1, 9, 0, 0)}},
		// 1/10 is the 1st, 11th, 21st ... minute.
		{"cron(1/10 * * * ? *)", wed, []time.Time{utc(2025, 6, 18, 12, 41, 0), utc(2025, 6, 18, 12, 51, 0), utc(2025, 6, 18, 13, 1, 0)}},
		// L: last day of the month, leap years included.
		{"cron(0 0 L * ? *)", utc(2024, 2, 1, 0, 0, 0), []time.Time{utc(2024, 2, 29, 0, 0, 0), utc(2024, 3, 31, 0, 0, 0), utc(2024, 4, 30, 0, 0, 0)}},
		// LW: 31 May 2025 is a Saturday, 31 Aug 2025 a Sunday.
		{"cron(0 0 LW 5,8 ? 2025)", utc(2025, 1, 1, 0, 0, 0), []time.Time{utc(2025, 5, 30, 0, 0, 0), utc(2025, 8, 29, 0, 0, 0)}},
		// 15W: 15 June 2025 is a Sunday, so Monday the 16th; 15 July is a Tuesday.
		{"cron(0 0 15W * ? *)", utc(2025, 6, 1, 0, 0, 0), []time.Time{utc(2025, 6, 16, 0, 0, 0), utc(2025, 7, 15, 0, 0, 0)}},
		// 1W never leaves the month: 1 Nov 2025 is a Saturday, so Monday the 3rd.
		{"cron(0 0 1W * ? *)", utc(2025, 10, 15, 0, 0, 0), []time.Time{utc(2025, 11, 3, 0, 0, 0), utc(2025, 12, 1, 0, 0, 0)}},
		// 31W: Sunday 31 Aug 2025 is the last day, so Friday the 29th; September has no 31st.
		{"cron(0 0 31W * ? *)", utc(2025, 8, 1, 0, 0, 0), []time.Time{utc(2025, 8, 29, 0, 0, 0), utc(2025, 10, 31, 0, 0, 0)}},
		// 6L: last Friday.
		{"cron(0 12 ? * 6L *)", wed, []time.Time{utc(2025, 6, 27, 12, 0, 0), utc(2025, 7, 25, 12, 0, 0)}},
		// FRI#3: third Friday; names work with #.
		{"cron(0 12 ? * FRI#3 *)", wed, []time.Time{utc(2025, 6, 20, 12, 0, 0), utc(2025, 7, 18, 12, 0, 0)}},
		// 1#5: fifth Sunday; July 2025 has none.
		{"cron(0 12 ? * 1#5 *)", wed, []time.Time{utc(2025, 6, 29, 12, 0, 0), utc(2025, 8, 31, 12, 0, 0)}},
		// L in day-of-week is Saturday, the last day of the week.
		{"cron(0 10 ? * L *)", wed, []time.Time{utc(2025, 6, 21, 10, 0, 0), utc(2025, 6, 28, 10, 0, 0)}},
		// Names are case-insensitive. 5 Jan 2026 is the first Monday of 2026.
		{"cron(0 9 ? jan-Mar mon *)", wed, []time.Time{utc(2026, 1, 5, 9, 0, 0), utc(2026, 1, 12, 9, 0, 0)}},
		{"cron(0 0 ? * 1,7 *)", wed, []time.Time{utc(2025, 6, 21, 0, 0, 0), utc(2025, 6, 22, 0, 0, 0), utc(2025, 6, 28, 0, 0, 0)}},
		// Sparse: 29 February.
		{"cron(0 0 29 2 ? *)", wed, []time.Time{utc(2028, 2, 29, 0, 0, 0), utc(2032, 2, 29, 0, 0, 0)}},
		// 2100 is not a leap year.
		{"cron(0 0 29 2 ? 2100-2199)", wed, []time.Time{utc(2104, 2, 29, 0, 0, 0)}},
		{"cron(30 2 1 1 ? 2030/5)", wed, []time.Time{utc(2030, 1, 1, 2, 30, 0), utc(2035, 1, 1, 2, 30, 0)}},
		{"cron(0-10/5,59 23 31 DEC ? *)", wed, []time.Time{utc(2025, 12, 31, 23, 0, 0), utc(2025, 12, 31, 23, 5, 0), utc(2025, 12, 31, 23, 10, 0), utc(2025, 12, 31, 23, 59, 0), utc(2026, 12, 31, 23, 0, 0)}},
		// Before the year range: the first fire is in 1970.
		{"cron(0 0 1 1 ? *)", utc(1900, 6, 1, 0, 0, 0), []time.Time{utc(1970, 1, 1, 0, 0, 0), utc(1971, 1, 1, 0, 0, 0)}},
		// Exhausted ranges end, without scanning forever.
		{"cron(0 0 1 1 ? 2199)", utc(2199, 1, 1, 0, 0, 0), nil},
		{"cron(* * * * ? *)", utc(2199, 12, 31, 23, 58, 30), []time.Time{utc(2199, 12, 31, 23, 59, 0)}},
		{"cron(0 0 1 1 ? *)", utc(2300, 1, 1, 0, 0, 0), nil},
		{"cron(0 0 30 2 ? *)", wed, nil},
		{"cron(0 0 31W 2 ? *)", wed, nil},
		{"cron(0 0 ? 2 2#5 2026-2030)", wed, nil}, // no February 2026-2030 has five Mondays
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			s := setup(t, tt.expr, "UTC")
			n := len(tt.want)
			if n == 0 {
				n = 1
			}
			assertTimes(t, s.NextN(tt.after, n), tt.want...)
		})
	}
}

// TestCronZone checks that cron fields are read in the schedule's zone.
func TestCronZone(t *testing.T) {
	t.Parallel()
	paris := setup(t, "cron(0 9 * * ? *)", "Europe/Paris")
	assertTimes(t, paris.NextN(wed, 1), utc(2025, 6, 19, 7, 0, 0)) // CEST, UTC+2
	assertTimes(t, paris.NextN(utc(2025, 12, 1, 0, 0, 0), 1), utc(2025, 12, 1, 8, 0, 0))
	kathmandu := setup(t, "cron(0 0 * * ? *)", "Asia/Kathmandu") // UTC+5:45
	assertTimes(t, kathmandu.NextN(wed, 1), utc(2025, 6, 18, 18, 15, 0))
	// after in another location means the same instant.
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	assertTimes(t, paris.NextN(wed.In(tokyo), 1), utc(2025, 6, 19, 7, 0, 0))
}

// TestInvalid checks that bad input yields an *Error that blames the right
// field and names the bad part.
func TestInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr, tz string
		field    string
		msg      string // substring of Message
	}{
		{"", "", FieldExpression, `must be at(...), rate(...) or cron(...)`},
		{"every 5 minutes", "", FieldExpression, `"every 5 minutes" must be at(...)`},
		{"CRON(0 10 * * ? *)", "", FieldExpression, `must be at(...)`},
		{"cron(0 10 * * ? *", "", FieldExpression, `must be at(...)`},
		{"cron(0 10 * * ?)", "", FieldExpression, `cron: expected 6 fields (minutes hours day-of-month month day-of-week year), got 5`},
		{"cron(0 0 10 * * ? *)", "", FieldExpression, `got 7`},
		{"cron(0 10 * * * *)", "", FieldExpression, `exactly one of day-of-month ("*") and day-of-week ("*") must be "?"`},
		{"cron(0 10 ? * ? *)", "", FieldExpression, `exactly one of day-of-month`},
		{"cron(0 10 1 * MON *)", "", FieldExpression, `exactly one of day-of-month`},
		{"cron(60 10 * * ? *)", "", FieldExpression, `cron: minutes "60" out of range 0-59`},
		{"cron(0 24 * * ? *)", "", FieldExpression, `cron: hours "24" out of range 0-23`},
		{"cron(0 0 32 * ? *)", "", FieldExpression, `cron: day-of-month "32" out of range 1-31`},
		{"cron(0 0 0 * ? *)", "", FieldExpression, `cron: day-of-month "0" out of range 1-31`},
		{"cron(0 0 ? 13 MON *)", "", FieldExpression, `cron: month "13" out of range 1-12 or JAN-DEC`},
		{"cron(0 0 ? FOO MON *)", "", FieldExpression, `cron: month "FOO" is not a value 1-12 or JAN-DEC`},
		{"cron(0 0 ? * 8 *)", "", FieldExpression, `cron: day-of-week "8" out of range 1-7`},
		{"cron(0 0 ? * 0 *)", "", FieldExpression, `cron: day-of-week "0" out of range 1-7`},
		{"cron(0 0 ? * MON-FUN *)", "", FieldExpression, `cron: day-of-week "FUN" is not a value 1-7 or SUN-SAT`},
		{"cron(0 0 * * ? 1969)", "", FieldExpression, `cron: year "1969" out of range 1970-2199`},
		{"cron(0 0 * * ? 2200)", "", FieldExpression, `cron: year "2200" out of range 1970-2199`},
		{"cron(a 0 * * ? *)", "", FieldExpression, `cron: minutes "a" is not a value 0-59`},
		{"cron(-1 0 * * ? *)", "", FieldExpression, `cron: minutes "-1" is missing a value`},
		{"cron(1,,2 0 * * ? *)", "", FieldExpression, `cron: minutes "1,,2" has an empty list item`},
		{"cron(5-1 * * * ? *)", "", FieldExpression, `cron: minutes range "5-1" runs backwards`},
		{"cron(0/0 * * * ? *)", "", FieldExpression, `cron: minutes increment "0" in "0/0" must be a number 1-60`},
		{"cron(*/x * * * ? *)", "", FieldExpression, `cron: minutes increment "x"`},
		{"cron(0 0 ? * MON/2 *)", "", FieldExpression, `cron: day-of-week "MON/2": increments ("/") are not allowed`},
		{"cron(0 0 ? * 3#6 *)", "", FieldExpression, `cron: day-of-week "3#6": occurrence after "#" must be 1-5`},
		{"cron(0 0 ? * 8#1 *)", "", FieldExpression, `cron: day-of-week "8" out of range 1-7`},
		{"cron(0 0 ? * 3#1,6#3 *)", "", FieldExpression, `cron: day-of-week "3#1,6#3": "#" allows a single expression`},
		{"cron(0 0 ? * 6L,1 *)", "", FieldExpression, `cron: day-of-week "6L,1": use "?", "L" or "nL" alone in the field`},
		{"cron(0 0 ? * 8L *)", "", FieldExpression, `cron: day-of-week "8" out of range 1-7`},
		{"cron(0 0 L,15 * ? *)", "", FieldExpression, `cron: day-of-month "L,15": use "?", "L", "LW" or "nW" alone in the field`},
		{"cron(0 0 1,15W * ? *)", "", FieldExpression, `use "?", "L", "LW" or "nW" alone`},
		{"cron(0 0 W * ? *)", "", FieldExpression, `cron: day-of-month "W": use "?", "L", "LW" or "nW" alone`},
		{"cron(0 0 1,? * MON *)", "", FieldExpression, `cron: day-of-month "1,?": use`},
		{"cron(0 0 32W * ? *)", "", FieldExpression, `cron: day-of-month "32" out of range 1-31`},
		{"cron(0 L * * ? *)", "", FieldExpression, `cron: hours "L" is not a value 0-23`},
		{"rate(0 minutes)", "", FieldExpression, `rate: value "0" must be a positive integer`},
		{"rate(-1 minutes)", "", FieldExpression, `rate: value "-1" must be a positive integer`},
		{"rate(1.5 hours)", "", FieldExpression, `rate: value "1.5" must be a positive integer`},
		{"rate(1 minutes)", "", FieldExpression, `rate: unit "minutes" must be singular ("minute") when the value is 1`},
		{"rate(5 minute)", "", FieldExpression, `rate: unit "minute" must be plural ("minutes") when the value is 5`},
		{"rate(5 weeks)", "", FieldExpression, `rate: unknown unit "weeks"`},
		{"rate(5 Minutes)", "", FieldExpression, `rate: unknown unit "Minutes"`},
		{"rate(5)", "", FieldExpression, `rate: expected "rate(value unit)", got 1 part(s)`},
		{"rate(36526 days)", "", FieldExpression, `rate: value "36526" is too large: at most 36525 days`},
		{"rate(99999999999999999999 seconds)", "", FieldExpression, `is too large`},
		{"at(2025-13-01T00:00:00)", "", FieldExpression, `at: "2025-13-01T00:00:00" is not a date-time yyyy-mm-ddThh:mm:ss`},
		{"at(2025-02-29T00:00:00)", "", FieldExpression, `is not a date-time`},
		{"at(2025-06-18 12:00:00)", "", FieldExpression, `is not a date-time`},
		{"at(2025-06-18T12:00)", "", FieldExpression, `is not a date-time`},
		{"at(2025-06-18T12:00:00Z)", "", FieldExpression, `is not a date-time`},
		{"at(1969-12-31T23:59:59)", "", FieldExpression, `at: year 1969 out of range 1970-2199`},
		{"at(2025-03-30T02:30:00)", "Europe/Paris", FieldExpression, `at: 2025-03-30T02:30:00 does not exist in Europe/Paris`},
		{"at(2025-03-09T02:00:00)", "America/New_York", FieldExpression, `does not exist in America/New_York`},
		{"cron(0 10 * * ? *)", "Mars/Olympus_Mons", FieldTimezone, `unknown time zone "Mars/Olympus_Mons"`},
		{"cron(0 10 * * ? *)", "Local", FieldTimezone, `"Local" is not allowed`},
		{"cron(0 10 * * ? *)", "../../etc/passwd", FieldTimezone, `unknown time zone`},
		{"cron(0 10 * * ? *)", "/etc/localtime", FieldTimezone, `unknown time zone`},
		{"cron(0 10 * * ? *)", "europe/paris", FieldTimezone, `unknown time zone "europe/paris"`},
		// The zone is checked first: a request with both wrong blames it.
		{"nonsense", "Nowhere/Land", FieldTimezone, `unknown time zone`},
	}
	for _, tt := range tests {
		t.Run(tt.expr+"@"+tt.tz, func(t *testing.T) {
			t.Parallel()
			s, err := Parse(tt.expr, tt.tz)
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse(%q, %q) = %v, %v; want *Error", tt.expr, tt.tz, s, err)
			}
			if perr.Field != tt.field {
				t.Errorf("Field = %q, want %q (message %q)", perr.Field, tt.field, perr.Message)
			}
			if !strings.Contains(perr.Message, tt.msg) {
				t.Errorf("Message = %q\nwant it to contain %q", perr.Message, tt.msg)
			}
			if want := "invalid " + tt.field + ": " + perr.Message; err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
			if s != (Schedule{}) {
				t.Errorf("Parse returned a non-zero Schedule with its error: %v", s)
			}
		})
	}
}

func TestRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr  string
		start time.Time
		after time.Time
		want  []time.Time
	}{
		// Default anchor: the Unix epoch.
		{"rate(5 minutes)", time.Time{}, wed, []time.Time{utc(2025, 6, 18, 12, 35, 0), utc(2025, 6, 18, 12, 40, 0)}},
		{"rate(1 minute)", time.Time{}, utc(2025, 6, 18, 12, 35, 0), []time.Time{utc(2025, 6, 18, 12, 36, 0)}},
		{"rate(1 second)", time.Time{}, wed.Add(500 * time.Millisecond), []time.Time{wed.Add(time.Second), wed.Add(2 * time.Second)}},
		{"rate(30 seconds)", time.Time{}, wed, []time.Time{utc(2025, 6, 18, 12, 35, 0), utc(2025, 6, 18, 12, 35, 30)}},
		{"rate(1 hour)", time.Time{}, wed, []time.Time{utc(2025, 6, 18, 13, 0, 0)}},
		{"rate(1 day)", time.Time{}, wed, []time.Time{utc(2025, 6, 19, 0, 0, 0)}},
		// The epoch was a Thursday; 19 June 2025 is one too.
		{"rate(7 days)", time.Time{}, wed, []time.Time{utc(2025, 6, 19, 0, 0, 0), utc(2025, 6, 26, 0, 0, 0)}},
		{"rate(5 minutes)", time.Time{}, utc(1960, 1, 1, 0, 0, 0), []time.Time{utc(1970, 1, 1, 0, 0, 0)}},
		// A start anchors the fires; the first is the start itself, rounded up to a second.
		{"rate(2 hours)", wed.Add(-2*time.Hour - 34*time.Minute + 200*time.Millisecond), utc(2025, 1, 1, 0, 0, 0), []time.Time{utc(2025, 6, 18, 10, 0, 57), utc(2025, 6, 18, 12, 0, 57)}},
		{"rate(2 hours)", utc(2025, 6, 18, 10, 0, 0), wed, []time.Time{utc(2025, 6, 18, 14, 0, 0), utc(2025, 6, 18, 16, 0, 0)}},
		{"rate(2 hours)", utc(2025, 6, 18, 10, 0, 0), utc(2025, 6, 18, 10, 0, 0), []time.Time{utc(2025, 6, 18, 12, 0, 0)}},
		{"rate(2 hours)", utc(2025, 6, 18, 10, 0, 0), utc(2025, 6, 18, 9, 59, 59), []time.Time{utc(2025, 6, 18, 10, 0, 0)}},
		{"rate(1 day)", time.Time{}, utc(9999, 12, 31, 0, 0, 0), nil},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			s := setup(t, tt.expr, "Europe/Paris").WithStart(tt.start)
			n := max(len(tt.want), 1)
			assertTimes(t, s.NextN(tt.after, n), tt.want...)
		})
	}
}

func TestAt(t *testing.T) {
	t.Parallel()
	s := setup(t, "at(2025-06-18T14:00:00)", "Europe/Paris")
	at := utc(2025, 6, 18, 12, 0, 0)
	assertTimes(t, s.NextN(at.Add(-time.Hour), 5), at)
	assertTimes(t, s.NextN(at.Add(-time.Nanosecond), 1), at)
	assertTimes(t, s.NextN(at, 1))
	assertTimes(t, s.NextN(at.Add(time.Hour), 1))
	// An ambiguous wall time is its first occurrence (EDT, not EST).
	ny := setup(t, "at(2025-11-02T01:30:00)", "America/New_York")
	assertTimes(t, ny.NextN(wed, 1), utc(2025, 11, 2, 5, 30, 0))
}

func TestBounds(t *testing.T) {
	t.Parallel()
	s := setup(t, "cron(0 * * * ? *)", "UTC").
		WithStart(utc(2025, 6, 18, 14, 0, 0)).
		WithEnd(utc(2025, 6, 18, 17, 0, 0))
	assertTimes(t, s.NextN(wed, 10), utc(2025, 6, 18, 14, 0, 0), utc(2025, 6, 18, 15, 0, 0), utc(2025, 6, 18, 16, 0, 0))
	// The zero time removes a bound.
	assertTimes(t, s.WithStart(time.Time{}).WithEnd(time.Time{}).NextN(wed, 1), utc(2025, 6, 18, 13, 0, 0))
	at := setup(t, "at(2025-06-18T14:00:00)", "UTC")
	assertTimes(t, at.WithEnd(utc(2025, 6, 18, 14, 0, 0)).NextN(wed, 1))
	assertTimes(t, at.WithStart(utc(2025, 6, 18, 14, 0, 1)).NextN(wed, 1))
}

func TestZeroSchedule(t *testing.T) {
	t.Parallel()
	var s Schedule
	if _, ok := s.Next(wed); ok || s.String() != "" || s.Kind() != "" || s.Period() != 0 {
		t.Fatalf("zero Schedule: Next ok=%v, String %q, Kind %q, Period %v", ok, s.String(), s.Kind(), s.Period())
	}
}

func TestCanonical(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr, tz   string
		want       string
		kind       Kind
		zone       string
		periodSecs int64
	}{
		{"cron(0 10 * * ? *)", "", "cron(0 10 * * ? *)", KindCron, "UTC", 0},
		{"  cron(00  9\t? jan-Mar mon,fri *)  ", "Europe/Paris", "cron(0 9 ? JAN-MAR MON,FRI *)", KindCron, "Europe/Paris", 0},
		{"cron(0/05 */2 15w * ? 2025-2030/2)", "UTC", "cron(0/5 */2 15W * ? 2025-2030/2)", KindCron, "UTC", 0},
		{"cron(0 0 lw * ? *)", "UTC", "cron(0 0 LW * ? *)", KindCron, "UTC", 0},
		{"cron(0 0 ? * fri#03 *)", "UTC", "cron(0 0 ? * FRI#3 *)", KindCron, "UTC", 0},
		{"cron(0 0 ? * 6l *)", "UTC", "cron(0 0 ? * 6L *)", KindCron, "UTC", 0},
		{"cron(0 0 ? * l *)", "UTC", "cron(0 0 ? * L *)", KindCron, "UTC", 0},
		{"rate(05   minutes)", "America/New_York", "rate(5 minutes)", KindRate, "America/New_York", 300},
		{"rate(1 second)", "", "rate(1 second)", KindRate, "UTC", 1},
		{"rate(2 days)", "", "rate(2 days)", KindRate, "UTC", 172800},
		{"at( 2025-06-18T14:00:00 )", "Asia/Tokyo", "at(2025-06-18T14:00:00)", KindAt, "Asia/Tokyo", 0},
	}
	for _, tt := range tests {
		s := setup(t, tt.expr, tt.tz)
		if s.String() != tt.want || s.Kind() != tt.kind || s.TimeZone() != tt.zone || s.Location().String() != tt.zone || s.Period() != time.Duration(tt.periodSecs)*time.Second {
			t.Errorf("Parse(%q, %q): String %q, Kind %q, TimeZone %q, Period %v; want %q, %q, %q, %ds",
				tt.expr, tt.tz, s.String(), s.Kind(), s.TimeZone(), s.Period(), tt.want, tt.kind, tt.zone, tt.periodSecs)
		}
		again := setup(t, s.String(), tt.tz)
		if again.String() != s.String() {
			t.Errorf("canonical form is not a fixed point: %q -> %q", s.String(), again.String())
		}
	}
}

func TestMustParsePanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("MustParse of a bad expression did not panic")
		}
	}()
	MustParse("cron(bad)", "")
}
