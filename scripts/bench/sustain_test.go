package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hourglass-sched/hourglass/pkg/testkit/loadtest"
)

func TestAssessStep(t *testing.T) {
	t.Parallel()
	ok := SustainStep{RatePerS: 40, Tasks: 400, Executed: 400, ExecutedPerS: 37, Lateness: loadtest.Latency{P99: 900}}
	assessStep(&ok)
	assert.True(t, ok.Sustained, ok.Why)
	assert.Empty(t, ok.Why)

	late := ok
	late.Lateness.P99 = 1200
	assessStep(&late)
	assert.False(t, late.Sustained)
	assert.Contains(t, late.Why, "p99 1200 ms")

	behind := ok
	behind.ExecutedPerS = 30
	assessStep(&behind)
	assert.False(t, behind.Sustained)
	assert.Contains(t, behind.Why, "executed 30.0/s")

	for name, mut := range map[string]func(*SustainStep){
		"lost":    func(s *SustainStep) { s.Lost = 1 },
		"pending": func(s *SustainStep) { s.Pending = 1 },
		"early":   func(s *SustainStep) { s.Early = 1 },
		"missing": func(s *SustainStep) { s.Executed = 399 },
	} {
		s := ok
		mut(&s)
		assessStep(&s)
		assert.False(t, s.Sustained, name)
	}
}

func TestNextRate(t *testing.T) {
	t.Parallel()
	step := func(r float64, ok bool) SustainStep {
		return SustainStep{RatePerS: r, Sustained: ok, Lateness: loadtest.Latency{P99: 400}}
	}
	assert.InDelta(t, 26, nextRate(26, nil), 1e-9)
	assert.InDelta(t, sustainMinRate, nextRate(1, nil), 1e-9, "the floor")
	assert.InDelta(t, 33, nextRate(26, []SustainStep{step(26, true)}), 1e-9, "up by the factor")
	fast := step(20, true)
	fast.Lateness.P99 = 100
	assert.InDelta(t, 30, nextRate(20, []SustainStep{fast}), 1e-9, "far from the limit: up faster")
	assert.InDelta(t, 13, nextRate(26, []SustainStep{step(26, false)}), 1e-9, "a failed first step: half")
	assert.Zero(t, nextRate(26, []SustainStep{step(26, false), step(13, false)}), "then done")
	assert.Zero(t, nextRate(26, []SustainStep{step(26, true), step(33, false)}), "a later failure ends it")
	full := []SustainStep{step(26, true), step(33, true), step(41, true), step(51, true), step(64, true)}
	assert.Zero(t, nextRate(26, full), "at most sustainSteps")
}

func TestThroughputBudget(t *testing.T) {
	t.Parallel()
	o := Output{Ratios: map[string]float64{}}
	o.Raw.Throughput = Throughput{SustainedPerS: 33, SustainedP99: 314, Ladder: []SustainStep{{RatePerS: 33, Sustained: true}}}
	b := budgets(o)
	assert.Len(t, b, 1)
	assert.True(t, b[0].Met)
	assert.Contains(t, b[0].Name, "sustained_per_s 33")
	o.Raw.Throughput.SustainedPerS, o.Raw.Throughput.SustainedP99 = 0, 0
	assert.False(t, budgets(o)[0].Met, "no step held: not met")
}
