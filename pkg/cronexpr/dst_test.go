package cronexpr

import (
	"testing"
	"time"
)

// 2025 changes: Paris springs forward on 30 March at 02:00 CET (01:00Z) and
// falls back on 26 October at 03:00 CEST (01:00Z); New York springs forward
// on 9 March at 02:00 EST (07:00Z) and falls back on 2 November at 02:00 EDT
// (06:00Z).

func TestDSTSpringForwardSkips(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, expr, tz string
		after          time.Time
		want           []time.Time
	}{
		{"Paris 02:30 does not exist on 30 March", "cron(30 2 * * ? *)", "Europe/Paris", utc(2025, 3, 29, 0, 0, 0),
			[]time.Time{utc(2025, 3, 29, 1, 30, 0), utc(2025, 3, 31, 0, 30, 0)}},
		{"New York 02:30 does not exist on 9 March", "cron(30 2 * * ? *)", "America/New_York", utc(2025, 3, 8, 0, 0, 0),
			[]time.Time{utc(2025, 3, 8, 7, 30, 0), utc(2025, 3, 10, 6, 30, 0)}},
		{"New York hourly loses 02:00", "cron(0 * * * ? *)", "America/New_York", utc(2025, 3, 9, 5, 30, 0),
			[]time.Time{utc(2025, 3, 9, 6, 0, 0), utc(2025, 3, 9, 7, 0, 0), utc(2025, 3, 9, 8, 0, 0)}}, // 01:00 EST, 03:00 EDT, 04:00 EDT
		{"Paris every 15 minutes jumps the gap", "cron(0/15 * * * ? *)", "Europe/Paris", utc(2025, 3, 30, 0, 40, 0),
			[]time.Time{utc(2025, 3, 30, 0, 45, 0), utc(2025, 3, 30, 1, 0, 0), utc(2025, 3, 30, 1, 15, 0)}}, // 01:45 CET, 03:00 CEST, 03:15 CEST
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assertTimes(t, setup(t, tt.expr, tt.tz).NextN(tt.after, len(tt.want)), tt.want...)
		})
	}
	t.Run("rate(1 day) is 24h", func(t *testing.T) {
		t.Parallel()
		start := utc(2025, 3, 8, 12, 0, 0) // 07:00 EST
		s := setup(t, "rate(1 day)", "America/New_York").WithStart(start)
		got := s.NextN(start, 2)
		assertTimes(t, got, utc(2025, 3, 9, 12, 0, 0), utc(2025, 3, 10, 12, 0, 0))
		ny, _ := time.LoadLocation("America/New_York")
		if h := got[0].In(ny).Hour(); h != 8 {
			t.Fatalf("after the change a 24h rate fires at %02d:00 local, want 08:00", h)
		}
	})
}

func TestDSTFallBackRunsOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, expr, tz string
		after          time.Time
		want           []time.Time
	}{
		{"Paris 02:30 runs at its first occurrence only", "cron(30 2 * * ? *)", "Europe/Paris", utc(2025, 10, 25, 12, 0, 0),
			[]time.Time{utc(2025, 10, 26, 0, 30, 0), utc(2025, 10, 27, 1, 30, 0)}}, // 02:30 CEST; not 02:30 CET (01:30Z)
		{"Paris: from the first 02:30, the next is tomorrow", "cron(30 2 * * ? *)", "Europe/Paris", utc(2025, 10, 26, 0, 30, 0),
			[]time.Time{utc(2025, 10, 27, 1, 30, 0)}},
		{"Paris: inside the repeated hour, no repeat", "cron(30 2 * * ? *)", "Europe/Paris", utc(2025, 10, 26, 1, 10, 0), // 02:10 CET
			[]time.Time{utc(2025, 10, 27, 1, 30, 0)}},
		{"New York 01:30 runs once", "cron(30 1 * * ? *)", "America/New_York", utc(2025, 11, 1, 12, 0, 0),
			[]time.Time{utc(2025, 11, 2, 5, 30, 0), utc(2025, 11, 3, 6, 30, 0)}}, // 01:30 EDT; not 01:30 EST (06:30Z)
		{"New York: from 01:00 EST, 01:30 EST is not a fire", "cron(30 1 * * ? *)", "America/New_York", utc(2025, 11, 2, 6, 0, 0),
			[]time.Time{utc(2025, 11, 3, 6, 30, 0)}},
		{"New York hourly skips the repeated 01:00", "cron(0 * * * ? *)", "America/New_York", utc(2025, 11, 2, 4, 30, 0),
			[]time.Time{utc(2025, 11, 2, 5, 0, 0), utc(2025, 11, 2, 7, 0, 0), utc(2025, 11, 2, 8, 0, 0)}}, // 01:00 EDT, 02:00 EST, 03:00 EST
		{"Paris every 15 minutes pauses for the repeated hour", "cron(0/15 * * * ? *)", "Europe/Paris", utc(2025, 10, 26, 0, 30, 0),
			[]time.Time{utc(2025, 10, 26, 0, 45, 0), utc(2025, 10, 26, 2, 0, 0), utc(2025, 10, 26, 2, 15, 0)}}, // 02:45 CEST, 03:00 CET, 03:15 CET
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assertTimes(t, setup(t, tt.expr, tt.tz).NextN(tt.after, len(tt.want)), tt.want...)
		})
	}
}

// TestResolve pins the wall-clock → instant rule that the DST behaviour
// rests on, including zones whose changes are not whole hours.
func TestResolve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tz     string
		wall   time.Time // fields read as wall clock
		want   time.Time
		exists bool
	}{
		{"Europe/Paris", utc(2025, 3, 30, 2, 30, 0), time.Time{}, false},
		{"Europe/Paris", utc(2025, 3, 30, 3, 0, 0), utc(2025, 3, 30, 1, 0, 0), true},
		{"Europe/Paris", utc(2025, 3, 30, 1, 59, 59), utc(2025, 3, 30, 0, 59, 59), true},
		{"Europe/Paris", utc(2025, 10, 26, 2, 0, 0), utc(2025, 10, 26, 0, 0, 0), true},
		{"Europe/Paris", utc(2025, 10, 26, 2, 59, 59), utc(2025, 10, 26, 0, 59, 59), true},
		{"Europe/Paris", utc(2025, 10, 26, 3, 0, 0), utc(2025, 10, 26, 2, 0, 0), true},
		{"America/New_York", utc(2025, 3, 9, 2, 0, 0), time.Time{}, false},
		{"America/New_York", utc(2025, 11, 2, 1, 0, 0), utc(2025, 11, 2, 5, 0, 0), true},
		// Lord Howe moves its clocks by 30 minutes: 02:00 → 02:30 on 5 Oct 2025
		// (UTC+10:30 → +11), and 02:00 → 01:30 on 6 April 2025.
		{"Australia/Lord_Howe", utc(2025, 10, 5, 2, 15, 0), time.Time{}, false},
		{"Australia/Lord_Howe", utc(2025, 4, 6, 1, 45, 0), utc(2025, 4, 5, 14, 45, 0), true},
		// Samoa skipped 30 December 2011 entirely.
		{"Pacific/Apia", utc(2011, 12, 30, 12, 0, 0), time.Time{}, false},
		// Past the tzdata table Go derives changes from the zone's rule, and
		// Time.ZoneBounds misreports periods around New Year (fuzz find).
		{"Australia/Lord_Howe", utc(2097, 1, 1, 0, 0, 0), utc(2096, 12, 31, 13, 0, 0), true},
		{"Europe/Paris", utc(2199, 3, 31, 2, 30, 0), time.Time{}, false},
		{"Europe/Paris", utc(2199, 12, 31, 23, 59, 0), utc(2199, 12, 31, 22, 59, 0), true},
		{"UTC", utc(2025, 3, 30, 2, 30, 0), utc(2025, 3, 30, 2, 30, 0), true},
	}
	for _, tt := range tests {
		loc, err := loadLocation(tt.tz)
		if err != nil {
			t.Fatal(err)
		}
		w := tt.wall
		got, ok := resolve(loc, w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second())
		if ok != tt.exists || !got.Equal(tt.want) {
			t.Errorf("resolve(%s, %s) = %v, %v; want %v, %v", tt.tz, w.Format(atLayout), got, ok, tt.want, tt.exists)
		}
	}
}
