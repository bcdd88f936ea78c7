package dispatch

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Fair paces each tenant's tasks into the task queue, so that one tenant's
// backlog waits in the table instead of in the queue in front of another
// tenant's tasks (issue 17).
//
// A pass (one unit) sends, per tenant, at most PerSecond × weight tasks
// that become visible in any one second of run time (an overdue task counts
// in the current second); a tenant's tasks beyond that stay SCHEDULED in the
// table, and the pass sends a continuation unit to the scan queue, due a
// second before the earliest held task, that carries where each held
// tenant got to (task.ScanUnit.Held).
// A continuation pass sends each held tenant's next tasks that fall due
// within the next second: its weighted share of the room left in the task
// queue (QueueDepth less the queue's visible messages, divided among
// Shards units; at least minPass tasks, so that a pass is worth its fixed
// cost; or PerSecond × weight when the depth cannot be read). When no
// room is left — QueueDepth or more messages wait visible, so the workers
// are taking none — it reads and sends nothing and passes again
// fullInterval later. So a noisy tenant drains as fast as the workers
// take its tasks — slowed, never dropped — while the line in front of
// every other tenant's task stays short: about QueueDepth messages, plus
// one pass's worth per unit. The messages of one pass go out in weighted
// round robin by tenant.
//
// Messages in flight do not count against the room: they are being
// worked on and stand in front of no one, and the workers stop taking
// more (so visible ones pile up) when they are busy. Counting them made
// a held tenant's rate QueueDepth ÷ the time a worker holds a message
// (the early delivery, the batching window, the call), which fell as the
// stack slowed: past its knee (20-30 tasks a second), make dev executed
// 12-15 a second at 50 offered on a loaded machine (issue 18).
//
// Crash safety is the dispatcher's: the continuation is sent before the
// unit is acknowledged, so a crash repeats a pass (duplicate messages,
// harmless) and never skips one; the bucket's sweep, paced the same way,
// remains the backstop for anything left SCHEDULED. A sweep that finds a
// backlog it would hold puts itself off (up to sweepDefers times) rather
// than pace the same tasks beside the unit's own continuations.
type Fair struct {
	// PerSecond is the tasks of one tenant one unit releases into any one
	// second of run time; 0 turns pacing off (every task of the
	// partition is sent at once, as before issue 17).
	PerSecond int
	// Weights are tenants' weights (default 1): a tenant of weight 3 gets
	// three times the share of one of weight 1.
	Weights map[string]int
	// QueueDepth is the number of visible (waiting) task-queue messages
	// that continuation passes top the queue up to: the longest line a
	// held tenant may put in front of another tenant's task. 0:
	// continuation passes send PerSecond × weight.
	QueueDepth int
	// Shards divides the room in the queue among the units that may be
	// pacing at once (default 1).
	Shards int
	// Depth reads the task queue's depth; nil: no top-up.
	Depth Depth
}

// Depth reads a queue's approximate visible, in-flight and delayed counts.
type Depth interface {
	Depth(ctx context.Context, url string) (visible, inflight, delayed int, err error)
}

// A sweep that finds a tenant's backlog is put off sweepDefers times,
// sweepDeferral apart (a backlog the workers drain at 30 tasks a second
// locally, or thousands in AWS, is sent within that), before it paces the
// partition itself.
const (
	sweepDefers   = 10
	sweepDeferral = 15 * time.Second
)

// passInterval is the wait between two passes of a held unit: SQS delays
// are whole seconds.
const passInterval = time.Second

// fullInterval is the wait before the next pass of a unit that found the
// task queue full: its pass costs a depth read and a scan-queue message,
// and the workers are behind.
const fullInterval = 2 * time.Second

// minPass is the least a continuation pass sends of a held tenant (or its
// PerSecond × weight, if smaller), however full the queue: a pass costs a
// partition read and two queue sends whatever it carries, and one task a
// pass made the backlog's drain cost several emulator calls a task just
// when the stack was overloaded. Ten is one SendMessageBatch.
const minPass = 10

// maxWeight is the largest weight of any tenant.
func (f Fair) maxWeight() int {
	m := 1
	for _, w := range f.Weights {
		m = max(m, w)
	}
	return m
}

func (f Fair) weight(tenant string) int {
	if w := f.Weights[tenant]; w > 0 {
		return w
	}
	return 1
}

// fairPick is one pass's choice. Send is in weighted round-robin order by
// tenant; Held is nil when nothing was held back.
type fairPick struct {
	Send []*task.Task
	Held map[string]string // tenant → sort key of its last task sent (by this unit and its predecessors)
	Upto string            // every task up to this sort key was seen
	Next time.Time         // earliest run time of a held task
}

func sortKey(t *task.Task) string { return task.SortKey(t.ID.DueMs, t.ID.String()) }

// unsent drops the tasks that earlier passes of the unit sent.
func unsent(tasks []*task.Task, u task.ScanUnit) []*task.Task {
	if u.Pass == 0 {
		return tasks
	}
	kept := tasks[:0:0]
	for _, t := range tasks {
		sk := sortKey(t)
		last, held := u.Held[t.Tenant]
		if !held {
			last = u.Upto
		}
		if sk > last {
			kept = append(kept, t)
		}
	}
	return kept
}

// pick chooses what one pass sends of tasks (in sort-key order, none sent
// yet). extra is each held tenant's top-up for a continuation pass
// (tenant → tasks).
func (f Fair) pick(tasks []*task.Task, u task.ScanUnit, now time.Time, extra map[string]int) fairPick {
	p := fairPick{Upto: u.Upto}
	var order []string
	byTenant := map[string][]*task.Task{}
	for _, t := range tasks {
		if _, ok := byTenant[t.Tenant]; !ok {
			order = append(order, t.Tenant)
		}
		byTenant[t.Tenant] = append(byTenant[t.Tenant], t)
		if sk := sortKey(t); sk > p.Upto {
			p.Upto = sk
		}
	}
	nowSec := now.Truncate(time.Second)
	chosen := map[string][]*task.Task{}
	for _, tn := range order {
		ts := byTenant[tn]
		limit := f.PerSecond * f.weight(tn)
		n := 0
		if prev, wasHeld := u.Held[tn]; wasHeld {
			// A held tenant: its next tasks due within the next pass, as
			// the queue has room for them (sent a pass ahead, with their
			// delay, so that a tenant held for one busy second is not
			// late; sent earlier they would stand in the queue in front
			// of other tenants' tasks when they fall due).
			budget := f.budget(tn, extra)
			for n < len(ts) && n < budget && ts[n].RunAt().Before(now.Add(passInterval)) {
				n++
			}
			if n < len(ts) {
				last := prev
				if n > 0 {
					last = sortKey(ts[n-1])
				}
				p.hold(tn, last, ts[n].RunAt())
			}
		} else {
			perSlot := map[time.Time]int{}
			for n < len(ts) {
				slot := ts[n].RunAt().Truncate(time.Second)
				if slot.Before(nowSec) {
					slot = nowSec
				}
				if perSlot[slot] >= limit {
					break
				}
				perSlot[slot]++
				n++
			}
			if n < len(ts) {
				last := ""
				if n > 0 {
					last = sortKey(ts[n-1])
				}
				p.hold(tn, last, ts[n].RunAt())
			}
		}
		chosen[tn] = ts[:n]
	}
	// Tenants held by an earlier pass and absent from this one (all sent
	// meanwhile by a duplicate, or cancelled) are done: nothing to carry.
	p.Send = roundRobin(order, chosen, f.weight)
	return p
}

func (p *fairPick) hold(tenant, last string, next time.Time) {
	if p.Held == nil {
		p.Held = map[string]string{}
	}
	p.Held[tenant] = last
	if p.Next.IsZero() || next.Before(p.Next) {
		p.Next = next
	}
}

// roundRobin interleaves the tenants' tasks, weight of each tenant's per
// round, in the order the tenants first appear.
func roundRobin(order []string, chosen map[string][]*task.Task, weight func(string) int) []*task.Task {
	total := 0
	for _, ts := range chosen {
		total += len(ts)
	}
	out := make([]*task.Task, 0, total)
	pos := make(map[string]int, len(order))
	for len(out) < total {
		for _, tn := range order {
			ts, i := chosen[tn], pos[tn]
			j := min(len(ts), i+weight(tn))
			out = append(out, ts[i:j]...)
			pos[tn] = j
		}
	}
	return out
}

// budget is what a continuation pass may send of a held tenant's tasks:
// its share of the room in the task queue when the queue's depth is known
// (at least minPass, or PerSecond × weight if smaller, so a backlog always
// moves), else PerSecond × weight.
func (f Fair) budget(tenant string, extra map[string]int) int {
	rate := max(1, f.PerSecond*f.weight(tenant))
	if extra != nil {
		return max(min(minPass, rate), extra[tenant])
	}
	return rate
}

// earliestHeld is the smallest of the held tenants' sort keys ("" when a
// held tenant has had nothing sent).
func earliestHeld(held map[string]string) string {
	first := true
	min := ""
	for _, sk := range held {
		if first || sk < min {
			min, first = sk, false
		}
	}
	return min
}

// enough says whether every held tenant has more tasks among tasks than
// a continuation pass may send it, so that reading on cannot change the
// pass's choice.
func (f Fair) enough(tasks []*task.Task, held map[string]string, extra map[string]int) bool {
	have := make(map[string]int, len(held))
	for _, t := range tasks {
		if _, ok := held[t.Tenant]; ok {
			have[t.Tenant]++
		}
	}
	for tn := range held {
		if have[tn] <= f.budget(tn, extra) {
			return false
		}
	}
	return true
}

// topUp is each held tenant's share of the room in the task queue, for a
// continuation pass (nil: the depth is not known). full says that there
// is no room at all.
func (d *Dispatcher) topUp(ctx context.Context, u task.ScanUnit) (extra map[string]int, full bool) {
	f := d.cfg.Fair
	if u.Pass == 0 || f.QueueDepth <= 0 || f.Depth == nil || len(u.Held) == 0 {
		return nil, false
	}
	visible, _, _, err := f.Depth.Depth(ctx, d.cfg.TaskQueue)
	if err != nil {
		d.log.Warn().Err(err).Msg("task queue depth unknown; this pass sends PerSecond × weight")
		return nil, false
	}
	// Only visible messages count: in-flight ones are being worked on (see
	// Fair), and delayed ones are tasks not yet due, while a held tenant's
	// pass sends only tasks that are due.
	if visible >= f.QueueDepth {
		return nil, true
	}
	room := max(0, (f.QueueDepth-visible)/max(1, f.Shards))
	tenants := make([]string, 0, len(u.Held))
	sum := 0
	for tn := range u.Held {
		tenants = append(tenants, tn)
		sum += f.weight(tn)
	}
	sort.Strings(tenants)
	extra = make(map[string]int, len(tenants))
	for _, tn := range tenants {
		extra[tn] = room * f.weight(tn) / sum
	}
	return extra, false
}

// dispatchFair is Dispatch with pacing on: it reads the whole partition,
// sends what this pass may send, and continues the unit if anything was
// held back.
func (d *Dispatcher) dispatchFair(ctx context.Context, u task.ScanUnit, origin task.Origin) (Stats, error) {
	var st Stats
	var all []*task.Task
	extra, full := d.topUp(ctx, u)
	if full {
		// The workers are behind: nothing this pass could send would run
		// sooner than what already waits. Pass again later, unchanged.
		again := u
		again.Pass++
		if err := d.q.SendBatch(ctx, d.cfg.ScanQueue, []task.OutMessage{{Body: again.Encode(), Delay: fullInterval}}); err != nil {
			return st, fmt.Errorf("dispatch: continue unit: %w", err)
		}
		st.HeldTenants = len(u.Held)
		return st, nil
	}
	// A continuation pass starts after the earliest held tenant's last
	// sent task (every task before it was sent) and stops reading once
	// every held tenant has more tasks than this pass may send: a backlog
	// of 20,000 is read a pass's share at a time, not whole every second.
	after, limit := "", d.cfg.PageSize
	// A sweep that may put itself off (below) reads a first page of about
	// one second's share: a backlog it would hold shows there, and it
	// defers without reading the partition — every 15 s, while the
	// backlog lasts, for each of the bucket's shards.
	deferring := u.Sweep && u.Pass == 0 && u.Deferred < sweepDefers
	if deferring {
		limit = int32(min(int(d.cfg.PageSize), max(10, d.cfg.Fair.PerSecond*d.cfg.Fair.maxWeight()+1)))
	}
	if u.Pass > 0 {
		after = earliestHeld(u.Held)
		// Pages of about what the pass may send: a continuation reads
		// little more than it sends.
		want := 1
		for tn := range u.Held {
			want += d.cfg.Fair.budget(tn, extra) + 1
		}
		limit = int32(min(int(d.cfg.PageSize), max(10, want)))
	}
	for {
		tasks, next, err := d.store.QueryScheduled(ctx, u.Bucket, u.Shard, after, limit)
		if err != nil {
			return st, err
		}
		if !u.Sweep {
			tasks = withoutFastPath(tasks)
		}
		all = append(all, unsent(tasks, u)...)
		if next == "" || (u.Pass > 0 && d.cfg.Fair.enough(all, u.Held, extra)) {
			break
		}
		if deferring {
			// What the first tasks hold, the whole partition holds (the
			// per-second counts only grow as it reads on): put off now.
			if d.cfg.Fair.pick(all, u, d.clock.Now(), nil).Held != nil {
				break
			}
			limit = d.cfg.PageSize
		}
		after = next
	}
	now := d.clock.Now()
	p := d.cfg.Fair.pick(all, u, now, extra)
	if d.cfg.MaxInFlight > 0 && d.cfg.InFlight != nil && len(p.Send) > 0 && !(u.Sweep && u.Pass == 0 && p.Held != nil && u.Deferred < sweepDefers) {
		if err := d.capInFlight(ctx, u, &p, now); err != nil {
			return st, err
		}
	}
	if u.Sweep && u.Pass == 0 && p.Held != nil && u.Deferred < sweepDefers {
		// A tenant's backlog is still SCHEDULED here, most likely because
		// the unit's own continuations are still pacing it: a second,
		// sweep-led chain would send every one of those tasks twice. Put
		// the sweep off; after sweepDefers tries it paces the partition
		// itself, in case that chain is gone.
		again := u
		again.Deferred++
		if err := d.q.SendBatch(ctx, d.cfg.ScanQueue, []task.OutMessage{{Body: again.Encode(), Delay: sweepDeferral}}); err != nil {
			return st, fmt.Errorf("dispatch: defer sweep: %w", err)
		}
		st.HeldTenants = len(p.Held)
		return st, nil
	}
	for start := 0; start < len(p.Send); start += int(d.cfg.PageSize) {
		page := p.Send[start:min(len(p.Send), start+int(d.cfg.PageSize))]
		if err := d.sendPage(ctx, page, origin, &st); err != nil {
			return st, err
		}
	}
	if p.Held == nil {
		return st, nil
	}
	cont := task.ScanUnit{Bucket: u.Bucket, Shard: u.Shard, Sweep: u.Sweep, Pass: u.Pass + 1, Upto: p.Upto, Held: p.Held}
	delay := max(passInterval, p.Next.Sub(now)-passInterval)
	if err := d.q.SendBatch(ctx, d.cfg.ScanQueue, []task.OutMessage{{Body: cont.Encode(), Delay: delay}}); err != nil {
		return st, fmt.Errorf("dispatch: continue unit: %w", err)
	}
	st.HeldTenants = len(p.Held)
	return st, nil
}

// capInFlight keeps, of each tenant's tasks the pass would send, those its
// in-flight cap grants (one strong read and at most one write per tenant),
// and holds the rest in the table as a paced backlog is held: the
// continuation passes try them again, each a second after the last while
// they are due.
func (d *Dispatcher) capInFlight(ctx context.Context, u task.ScanUnit, p *fairPick, now time.Time) error {
	var order []string
	byTenant := map[string][]*task.Task{}
	for _, t := range p.Send {
		if _, ok := byTenant[t.Tenant]; !ok {
			order = append(order, t.Tenant)
		}
		byTenant[t.Tenant] = append(byTenant[t.Tenant], t)
	}
	chosen := make(map[string][]*task.Task, len(order))
	for _, tn := range order {
		ts := byTenant[tn]
		ids := make([]string, len(ts))
		until := now
		for i, t := range ts {
			ids[i] = t.ID.String()
			if r := t.RunAt(); r.After(until) {
				until = r
			}
		}
		n, err := d.cfg.InFlight.AcquireInFlight(ctx, tn, d.cfg.MaxInFlight, ids, now, until.Add(d.cfg.InFlightLease))
		if err != nil {
			return fmt.Errorf("dispatch: in-flight cap of %q: %w", tn, err)
		}
		chosen[tn] = ts[:n]
		if n == len(ts) {
			continue
		}
		last, held := u.Held[tn]
		if !held && u.Pass > 0 {
			last = u.Upto // a tenant not held: every task up to Upto was sent
		}
		if n > 0 {
			last = sortKey(ts[n-1])
		}
		p.hold(tn, last, ts[n].RunAt())
	}
	p.Send = roundRobin(order, chosen, d.cfg.Fair.weight)
	return nil
}
