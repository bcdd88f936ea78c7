package loadtest

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	t0 := time.UnixMilli(1_893_456_000_000)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	d := func(id, origin string, recv int, visible int) Delivery {
		x := Delivery{At: at(recv + 5), MessageID: id, Origin: origin, ReceivedAt: at(recv)}
		if visible > 0 {
			x.VisibleUntil = at(visible)
		}
		return x
	}
	for _, tc := range []struct {
		name string
		ds   []Delivery
		vis  time.Duration
		want DuplicateCauses
	}{
		{"one delivery", []Delivery{d("m1", "dispatch", 0, 30_000)}, 0, DuplicateCauses{}},
		{"same message within its visibility",
			[]Delivery{d("m1", "dispatch", 0, 30_000), d("m1", "dispatch", 40, 30_040)}, 0, DuplicateCauses{EmulatorReceive: 1}},
		{"same message after its visibility",
			[]Delivery{d("m1", "dispatch", 0, 30_000), d("m1", "dispatch", 31_000, 61_000)}, 0, DuplicateCauses{VisibilityTimeout: 1}},
		{"visibility from the queue's timeout when none reported",
			[]Delivery{d("m1", "dispatch", 0, 0), d("m1", "dispatch", 500, 0), d("m1", "dispatch", 20_000, 0)}, 10 * time.Second,
			DuplicateCauses{EmulatorReceive: 1, VisibilityTimeout: 1}},
		{"same message, visibility unknown",
			[]Delivery{d("m1", "dispatch", 0, 0), d("m1", "dispatch", 500, 0)}, 0, DuplicateCauses{Other: 1}},
		{"fast path then dispatcher",
			[]Delivery{d("m1", "fast", 0, 30_000), d("m2", "dispatch", 800, 30_800)}, 0, DuplicateCauses{FastPathOverlap: 1}},
		{"dispatcher then a re-queued fast-path message",
			[]Delivery{d("m2", "dispatch", 0, 30_000), d("m3", "requeue:fast", 900, 30_900)}, 0, DuplicateCauses{FastPathOverlap: 1}},
		{"dispatcher then sweep",
			[]Delivery{d("m1", "dispatch", 0, 30_000), d("m2", "sweep", 60_000, 90_000)}, 0, DuplicateCauses{Other: 1}},
		{"order by receipt, not by listing",
			[]Delivery{d("m1", "dispatch", 31_000, 61_000), d("m1", "dispatch", 0, 30_000)}, 0, DuplicateCauses{VisibilityTimeout: 1}},
		{"nothing reported", []Delivery{{At: at(0)}, {At: at(5)}}, time.Minute, DuplicateCauses{Other: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Classify(tc.ds, tc.vis)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, max(len(tc.ds)-1, 0), got.Total(), "every duplicate has exactly one cause")
		})
	}
}

func TestDeliveryFromHeaders(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Set("Hourglass-Message-Id", "m-1")
	h.Set("Hourglass-Origin", "requeue:dispatch")
	h.Set("Hourglass-Received-At", "1893456000250")
	h.Set("Hourglass-Visible-Until", "1893456030250")
	now := time.Now()
	got := DeliveryFrom(h, now)
	require.Equal(t, "m-1", got.MessageID)
	assert.Equal(t, "requeue:dispatch", got.Origin)
	assert.True(t, time.UnixMilli(1893456000250).Equal(got.ReceivedAt))
	assert.True(t, time.UnixMilli(1893456030250).Equal(got.VisibleUntil))
	assert.True(t, DeliveryFrom(http.Header{}, now).ReceivedAt.IsZero())
}
