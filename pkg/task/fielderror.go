package task

import "strings"

// FieldError names one invalid request field by its JSON path ("due_at",
// "target.url", "tasks[3].payload") and says why it is invalid. It is the
// domain's own type: every door renders it in its own way (the HTTP API
// as the errors of a problem+json document).
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// FieldErrors is a list of invalid fields, usable as an error.
type FieldErrors []FieldError

// Error lists the fields and their reasons.
func (fe FieldErrors) Error() string {
	var b strings.Builder
	b.WriteString("invalid request:")
	for i, e := range fe {
		if i > 0 {
			b.WriteString(";")
		}
		b.WriteString(" " + e.Field + " " + e.Reason)
	}
	return b.String()
}
