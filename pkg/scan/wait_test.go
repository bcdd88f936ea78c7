package scan_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/scan"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// timedCursor is an in-memory cursor that notes (monotonic) when
// "dispatching" was last raised; timedSender notes when units were sent.
type timedCursor struct {
	mu        sync.Mutex
	cur       task.Cursor
	announced time.Time
}

func (c *timedCursor) GetCursor(context.Context) (task.Cursor, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur, nil
}

func (c *timedCursor) SetCursorField(_ context.Context, field string, v int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch field {
	case "dispatching":
		c.cur.Dispatching, c.announced = max(c.cur.Dispatching, v), time.Now()
	case "fanned":
		c.cur.Fanned = max(c.cur.Fanned, v)
	case "swept":
		c.cur.Swept = max(c.cur.Swept, v)
	}
	return nil
}

func (c *timedCursor) EnsureCursor(_ context.Context, shards int, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.cur.Exists {
		b := task.Layout{Bucket: bucket}.BucketOf(now) - w
		c.cur = task.Cursor{Dispatching: b, Fanned: b, Swept: b, Exists: true}
	}
	c.cur.Shards = max(c.cur.Shards, shards)
	return nil
}

type timedSender struct {
	mu   sync.Mutex
	sent []time.Time
}

func (s *timedSender) SendBatch(context.Context, string, []task.OutMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, time.Now())
	return nil
}

// A tick sends its units no sooner than AnnounceWait after it raised
// "dispatching" (on its own monotonic clock): a create whose cursor read
// began before the raise and whose write returned within AnnounceWait of
// that read is then certain to precede the dispatcher's query.
func TestTickWaitsAfterAnnouncingBeforeSending(t *testing.T) {
	t.Parallel()
	const wait = 150 * time.Millisecond
	st, q := &timedCursor{}, &timedSender{}
	s := scan.New(scan.Config{Layout: task.Layout{Bucket: bucket}, Shards: 2, Lookahead: 4 * time.Second, ScanQueue: "scan", AnnounceWait: wait},
		st, q, clock.NewManual(base), zerolog.Nop())

	res, err := s.Tick(context.Background())
	require.NoError(t, err)
	require.Positive(t, res.Units)
	require.Len(t, q.sent, 1)
	assert.GreaterOrEqual(t, q.sent[0].Sub(st.announced), wait, "units went out %s after the announcement", q.sent[0].Sub(st.announced))

	// A tick cancelled during the wait sends nothing and says so; the next
	// tick sends the announced buckets.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s = scan.New(scan.Config{Layout: task.Layout{Bucket: bucket}, Shards: 2, Lookahead: 4 * time.Second, ScanQueue: "scan", AnnounceWait: wait},
		&timedCursor{}, q, clock.NewManual(base), zerolog.Nop())
	_, err = s.Tick(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.Len(t, q.sent, 1, "nothing sent by the cancelled tick")
}
