package task

import (
	"fmt"
	"time"
)

// ListQuery selects one page of a tenant's task IDs, newest due first.
type ListQuery struct {
	Tenant string
	// DueAfter and DueBefore bound the due time, both exclusive; zero values
	// leave that side open.
	DueAfter, DueBefore time.Time
	// After is the position (a sort key, "<due ms>#<id>") the previous page
	// ended at; the page starts just past it. Empty: from the newest.
	After string
	Limit int32
}

// ListEntry is one entry of a tenant's listing: a task ID and its position.
type ListEntry struct {
	ID  ID
	Pos string
}

// ParsePosition parses a list position, "<due ms, 15 digits>#<id>" (a task's
// sort key), and checks that both halves agree, so that a position cannot
// name a key its ID would not.
func ParsePosition(pos string) (ID, error) {
	if len(pos) != 15+1+26 || pos[15] != '#' {
		return ID{}, ErrBadID
	}
	id, err := ParseID(pos[16:])
	if err != nil {
		return ID{}, err
	}
	if SortKey(id.DueMs, id.String()) != pos {
		return ID{}, ErrBadID
	}
	return id, nil
}

// Bounds returns the positions between which q's entries lie, inclusive,
// from DueAfter and DueBefore (both exclusive); empty is false when no
// position can lie between them. Positions are "<due ms>#<id>"; "~" sorts
// after every ID character and "#" before, so the bounds exclude the
// boundary milliseconds.
func (q ListQuery) Bounds() (lo, hi string, empty bool) {
	lo, hi = "0", "~"
	if !q.DueAfter.IsZero() {
		lo = fmt.Sprintf("%015d#~", max(q.DueAfter.UnixMilli(), 0))
	}
	if !q.DueBefore.IsZero() {
		ms := q.DueBefore.UnixMilli()
		if q.DueBefore.Sub(time.UnixMilli(ms)) > 0 {
			ms++ // a task due in that millisecond, before the instant, stays in
		}
		hi = fmt.Sprintf("%015d#", max(ms, 0))
	}
	return lo, hi, hi <= lo
}
