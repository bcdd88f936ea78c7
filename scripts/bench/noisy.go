package main

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/testkit/loadtest"
)

// Noisy is the noisy_neighbour scenario (issue 17): tenant A creates Noisy
// tasks all due at one instant; tenant B's Quiet tasks are due evenly
// around that instant (from QuietSpreadS/2 before to as long after). B's
// lateness is measured with A present and, in the same run, with A absent
// (QuietAloneP99): what A costs B is the difference. Work-conserving
// fairness keeps B's p99 within 1,000 ms and loses nothing.
type Noisy struct {
	NoisyTasks   int     `json:"noisy_tasks"`
	QuietTasks   int     `json:"quiet_tasks"`
	QuietSpreadS float64 `json:"quiet_spread_s"`
	// Scaled says how far below the 20,000 the noisy burst is and
	// why: the local stack on moto executes a few tens of tasks a second.
	Scaled         string           `json:"scaled,omitempty"`
	QuietP99       float64          `json:"quiet_p99_ms"`
	QuietMax       float64          `json:"quiet_max_ms"`
	NoisyP99       float64          `json:"noisy_p99_ms"`
	QuietAloneP99  float64          `json:"quiet_alone_p99_ms"`
	Lost           int              `json:"lost"`
	Pending        int              `json:"pending"` // not run yet when the run stopped waiting, still runnable
	NoisyExecutedS float64          `json:"noisy_drain_s"`
	BudgetQuietP99 float64          `json:"budget_quiet_p99_ms"`
	QuietBudgetMet bool             `json:"quiet_budget_met"`
	NoisySummary   loadtest.Summary `json:"noisy"`
	QuietSummary   loadtest.Summary `json:"quiet"`
	QuietAloneRun  loadtest.Summary `json:"quiet_alone"`
}

// noisyNeighbour runs B alone, then A and B together.
func noisyNeighbour(ctx context.Context, base string, noisy, quiet int, spread time.Duration, batch int) (Noisy, error) {
	n := Noisy{NoisyTasks: noisy, QuietTasks: quiet, QuietSpreadS: spread.Seconds(), BudgetQuietP99: 1000}
	if noisy < 20000 {
		n.Scaled = fmt.Sprintf("%d noisy tasks instead of 20,000: the local stack executes a few tens of tasks a second on moto, so %d already make a backlog of many seconds", noisy, noisy)
	}
	// B's tasks: due evenly from spread/2 before the instant to spread/2
	// after, the instant being lead after the start.
	quietOpts := func(lead time.Duration) loadtest.Options {
		return loadtest.Options{API: base, Tasks: quiet, Tenant: "bench-quiet", VerifySignatures: true, Batch: batch, Concurrency: 4,
			Grace: 90 * time.Second, Due: func(i int) time.Duration {
				return lead - spread/2 + time.Duration(float64(spread)*float64(i)/float64(max(1, quiet-1)))
			}}
	}
	// Alone: the baseline, same shape, no A.
	aloneLead := spread/2 + 5*time.Second
	alone, err := loadtest.Run(ctx, quietOpts(aloneLead))
	if err != nil {
		return n, fmt.Errorf("quiet alone: %w", err)
	}
	n.QuietAloneRun = alone.Summary
	n.QuietAloneP99 = alone.Summary.Lateness.P99

	// Together: A's creates must be done before the instant; allow 100
	// tasks/s of creates plus margin, and start B's first due after that.
	lead := time.Duration(float64(noisy)/100*float64(time.Second)) + spread/2 + 5*time.Second
	var wg sync.WaitGroup
	var noisyRes, quietRes loadtest.Result
	var noisyErr, quietErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		noisyRes, noisyErr = loadtest.Run(ctx, loadtest.Options{API: base, Tasks: noisy, Tenant: "bench-noisy", VerifySignatures: true, Batch: batch,
			Concurrency: 8, Lead: lead, Spread: 0, Grace: 120 * time.Second, Progress: true})
	}()
	go func() {
		defer wg.Done()
		quietRes, quietErr = loadtest.Run(ctx, quietOpts(lead))
	}()
	wg.Wait()
	if noisyErr != nil {
		return n, fmt.Errorf("noisy: %w", noisyErr)
	}
	if quietErr != nil {
		return n, fmt.Errorf("quiet: %w", quietErr)
	}
	n.NoisySummary, n.QuietSummary = noisyRes.Summary, quietRes.Summary
	n.QuietP99, n.QuietMax = quietRes.Summary.Lateness.P99, quietRes.Summary.Lateness.Max
	n.NoisyP99 = noisyRes.Summary.Lateness.P99
	n.Lost = noisyRes.Summary.Lost + quietRes.Summary.Lost
	n.Pending = noisyRes.Summary.Pending + quietRes.Summary.Pending
	if len(noisyRes.Samples) > 0 {
		due, last := noisyRes.Samples[0].Due, noisyRes.Samples[0].Arrived
		for _, s := range noisyRes.Samples {
			if s.Arrived.After(last) {
				last = s.Arrived
			}
		}
		n.NoisyExecutedS = loadtest.Round(math.Max(0, last.Sub(due).Seconds()), 2)
	}
	n.QuietBudgetMet = n.QuietP99 <= n.BudgetQuietP99 && n.Lost == 0 && n.Pending == 0 && quietRes.Summary.Executed == quiet
	return n, nil
}
