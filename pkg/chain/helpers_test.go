package chain_test

import (
	"time"

	"github.com/hourglass-sched/hourglass/pkg/schedule"
)

var t0 = time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)

// sched is an enabled schedule of tenant acme created at t0.
func sched(expr string, misfire schedule.Misfire) *schedule.Schedule {
	return &schedule.Schedule{ID: "s0123456789abcdefghij", Tenant: "acme", Expression: expr, Timezone: "UTC",
		State: schedule.Enabled, Misfire: misfire, Generation: 1, CreatedAt: t0}
}
