package task

import (
	"sync"
	"time"
)

// Dense seconds (issue 18). Many tasks due in the same second all become
// visible in the task queue at once, and what a worker does before a
// task's due time — receive it, read it — then happens after it, for most
// of them: the consumers receive ten messages a call (the local stack's
// one receive loop, or a Lambda event source mapping that scales its
// pollers up over seconds). So a second holding at least DenseAt of one
// send's messages is handed to the queue DenseLead earlier than others:
// its messages are received and read ahead, held by the workers (for the
// sub-second remainder plus DenseLead), and called at due. Never early:
// the worker holds every message until its due time. Bounded: DenseLead
// plus the early delivery plus under a second of DelaySeconds rounding
// stays within the worker's MaxHold (2 s + the early delivery, see
// config.Config.MaxHold), so the message is held rather than re-queued,
// and within the cancel cutoff derived from it. Cheap: only a dense
// second pays the longer hold, and its batches are full (in Lambda, a
// second of hold amortised over up to a hundred tasks a batch).
const (
	DenseAt   = 50
	DenseLead = time.Second
)

// DenseLeads gives, for each of dues (the due times of the messages of one
// send), how much earlier than usual its message should become visible:
// DenseLead if at least DenseAt of dues fall in its second, else 0.
func DenseLeads(dues []time.Time) []time.Duration {
	n := make(map[int64]int, 4)
	for _, d := range dues {
		n[d.Unix()]++
	}
	leads := make([]time.Duration, len(dues))
	for i, d := range dues {
		if n[d.Unix()] >= DenseAt {
			leads[i] = DenseLead
		}
	}
	return leads
}

// DenseCounter counts messages sent one by one, per due second, for
// senders that do not see a whole second at once (the create's fast path,
// a batch arriving ten messages at a time): Lead counts one more message
// and says whether its second has become dense. Safe for concurrent use;
// seconds already past are forgotten. The zero value is ready to use.
type DenseCounter struct {
	mu sync.Mutex
	n  map[int64]int
}

// Lead counts a message due at due, sent at now, and returns DenseLead
// once its second holds more than DenseAt messages (the first DenseAt go
// as usual), else 0.
func (c *DenseCounter) Lead(due, now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = make(map[int64]int)
	}
	if len(c.n) > 64 {
		for s := range c.n {
			if s < now.Unix() {
				delete(c.n, s)
			}
		}
	}
	s := due.Unix()
	c.n[s]++
	if c.n[s] > DenseAt {
		return DenseLead
	}
	return 0
}
