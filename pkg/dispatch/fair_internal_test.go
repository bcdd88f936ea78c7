package dispatch

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// fairTask builds a SCHEDULED task of tenant due at due, with an ID whose
// sort key orders by due time then by n.
func fairTask(t *testing.T, tenant string, due time.Time, n int) *task.Task {
	t.Helper()
	id := task.ID{DueMs: due.UnixMilli(), Random: uint64(n) + 1}
	return &task.Task{ID: id, Tenant: tenant, DueAt: due, State: task.Scheduled}
}

func tenantsOf(ts []*task.Task) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Tenant
	}
	return out
}

func count(ts []*task.Task, tenant string) int {
	n := 0
	for _, t := range ts {
		if t.Tenant == tenant {
			n++
		}
	}
	return n
}

func TestFairPickHoldsABurstAndKeepsTheQuiet(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC)
	at := now.Add(5 * time.Second)
	var tasks []*task.Task
	for i := range 50 {
		tasks = append(tasks, fairTask(t, "noisy", at, i))
	}
	tasks = append(tasks, fairTask(t, "quiet", at.Add(100*time.Millisecond), 0), fairTask(t, "quiet", at.Add(2*time.Second), 1))
	f := Fair{PerSecond: 5}
	p := f.pick(tasks, task.ScanUnit{}, now, nil)

	require.Equal(t, 5, count(p.Send, "noisy"), "five of the burst for its second")
	require.Equal(t, 2, count(p.Send, "quiet"), "the quiet tenant is not held")
	require.Equal(t, []string{"noisy", "quiet", "noisy", "quiet", "noisy", "noisy", "noisy"}, tenantsOf(p.Send), "round robin by tenant")
	require.Equal(t, map[string]string{"noisy": sortKey(tasks[4])}, p.Held)
	require.Equal(t, sortKey(tasks[len(tasks)-1]), p.Upto)
	require.Equal(t, at, p.Next)

	// The continuation pass at the burst's second sends the top-up (the
	// room in the queue), and nothing the first pass sent.
	u := task.ScanUnit{Pass: 1, Upto: p.Upto, Held: p.Held}
	rest := unsent(tasks, u)
	require.Len(t, rest, 45)
	p2 := f.pick(rest, u, at, map[string]int{"noisy": 8})
	require.Len(t, p2.Send, 8)
	require.Equal(t, sortKey(tasks[5]), sortKey(p2.Send[0]))
	require.Equal(t, map[string]string{"noisy": sortKey(tasks[12])}, p2.Held)
	require.Len(t, f.pick(rest, u, at, map[string]int{"noisy": 0}).Send, 5, "a full queue still moves the backlog, a second's share (at most minPass) a pass")

	// Work-conserving: passes continue until the burst is all sent, and
	// every task is sent exactly once.
	seen := map[string]int{}
	for _, s := range append(p.Send, p2.Send...) {
		seen[sortKey(s)]++
	}
	u = task.ScanUnit{Pass: 2, Upto: p2.Upto, Held: p2.Held}
	now = at
	for pass := 0; u.Held != nil; pass++ {
		require.Less(t, pass, 20, "the backlog never drains")
		now = now.Add(time.Second)
		pk := f.pick(unsent(tasks, u), u, now, nil)
		for _, s := range pk.Send {
			seen[sortKey(s)]++
		}
		u = task.ScanUnit{Pass: u.Pass + 1, Upto: pk.Upto, Held: pk.Held}
	}
	require.Len(t, seen, len(tasks))
	for sk, n := range seen {
		require.Equal(t, 1, n, sk)
	}
}

func TestFairPickWeights(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC)
	var tasks []*task.Task
	for i := range 30 {
		tasks = append(tasks, fairTask(t, "gold", now, i), fairTask(t, "basic", now, 100+i))
	}
	f := Fair{PerSecond: 2, Weights: map[string]int{"gold": 3}}
	p := f.pick(tasks, task.ScanUnit{}, now, nil)
	require.Equal(t, 6, count(p.Send, "gold"))
	require.Equal(t, 2, count(p.Send, "basic"))
	require.Equal(t, []string{"gold", "gold", "gold", "basic", "gold", "gold", "gold", "basic"}, tenantsOf(p.Send))
	require.Len(t, p.Held, 2)
}

func TestFairPickUnheldPartitionIsOnePass(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC)
	var tasks []*task.Task
	for i := range 20 {
		// one a second per tenant: under any per-second cap
		tasks = append(tasks, fairTask(t, "a", now.Add(time.Duration(i)*time.Second), i), fairTask(t, "b", now.Add(time.Duration(i)*time.Second), 100+i))
	}
	p := Fair{PerSecond: 1}.pick(tasks, task.ScanUnit{}, now, nil)
	require.Len(t, p.Send, 40)
	require.Nil(t, p.Held, "nothing held: no continuation unit, the same cost as before")
}

func TestScanUnitContinuationRoundTrip(t *testing.T) {
	t.Parallel()
	u := task.ScanUnit{Bucket: 10, Shard: 3, Pass: 2, Upto: "x", Held: map[string]string{"a": "k"}}
	got, err := task.DecodeScanUnit(u.Encode())
	require.NoError(t, err)
	require.Equal(t, u, got)
}
