// Package clock injects time into Hourglass's logic so that tests, fault
// injection (clock skew) and production read it the same way.
package clock

import (
	"sync/atomic"
	"time"
)

// Clock tells the time. Logic never calls time.Now directly.
type Clock interface {
	Now() time.Time
}

// System is the machine's clock.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// Skewed is a clock offset from another by a fixed amount; the chaos run uses
// it to prove that a component whose clock runs ahead never executes early.
type Skewed struct {
	Base   Clock
	Offset time.Duration
}

// Now returns the base time plus the offset.
func (s Skewed) Now() time.Time { return s.Base.Now().Add(s.Offset) }

// Manual is a clock that only moves when told; safe for concurrent use.
type Manual struct{ ns atomic.Int64 }

// NewManual returns a Manual clock set to t.
func NewManual(t time.Time) *Manual {
	m := &Manual{}
	m.Set(t)
	return m
}

// Now returns the clock's current time.
func (m *Manual) Now() time.Time { return time.Unix(0, m.ns.Load()).UTC() }

// Set moves the clock to t.
func (m *Manual) Set(t time.Time) { m.ns.Store(t.UnixNano()) }

// Advance moves the clock forward by d.
func (m *Manual) Advance(d time.Duration) { m.ns.Add(int64(d)) }
