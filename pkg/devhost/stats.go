package devhost

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Stats is what the local host serves at GET /v1/stats: the figures the
// console's overview shows (in AWS the console would read them from the
// CloudWatch metrics the worker publishes; this is the development path).
// Series hold one point per StepSeconds over the last StepSeconds×len(Series)
// seconds, oldest first.
type Stats struct {
	GeneratedAt time.Time     `json:"generated_at"`
	StepSeconds int           `json:"step_seconds"`
	Series      []StatsPoint  `json:"series"`
	Totals      StatsTotals   `json:"totals"`
	DLQDepth    *int          `json:"dlq_depth"` // task DLQ messages; null when the queue could not be read
	Since       time.Time     `json:"since"`     // when the host started counting
	Sources     StatsSourcing `json:"sources"`
}

// StatsPoint is one step of the series. Lateness is null in a step in
// which no attempt started.
type StatsPoint struct {
	T             time.Time `json:"t"`
	CreatedPerS   float64   `json:"created_per_s"`
	ExecutedPerS  float64   `json:"executed_per_s"`
	LatenessP50Ms *float64  `json:"lateness_p50_ms"`
	LatenessP99Ms *float64  `json:"lateness_p99_ms"`
}

// StatsTotals count since the host started.
type StatsTotals struct {
	Created   int64 `json:"created"`   // tasks created through the API (single and batch creates)
	Executed  int64 `json:"executed"`  // attempts finished: succeeded + retried + failed
	Succeeded int64 `json:"succeeded"` // tasks that succeeded
	Retried   int64 `json:"retried"`   // attempts that failed and will be retried
	Failed    int64 `json:"failed"`    // tasks that ran out of attempts (FAILED, dead-lettered)
}

// StatsSourcing says where each figure comes from, for readers of the JSON.
type StatsSourcing struct {
	Created  string `json:"created"`
	Executed string `json:"executed"`
	DLQDepth string `json:"dlq_depth"`
}

const (
	statsStep    = 5 * time.Second
	statsSteps   = 60   // five minutes
	statsSamples = 4096 // lateness samples kept per step
)

type statsStepData struct {
	start    int64 // unix seconds of the step's start; 0: unused
	created  int64
	executed int64
	lateness []float64
}

// statsCollector counts creates (from the API's answers) and the worker's
// metrics (it is the worker's Metrics sink in the local host).
type statsCollector struct {
	mu     sync.Mutex
	now    func() time.Time
	since  time.Time
	ring   [statsSteps]statsStepData
	totals StatsTotals
	depth  func(ctx context.Context) (int, error)
}

func newStatsCollector(now func() time.Time) *statsCollector {
	return &statsCollector{now: now, since: now().UTC()}
}

// step returns the ring slot of the current step, reset if it held an
// older one. Called with mu held.
func (s *statsCollector) step() *statsStepData {
	start := s.now().Truncate(statsStep).Unix()
	d := &s.ring[(start/int64(statsStep/time.Second))%statsSteps]
	if d.start != start {
		*d = statsStepData{start: start, lateness: d.lateness[:0]}
	}
	return d
}

// Record implements worker.Metrics.
func (s *statsCollector) Record(name string, v float64, _ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.step()
	switch name {
	case "LatenessMs":
		if len(d.lateness) < statsSamples {
			d.lateness = append(d.lateness, v)
		}
	case "TasksSucceeded":
		s.totals.Succeeded++
		s.totals.Executed++
		d.executed++
	case "TasksRetried":
		s.totals.Retried++
		s.totals.Executed++
		d.executed++
	case "TasksFailed":
		s.totals.Failed++
		s.totals.Executed++
		d.executed++
	}
}

// created counts n tasks created.
func (s *statsCollector) created(n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.totals.Created += int64(n)
	s.step().created += int64(n)
}

// snapshot builds the Stats document.
func (s *statsCollector) snapshot(ctx context.Context) Stats {
	out := Stats{StepSeconds: int(statsStep / time.Second), Sources: StatsSourcing{
		Created:  "201 answers of POST /v1/tasks and the 201 results of POST /v1/tasks:batch on this host (schedule occurrences are not counted)",
		Executed: "the worker's TasksSucceeded, TasksRetried and TasksFailed metrics",
		DLQDepth: "ApproximateNumberOfMessages of the task DLQ",
	}}
	if s.depth != nil {
		if n, err := s.depth(ctx); err == nil {
			out.DLQDepth = &n
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out.GeneratedAt = now.UTC()
	out.Since = s.since
	out.Totals = s.totals
	cur := now.Truncate(statsStep).Unix()
	stepS := int64(statsStep / time.Second)
	per := float64(stepS)
	for i := int64(statsSteps - 1); i >= 0; i-- {
		start := cur - i*stepS
		p := StatsPoint{T: time.Unix(start, 0).UTC()}
		d := &s.ring[(start/stepS)%statsSteps]
		if d.start == start {
			elapsed := per
			if start == cur { // the current step is still filling
				elapsed = max(now.Sub(time.Unix(start, 0)).Seconds(), 1)
			}
			p.CreatedPerS = float64(d.created) / elapsed
			p.ExecutedPerS = float64(d.executed) / elapsed
			if len(d.lateness) > 0 {
				l := slices.Clone(d.lateness)
				slices.Sort(l)
				p50, p99 := quantile(l, 0.50), quantile(l, 0.99)
				p.LatenessP50Ms, p.LatenessP99Ms = &p50, &p99
			}
		}
		out.Series = append(out.Series, p)
	}
	return out
}

// quantile of sorted values (nearest rank).
func quantile(sorted []float64, q float64) float64 {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func (s *statsCollector) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(s.snapshot(r.Context()))
}

// countCreates wraps the API: it counts the tasks each create answer says
// were created (201 to POST /v1/tasks; each 201 result of a batch).
func (s *statsCollector) countCreates(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || (r.URL.Path != "/v1/tasks" && r.URL.Path != "/v1/tasks:batch") {
			next.ServeHTTP(w, r)
			return
		}
		rec := &createRecorder{ResponseWriter: w, batch: r.URL.Path == "/v1/tasks:batch"}
		next.ServeHTTP(rec, r)
		switch {
		case !rec.batch && rec.status == http.StatusCreated:
			s.created(1)
		case rec.batch && rec.status == http.StatusOK:
			var out struct {
				Results []struct {
					Status int `json:"status"`
				} `json:"results"`
			}
			if json.Unmarshal(rec.body.Bytes(), &out) == nil {
				n := 0
				for _, res := range out.Results {
					if res.Status == http.StatusCreated {
						n++
					}
				}
				s.created(n)
			}
		}
	})
}

// createRecorder passes the answer through, keeping its status (and a
// batch answer's body, to count its results).
type createRecorder struct {
	http.ResponseWriter
	status int
	batch  bool
	body   bytes.Buffer
}

func (c *createRecorder) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *createRecorder) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.batch {
		c.body.Write(b)
	}
	return c.ResponseWriter.Write(b)
}

// teeMetrics sends each metric to the stats collector and, when set, to
// the metrics sink the worker already had.
type teeMetrics struct {
	stats *statsCollector
	next  interface {
		Record(name string, v float64, unit string)
	}
}

func (t teeMetrics) Record(name string, v float64, unit string) {
	t.stats.Record(name, v, unit)
	if t.next != nil {
		t.next.Record(name, v, unit)
	}
}
