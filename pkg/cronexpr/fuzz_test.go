package cronexpr

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzZones covers whole-hour, half-hour and 45-minute offsets, 30-minute
// and 2-hour DST shifts, negative DST (Dublin), changes at midnight
// (Havana, Santiago), skipped days (Apia 2011, Kiritimati 1994) and zones
// without DST.
var fuzzZones = []string{
	"UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu",
	"Pacific/Chatham", "America/Santiago", "America/Havana", "Africa/Casablanca",
	"America/St_Johns", "Europe/Dublin", "Antarctica/Troll", "Pacific/Apia", "Asia/Tehran",
	"Europe/London", "Australia/Sydney", "America/Sao_Paulo", "Asia/Gaza", "Europe/Moscow",
	"Pacific/Kiritimati", "America/Nuuk", "Asia/Kolkata",
}

// Fuzzed instants are folded into 1960-2210, around the cron year range.
var (
	fuzzLo   = time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	fuzzSpan = time.Date(2210, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano() - fuzzLo
)

func fuzzInstant(x int64) time.Time {
	m := x % fuzzSpan
	if m < 0 {
		m += fuzzSpan
	}
	return time.Unix(0, fuzzLo+m).UTC()
}

// seedInstant is fuzzInstant's inverse, for seeds.
func seedInstant(t time.Time) int64 { return t.UnixNano() - fuzzLo }

// oracleMatch reports whether wall clock w names a time of the expression.
// It shares the parsed field sets with the code under test but decides the
// L, W and # days by plain date arithmetic, independently of cronSpec.days.
func oracleMatch(c *cronSpec, w time.Time) bool {
	y, mo, d := w.Date()
	if w.Second() != 0 || y < minYear || y > maxYear || !c.years.has(y-minYear) ||
		!c.months.has(int(mo)-1) || !c.hours.has(w.Hour()) || !c.minutes.has(w.Minute()) {
		return false
	}
	last := 28
	for time.Date(y, mo, last+1, 12, 0, 0, 0, time.UTC).Month() == mo {
		last++
	}
	isWeekday := func(day int) bool {
		wd := time.Date(y, mo, day, 12, 0, 0, 0, time.UTC).Weekday()
		return wd != time.Saturday && wd != time.Sunday
	}
	abs := func(x int) int { return max(x, -x) }
	switch c.domKind {
	case daysSet:
		return c.dom.has(d - 1)
	case daysLast:
		return d == last
	case daysLastWeekday:
		for x := d + 1; x <= last; x++ {
			if isWeekday(x) {
				return false
			}
		}
		return isWeekday(d)
	case daysNearest:
		if c.n > last {
			return false
		}
		best := 0
		for x := 1; x <= last; x++ {
			if isWeekday(x) && (best == 0 || abs(x-c.n) < abs(best-c.n)) {
				best = x
			}
		}
		return d == best
	}
	wd := w.Weekday()
	switch c.dowKind {
	case daysSet:
		return c.dow.has(int(wd))
	case daysLast:
		return wd == c.wd && d+7 > last
	case daysNth:
		return wd == c.wd && (d-1)/7+1 == c.n
	}
	return false
}

// oracleFire reports whether instant u is a fire: its wall clock matches and
// no earlier instant showed the same wall clock (the first occurrence on a
// fall-back day). Real fall-backs are at most 2 hours, in 15-minute steps.
func oracleFire(c *cronSpec, loc *time.Location, u time.Time) bool {
	w := u.In(loc)
	if !oracleMatch(c, w) {
		return false
	}
	if _, off := w.Zone(); off == zoneOffset(u.Add(-3*time.Hour), loc) {
		return true // no change in the last 3 hours
	}
	for d := 15 * time.Minute; d <= 3*time.Hour; d += 15 * time.Minute {
		p := u.Add(-d).In(loc)
		if p.Year() == w.Year() && p.YearDay() == w.YearDay() && p.Hour() == w.Hour() && p.Minute() == w.Minute() {
			return false
		}
	}
	return true
}

// bruteNext scans every wall-clock minute start in (from, to) for a fire.
func bruteNext(c *cronSpec, loc *time.Location, from, to time.Time) (time.Time, bool) {
	u := from.Truncate(time.Second).Add(time.Second)
	for u.Before(to) {
		if s := u.In(loc).Second(); s != 0 {
			u = u.Add(time.Duration(60-s) * time.Second)
			continue
		}
		if oracleFire(c, loc, u) {
			return u, true
		}
		u = u.Add(time.Minute)
	}
	return time.Time{}, false
}

// bruteWindow bounds each brute-force scan: long enough to cross a whole
// DST day, short enough to keep the fuzzer fast.
const bruteWindow = 26 * time.Hour

// FuzzNext checks Next's results against the oracle for expressions ×
// zones × start instants: strictly increasing, whole UTC seconds, each a
// fire (fields match the wall clock, which exists, at its first occurrence),
// no two on the same wall clock, no fire missed in between, and the same
// answer from any instant between two fires. A zone index with the high bit
// set moves the instant to within 36 hours before the zone's next change,
// so DST days come up often.
func FuzzNext(f *testing.F) {
	seeds := []struct {
		expr  string
		zone  uint8
		after time.Time
		start time.Time
	}{
		{"cron(0 10 * * ? *)", 0, wed, time.Time{}},
		{"cron(30 2 * * ? *)", 1, utc(2025, 3, 29, 0, 0, 0), time.Time{}},
		{"cron(30 2 * * ? *)", 1, utc(2025, 10, 25, 12, 0, 0), time.Time{}},
		{"cron(30 1 * * ? *)", 2, utc(2025, 11, 1, 12, 0, 0), time.Time{}},
		{"cron(0/15 * * * ? *)", 0x80 | 2, utc(2025, 3, 8, 0, 0, 0), time.Time{}},
		{"cron(0/5 8-17 ? * MON-FRI *)", 0x80 | 3, wed, time.Time{}},
		{"cron(0/10 * ? * MON-FRI *)", 0x80 | 11, wed, time.Time{}},
		{"cron(0 9 ? * 2#1 *)", 5, wed, time.Time{}},
		{"cron(0 0 LW * ? *)", 6, wed, time.Time{}},
		{"cron(15 0 1W * ? *)", 0x80 | 7, wed, time.Time{}},
		{"cron(0 12 ? * 6L *)", 8, wed, time.Time{}},
		{"cron(* * L * ? *)", 0x80 | 9, wed, time.Time{}},
		{"cron(0 0 29 2 ? *)", 12, wed, time.Time{}},
		{"cron(0 0 * * ? 2199)", 0, utc(2199, 12, 30, 0, 0, 0), time.Time{}},
		{"cron(45 23 * * ? *)", 0x80 | 7, wed, time.Time{}},
		{"cron(0,30 * * * ? *)", 0x80 | 10, wed, utc(2025, 7, 1, 0, 0, 0)},
		{"rate(5 minutes)", 1, wed, time.Time{}},
		{"rate(1 day)", 2, wed, utc(2025, 3, 8, 12, 0, 0)},
		{"rate(7 seconds)", 0, wed, wed.Add(1500 * time.Millisecond)},
		{"at(2025-11-02T01:30:00)", 2, wed, time.Time{}},
		{"at(2025-06-18T14:00:00)", 1, wed, utc(2025, 6, 18, 13, 0, 0)},
	}
	for _, s := range seeds {
		var start int64
		if !s.start.IsZero() {
			start = seedInstant(s.start)
		}
		f.Add(s.expr, s.zone, seedInstant(s.after), start)
	}
	f.Fuzz(func(t *testing.T, expr string, zone uint8, afterX, startX int64) {
		checkNext(t, expr, zone, afterX, startX, false)
	})
}

// FuzzCron is FuzzNext over cron expressions generated from the fuzz
// bytes by genCron, so that every input is a valid expression and the
// fuzzer explores field values and zones rather than syntax.
func FuzzCron(f *testing.F) {
	f.Add([]byte{}, uint8(0), seedInstant(wed))                                                                                // cron(* * ? * L *)
	f.Add([]byte{1, 3, 0, 0, 1, 0, 4, 14, 0, 0, 0, 0}, uint8(0x80|1), seedInstant(wed))                                        // cron(*/15 * * * ? *), Paris, near a change
	f.Add([]byte{1, 0, 1, 10, 0, 0, 0}, uint8(0x80|3), seedInstant(wed))                                                       // cron(*,* * L * ? *), Lord Howe
	f.Add([]byte{3, 0, 14, 0, 1, 1, 0, 0, 1, 3, 0, 0, 2}, uint8(0x80|2), seedInstant(utc(2025, 3, 8, 0, 0, 0)))                // cron(1 * L 1/3,* ? *)
	f.Add([]byte{0xff, 0x17, 0x42, 0x99, 0x03, 0x80, 0x11, 0x05, 0x07, 0x21}, uint8(5), seedInstant(utc(1975, 1, 1, 0, 0, 0))) // cron(0/1,* * 5W * ? 1975-1987)
	f.Add([]byte{2, 5, 9, 1, 0, 3, 3, 2, 2, 2, 1, 4, 4}, uint8(7), seedInstant(utc(1971, 12, 30, 0, 0, 0)))                    // cron(* * ? * 1 1971-1972,*/5,*)
	f.Fuzz(func(t *testing.T, data []byte, zone uint8, afterX int64) {
		checkNext(t, genCron(data), zone, afterX, 0, true)
	})
}

// genCron turns bytes into a valid cron expression covering every form:
// '*', values, names in mixed case, ranges, lists, increments, and the
// L, LW, nW, nL and n#k days. Missing bytes read as zero.
func genCron(data []byte) string {
	g := &byteGen{b: data}
	domQ := g.intn(2) == 0 // which day field is '?'
	var dom, dow string
	if domQ {
		dom = "?"
		switch g.intn(6) {
		case 0:
			dow = "L"
		case 1:
			dow = g.value(dowField) + "L"
		case 2:
			dow = g.value(dowField) + "#" + strconv.Itoa(1+g.intn(5))
		default:
			dow = g.list(dowField)
		}
	} else {
		dow = "?"
		switch g.intn(7) {
		case 0:
			dom = "L"
		case 1:
			dom = "lw"
		case 2:
			dom = strconv.Itoa(1+g.intn(31)) + "W"
		default:
			dom = g.list(domField)
		}
	}
	year := "*"
	if g.intn(3) == 0 {
		year = g.list(yearField)
	}
	return "cron(" + g.list(minutesField) + " " + g.list(hoursField) + " " + dom + " " +
		g.list(monthField) + " " + dow + " " + year + ")"
}

type byteGen struct {
	b []byte
	i int
}

func (g *byteGen) intn(n int) int {
	if g.i >= len(g.b) {
		return 0
	}
	v := int(g.b[g.i])
	g.i++
	return v % n
}

func (g *byteGen) value(f field) string {
	v := f.min + g.intn(f.max-f.min+1)
	return g.spell(f, v)
}

func (g *byteGen) spell(f field, v int) string {
	if f.names != nil {
		switch g.intn(3) {
		case 1:
			return f.names[v-f.min]
		case 2:
			return strings.ToLower(f.names[v-f.min])
		}
	}
	return strconv.Itoa(v)
}

func (g *byteGen) list(f field) string {
	n := 1 + g.intn(3)
	items := make([]string, n)
	size := f.max - f.min + 1
	for i := range items {
		kinds := 3
		if f.step {
			kinds = 6
		}
		switch g.intn(kinds) {
		case 0:
			items[i] = "*"
		case 1:
			items[i] = g.value(f)
		case 2:
			a, b := f.min+g.intn(size), f.min+g.intn(size)
			items[i] = g.spell(f, min(a, b)) + "-" + g.spell(f, max(a, b))
		case 3:
			items[i] = g.value(f) + "/" + strconv.Itoa(1+g.intn(size))
		case 4:
			items[i] = "*/" + strconv.Itoa(1+g.intn(size))
		case 5:
			a, b := f.min+g.intn(size), f.min+g.intn(size)
			items[i] = g.spell(f, min(a, b)) + "-" + g.spell(f, max(a, b)) + "/" + strconv.Itoa(1+g.intn(size))
		}
	}
	return strings.Join(items, ",")
}

// checkNext is the property check behind FuzzNext and FuzzCron.
// Invalid expressions are skipped, or fail the test when generated is set.
func checkNext(t *testing.T, expr string, zone uint8, afterX, startX int64, generated bool) {
	tz := fuzzZones[int(zone&0x7f)%len(fuzzZones)]
	s, err := Parse(expr, tz)
	if err != nil {
		if generated {
			t.Fatalf("generated %s does not parse: %v", expr, err)
		}
		return
	}
	loc := s.Location()
	after := fuzzInstant(afterX)
	if zone&0x80 != 0 {
		if _, end := after.In(loc).ZoneBounds(); !end.IsZero() {
			after = end.Add(-time.Duration(uint64(afterX)%(36*3600)) * time.Second)
		}
	}
	lower := after // Next(after) must be the first fire after lower
	var start time.Time
	if startX != 0 {
		start = fuzzInstant(startX)
		s = s.WithStart(start)
		if after.Before(start) {
			lower = start.Add(-time.Nanosecond)
		}
	}
	const n = 6
	got := s.NextN(after, n)
	seen := map[string]bool{}
	prev := lower
	for i, r := range got {
		if !r.After(prev) || r.Location() != time.UTC || r.Nanosecond() != 0 {
			t.Fatalf("%s in %s: result %d = %v after %v: want a later whole UTC second", expr, tz, i, r, prev)
		}
		if !start.IsZero() && r.Before(start) {
			t.Fatalf("%s in %s: result %v before start %v", expr, tz, r, start)
		}
		wall := r.In(loc).Format(time.DateTime)
		if seen[wall] {
			t.Fatalf("%s in %s: wall time %s fires twice (got %v)", expr, tz, wall, got)
		}
		seen[wall] = true
		// The same answer from anywhere in [prev, r).
		mid := prev.Add(r.Sub(prev) / 2)
		for _, from := range []time.Time{mid, r.Add(-time.Nanosecond)} {
			if from.Before(lower) {
				continue
			}
			if again, ok := s.Next(from); !ok || !again.Equal(r) {
				t.Fatalf("%s in %s: Next(%v) = %v, %v; but Next from %v gave %v", expr, tz, from, again, ok, prev, r)
			}
		}
		switch s.Kind() {
		case KindCron:
			if !oracleFire(s.cron, loc, r) {
				t.Fatalf("%s in %s: %v (wall %s) is not a fire", expr, tz, r, wall)
			}
			if miss, ok := bruteNext(s.cron, loc, prev, minTime(r, prev.Add(bruteWindow))); ok {
				t.Fatalf("%s in %s: Next skipped %v (wall %s) between %v and %v", expr, tz, miss, miss.In(loc).Format(time.DateTime), prev, r)
			}
		case KindRate:
			var anchor int64
			if !start.IsZero() {
				anchor = start.Add(time.Second - 1).Unix()
			}
			p := int64(s.Period() / time.Second)
			k := r.Unix() - anchor
			if k < 0 || k%p != 0 || (k > 0 && time.Unix(r.Unix()-p, 0).After(prev)) {
				t.Fatalf("%s: %v is not the first anchor+k×period after %v (anchor %d)", expr, r, prev, anchor)
			}
		case KindAt:
			if i > 0 || !r.Equal(s.at) {
				t.Fatalf("%s in %s: at() fired at %v (result %d), want once at %v", expr, tz, r, i, s.at)
			}
		}
		prev = r
	}
	if len(got) < n {
		switch s.Kind() {
		case KindCron:
			if miss, ok := bruteNext(s.cron, loc, prev, prev.Add(bruteWindow)); ok {
				t.Fatalf("%s in %s: Next ended after %v but %v is a fire", expr, tz, prev, miss)
			}
		case KindRate:
			if prev.Year() < 9999 {
				t.Fatalf("%s: rate() ended at %v", expr, prev)
			}
		case KindAt:
			if after.Before(s.at) && (start.IsZero() || !s.at.Before(start)) && len(got) == 0 {
				t.Fatalf("%s in %s: at() in the future did not fire", expr, tz)
			}
		}
	}
}

func zoneOffset(t time.Time, loc *time.Location) int {
	_, off := t.In(loc).Zone()
	return off
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// FuzzParse feeds Parse arbitrary text: it never panics, every failure is
// an *Error with a known Field and a short, printable message, and every
// success has a canonical form that parses to itself and fires the same.
func FuzzParse(f *testing.F) {
	for _, e := range []string{
		"cron(0 10 * * ? *)", "cron(15 12 * * ? *)", "cron(0 18 ? * MON-FRI *)", "cron(0 8 1 * ? *)",
		"cron(0/15 * * * ? *)", "cron(0/10 * ? * MON-FRI *)", "cron(0/5 8-17 ? * MON-FRI *)",
		"cron(0 9 ? * 2#1 *)", "cron(0 0 L * ? *)", "cron(0 0 LW * ? *)", "cron(0 0 15W * ? *)",
		"cron(0 12 ? * 6L *)", "cron(0 0 ? * L *)", "cron(1-59/7,0 */3 1/5 JAN,mar-Dec/2 ? 2020-2199/3)",
		"cron(0 0 ? * 3#1,6#3 *)", "cron(60 0 * * ? *)", "cron(0 0 ? * 8 *)",
		"rate(1 second)", "rate(5 minutes)", "rate(1 hours)", "rate(0 days)", "rate(36525 days)",
		"at(2025-06-18T14:00:00)", "at(2025-03-30T02:30:00)", "at(2025-02-30T00:00:00)", "", "cron()", "rate()", "at()",
	} {
		for _, tz := range []string{"", "Europe/Paris", "America/New_York", "Local", "Nowhere"} {
			f.Add(e, tz)
		}
	}
	f.Fuzz(func(t *testing.T, expr, tz string) {
		s, err := Parse(expr, tz)
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse(%q, %q) error %T %v, want *Error", expr, tz, err, err)
			}
			if perr.Field != FieldExpression && perr.Field != FieldTimezone {
				t.Fatalf("Parse(%q, %q): Field %q", expr, tz, perr.Field)
			}
			if perr.Message == "" || len(perr.Message) > 512 || !utf8.ValidString(perr.Message) {
				t.Fatalf("Parse(%q, %q): message %q is empty, too long or not UTF-8", expr, tz, perr.Message)
			}
			if s != (Schedule{}) {
				t.Fatalf("Parse(%q, %q) returned %v with error %v", expr, tz, s, err)
			}
			return
		}
		canon := s.String()
		again, err := Parse(canon, tz)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, expr, err)
		}
		if again.String() != canon || again.Kind() != s.Kind() || again.TimeZone() != s.TimeZone() {
			t.Fatalf("canonical form %q of %q reparses as %q", canon, expr, again.String())
		}
		from := wed
		for range 3 {
			a, aok := s.Next(from)
			b, bok := again.Next(from)
			if aok != bok || !a.Equal(b) {
				t.Fatalf("%q and its canonical form %q disagree after %v: %v vs %v", expr, canon, from, a, b)
			}
			if !aok {
				break
			}
			from = a
		}
	})
}
