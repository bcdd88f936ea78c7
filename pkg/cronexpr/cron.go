package cronexpr

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

const (
	minYear = 1970
	maxYear = 2199
)

// bitset holds the values a field allows, as bit (value − field minimum).
// 256 bits cover the year field's 230 values.
type bitset [4]uint64

func (b *bitset) add(i int)      { b[i>>6] |= 1 << (uint(i) & 63) }
func (b *bitset) has(i int) bool { return b[i>>6]&(1<<(uint(i)&63)) != 0 }

// field describes one position of a cron expression.
type field struct {
	name     string
	min, max int
	names    []string // names[i] is the value min+i; nil when the field has none
	step     bool     // accepts a/n
}

var (
	minutesField = field{name: "minutes", min: 0, max: 59, step: true}
	hoursField   = field{name: "hours", min: 0, max: 23, step: true}
	domField     = field{name: "day-of-month", min: 1, max: 31, step: true}
	monthField   = field{name: "month", min: 1, max: 12, step: true,
		names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}}
	dowField = field{name: "day-of-week", min: 1, max: 7,
		names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}}
	yearField = field{name: "year", min: minYear, max: maxYear, step: true}
)

// rangeText is how messages state a field's domain.
func (f field) rangeText() string {
	s := fmt.Sprintf("%d-%d", f.min, f.max)
	if f.names != nil {
		s += " or " + f.names[0] + "-" + f.names[len(f.names)-1]
	}
	return s
}

// domKind and dowKind say how the day fields select days.
type dayKind uint8

const (
	daysAny         dayKind = iota // '?': the other day field decides
	daysSet                        // values, ranges, lists, steps, '*'
	daysLast                       // dom L, or dow nL (weekday in wd)
	daysLastWeekday                // dom LW
	daysNearest                    // dom nW (day in n)
	daysNth                        // dow n#k (weekday in wd, k in n)
)

// cronSpec is a parsed cron expression.
type cronSpec struct {
	minutes, hours, months, years bitset
	dom, dow                      bitset // dom: bit day−1; dow: bit weekday (0 = Sunday)
	domKind, dowKind              dayKind
	n                             int          // nW day, or n#k occurrence
	wd                            time.Weekday // nL and n#k weekday
	text                          [6]string    // canonical fields
}

func parseCron(body string) (*cronSpec, error) {
	parts := strings.Fields(body)
	if len(parts) != 6 {
		return nil, exprErr("cron: expected 6 fields (minutes hours day-of-month month day-of-week year), got %d", len(parts))
	}
	c := &cronSpec{}
	var err error
	if c.text[0], err = parseList(parts[0], minutesField, &c.minutes); err != nil {
		return nil, err
	}
	if c.text[1], err = parseList(parts[1], hoursField, &c.hours); err != nil {
		return nil, err
	}
	if c.text[2], err = c.parseDOM(parts[2]); err != nil {
		return nil, err
	}
	if c.text[3], err = parseList(parts[3], monthField, &c.months); err != nil {
		return nil, err
	}
	if c.text[4], err = c.parseDOW(parts[4]); err != nil {
		return nil, err
	}
	if c.text[5], err = parseList(parts[5], yearField, &c.years); err != nil {
		return nil, err
	}
	if (c.domKind == daysAny) == (c.dowKind == daysAny) {
		return nil, exprErr(`cron: exactly one of day-of-month (%q) and day-of-week (%q) must be "?"`, clip(parts[2]), clip(parts[4]))
	}
	return c, nil
}

func (c *cronSpec) String() string { return "cron(" + strings.Join(c.text[:], " ") + ")" }

func (c *cronSpec) parseDOM(s string) (string, error) {
	u := strings.ToUpper(s)
	switch {
	case u == "?":
		c.domKind = daysAny
		return "?", nil
	case u == "L":
		c.domKind = daysLast
		return "L", nil
	case u == "LW":
		c.domKind = daysLastWeekday
		return "LW", nil
	case strings.HasSuffix(u, "W") && isDigits(u[:len(u)-1]):
		d, text, err := parseValue(u[:len(u)-1], s, domField)
		if err != nil {
			return "", err
		}
		c.domKind, c.n = daysNearest, d
		return text + "W", nil
	case strings.ContainsAny(u, "LW?"):
		return "", exprErr(`cron: day-of-month %q: use "?", "L", "LW" or "nW" alone in the field`, clip(s))
	}
	c.domKind = daysSet
	return parseList(s, domField, &c.dom)
}

func (c *cronSpec) parseDOW(s string) (string, error) {
	u := strings.ToUpper(s)
	switch {
	case u == "?":
		c.dowKind = daysAny
		return "?", nil
	case u == "L":
		// AWS: L in day-of-week is the last day of the week.
		c.dowKind = daysSet
		c.dow.add(int(time.Saturday))
		return "L", nil
	case strings.Contains(u, "#"):
		day, nth, ok := strings.Cut(u, "#")
		if strings.Contains(u, ",") {
			return "", exprErr(`cron: day-of-week %q: "#" allows a single expression, not a list`, clip(s))
		}
		d, text, err := parseValue(day, s, dowField)
		if err != nil {
			return "", err
		}
		k, err := strconv.Atoi(nth)
		if !ok || err != nil || !isDigits(nth) || k < 1 || k > 5 {
			return "", exprErr(`cron: day-of-week %q: occurrence after "#" must be 1-5`, clip(s))
		}
		c.dowKind, c.wd, c.n = daysNth, time.Weekday(d-1), k
		return text + "#" + strconv.Itoa(k), nil
	case len(u) > 1 && strings.HasSuffix(u, "L") && !strings.ContainsAny(u, ",-/*"):
		d, text, err := parseValue(u[:len(u)-1], s, dowField)
		if err != nil {
			return "", err
		}
		c.dowKind, c.wd = daysLast, time.Weekday(d-1)
		return text + "L", nil
	case strings.Contains(u, "/"):
		return "", exprErr(`cron: day-of-week %q: increments ("/") are not allowed in day-of-week`, clip(s))
	case strings.ContainsAny(u, "?L"):
		return "", exprErr(`cron: day-of-week %q: use "?", "L" or "nL" alone in the field`, clip(s))
	}
	c.dowKind = daysSet
	var set bitset
	text, err := parseList(s, dowField, &set)
	if err != nil {
		return "", err
	}
	for v := 0; v < 7; v++ {
		if set.has(v) { // bit v is day-of-week v+1, i.e. time.Weekday(v)
			c.dow.add(v)
		}
	}
	return text, nil
}

// parseList parses a comma-separated list of '*', values, ranges and
// increments into set and returns the list's canonical text.
func parseList(s string, f field, set *bitset) (string, error) {
	items := strings.Split(s, ",")
	out := make([]string, len(items))
	for i, item := range items {
		if item == "" {
			return "", exprErr("cron: %s %q has an empty list item", f.name, clip(s))
		}
		text, err := parseItem(item, f, set)
		if err != nil {
			return "", err
		}
		out[i] = text
	}
	return strings.Join(out, ","), nil
}

func parseItem(item string, f field, set *bitset) (string, error) {
	base, stepText, hasStep := strings.Cut(item, "/")
	step := 1
	if hasStep {
		if !f.step {
			return "", exprErr("cron: %s %q: increments (\"/\") are not allowed in %s", f.name, clip(item), f.name)
		}
		n, err := strconv.Atoi(stepText)
		size := f.max - f.min + 1
		if err != nil || !isDigits(stepText) || n < 1 || n > size {
			return "", exprErr("cron: %s increment %q in %q must be a number 1-%d", f.name, clip(stepText), clip(item), size)
		}
		step = n
	}
	var lo, hi int
	var text string
	switch {
	case base == "*":
		lo, hi, text = f.min, f.max, "*"
	case strings.Contains(base, "-"):
		a, b, _ := strings.Cut(base, "-")
		var at, bt string
		var err error
		if lo, at, err = parseValue(a, item, f); err != nil {
			return "", err
		}
		if hi, bt, err = parseValue(b, item, f); err != nil {
			return "", err
		}
		if lo > hi {
			return "", exprErr("cron: %s range %q runs backwards; write it as two ranges", f.name, clip(item))
		}
		text = at + "-" + bt
	default:
		var err error
		if lo, text, err = parseValue(base, item, f); err != nil {
			return "", err
		}
		hi = lo
		if hasStep { // a/n runs from a to the end of the field
			hi = f.max
		}
	}
	for v := lo; v <= hi; v += step {
		set.add(v - f.min)
	}
	if hasStep {
		text += "/" + strconv.Itoa(step)
	}
	return text, nil
}

// parseValue parses one number or name of field f; item is the enclosing
// text, for messages. It returns the value and its canonical spelling.
func parseValue(s, item string, f field) (int, string, error) {
	if s == "" {
		return 0, "", exprErr("cron: %s %q is missing a value", f.name, clip(item))
	}
	if isDigits(s) {
		n, err := strconv.Atoi(s)
		if err != nil || n < f.min || n > f.max {
			return 0, "", exprErr("cron: %s %q out of range %s", f.name, clip(s), f.rangeText())
		}
		return n, strconv.Itoa(n), nil
	}
	u := strings.ToUpper(s)
	for i, name := range f.names {
		if u == name {
			return f.min + i, name, nil
		}
	}
	return 0, "", exprErr("cron: %s %q is not a value %s", f.name, clip(s), f.rangeText())
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// days returns the days of month mo of year y that the day fields select,
// as bit day−1.
func (c *cronSpec) days(y int, mo time.Month) uint32 {
	last := daysIn(y, mo)
	first := time.Date(y, mo, 1, 0, 0, 0, 0, time.UTC).Weekday()
	weekday := func(d int) time.Weekday { return (first + time.Weekday(d-1)) % 7 }
	all := uint32(1)<<last - 1
	switch c.domKind {
	case daysSet:
		return uint32(c.dom[0]) & all
	case daysLast:
		return 1 << (last - 1)
	case daysLastWeekday:
		d := last
		switch weekday(d) {
		case time.Saturday:
			d--
		case time.Sunday:
			d -= 2
		}
		return 1 << (d - 1)
	case daysNearest:
		d := c.n
		if d > last {
			return 0
		}
		switch weekday(d) {
		case time.Saturday:
			if d == 1 {
				d = 3
			} else {
				d--
			}
		case time.Sunday:
			if d == last {
				d -= 2
			} else {
				d++
			}
		}
		return 1 << (d - 1)
	}
	switch c.dowKind {
	case daysSet:
		var m uint32
		for d := 1; d <= last; d++ {
			if c.dow.has(int(weekday(d))) {
				m |= 1 << (d - 1)
			}
		}
		return m
	case daysLast:
		d := last - int((weekday(last)-c.wd+7)%7)
		return 1 << (d - 1)
	case daysNth:
		d := 1 + int((c.wd-first+7)%7) + 7*(c.n-1)
		if d > last {
			return 0
		}
		return 1 << (d - 1)
	}
	return 0
}

func daysIn(y int, mo time.Month) int {
	return time.Date(y, mo+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// next returns the first fire strictly after after. It walks the calendar
// in the zone by year, month, matching day, hour and minute, so its cost
// is bounded by the year range, never by the distance in seconds.
//
// Wall times map to instants monotonically (each to its first occurrence),
// so every wall time earlier than after's own wall time is at or before
// after; only the wall times after it are candidates, and the check against
// after itself removes the first occurrences that precede after during a
// repeated (fall-back) hour.
func (c *cronSpec) next(loc *time.Location, after time.Time) (time.Time, bool) {
	w := after.In(loc)
	y, mo, d := w.Date()
	h, mi := w.Hour(), w.Minute()
	if y > maxYear {
		return time.Time{}, false
	}
	if y < minYear {
		y, mo, d, h, mi = minYear, time.January, 1, -1, -1
	}
	for ; y <= maxYear; y, mo, d, h, mi = y+1, time.January, 1, -1, -1 {
		if !c.years.has(y - minYear) {
			continue
		}
		for ; mo <= time.December; mo, d, h, mi = mo+1, 1, -1, -1 {
			if !c.months.has(int(mo) - 1) {
				continue
			}
			days := c.days(y, mo) >> (d - 1) << (d - 1)
			for days != 0 {
				day := bits.TrailingZeros32(days) + 1
				days &^= 1 << (day - 1)
				if day != d {
					h, mi = -1, -1
				}
				if t, ok := c.nextInDay(loc, after, y, mo, day, h, mi); ok {
					return t, true
				}
			}
		}
	}
	return time.Time{}, false
}

// nextInDay returns the first fire on day y-mo-day later than wall time
// h:mi and after after.
func (c *cronSpec) nextInDay(loc *time.Location, after time.Time, y int, mo time.Month, day, h, mi int) (time.Time, bool) {
	for hour := max(h, 0); hour < 24; hour++ {
		if !c.hours.has(hour) {
			continue
		}
		from := 0
		if hour == h {
			from = mi + 1
		}
		for minute := from; minute < 60; minute++ {
			if !c.minutes.has(minute) {
				continue
			}
			t, ok := resolve(loc, y, mo, day, hour, minute, 0)
			if ok && t.After(after) {
				return t, true
			}
		}
	}
	return time.Time{}, false
}
