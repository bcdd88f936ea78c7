package task

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func fixed(v float64) func() float64 { return func() float64 { return v } }

func TestBackoff(t *testing.T) {
	t.Parallel()
	std := Retry{MaxAttempts: 5, InitialBackoff: time.Second, MaxBackoff: 5 * time.Minute}
	for _, tc := range []struct {
		name string
		r    Retry
		n    int
		rnd  float64
		want time.Duration
	}{
		{"first retry, no jitter", std, 1, 0, 500 * time.Millisecond},
		{"first retry, half jitter", std, 1, 0.5, 750 * time.Millisecond},
		{"first retry, max jitter", std, 1, 0.999, 999500 * time.Microsecond},
		{"second retry doubles", std, 2, 0, time.Second},
		{"third retry doubles again", std, 3, 0, 2 * time.Second},
		{"ninth retry", std, 9, 0, 128 * time.Second},
		{"capped", std, 10, 0, 150 * time.Second},
		{"capped, max jitter", std, 10, 0.999, 150*time.Second + time.Duration(float64(150*time.Second)*0.999)},
		{"n=0 counts as 1", std, 0, 0, 500 * time.Millisecond},
		{"negative n counts as 1", std, -5, 0, 500 * time.Millisecond},
		{"huge n", std, math.MaxInt, 0, 150 * time.Second},
		{"rnd = 1 is out of range", std, 1, 1, 500 * time.Millisecond},
		{"rnd > 1 is out of range", std, 1, 7, 500 * time.Millisecond},
		{"negative rnd is out of range", std, 1, -0.5, 500 * time.Millisecond},
		{"NaN rnd is out of range", std, 1, math.NaN(), 500 * time.Millisecond},
		{"+Inf rnd is out of range", std, 1, math.Inf(1), 500 * time.Millisecond},
		{"-Inf rnd is out of range", std, 1, math.Inf(-1), 500 * time.Millisecond},
		{"zero initial uses the default", Retry{MaxBackoff: time.Minute}, 1, 0, DefaultInitialBackoff / 2},
		{"negative initial uses the default", Retry{InitialBackoff: -time.Second, MaxBackoff: time.Minute}, 2, 0, DefaultInitialBackoff},
		{"max below initial caps at initial", Retry{InitialBackoff: 10 * time.Second, MaxBackoff: time.Second}, 5, 0, 5 * time.Second},
		{"zero retry policy", Retry{}, 3, 0, DefaultInitialBackoff / 2},
		{"1 ns", Retry{InitialBackoff: 1, MaxBackoff: 1}, 3, 0.999, 0},
		{"huge cap, huge n", Retry{InitialBackoff: time.Second, MaxBackoff: math.MaxInt64}, math.MaxInt, 0, math.MaxInt64 / 2},
		{"huge initial", Retry{InitialBackoff: math.MaxInt64, MaxBackoff: math.MaxInt64}, 2, 0, math.MaxInt64 / 2},
		{"just under overflow", Retry{InitialBackoff: math.MaxInt64/2 + 1, MaxBackoff: math.MaxInt64}, 2, 0, math.MaxInt64 / 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Backoff(tc.r, tc.n, fixed(tc.rnd))
			assert.Equal(t, tc.want, got)
			assert.GreaterOrEqual(t, got, time.Duration(0))
		})
	}
}

func TestBackoffGrowsExponentially(t *testing.T) {
	t.Parallel()
	r := Retry{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Hour}
	prev := Backoff(r, 1, fixed(0))
	for n := 2; n <= 16; n++ { // 100ms·2^15 < 1h
		got := Backoff(r, n, fixed(0))
		assert.Equal(t, 2*prev, got, "n=%d", n)
		prev = got
	}
	for n := 17; n < 100; n++ { // 100ms·2^16 > 1h: capped from here on
		assert.Equal(t, 30*time.Minute, Backoff(r, n, fixed(0)), "n=%d", n)
		assert.LessOrEqual(t, Backoff(r, n, fixed(0.9999999)), time.Hour, "n=%d", n)
	}
}

// Jitter never brings a retry back sooner than half the nominal wait, nor
// later than the nominal wait.
func TestBackoffJitterBounds(t *testing.T) {
	t.Parallel()
	r := Retry{InitialBackoff: time.Second, MaxBackoff: time.Minute}
	for n := 1; n <= 10; n++ {
		nominal := min(time.Second<<(n-1), time.Minute)
		for _, j := range []float64{0, 0.1, 0.5, 0.9, math.Nextafter(1, 0)} {
			got := Backoff(r, n, fixed(j))
			assert.GreaterOrEqual(t, got, nominal/2, "n=%d j=%v", n, j)
			assert.LessOrEqual(t, got, nominal, "n=%d j=%v", n, j)
		}
	}
}

func TestRedeliveryDelay(t *testing.T) {
	t.Parallel()
	var span time.Duration
	for n := 1; n < 10; n++ {
		span += RedeliveryDelay(3*time.Second, n)
	}
	if got := RedeliveryDelay(3*time.Second, 0); got != 3*time.Second {
		t.Errorf("unknown count: %s, want the base", got)
	}
	if got := RedeliveryDelay(3*time.Second, 2); got != 6*time.Second {
		t.Errorf("second receive: %s, want 6s", got)
	}
	if got := RedeliveryDelay(3*time.Second, 40); got != 15*time.Minute {
		t.Errorf("cap: %s, want 15m", got)
	}
	// Ten receives (the default maxReceiveCount) outlast a 20-minute outage.
	if span < 20*time.Minute {
		t.Errorf("nine redeliveries span %s, want over 20m", span)
	}
}
