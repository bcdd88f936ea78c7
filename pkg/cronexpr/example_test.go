package cronexpr_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/cronexpr"
)

func Example() {
	s, err := cronexpr.Parse("cron(0 9 ? * MON-FRI *)", "Europe/Paris")
	if err != nil {
		panic(err)
	}
	after := time.Date(2025, 10, 24, 12, 0, 0, 0, time.UTC) // a Friday
	for _, t := range s.NextN(after, 2) {
		fmt.Println(t) // 09:00 Paris, summer then winter time
	}
	// Output:
	// 2025-10-27 08:00:00 +0000 UTC
	// 2025-10-28 08:00:00 +0000 UTC
}

func ExampleParse_error() {
	_, err := cronexpr.Parse("cron(0 9 ? * 8 *)", "Europe/Paris")
	var perr *cronexpr.Error
	if errors.As(err, &perr) {
		fmt.Println(perr.Field)
		fmt.Println(perr.Message)
	}
	// Output:
	// expression
	// cron: day-of-week "8" out of range 1-7 or SUN-SAT
}

func ExampleSchedule_WithStart() {
	created := time.Date(2025, 6, 18, 12, 34, 56, 0, time.UTC)
	s := cronexpr.MustParse("rate(10 minutes)", "").WithStart(created)
	fmt.Println(s.NextN(created.Add(-time.Second), 3))
	// Output:
	// [2025-06-18 12:34:56 +0000 UTC 2025-06-18 12:44:56 +0000 UTC 2025-06-18 12:54:56 +0000 UTC]
}
