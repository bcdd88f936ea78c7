package cronexpr

import "testing"

// BenchmarkNext measures one Next call for dense, sparse and never-firing
// expressions; the last two bound the cost of a walk to the end of the
// year range.
func BenchmarkNext(b *testing.B) {
	benchmarks := []struct{ name, expr, tz string }{
		{"daily-utc", "cron(0 10 * * ? *)", "UTC"},
		{"weekday-5min-paris", "cron(0/5 8-17 ? * MON-FRI *)", "Europe/Paris"},
		{"last-friday-new-york", "cron(0 12 ? * 6L *)", "America/New_York"},
		{"feb-29-new-york", "cron(0 0 29 2 ? *)", "America/New_York"},
		{"never-feb-30", "cron(0 0 30 2 ? *)", "Europe/Paris"},
		{"rate-5min", "rate(5 minutes)", "UTC"},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			s := MustParse(bm.expr, bm.tz)
			after := wed
			for b.Loop() {
				t, ok := s.Next(after)
				if ok {
					after = t // walk forward, across DST changes
				} else {
					after = wed
				}
			}
		})
	}
}

// BenchmarkParse measures parsing, which runs on the request path.
func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		if _, err := Parse("cron(0/5 8-17 ? JAN-NOV MON-FRI 2025-2030)", "Europe/Paris"); err != nil {
			b.Fatal(err)
		}
	}
}
