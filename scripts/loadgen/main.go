// Command loadgen measures Hourglass end to end: it starts a webhook sink on
// 127.0.0.1, creates N tasks due evenly across a window through the API,
// waits for them to arrive, and prints one JSON summary as its last stdout
// line (progress goes to stderr):
//
//	go run ./scripts/loadgen -api http://127.0.0.1:8080 -tasks 1000 -spread 60s -json
//
// Lateness is arrival at the sink minus due time. AWS usage per task comes
// from the local host's /debug/usage counters (SDK middleware on every
// client), priced by pkg/cost. It only ever targets loopback addresses.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/cost"
	"github.com/hourglass-sched/hourglass/pkg/target/webhook"
	"github.com/hourglass-sched/hourglass/pkg/usage"
)

type arrival struct {
	at  time.Time
	key string
}

type sink struct {
	mu       sync.Mutex
	arrivals map[string][]arrival // task ID → arrivals
	total    atomic.Int64
	badSig   atomic.Int64
	secret   []byte
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	id := r.Header.Get("Hourglass-Task-Id")
	if s.secret != nil {
		if err := webhook.Verify(s.secret, r.Header.Get("Hourglass-Timestamp"), body, r.Header.Get("Hourglass-Signature"), now, 5*time.Minute); err != nil {
			s.badSig.Add(1)
		}
	}
	s.mu.Lock()
	s.arrivals[id] = append(s.arrivals[id], arrival{at: now, key: r.Header.Get("Idempotency-Key")})
	s.mu.Unlock()
	s.total.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// Summary is the JSON the load generator prints.
type Summary struct {
	Tasks        int     `json:"tasks"`
	Created      int     `json:"created"`
	CreateErrors int     `json:"create_errors"`
	Executed     int     `json:"executed"`
	Lost         int     `json:"lost"`
	Early        int     `json:"early"`
	Duplicates   int     `json:"duplicates"`
	BadSignature int64   `json:"bad_signatures"`
	CreatedLate  int     `json:"created_late"` // created after (due − 1s): lateness then measures create speed, not Hourglass
	Lateness     Latency `json:"lateness_ms"`
	CreatePerS   float64 `json:"create_per_s"`
	PerTask      *struct {
		DDBWRU            float64 `json:"ddb_wru"`
		DDBRRU            float64 `json:"ddb_rru"`
		SQSRequests       float64 `json:"sqs_requests"`
		LambdaInvocations float64 `json:"lambda_invocations"`
		APIRequests       float64 `json:"api_requests"`
	} `json:"per_task,omitempty"`
	USDPerMillion float64         `json:"usd_per_million,omitempty"`
	USDBreakdown  *cost.Breakdown `json:"usd_per_million_breakdown,omitempty"`
	PricesAsOf    string          `json:"prices_as_of,omitempty"`
	WindowS       float64         `json:"window_s"`
}

// Latency summarises lateness in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func main() {
	var (
		apiURL      = flag.String("api", "http://127.0.0.1:8080", "Hourglass API base URL (loopback only)")
		n           = flag.Int("tasks", 1000, "number of tasks")
		spread      = flag.Duration("spread", 60*time.Second, "window the due times are spread over")
		lead        = flag.Duration("lead", 10*time.Second, "delay before the first due time")
		tenant      = flag.String("tenant", "loadgen", "tenant (dev token)")
		concurrency = flag.Int("concurrency", 16, "concurrent create requests")
		grace       = flag.Duration("grace", 30*time.Second, "how long to wait after the last due time")
		sinkAddr    = flag.String("sink", "127.0.0.1:0", "webhook sink listen address (loopback)")
		signingKey  = flag.String("signing-key", "hourglass-dev-signing-key", "master signing key, to verify signatures (empty: skip)")
		jsonOut     = flag.Bool("json", false, "print only the JSON summary on stdout")
	)
	flag.Parse()
	sum, err := run(*apiURL, *n, *spread, *lead, *tenant, *concurrency, *grace, *sinkAddr, *signingKey, !*jsonOut)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(sum)
	fmt.Println(string(out))
	if sum.Lost > 0 || sum.Early > 0 {
		os.Exit(3)
	}
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func run(apiURL string, n int, spread, lead time.Duration, tenant string, concurrency int, grace time.Duration, sinkAddr, signingKey string, verbose bool) (Summary, error) {
	u, err := url.Parse(apiURL)
	if err != nil || !loopback(u.Hostname()) {
		return Summary{}, fmt.Errorf("-api %q: load runs only target loopback addresses", apiURL)
	}
	sh, _, _ := net.SplitHostPort(sinkAddr)
	if !loopback(sh) {
		return Summary{}, fmt.Errorf("-sink %q must be a loopback address", sinkAddr)
	}
	sk := &sink{arrivals: make(map[string][]arrival, n)}
	if signingKey != "" {
		sk.secret = webhook.DeriveSecret([]byte(signingKey), tenant)
	}
	ln, err := net.Listen("tcp", sinkAddr)
	if err != nil {
		return Summary{}, fmt.Errorf("sink: %w", err)
	}
	srv := &http.Server{Handler: sk, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	hookURL := "http://" + ln.Addr().String() + "/hook"

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}}
	before, haveUsage := fetchUsage(client, apiURL)

	t0 := time.Now()
	dues := make([]time.Time, n)
	for i := range dues {
		step := time.Duration(0)
		if n > 1 {
			step = spread * time.Duration(i) / time.Duration(n-1)
		}
		dues[i] = t0.Add(lead + step).Truncate(time.Millisecond)
	}
	ids := make([]string, n)
	var created, createErrs, createdLate atomic.Int64
	var firstErr atomic.Value
	next := atomic.Int64{}
	var wg sync.WaitGroup
	stopBar := progress("create", n, func() int { return int(created.Load() + createErrs.Load()) })
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				body, _ := json.Marshal(map[string]any{
					"due_at":  dues[i].Format(time.RFC3339Nano),
					"target":  map[string]any{"kind": "webhook", "url": hookURL},
					"payload": map[string]any{"n": i, "note": "loadgen"},
					"retry":   map[string]any{"max_attempts": 5},
				})
				id, err := create(client, apiURL, tenant, body)
				if err != nil {
					createErrs.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				if time.Now().After(dues[i].Add(-time.Second)) {
					createdLate.Add(1)
				}
				ids[i] = id
				created.Add(1)
			}
		}()
	}
	wg.Wait()
	createDur := time.Since(t0)
	stopBar()
	if e, ok := firstErr.Load().(error); ok && verbose {
		fmt.Fprintln(os.Stderr, "first create error:", e)
	}
	if created.Load() == 0 {
		return Summary{}, fmt.Errorf("no task could be created: %v", firstErr.Load())
	}

	// Wait for every created task to arrive, or the grace after the last due.
	deadline := dues[n-1].Add(grace)
	want := int(created.Load())
	arrived := func() int {
		sk.mu.Lock()
		defer sk.mu.Unlock()
		return len(sk.arrivals)
	}
	stopBar = progress("execute", want, arrived)
	for time.Now().Before(deadline) && arrived() < want {
		time.Sleep(100 * time.Millisecond)
	}
	// A short settle catches late duplicates.
	time.Sleep(2 * time.Second)
	stopBar()

	sum := Summary{Tasks: n, Created: want, CreateErrors: int(createErrs.Load()), CreatedLate: int(createdLate.Load()),
		CreatePerS: float64(want) / createDur.Seconds(), BadSignature: sk.badSig.Load(), WindowS: spread.Seconds()}
	sk.mu.Lock()
	var late []float64
	for i, id := range ids {
		if id == "" {
			continue
		}
		arr := sk.arrivals[id]
		if len(arr) == 0 {
			sum.Lost++
			continue
		}
		sum.Executed++
		sum.Duplicates += len(arr) - 1
		first := arr[0].at
		for _, a := range arr[1:] {
			if a.at.Before(first) {
				first = a.at
			}
		}
		if first.Before(dues[i]) {
			sum.Early++
		}
		late = append(late, float64(first.Sub(dues[i]).Microseconds())/1000)
	}
	sk.mu.Unlock()
	sum.Lateness = percentiles(late)
	if haveUsage {
		after, _ := fetchUsage(client, apiURL)
		d := after.Sub(before)
		f := float64(want)
		sum.PerTask = &struct {
			DDBWRU            float64 `json:"ddb_wru"`
			DDBRRU            float64 `json:"ddb_rru"`
			SQSRequests       float64 `json:"sqs_requests"`
			LambdaInvocations float64 `json:"lambda_invocations"`
			APIRequests       float64 `json:"api_requests"`
		}{d.DynamoDBWRU / f, d.DynamoDBRRU / f, float64(d.SQSRequests) / f, float64(d.TotalInvocations()) / f, float64(d.APIRequests) / f}
		b := cost.List.PerMillion(d, want)
		sum.USDPerMillion = round(b.Total, 4)
		sum.USDBreakdown = &b
		sum.PricesAsOf = cost.List.Region + " " + cost.List.AsOf
	}
	return sum, nil
}

func round(v float64, digits int) float64 {
	p := 1.0
	for i := 0; i < digits; i++ {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

func create(c *http.Client, apiURL, tenant string, body []byte) (string, error) {
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequest(http.MethodPost, strings.TrimRight(apiURL, "/")+"/v1/tasks", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer dev-"+tenant)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			if attempt < 3 {
				time.Sleep(time.Duration(200<<attempt) * time.Millisecond)
				continue
			}
			return "", err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK {
			var v struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(b, &v); err != nil || v.ID == "" {
				return "", fmt.Errorf("create: bad response %s", b)
			}
			return v.ID, nil
		}
		if (resp.StatusCode == 429 || resp.StatusCode >= 500) && attempt < 3 {
			time.Sleep(time.Duration(200<<attempt) * time.Millisecond)
			continue
		}
		return "", fmt.Errorf("create: %s: %s", resp.Status, b)
	}
}

func fetchUsage(c *http.Client, apiURL string) (usage.Snapshot, bool) {
	resp, err := c.Get(strings.TrimRight(apiURL, "/") + "/debug/usage")
	if err != nil {
		return usage.Snapshot{}, false
	}
	defer resp.Body.Close()
	var s usage.Snapshot
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&s) != nil {
		return usage.Snapshot{}, false
	}
	return s, true
}

func percentiles(v []float64) Latency {
	if len(v) == 0 {
		return Latency{}
	}
	sort.Float64s(v)
	at := func(p float64) float64 {
		i := int(p*float64(len(v))+0.5) - 1
		i = max(0, min(i, len(v)-1))
		return v[i]
	}
	return Latency{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: v[len(v)-1]}
}

// progress draws a bar on stderr until the returned stop is called.
func progress(label string, total int, done func() int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	draw := func() {
		d := done()
		width := 30
		fill := 0
		if total > 0 {
			fill = d * width / total
		}
		fmt.Fprintf(os.Stderr, "\r%-8s [%s%s] %d/%d", label, strings.Repeat("#", min(fill, width)), strings.Repeat(".", width-min(fill, width)), d, total)
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				draw()
				fmt.Fprintln(os.Stderr)
				return
			case <-t.C:
				draw()
			}
		}
	}()
	return func() { cancel(); <-finished }
}
