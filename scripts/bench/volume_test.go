package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/testkit/cost"
	"github.com/hourglass-sched/hourglass/pkg/testkit/loadtest"
	"github.com/hourglass-sched/hourglass/pkg/usage"
)

func TestVolumePlan(t *testing.T) {
	t.Parallel()
	const n, batch = 250, 100
	window, lead := 10*time.Second, 5*time.Second
	due, sendAt := volumePlan(n, batch, window, lead)
	assert.Equal(t, lead, due(0))
	assert.Equal(t, lead+window, due(n-1))
	step := window / (n - 1)
	for i := 1; i < n; i++ {
		// Evenly spread (integer division leaves at most a nanosecond).
		assert.InDelta(t, float64(step), float64(due(i)-due(i-1)), 1, "due step at %d", i)
		assert.GreaterOrEqual(t, sendAt(i), sendAt(i-1), "sends are in order")
	}
	// A batch is sent at once, lead before its first task is due.
	for _, g := range [][2]int{{0, 99}, {100, 199}, {200, 249}} {
		for i := g[0]; i <= g[1]; i++ {
			assert.Equal(t, due(g[0])-lead, sendAt(i), "task %d goes with its batch", i)
		}
	}
	assert.Zero(t, sendAt(0))
	// No task is sent less than lead before it is due.
	for i := 0; i < n; i++ {
		assert.GreaterOrEqual(t, due(i)-sendAt(i), lead)
	}
	// Batch 1: each task alone, lead ahead; one task: due at lead.
	due1, send1 := volumePlan(n, 1, window, lead)
	assert.Equal(t, due1(37)-lead, send1(37))
	dueOne, sendOne := volumePlan(1, batch, window, lead)
	assert.Equal(t, lead, dueOne(0))
	assert.Zero(t, sendOne(0))
}

func TestAssessVolume(t *testing.T) {
	t.Parallel()
	ok := Volume{TargetPerS: 40, ExecutedPerS: 39.8, Summary: loadtest.Summary{Tasks: 2400, Created: 2400, Executed: 2400, Lateness: loadtest.Latency{P50: 40, P99: 1000}}}
	assessVolume(&ok)
	assert.False(t, ok.FellBehind, "p99 of exactly 1 s still keeps up")
	assert.Empty(t, ok.Note)

	late := ok
	late.Summary.Lateness.P99 = 1500
	assessVolume(&late)
	assert.True(t, late.FellBehind)
	assert.Contains(t, late.Note, "cost run fell behind")
	assert.Contains(t, late.Note, "p99 lateness 1500 ms > 1000 ms at 40.0 tasks/s")

	lost := ok
	lost.Summary.Lost, lost.Summary.Executed = 3, 2397
	assessVolume(&lost)
	assert.True(t, lost.FellBehind)
	assert.Contains(t, lost.Note, "3 of 2400 tasks lost")

	failed := ok
	failed.Summary.CreateErrors, failed.Summary.Created, failed.Summary.Executed = 100, 2300, 2300
	assessVolume(&failed)
	assert.True(t, failed.FellBehind)
	assert.Contains(t, failed.Note, "100 of 2400 creates failed")

	none := Volume{Summary: loadtest.Summary{Tasks: 10, Created: 10, Lost: 10}}
	assessVolume(&none)
	assert.True(t, none.FellBehind)
	assert.Contains(t, none.Note, "no task executed")
}

func TestExecutedPerS(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	var s []loadtest.Sample
	for i := 0; i < 100; i++ {
		due := t0.Add(time.Duration(i) * 20 * time.Millisecond)
		s = append(s, loadtest.Sample{Due: due, Arrived: due.Add(20 * time.Millisecond)})
	}
	// 100 tasks from the first due (t0) to the last arrival (t0 + 2 s).
	assert.InDelta(t, 50, executedPerS(s), 0.1)
	assert.Zero(t, executedPerS(nil))
}

// A cost without usage counted is no cost: it must not meet the budgets
// with zeros.
func TestCostOfWithoutUsage(t *testing.T) {
	t.Parallel()
	c, per := costOf(usage.Snapshot{}, 100)
	assert.Empty(t, c.Prices)
	assert.Zero(t, per.Writes)
	describe(&c, "volume", loadtest.Summary{Tasks: 100, Created: 100, WindowS: 10})
	assert.Empty(t, c.Run)
	o := Output{}
	o.Raw.Cost = c
	assert.Empty(t, budgets(o))
}

func volumeOutput(t *testing.T, p99 float64) Output {
	t.Helper()
	u := func(wru float64, sqs, idle int64) usage.Snapshot {
		return usage.Snapshot{Calls: map[string]int64{"DynamoDB.PutItem": 2400, "SQS.ReceiveMessage": 240 + idle, "SQS.DeleteMessageBatch": 240},
			DynamoDBWRU: wru, SQSRequests: sqs + idle, APIRequests: 24, LambdaInvocations: map[string]int64{"api": 24, "worker": 240}}
	}
	o := Output{Ratios: map[string]float64{}, Hourglass: loadtest.Summary{Tasks: 500, Created: 500, Executed: 500, WindowS: 45, CreateBatch: 100}}
	v := Volume{Tasks: 2400, WindowS: 60, TargetPerS: 40, CreateBatch: 100, LeadS: 10, ExecutedPerS: 39.9,
		Summary: loadtest.Summary{Tasks: 2400, Created: 2400, Executed: 2400, WindowS: 60, CreateBatch: 100, Lateness: loadtest.Latency{P50: 45, P99: p99}}}
	assessVolume(&v)
	o.Raw.Volume = v
	o.Raw.Cost, _ = costOf(u(2400*2.5, 720, 48), 2400)
	describe(&o.Raw.Cost, "volume", v.Summary)
	o.Raw.Cost.Note = v.Note
	o.Raw.CostLowRate, _ = costOf(u(500*3.2, 300, 400), 500)
	describe(&o.Raw.CostLowRate, "precision", o.Hourglass)
	return o
}

// The budgets' cost lines are the volume run's measured figures, not the
// precision run's; the volume run's lateness is a line of its own.
func TestBudgetsUseTheVolumeRun(t *testing.T) {
	t.Parallel()
	o := volumeOutput(t, 120)
	require.Equal(t, "volume", o.Raw.Cost.Run)
	assert.InDelta(t, 40, o.Raw.Cost.TasksPerS, 1e-9)
	assert.InDelta(t, 500.0/45, o.Raw.CostLowRate.TasksPerS, 1e-3)
	b := budgets(o)
	byName := map[string]Budget{}
	for _, x := range b {
		byName[x.Name] = x
	}
	lat, ok := byName["cost run p99 lateness ≤ 1000 ms (volume run: 2400 tasks at 40/s)"]
	require.True(t, ok, "%v", b)
	assert.InDelta(t, 120, lat.Value, 1e-9)
	assert.True(t, lat.Met)
	wru, ok := byName["DynamoDB WRU per task ≤ 3 (volume run: 2400 tasks at 40/s, batches of 100)"]
	require.True(t, ok, "%v", b)
	assert.InDelta(t, 2.5, wru.Value, 1e-9, "the volume run's WRU, not the precision run's 3.2")
	assert.True(t, wru.Met)
	sqs := byName["SQS requests per task ≤ 0.5 (all, idle long polls included; volume run: 2400 tasks at 40/s, batches of 100)"]
	assert.InDelta(t, o.Raw.Cost.SQSRequests, sqs.Value, 1e-9)
	assert.InDelta(t, 768.0/2400, sqs.Value, 1e-3)
	usd := byName["$ per million tasks ≤ 2.0 (all, as measured locally; volume run: 2400 tasks at 40/s, batches of 100)"]
	assert.InDelta(t, round3(o.Raw.Cost.USDPerMillion.Total), usd.Value, 1e-9)
	assert.Greater(t, usd.Value, 0.0)
	assert.Len(t, b, 1+1+6, "precision lateness, cost-run lateness, six cost lines")
	ratios(&o)
	assert.InDelta(t, round3(o.Raw.Cost.USDPerMillion.Total/o.Raw.CostLowRate.USDPerMillion.Total), o.Ratios["usd_per_million_volume_over_low_rate"], 1e-9)
	assert.Less(t, o.Ratios["usd_per_million_volume_over_low_rate"], 1.0)
	for _, x := range b {
		assert.NotContains(t, x.Name, "fell behind")
	}
}

// A cost run that fell behind meets no budget, and every cost line says so.
func TestBudgetsWhenTheCostRunFellBehind(t *testing.T) {
	t.Parallel()
	o := volumeOutput(t, 2500)
	require.True(t, o.Raw.Volume.FellBehind)
	b := budgets(o)
	costLines := 0
	for _, x := range b {
		switch {
		case strings.HasPrefix(x.Name, "precision"):
			assert.True(t, x.Met)
		case strings.HasPrefix(x.Name, "cost run p99"):
			assert.InDelta(t, 2500, x.Value, 1e-9)
			assert.False(t, x.Met)
		default:
			costLines++
			assert.Contains(t, x.Name, "cost run fell behind")
			assert.False(t, x.Met, "%s: %g would be under the limit, but the run fell behind", x.Name, x.Value)
		}
	}
	assert.Equal(t, 6, costLines)
}

func TestCostParagraph(t *testing.T) {
	t.Parallel()
	o := volumeOutput(t, 120)
	o.Raw.Budgets = budgets(o)
	md := markdown(o)
	for _, want := range []string{
		"**Cost per task at volume** (scenario 5: 2400 tasks due evenly over 60 s, 40.0 tasks/s, created 100 to a request, each batch 10 s before its first task is due; executed 2400/2400 at 39.9/s, lateness p50 45 ms, p99 120 ms;",
		"DynamoDB 2.50 WRU",
		fmt.Sprintf("**$%.2f per million**", o.Raw.Cost.USDPerMillion.Total),
		"At the precision run's low rate (500 tasks over 45 s, 11.1 tasks/s, created 100 to a request)",
		"3.20 WRU",
		fmt.Sprintf("**$%.2f per million** (%.2f without idle polls)", o.Raw.CostLowRate.USDPerMillion.Total, o.Raw.CostLowRate.USDPerMillionBusy),
		"| DynamoDB WRU per task ≤ 3 (volume run: 2400 tasks at 40/s, batches of 100) | 2.5 | yes |",
	} {
		assert.Contains(t, md, want)
	}
	assert.NotContains(t, md, "fell behind")

	behind := volumeOutput(t, 2500)
	behind.Raw.Budgets = budgets(behind)
	md = markdown(behind)
	assert.Contains(t, md, "**Cost run fell behind: p99 lateness 2500 ms > 1000 ms at 40.0 tasks/s (achieved 39.9/s).** **Cost per task at volume**")
	assert.Contains(t, md, "| DynamoDB WRU per task ≤ 3 (volume run: 2400 tasks at 40/s, batches of 100; cost run fell behind) | 2.5 | **no** |")

	missing := volumeOutput(t, 120)
	missing.Raw.Cost = Cost{}
	missing.Raw.Volume.Summary = loadtest.Summary{}
	md = markdown(missing)
	assert.Contains(t, md, "**Cost per task at volume** (scenario 5, 2400 tasks over 60 s): not measured in this run")
	assert.Contains(t, md, "At the precision run's low rate", "the low-rate figure stays")
}

func TestVolumeSizes(t *testing.T) {
	t.Parallel()
	for name, sz := range map[string]sizes{"quick": quickSizes, "full": fullSizes, "smoke": smokeSizes} {
		require.Positive(t, sz.VolumeTasks, name)
		require.Positive(t, sz.VolumeWindow, name)
		rate := float64(sz.VolumeTasks) / sz.VolumeWindow.Seconds()
		// Above the precision run's rate, or it says nothing new; at most
		// 25/s, as the local stack on moto executes ~30 tasks/s at most on
		// 2 cores (40/s fell behind by 18 s).
		assert.Greater(t, rate, 1.4*float64(sz.Tasks)/sz.Window.Seconds(), name)
		assert.LessOrEqual(t, rate, 25.0, name)
	}
	// bench-quick's 10 minutes: scenario 5 adds its window plus a lead.
	assert.LessOrEqual(t, quickSizes.VolumeWindow, time.Minute)
}

// volumeAPI is a Hourglass API on loopback that takes batch creates, runs
// each task itself at its due time plus delay, and counts usage per task.
type volumeAPI struct {
	srv   *httptest.Server
	delay time.Duration
	runs  sync.WaitGroup

	mu      sync.Mutex
	next    int
	batches []int
	sent    []time.Time // when each batch request arrived
	used    usage.Snapshot
}

func newVolumeAPI(t *testing.T, delay time.Duration) *volumeAPI {
	f := &volumeAPI{delay: delay, used: usage.Snapshot{Calls: map[string]int64{}, LambdaInvocations: map[string]int64{}}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/usage", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(f.used)
	})
	// The load engine reads the tenant's signing secret before its first
	// create (the fake's deliveries are unsigned: they count as bad
	// signatures, which these tests do not look at).
	mux.HandleFunc("GET /v1/signing-secret", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}`))
	})
	mux.HandleFunc("POST /v1/tasks:batch", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Tasks []struct {
				DueAt  time.Time `json:"due_at"`
				Target struct {
					URL string `json:"url"`
				} `json:"target"`
			} `json:"tasks"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.batches = append(f.batches, len(in.Tasks))
		f.sent = append(f.sent, time.Now())
		f.used.APIRequests++
		f.used.LambdaInvocations["api"]++
		var out struct {
			Results []map[string]any `json:"results"`
		}
		for _, tk := range in.Tasks {
			f.next++
			id := fmt.Sprintf("task-%d", f.next)
			f.used.Calls["DynamoDB.PutItem"]++
			f.used.Calls["DynamoDB.UpdateItem"] += 2
			f.used.DynamoDBWRU += 3
			f.used.SQSRequests++
			out.Results = append(out.Results, map[string]any{"status": http.StatusCreated, "task": map[string]any{"id": id, "state": "SCHEDULED"}})
			f.runs.Add(1)
			go func(due time.Time, hook, id string) {
				defer f.runs.Done()
				time.Sleep(time.Until(due.Add(f.delay)))
				req, _ := http.NewRequest(http.MethodPost, hook, bytes.NewReader([]byte(`{}`)))
				req.Header.Set(loadtest.TaskIDHeader, id)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					_ = resp.Body.Close()
				}
			}(tk.DueAt, tk.Target.URL, id)
		}
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(out)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() { f.srv.Close(); f.runs.Wait() })
	return f
}

// Scenario 5 through the load generator's engine: full batches, paced over
// the window, and its own usage, per task, for raw.cost.
func TestVolumeRun(t *testing.T) {
	t.Parallel()
	f := newVolumeAPI(t, 5*time.Millisecond)
	window, lead := 1500*time.Millisecond, 500*time.Millisecond
	v, res, err := volume(context.Background(), f.srv.URL, 300, window, lead, 100)
	require.NoError(t, err)
	f.mu.Lock()
	batches, sent := append([]int(nil), f.batches...), append([]time.Time(nil), f.sent...)
	f.mu.Unlock()
	assert.Equal(t, []int{100, 100, 100}, batches, "full batches of 100")
	require.Len(t, sent, 3)
	// Paced: one batch every window × 100/299, not all at once. Only the
	// lower bound is asserted: a loaded machine may send a batch late (a
	// fresh-clone CI run once saw a 600 ms stall), never early.
	gap := time.Duration(float64(window) * 100 / 299)
	for i := 1; i < len(sent); i++ {
		assert.GreaterOrEqual(t, sent[i].Sub(sent[0]), time.Duration(i)*gap-50*time.Millisecond, "batch %d sent before its time", i)
	}
	assert.Equal(t, 300, v.Summary.Executed)
	assert.InDelta(t, 200, v.TargetPerS, 1e-9)
	assert.InDelta(t, 1.5, v.Summary.WindowS, 1e-9)
	// Executed over the span from first due to last arrival: at most the
	// paced rate (plus rounding), and clearly above zero.
	assert.Greater(t, v.ExecutedPerS, 50.0)
	assert.LessOrEqual(t, v.ExecutedPerS, 205.0)
	assert.False(t, v.FellBehind, v.Note)
	c, per := costOf(res.Usage, v.Summary.Created)
	describe(&c, "volume", v.Summary)
	assert.InDelta(t, 3, c.WRU, 1e-9)
	assert.InDelta(t, 1, c.SQSRequests, 1e-9)
	assert.InDelta(t, 3, per.Writes, 1e-9)
	assert.InDelta(t, 0.01, c.Invocations["api"], 1e-9)
	assert.Equal(t, "volume", c.Run)
	assert.Equal(t, 100, c.CreateBatch)
	assert.InDelta(t, cost.List.PerMillion(res.Usage, 300).Total, c.USDPerMillion.Total, 1e-9)
}

// A stack that runs every task 1.2 s late has fallen behind: the run says so.
func TestVolumeRunFallsBehind(t *testing.T) {
	t.Parallel()
	f := newVolumeAPI(t, 1200*time.Millisecond)
	v, _, err := volume(context.Background(), f.srv.URL, 100, 500*time.Millisecond, 300*time.Millisecond, 50)
	require.NoError(t, err)
	assert.Equal(t, 100, v.Summary.Executed)
	assert.Greater(t, v.Summary.Lateness.P99, 1000.0)
	assert.True(t, v.FellBehind)
	assert.Contains(t, v.Note, "cost run fell behind: p99 lateness")
}
