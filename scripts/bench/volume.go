package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/testkit/loadtest"
)

// behindP99Ms is the p99 lateness above which the cost run counts as having
// fallen behind: its per-task figures are then those of a stack that did not
// keep up with the rate, and the report and budgets say so.
const behindP99Ms = 1000

// Volume is scenario 5, cost at volume: a steady workload at a rate the
// local stack holds, run on its own so that raw.cost is priced from a rate
// where the local host's fixed overheads (a scanner tick every second, idle
// long polls, small worker batches) no longer dominate each task's share.
// Tasks are due evenly over the window; they are created in batches, each
// batch LeadS before its first task is due, so creates are steady too.
type Volume struct {
	Tasks        int     `json:"tasks"`
	WindowS      float64 `json:"window_s"`
	TargetPerS   float64 `json:"target_per_s"` // tasks ÷ window: the rate asked for
	CreateBatch  int     `json:"create_batch"`
	LeadS        float64 `json:"lead_s"`
	ExecutedPerS float64 `json:"executed_per_s"` // executed ÷ (last arrival − first due): the rate achieved
	// FellBehind is set when p99 lateness exceeded behindP99Ms, or tasks
	// were lost or not created: the cost is then not that of a stack
	// keeping up, and Note says why.
	FellBehind bool             `json:"fell_behind"`
	Note       string           `json:"note,omitempty"`
	Summary    loadtest.Summary `json:"summary"`
}

// volumePlan spreads n tasks' due times evenly over window, starting lead
// after the run starts, and sends them in groups of batch: every task of a
// group is sent at once, lead before the group's first due time.
func volumePlan(n, batch int, window, lead time.Duration) (due, sendAt func(i int) time.Duration) {
	batch = max(batch, 1)
	due = func(i int) time.Duration {
		if n <= 1 {
			return lead
		}
		return lead + window*time.Duration(i)/time.Duration(n-1)
	}
	sendAt = func(i int) time.Duration { return due(i/batch*batch) - lead }
	return due, sendAt
}

// volume runs scenario 5 against the local host at base.
func volume(ctx context.Context, base string, n int, window, lead time.Duration, batch int) (Volume, loadtest.Result, error) {
	v := Volume{Tasks: n, WindowS: window.Seconds(), CreateBatch: batch, LeadS: lead.Seconds()}
	if window > 0 {
		v.TargetPerS = loadtest.Round(float64(n)/window.Seconds(), 1)
	}
	due, sendAt := volumePlan(n, batch, window, lead)
	res, err := loadtest.Run(ctx, loadtest.Options{API: base, Tasks: n, Spread: window, Grace: 30 * time.Second, Concurrency: 16,
		VerifySignatures: true, Tenant: "bench-volume", Progress: true, Batch: batch, Due: due, SendAt: sendAt})
	if err != nil {
		return v, res, err
	}
	v.Summary = res.Summary
	logDuplicates("volume", res)
	v.ExecutedPerS = executedPerS(res.Samples)
	assessVolume(&v)
	return v, res, nil
}

// executedPerS is the executed tasks divided by the time from the first
// due time to the last arrival.
func executedPerS(samples []loadtest.Sample) float64 {
	if len(samples) == 0 {
		return 0
	}
	first, last := samples[0].Due, samples[0].Arrived
	for _, s := range samples {
		if s.Due.Before(first) {
			first = s.Due
		}
		if s.Arrived.After(last) {
			last = s.Arrived
		}
	}
	return loadtest.Round(float64(len(samples))/math.Max(last.Sub(first).Seconds(), 0.001), 1)
}

// assessVolume sets FellBehind and Note from the run's summary.
func assessVolume(v *Volume) {
	s := v.Summary
	var why []string
	if s.Executed > 0 && s.Lateness.P99 > behindP99Ms {
		why = append(why, fmt.Sprintf("p99 lateness %.0f ms > %d ms at %.1f tasks/s (achieved %.1f/s)", s.Lateness.P99, behindP99Ms, v.TargetPerS, v.ExecutedPerS))
	}
	if s.Executed == 0 {
		why = append(why, "no task executed")
	}
	if s.Lost > 0 {
		why = append(why, fmt.Sprintf("%d of %d tasks lost", s.Lost, s.Created))
	}
	if s.CreateErrors > 0 {
		why = append(why, fmt.Sprintf("%d of %d creates failed", s.CreateErrors, s.Tasks))
	}
	v.FellBehind = len(why) > 0
	v.Note = ""
	if v.FellBehind {
		v.Note = "cost run fell behind: " + strings.Join(why, "; ")
	}
}
