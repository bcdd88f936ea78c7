package cronexpr

import "fmt"

// Names of the inputs an *Error can blame, for the field of an API's
// problem response.
const (
	// FieldExpression blames the schedule expression.
	FieldExpression = "expression"
	// FieldTimezone blames the time zone name.
	FieldTimezone = "timezone"
)

// Error reports a schedule that cannot be parsed. Message names the bad part
// of the input precisely enough to show to an API client as is, for example
// `cron: day-of-week "8" out of range 1-7 or SUN-SAT`.
type Error struct {
	// Field is FieldExpression or FieldTimezone.
	Field string
	// Message says what is wrong, without the field name.
	Message string
}

// Error returns "invalid <field>: <message>".
func (e *Error) Error() string { return "invalid " + e.Field + ": " + e.Message }

func exprErr(format string, args ...any) *Error {
	return &Error{Field: FieldExpression, Message: fmt.Sprintf(format, args...)}
}

// clip keeps user input quoted in messages short.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
