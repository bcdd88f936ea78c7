package task

import "time"

// ReserveInFlight is the pure part of a tenant's in-flight cap
// (HOURGLASS_TENANT_MAX_IN_FLIGHT): given the tenant's current
// reservations (task ID → expiry), it drops the expired ones and reserves
// ids, in order, while fewer than limit are live. An id already reserved
// is granted again (a duplicate pass) and its expiry extended. It returns
// the reservations to store and how many of ids, from the first, were
// granted: the dispatcher sends those and holds the rest back in the
// table. changed says whether the reservations differ from held (nothing
// to write when false).
func ReserveInFlight(held map[string]time.Time, limit int, ids []string, now, until time.Time) (next map[string]time.Time, granted int, changed bool) {
	next = make(map[string]time.Time, len(held)+len(ids))
	for id, exp := range held {
		if exp.After(now) {
			next[id] = exp
		} else {
			changed = true
		}
	}
	for _, id := range ids {
		if exp, ok := next[id]; ok {
			if until.After(exp) {
				next[id], changed = until, true
			}
			granted++
			continue
		}
		if len(next) >= limit {
			break
		}
		next[id], changed = until, true
		granted++
	}
	return next, granted, changed
}
