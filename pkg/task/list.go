package task

import "time"

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
