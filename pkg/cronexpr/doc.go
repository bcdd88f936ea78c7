// Package cronexpr parses EventBridge Scheduler schedule expressions —
// at(), rate() and cron() — and computes their fire times in an IANA time
// zone. It is pure logic: it never reads the clock, and callers pass the
// instant to search from.
//
// # Expressions
//
//	at(yyyy-mm-ddThh:mm:ss)   one fire at that wall-clock time in the zone, years 1970-2199
//	rate(value unit)          every value×unit, unit second(s), minute(s), hour(s) or day(s)
//	cron(min hour dom month dow year)
//
// The keywords at, rate and cron are lower-case, as in AWS. Parse ignores
// white space around the expression and accepts any run of white space
// between fields; Schedule.String gives the canonical spelling.
//
// The cron syntax is EventBridge's: six fields, minutes 0-59, hours 0-23,
// day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 1-7 or SUN-SAT
// (1 = SUN), year 1970-2199. Every field takes '*', values, ranges a-b,
// lists a,b and increments a/n, */n, a-b/n, except day-of-week, which takes
// no increments (as in the AWS reference). Exactly one of day-of-month and
// day-of-week is '?'. Month and day names and the letters L and W are
// case-insensitive. The special forms stand alone in their field, as in
// AWS ("3#1,6#3" is invalid):
//
//	day-of-month  L    last day of the month
//	              LW   last weekday (Mon-Fri) of the month
//	              nW   weekday nearest day n, never leaving the month
//	                   (1W on a Saturday is Monday the 3rd); no fire in a
//	                   month shorter than n days
//	day-of-week   L    Saturday, the last day of the week
//	              nL   last day-n of the month (6L = last Friday)
//	              n#k  k-th day-n of the month, k 1-5 (2#1 = first Monday)
//
// Descending ranges such as 22-2 are rejected rather than wrapped. A cron
// expression fires at second 0 of each matching minute.
//
// rate() keeps AWS's grammar: value is a positive integer, the unit is
// singular when value is 1 and plural otherwise (rate(1 minute),
// rate(5 minutes); rate(1 minutes) is an error). Hourglass adds the units
// second and seconds. The period is at most 36,525 days.
//
// # Time zones and daylight saving time
//
// The zone is an IANA name loaded with time.LoadLocation from tzdata
// embedded in this package, so it works on hosts without zoneinfo; the
// empty name means UTC and "Local" is refused because it depends on the
// host. cron() and at() are read as wall-clock times in the zone, with
// EventBridge Scheduler's daylight-saving rules:
//
//   - a cron wall time that does not exist (skipped by a spring-forward
//     change) does not fire that day;
//   - a cron wall time that occurs twice (a fall-back change) fires once, at
//     its first occurrence. So cron(0/15 * * * ? *) in New York fires at
//     01:00, 01:15, 01:30 and 01:45 EDT and then not again until 02:00 EST;
//   - at() names a wall time too: an ambiguous one means its first
//     occurrence, and one that does not exist is rejected by Parse.
//
// rate() ignores the zone: its period is a fixed duration (rate(1 day) is
// always 24 hours, whatever the clocks do).
//
// # Fire times
//
// Schedule.Next returns the first fire strictly after a given instant, in
// UTC, in whole seconds. Fires of rate() are anchor + k×period for k ≥ 0;
// the anchor is the Unix epoch unless Schedule.WithStart sets one, so by
// default rate(5 minutes) fires at :00, :05, … UTC and rate(1 day) at
// midnight UTC. EventBridge Scheduler starts a rate schedule without a
// StartDate immediately; to get that behaviour, pass the creation time to
// WithStart. WithStart and WithEnd bound every kind of schedule, like
// EventBridge's StartDate and EndDate.
package cronexpr
