package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/client"
	"github.com/hourglass-sched/hourglass/pkg/testkit/loadtest"
)

// KeyLimit is the key_limit scenario (issue 17): Tasks tasks all due at one
// instant name a limit key limited to LimitConcurrency at once and
// LimitPerS a second; the sink holds each call SinkHoldMs (250 ms: at 5
// in flight that is 20 calls a second, so both limits bind), records every
// arrival (duplicates included: a duplicate call is a call the target
// takes) and counts calls in flight. The budget: never above either
// limit, nothing lost.
type KeyLimit struct {
	Tasks            int     `json:"tasks"`
	LimitConcurrency int     `json:"limit_concurrency"`
	LimitPerS        int     `json:"limit_per_s"`
	SinkHoldMs       float64 `json:"sink_hold_ms"`
	MaxConcurrency   int     `json:"max_concurrency_observed"`
	MaxRatePerS      int     `json:"max_rate_observed_per_s"` // most arrivals in any 1 s window
	Executed         int     `json:"executed"`
	Calls            int     `json:"calls"` // arrivals, duplicates included
	Lost             int     `json:"lost"`
	Pending          int     `json:"pending"`
	// DrainS is from the instant to the last first arrival; at the rate
	// limit Tasks take at least Tasks/LimitPerS seconds.
	DrainS    float64          `json:"drain_s"`
	BudgetMet bool             `json:"budget_met"`
	Summary   loadtest.Summary `json:"summary"`
}

// keyLimit puts the limit, then runs the tasks.
func keyLimit(ctx context.Context, base string, tasks, conc, perS int, batch int) (KeyLimit, error) {
	const tenant, key = "bench-limit", "bench.sink"
	kl := KeyLimit{Tasks: tasks, LimitConcurrency: conc, LimitPerS: perS, SinkHoldMs: 250}
	c, err := client.New(base, client.Options{DevTenant: tenant, HTTPClient: &http.Client{Timeout: 30 * time.Second}})
	if err != nil {
		return kl, fmt.Errorf("client: %w", err)
	}
	if _, err := c.PutLimit(ctx, key, &conc, &perS); err != nil {
		return kl, fmt.Errorf("put limit: %w", err)
	}
	// Creates first (a few seconds at the local stack's create rate), then
	// every task due at once.
	lead := 5*time.Second + time.Duration(float64(tasks)/100*float64(time.Second))
	// At the limit the tasks drain in tasks/perS seconds (a little more:
	// the window's slack); the local stack on moto drains them slower (its
	// waiters' re-queues and the grants cost the emulator's time: 69 s and
	// 104 s on the loaded 2-core machine), so the grace is six times that.
	grace := 6*time.Duration(float64(tasks)/float64(perS)*float64(time.Second)) + 30*time.Second
	res, err := loadtest.Run(ctx, loadtest.Options{API: base, Tasks: tasks, Tenant: tenant, VerifySignatures: true, Batch: batch,
		Concurrency: 8, Lead: lead, Spread: 0, Grace: grace, Progress: true, LimitKey: key, SinkHold: time.Duration(kl.SinkHoldMs) * time.Millisecond})
	if err != nil {
		return kl, err
	}
	kl.Summary = res.Summary
	kl.Executed, kl.Lost, kl.Pending, kl.Calls = res.Summary.Executed, res.Summary.Lost, res.Summary.Pending, len(res.Arrivals)
	kl.MaxConcurrency = res.MaxInFlight
	kl.MaxRatePerS = maxInAnySecond(res.Arrivals)
	if len(res.Samples) > 0 {
		due, last := res.Samples[0].Due, res.Samples[0].Arrived
		for _, s := range res.Samples {
			if s.Arrived.After(last) {
				last = s.Arrived
			}
		}
		kl.DrainS = loadtest.Round(max(0, last.Sub(due).Seconds()), 2)
	}
	kl.BudgetMet = kl.MaxConcurrency <= conc && kl.MaxRatePerS <= perS && kl.Lost == 0 && kl.Pending == 0 && kl.Executed == tasks
	return kl, nil
}

// maxInAnySecond is the most times in any window [t, t+1 s).
func maxInAnySecond(at []time.Time) int {
	s := append([]time.Time(nil), at...)
	sort.Slice(s, func(i, j int) bool { return s[i].Before(s[j]) })
	best, j := 0, 0
	for i := range s {
		for j < len(s) && s[j].Sub(s[i]) < time.Second {
			j++
		}
		best = max(best, j-i)
	}
	return best
}
