// Command outage is Hourglass's outage run (`make outage`): it starts its
// own emulator (moto on -port), a fault proxy in front of it
// (pkg/testkit/faults), a webhook sink, a rule of its own on the Hourglass
// bus that delivers every lifecycle event to an SQS queue, and the local
// host (functions/local, built and run as a child process pointed at the
// proxy, with HOURGLASS_LIFECYCLE_EVENTS=all). It then creates tasks at a
// steady rate (-rate, 1 a second), each due -min-lead to -max-lead (2–30 s)
// after its create, while each dependency in turn is unavailable for
// -outage (60 s): DynamoDB, then SQS, then EventBridge. Unavailable means every call to that service
// answers 503 (fault kind "unavailable"); the other services of the same
// emulator process stay up, as the proxy tells the services apart.
//
// The run is cut into three phases, one per dependency: -pre of normal
// running, the outage, and -post of normal running. A task belongs to the
// phase its due time falls in, a create to the phase it was attempted in.
// Once every accepted task has run (bounded by -grace) and its lifecycle
// event has had time to arrive (bounded by -event-wait), the run reads every task, fault-free, and
// prints progress on stderr and, as its last stdout line, one JSON object:
//
//	{"dynamodb":    {"tasks","creates_refused","creates_refused_without_retry_after",
//	                 "lost","early","max_lateness_ms","recovery_s","events_lost"},
//	 "sqs":         {...}, "eventbridge": {...}}
//
// tasks counts accepted tasks due in the phase; creates_refused the creates
// that got no 201, of which creates_refused_without_retry_after got neither
// a 503 nor a 429 with Retry-After (a 500, a transport error, a timeout);
// lost accepted tasks that never reached the sink; early those that reached
// it before their due time; max_lateness_ms the worst first arrival after
// the due time; recovery_s the seconds from the outage's end until the first
// task due after it ran less than 1 s late and every task due during it had
// run; events_lost the SUCCEEDED or FAILED tasks whose TaskSucceeded or
// TaskFailed event never reached the run's rule. It exits 1 unless lost,
// early, creates_refused_without_retry_after and events_lost are 0 and
// recovery_s is at most 60 in every phase.
//
//	go run ./scripts/outage -port 4581    # make outage (about 9.5 minutes)
//
// Everything listens on 127.0.0.1 only, and every loop is bounded.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hourglass-sched/hourglass/pkg/ddbstore"
	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/faultrun"
	"github.com/hourglass-sched/hourglass/pkg/testkit/faults"
)

// Phase is one dependency's line of the summary, exactly the keys.
type Phase struct {
	Tasks                           int     `json:"tasks"`
	CreatesRefused                  int     `json:"creates_refused"`
	CreatesRefusedWithoutRetryAfter int     `json:"creates_refused_without_retry_after"`
	Lost                            int     `json:"lost"`
	Early                           int     `json:"early"`
	MaxLatenessMS                   float64 `json:"max_lateness_ms"`
	RecoveryS                       float64 `json:"recovery_s"`
	EventsLost                      int     `json:"events_lost"`
}

// Summary is the last stdout line.
type Summary struct {
	DynamoDB    Phase `json:"dynamodb"`
	SQS         Phase `json:"sqs"`
	EventBridge Phase `json:"eventbridge"`
}

// services are the dependencies in the order they go down.
var services = []string{faults.ServiceDynamoDB, faults.ServiceSQS, faults.ServiceEventBridge}

type options struct {
	port                           int
	rate                           float64
	minLead, maxLead               time.Duration
	warm, pre, outage, post, grace time.Duration
	eventWait                      time.Duration
	seed                           uint64
	logPath                        string
}

func main() {
	var o options
	flag.IntVar(&o.port, "port", 4580, "port of the run's own emulator")
	flag.Float64Var(&o.rate, "rate", 1, "creates per second")
	flag.DurationVar(&o.minLead, "min-lead", 2*time.Second, "shortest time from a create to its task's due time")
	flag.DurationVar(&o.maxLead, "max-lead", 30*time.Second, "longest time from a create to its task's due time")
	flag.DurationVar(&o.warm, "warm", 20*time.Second, "normal running before the first phase")
	flag.DurationVar(&o.pre, "pre", 15*time.Second, "normal running in each phase before its outage")
	flag.DurationVar(&o.outage, "outage", 60*time.Second, "how long each dependency is unavailable")
	flag.DurationVar(&o.post, "post", 60*time.Second, "normal running in each phase after its outage")
	flag.DurationVar(&o.grace, "grace", 90*time.Second, "longest wait after the last due time for the remaining tasks")
	flag.DurationVar(&o.eventWait, "event-wait", 150*time.Second, "longest wait, once every task ran, for finished tasks' lifecycle events")
	seed := flag.Int64("seed", 0, "random seed (0: from the clock)")
	flag.StringVar(&o.logPath, "log", "", "host log file (default: a temporary file, named on stderr)")
	flag.Parse()
	if o.rate <= 0 || o.minLead < 0 || o.maxLead <= o.minLead || o.outage <= 0 {
		fmt.Fprintln(os.Stderr, "outage: want -rate > 0, 0 ≤ -min-lead < -max-lead and -outage > 0")
		os.Exit(2)
	}
	o.seed = uint64(*seed)
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "outage:", err)
		os.Exit(2)
	}
	out, _ := json.Marshal(sum)
	fmt.Println(string(out))
	for _, p := range []Phase{sum.DynamoDB, sum.SQS, sum.EventBridge} {
		if p.Lost > 0 || p.Early > 0 || p.CreatesRefusedWithoutRetryAfter > 0 || p.EventsLost > 0 || p.RecoveryS > 60 || p.RecoveryS < 0 {
			os.Exit(1)
		}
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "outage %s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05.000")}, args...)...)
}

// window is one phase: [from, to) for due times and create attempts, with
// the dependency down in [down, up).
type window struct {
	service              string
	from, down, up, till time.Time
}

func (w window) holds(t time.Time) bool { return !t.Before(w.from) && t.Before(w.till) }

// attempt is one create: when it was made, its task's due time, and what
// became of it.
type attempt struct {
	at, due    time.Time
	id         string // "" when refused
	status     int    // 0: no HTTP answer
	retryAfter bool
}

// sink records the first and every later call per task.
type sink struct {
	mu    sync.Mutex
	first map[string]time.Time
	calls int
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	id := r.Header.Get("Hourglass-Task-Id")
	s.mu.Lock()
	if _, ok := s.first[id]; !ok {
		s.first[id] = now
	}
	s.calls++
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *sink) arrived(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.first[id]
	return t, ok
}

// eventLog records the task IDs of the lifecycle events the run's rule
// delivered, by detail-type.
type eventLog struct {
	mu   sync.Mutex
	seen map[string]map[string]bool // detail-type → task IDs
	n    int
}

func (e *eventLog) has(detailType, id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.seen[detailType][id]
}

// consume receives from the rule's queue until ctx ends.
func (e *eventLog) consume(ctx context.Context, q *sqs.Client, url string) {
	for ctx.Err() == nil {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			if ctx.Err() == nil {
				logf("receive events: %v", err)
				faultrun.SleepUntil(ctx, time.Now().Add(time.Second))
			}
			continue
		}
		var done []sqstypes.DeleteMessageBatchRequestEntry
		for i, m := range out.Messages {
			done = append(done, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
			var ev struct {
				DetailType string `json:"detail-type"`
				Detail     struct {
					TaskID string `json:"task_id"`
				} `json:"detail"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &ev); err == nil {
				e.mu.Lock()
				if e.seen[ev.DetailType] == nil {
					e.seen[ev.DetailType] = map[string]bool{}
				}
				e.seen[ev.DetailType][ev.Detail.TaskID] = true
				e.n++
				e.mu.Unlock()
			}
		}
		if len(done) > 0 {
			// A failed delete only redelivers events already counted.
			_, _ = q.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: done})
		}
	}
}

func run(ctx context.Context, o options) (Summary, error) {
	rnd := rand.New(rand.NewPCG(o.seed, o.seed>>1|1)) //nolint:gosec // a reproducible load, not a secret
	logf("seed %d", o.seed)

	// 1. The emulator: ours unless one already answers on the port.
	emu, stopEmu, err := faultrun.Emulator(o.port)
	if err != nil {
		return Summary{}, err
	}
	defer stopEmu()
	// A fresh account per run: an emulator reused from an earlier run keeps
	// its tables and queues in another.
	account := fmt.Sprintf("%012d", 100000000000+rnd.Int64N(899999999999))
	logf("emulator %s, account %s", emu, account)

	// 2. The fault proxy, forwarding everything until an outage starts.
	proxy, err := faults.New(emu, nil, o.seed)
	if err != nil {
		return Summary{}, err
	}
	defer proxy.Close()
	proxyURL, closeProxy, err := faultrun.Serve(faultrun.InAccount(proxy, account), 10*time.Second)
	if err != nil {
		return Summary{}, err
	}
	defer closeProxy()

	// Direct, fault-free clients for the run's own rule, queue and checks.
	direct, err := faultrun.Direct(ctx, emu, account)
	if err != nil {
		return Summary{}, err
	}

	// 3. The sink.
	sk := &sink{first: map[string]time.Time{}}
	sinkURL, closeSink, err := faultrun.Serve(sk, 5*time.Second)
	if err != nil {
		return Summary{}, err
	}
	defer closeSink()
	hookURL := sinkURL + "/hook"

	// 4. The host, with every lifecycle event on.
	bin, logFile, cleanup, err := faultrun.HostFiles(ctx, "outage", o.seed, o.logPath)
	if err != nil {
		return Summary{}, err
	}
	defer cleanup()
	logf("host log %s", logFile.Name())
	addr, err := faultrun.FreeAddr()
	if err != nil {
		return Summary{}, err
	}
	h := faultrun.NewHost(faultrun.HostConfig{Bin: bin, Endpoint: proxyURL, Addr: addr, Log: logFile,
		Env: []string{"HOURGLASS_LIFECYCLE_EVENTS=all"}})
	defer h.Stop()
	if err := h.Start(ctx); err != nil {
		return Summary{}, err
	}
	logf("host up (pid %d) on %s", h.Pid(), addr)

	// 5. The run's own rule: every Hourglass event to its queue.
	qurl, err := provision.EnsureQueue(ctx, direct, "outage-events")
	if err != nil {
		return Summary{}, err
	}
	if err := provision.RuleToQueue(ctx, direct, "hourglass", "outage-events", map[string]any{"source": []string{"hourglass"}}, qurl); err != nil {
		return Summary{}, err
	}
	evs := &eventLog{seen: map[string]map[string]bool{}}
	evCtx, evStop := context.WithCancel(ctx)
	var evWG sync.WaitGroup
	evWG.Add(1)
	go func() { defer evWG.Done(); evs.consume(evCtx, sqs.NewFromConfig(direct), qurl) }()
	defer func() { evStop(); evWG.Wait() }()

	// 6. The timeline: warm-up, then one phase per dependency.
	t0 := time.Now()
	period := o.pre + o.outage + o.post
	var wins []window
	for i, s := range services {
		start := t0.Add(o.warm + time.Duration(i)*period)
		w := window{service: s, from: start, down: start.Add(o.pre), up: start.Add(o.pre + o.outage), till: start.Add(period)}
		if i == 0 {
			w.from = t0
		}
		wins = append(wins, w)
	}
	end := wins[len(wins)-1].till
	logf("phases: %s down %s–%s, %s down %s–%s, %s down %s–%s (UTC)",
		wins[0].service, hm(wins[0].down), hm(wins[0].up), wins[1].service, hm(wins[1].down), hm(wins[1].up), wins[2].service, hm(wins[2].down), hm(wins[2].up))

	var outWG sync.WaitGroup
	outWG.Add(1)
	go func() {
		defer outWG.Done()
		for _, w := range wins {
			if !faultrun.SleepUntil(ctx, w.down) {
				return
			}
			proxy.SetRules([]faults.Rule{{Op: w.service, Kind: faults.Unavailable, Rate: 1}})
			logf("%s unavailable", w.service)
			if !faultrun.SleepUntil(ctx, w.up) {
				return
			}
			proxy.SetRules(nil)
			logf("%s back (%d calls refused so far)", w.service, proxy.Injected())
		}
	}()

	// 7. Creates at a steady rate until every due time fits in the run;
	// each task is due min-lead to max-lead after its create.
	var (
		mu       sync.Mutex
		attempts []*attempt
		cwg      sync.WaitGroup
	)
	client := &http.Client{Timeout: 30 * time.Second}
	lastCreate := end.Add(-o.maxLead)
	every := time.Duration(float64(time.Second) / o.rate)
	progress := time.Now()
	for at := t0; at.Before(lastCreate) && ctx.Err() == nil; at = at.Add(every) {
		if !faultrun.SleepUntil(ctx, at) {
			break
		}
		lead := o.minLead + time.Duration(rnd.Int64N(int64(o.maxLead-o.minLead)))
		a := &attempt{at: time.Now(), due: time.Now().Add(lead).Truncate(time.Millisecond)}
		mu.Lock()
		attempts = append(attempts, a)
		mu.Unlock()
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			id, status, retryAfter := create(ctx, client, h.URL(), hookURL, a.due)
			mu.Lock()
			a.id, a.status, a.retryAfter = id, status, retryAfter
			mu.Unlock()
		}()
		if time.Since(progress) > 10*time.Second {
			progress = time.Now()
			mu.Lock()
			n, refused := len(attempts), 0
			for _, x := range attempts {
				if x.status != 0 && x.id == "" {
					refused++
				}
			}
			mu.Unlock()
			sk.mu.Lock()
			ran := len(sk.first)
			sk.mu.Unlock()
			logf("%d creates (%d refused), %d tasks ran, %d events received", n, refused, ran, evs.count())
		}
	}
	cwg.Wait()
	outWG.Wait()
	if ctx.Err() != nil {
		return Summary{}, ctx.Err()
	}

	// 8. Wait for every accepted task, bounded by the grace, then for the
	// events of the last ones.
	var accepted []*attempt
	lastDue := t0
	for _, a := range attempts {
		if a.id != "" {
			accepted = append(accepted, a)
			if a.due.After(lastDue) {
				lastDue = a.due
			}
		}
	}
	deadline := lastDue.Add(o.grace)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		missing := 0
		for _, a := range accepted {
			if _, ok := sk.arrived(a.id); !ok {
				missing++
			}
		}
		if missing == 0 && time.Now().After(lastDue) {
			break
		}
		logf("waiting: %d of %d accepted tasks not run yet", missing, len(accepted))
		faultrun.SleepUntil(ctx, time.Now().Add(5*time.Second))
	}

	// 9. Every task's record, fault-free; the events wait for their outcome.
	store := ddbstore.New(dynamodb.NewFromConfig(direct), "hourglass-tasks", task.Layout{Bucket: 5 * time.Second}, ddbstore.Options{})
	finals := map[string]string{} // task ID → detail-type of its outcome event
	// Events of tasks finished during or just after the EventBridge
	// outage come back with their kept messages, 15 s after the first
	// failure and doubling (worker.EventRetryDelay): allow a few rounds.
	evDeadline := time.Now().Add(o.eventWait)
	for {
		// Tasks not known finished yet, read 100 to a BatchGetItem.
		var ids []task.ID
		for _, a := range accepted {
			if _, ok := finals[a.id]; !ok {
				id, err := task.ParseID(a.id)
				if err != nil {
					return Summary{}, err
				}
				ids = append(ids, id)
			}
		}
		for len(ids) > 0 {
			n := min(len(ids), 100)
			got, err := store.GetMany(ctx, ids[:n])
			if err != nil {
				return Summary{}, fmt.Errorf("read tasks: %w", err)
			}
			for _, t := range got {
				switch t.State {
				case task.Succeeded:
					finals[t.ID.String()] = "TaskSucceeded"
				case task.Failed:
					finals[t.ID.String()] = "TaskFailed"
				}
			}
			ids = ids[n:]
		}
		missing := 0
		for _, a := range accepted {
			if dt, ok := finals[a.id]; ok && !evs.has(dt, a.id) {
				missing++
			}
		}
		if missing == 0 || time.Now().After(evDeadline) || ctx.Err() != nil {
			break
		}
		logf("waiting: %d finished tasks' events not received yet (%d finished)", missing, len(finals))
		faultrun.SleepUntil(ctx, time.Now().Add(5*time.Second))
	}

	// 10. The summary, phase by phase.
	phases := make([]Phase, len(wins))
	for i, w := range wins {
		p := &phases[i]
		for _, a := range attempts {
			if w.holds(a.at) && a.id == "" {
				p.CreatesRefused++
				if !(a.status == http.StatusServiceUnavailable || a.status == http.StatusTooManyRequests) || !a.retryAfter {
					p.CreatesRefusedWithoutRetryAfter++
				}
			}
		}
		var firstOnTime, firstOnTimeDue time.Time // the first task due after the outage that ran < 1 s late
		var lastDuring time.Time                  // latest run of a task due during the outage
		recovered := true
		for _, a := range accepted {
			if !w.holds(a.due) {
				continue
			}
			p.Tasks++
			ran, ok := sk.arrived(a.id)
			if !ok {
				p.Lost++
				logf("lost: %s task %s due %s", w.service, a.id, hm(a.due))
				if !a.due.Before(w.down) && a.due.Before(w.up) {
					recovered = false
				}
				continue
			}
			if ran.Before(a.due) {
				p.Early++
				logf("early: %s task %s ran %s before due", w.service, a.id, a.due.Sub(ran))
			}
			p.MaxLatenessMS = max(p.MaxLatenessMS, float64(ran.Sub(a.due).Microseconds())/1000)
			if !a.due.Before(w.down) && a.due.Before(w.up) && ran.After(lastDuring) {
				lastDuring = ran
			}
			if !a.due.Before(w.up) && ran.Sub(a.due) < time.Second && (firstOnTime.IsZero() || a.due.Before(firstOnTimeDue)) {
				firstOnTime, firstOnTimeDue = ran, a.due
			}
			if dt, ok := finals[a.id]; ok && !evs.has(dt, a.id) {
				p.EventsLost++
				logf("event lost: %s of %s task %s", dt, w.service, a.id)
			}
		}
		switch {
		case !recovered || firstOnTime.IsZero():
			p.RecoveryS = -1 // never recovered within the run
		default:
			p.RecoveryS = faultrun.Round(max(firstOnTime.Sub(w.up), lastDuring.Sub(w.up), 0).Seconds(), 1)
		}
		p.MaxLatenessMS = faultrun.Round(p.MaxLatenessMS, 1)
		logf("%s: %+v", w.service, *p)
	}
	sk.mu.Lock()
	logf("sink calls %d for %d tasks; %d lifecycle events received; %d calls refused by the proxy", sk.calls, len(sk.first), evs.count(), proxy.Injected())
	sk.mu.Unlock()
	return Summary{DynamoDB: phases[0], SQS: phases[1], EventBridge: phases[2]}, nil
}

func (e *eventLog) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

func hm(t time.Time) string { return t.UTC().Format("15:04:05") }

// create posts one task due at due, once, and returns its ID ("" when
// refused), the answer's status (0: none) and whether it carried
// Retry-After. A refusal is not retried: the next create comes anyway.
// No Idempotency-Key, as in the chaos run: moto copies the whole table on
// every TransactWriteItems (the keyed create path).
func create(ctx context.Context, c *http.Client, api, hook string, due time.Time) (id string, status int, retryAfter bool) {
	body, _ := json.Marshal(map[string]any{
		"due_at":  due.Format(time.RFC3339Nano),
		"target":  map[string]any{"kind": "webhook", "url": hook},
		"payload": map[string]any{"note": "outage"},
		"retry":   map[string]any{"max_attempts": 8, "initial_backoff_ms": 500, "max_backoff_ms": 5000},
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, api+"/v1/tasks", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer dev-outage")
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		logf("create: %v", err)
		return "", 0, false
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	status, retryAfter = resp.StatusCode, resp.Header.Get("Retry-After") != ""
	if status != http.StatusCreated {
		if status != http.StatusServiceUnavailable || !retryAfter {
			logf("create refused: %s %s", resp.Status, strings.TrimSpace(string(b)))
		}
		return "", status, retryAfter
	}
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.ID == "" {
		logf("create: bad response %s", b)
		return "", status, retryAfter
	}
	return v.ID, status, retryAfter
}
