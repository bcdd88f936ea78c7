package loadtest

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/target/webhook"
)

// Headers through which Hourglass's webhook reports delivery facts; other
// systems' handlers may send them too.
const (
	MessageIDHeader    = webhook.HeaderMessageID
	OriginHeader       = webhook.HeaderOrigin
	ReceivedAtHeader   = webhook.HeaderReceivedAt
	VisibleUntilHeader = webhook.HeaderVisibleUntil
)

// DuplicateCauses counts duplicate deliveries by cause (Summary's
// duplicates_by_cause); they add up to Summary.Duplicates.
type DuplicateCauses struct {
	// FastPathOverlap: a second message for a task that one create sent on
	// the fast path and the dispatcher sent too.
	FastPathOverlap int `json:"fast_path_overlap"`
	// VisibilityTimeout: the same message delivered again after its
	// visibility ended (a worker held it too long, or died).
	VisibilityTimeout int `json:"visibility_timeout"`
	// EmulatorReceive: the same message delivered again while it was still
	// invisible — the queue handed one message to two receives (moto's
	// ReceiveMessage is not concurrency-safe).
	EmulatorReceive int `json:"emulator_receive"`
	// Other: everything else (two messages of other origins, or a delivery
	// that reports no facts).
	Other int `json:"other"`
}

// Total is the number of duplicates counted.
func (c DuplicateCauses) Total() int {
	return c.FastPathOverlap + c.VisibilityTimeout + c.EmulatorReceive + c.Other
}

// Add adds o's counts to c.
func (c *DuplicateCauses) Add(o DuplicateCauses) {
	c.FastPathOverlap += o.FastPathOverlap
	c.VisibilityTimeout += o.VisibilityTimeout
	c.EmulatorReceive += o.EmulatorReceive
	c.Other += o.Other
}

// Delivery is one arrival of a task at the sink with the delivery facts its
// request carried; zero fields were not reported.
type Delivery struct {
	At           time.Time // arrival at the sink
	MessageID    string
	Origin       string // as sent: "fast", "dispatch", "requeue:dispatch", …
	ReceivedAt   time.Time
	VisibleUntil time.Time
}

// DeliveryFrom reads the delivery facts of a sink request that arrived at at.
func DeliveryFrom(h http.Header, at time.Time) Delivery {
	return Delivery{At: at, MessageID: h.Get(MessageIDHeader), Origin: h.Get(OriginHeader),
		ReceivedAt: unixMs(h.Get(ReceivedAtHeader)), VisibleUntil: unixMs(h.Get(VisibleUntilHeader))}
}

func unixMs(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// rootOrigin is the origin of the first message behind o: a re-queued
// message ("requeue:dispatch") counts as its first origin's.
func rootOrigin(o string) string {
	if rest, ok := strings.CutPrefix(o, "requeue:"); ok {
		return rest
	}
	return o
}

// Classify names the cause of each duplicate among one task's deliveries:
// every delivery after the first (in order of receipt by the worker, else
// of arrival) is one duplicate.
//
//   - The same message ID delivered before: received again before that
//     earlier receive's visibility ended is EmulatorReceive, after it
//     VisibilityTimeout. The visibility is the deadline the worker
//     reported (Hourglass-Visible-Until), else the earlier receive plus
//     visibility (the task queue's timeout; zero: unknown, and the
//     duplicate is Other).
//   - A new message ID whose first origin is the fast path while an
//     earlier delivery's is the dispatcher, or the reverse:
//     FastPathOverlap.
//   - Anything else: Other.
func Classify(ds []Delivery, visibility time.Duration) DuplicateCauses {
	return classify(ds, visibility, nil)
}

// classify is Classify, telling other (when set) why each duplicate counted
// as Other: "<earlier origins> then <its origin>", or what was missing.
func classify(ds []Delivery, visibility time.Duration, other func(why string)) DuplicateCauses {
	var c DuplicateCauses
	if other == nil {
		other = func(string) {}
	}
	if len(ds) < 2 {
		return c
	}
	ds = append([]Delivery(nil), ds...)
	sort.SliceStable(ds, func(i, j int) bool { return receivedOf(ds[i]).Before(receivedOf(ds[j])) })
	for k := 1; k < len(ds); k++ {
		d := ds[k]
		var same *Delivery
		for j := k - 1; j >= 0; j-- {
			if d.MessageID != "" && ds[j].MessageID == d.MessageID {
				same = &ds[j]
				break
			}
		}
		if same != nil {
			deadline := same.VisibleUntil
			if deadline.IsZero() && visibility > 0 && !same.ReceivedAt.IsZero() {
				deadline = same.ReceivedAt.Add(visibility)
			}
			switch {
			case deadline.IsZero() || d.ReceivedAt.IsZero():
				c.Other++
				other("same message, visibility unknown")
			case d.ReceivedAt.Before(deadline):
				c.EmulatorReceive++
			default:
				c.VisibilityTimeout++
			}
			continue
		}
		overlap := false
		for j := 0; j < k; j++ {
			a, b := rootOrigin(ds[j].Origin), rootOrigin(d.Origin)
			if ds[j].MessageID != d.MessageID && (a == "fast" && b == "dispatch" || a == "dispatch" && b == "fast") {
				overlap = true
				break
			}
		}
		if overlap {
			c.FastPathOverlap++
			continue
		}
		c.Other++
		before := make([]string, k)
		for j := range before {
			before[j] = orUnknown(ds[j].Origin)
		}
		other(strings.Join(before, ",") + " then " + orUnknown(d.Origin))
	}
	return c
}

// receivedOf orders deliveries: by the worker's receipt when reported,
// else by arrival.
func receivedOf(d Delivery) time.Time {
	if !d.ReceivedAt.IsZero() {
		return d.ReceivedAt
	}
	return d.At
}

func orUnknown(o string) string {
	if o == "" {
		return "unreported"
	}
	return o
}
