package cronexpr

import (
	"fmt"
	"sync"
	"time"

	// Embedded IANA tzdata: zones resolve the same on hosts without zoneinfo
	// (Lambda's provided.al2023 image has none).
	_ "time/tzdata"
)

// locations caches loaded zones: time.LoadLocation reads and parses tzdata
// on every call, and Parse runs on the request path. Only valid names are
// stored, so the cache is bounded by the tz database.
var locations sync.Map // string -> *time.Location

func loadLocation(name string) (*time.Location, error) {
	if name == "" || name == "UTC" {
		return time.UTC, nil
	}
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	if name == "Local" {
		return nil, &Error{Field: FieldTimezone, Message: `"Local" is not allowed: it depends on the host; use an IANA name such as "Europe/Paris"`}
	}
	if !plausibleZoneName(name) {
		return nil, &Error{Field: FieldTimezone, Message: fmt.Sprintf("unknown time zone %q", clip(name))}
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, &Error{Field: FieldTimezone, Message: fmt.Sprintf("unknown time zone %q", clip(name))}
	}
	locations.Store(name, l)
	return l, nil
}

// plausibleZoneName keeps file-system-looking input away from LoadLocation:
// IANA names are short and made of letters, digits and "/_+-".
func plausibleZoneName(name string) bool {
	if len(name) > 64 || name[0] == '/' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '/' || c == '_' || c == '+' || c == '-':
		default:
			return false
		}
	}
	return true
}

// resolve returns the first instant at which the wall clock in loc reads
// y-mo-d h:mi:s, and false if the clock never reads it (a gap made by a
// forward change). time.Date does not do this: in a gap or an overlap it
// picks either side, depending on the zone.
//
// An instant u shows that wall time exactly when u = wall − offset(u), so
// each offset o in force near the wall time yields one candidate u = wall − o,
// valid when the offset at u is indeed o. It relies on Zone alone:
// Time.ZoneBounds is wrong near year ends past the end of the zone's
// transition table (Go computes those years from the TZ rule; seen in Go
// 1.26 with Australia/Lord_Howe in 2096, where it reports an end earlier
// than the instant).
func resolve(loc *time.Location, y int, mo time.Month, d, h, mi, s int) (time.Time, bool) {
	wall := time.Date(y, mo, d, h, mi, s, 0, time.UTC).Unix()
	if loc == time.UTC {
		return time.Unix(wall, 0).UTC(), true
	}
	// Real offsets lie within ±15h, so the instant lies within ±window of
	// the wall time read as UTC.
	const window = 15 * 60 * 60
	lo, hi := offsetAt(loc, wall-window), offsetAt(loc, wall+window)
	if lo == hi && offsetAt(loc, wall) == lo {
		// No change near this wall time: the common case.
		return time.Unix(wall-lo, 0).UTC(), true
	}
	// Near a change: try every offset seen across the window (sampled every
	// 30 minutes; no zone keeps an offset for less) and keep the earliest
	// valid instant.
	best, found := int64(0), false
	for x := wall - window; x <= wall+window; x += 30 * 60 {
		o := offsetAt(loc, x)
		u := wall - o
		if offsetAt(loc, u) == o && (!found || u < best) {
			best, found = u, true
		}
	}
	if !found {
		return time.Time{}, false
	}
	return time.Unix(best, 0).UTC(), true
}

// offsetAt returns loc's offset east of UTC, in seconds, at Unix time u.
func offsetAt(loc *time.Location, u int64) int64 {
	_, off := time.Unix(u, 0).In(loc).Zone()
	return int64(off)
}
