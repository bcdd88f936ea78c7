// Package faults injects AWS-shaped failures between Hourglass and the AWS
// API (in practice the emulator) so that the SDK's retry settings and
// Hourglass's own retries can be proven against them.
//
// A Proxy is an http.Handler that forwards every request to an upstream
// endpoint and, per operation and at set rates, instead
//
//   - answers 400 ThrottlingException or ProvisionedThroughputExceededException
//     in the error shape of the operation's protocol (JSON for DynamoDB and
//     SQS, XML for query-protocol services),
//   - answers 500 InternalServerError,
//   - adds latency before forwarding, or
//   - forwards the request and then drops the connection without an answer:
//     the "may have succeeded" case, where the write was applied but the
//     caller cannot know it, or
//   - answers 503 ServiceUnavailable without forwarding: with rate 1 on one
//     service, that service is down (the outage run, scripts/outage).
//
// The operation comes from the X-Amz-Target header (DynamoDB_20120810.PutItem,
// AmazonSQS.ReceiveMessage, AWSEvents.PutEvents) or, for the query protocol,
// the form field Action. A rule's Op may also name a whole service
// ("dynamodb", "sqs", "eventbridge"; see Service), so that one emulator
// process behind one proxy can lose one of its services and keep the others. scripts/faultproxy runs a Proxy as a program and the
// chaos run (scripts/chaos) puts one in front of its emulator.
//
// What the proxy answers itself carries, for DynamoDB calls, the X-Amz-Crc32
// header DynamoDB puts on every response: the SDK checks each DynamoDB body
// against that header and takes a missing one for a checksum of 0, so an
// answer without it reads as corrupt (a "response did not match expected
// checksum" warning on every injected fault).
package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is a kind of fault.
type Kind string

// The faults a Proxy injects.
const (
	// Throttle answers 400 ThrottlingException (SQS: RequestThrottled in the
	// query-compatible header).
	Throttle Kind = "throttle"
	// Provisioned answers 400 ProvisionedThroughputExceededException.
	Provisioned Kind = "provisioned"
	// ServerError answers 500 InternalServerError.
	ServerError Kind = "500"
	// Latency delays the request by up to Rule.Delay, then forwards it.
	Latency Kind = "latency"
	// DropAfter forwards the request, waits for the upstream's answer (so
	// the operation was applied), then closes the connection without
	// answering.
	DropAfter Kind = "drop-after"
	// Unavailable answers 503 ServiceUnavailable without forwarding: the
	// operation was not applied. At rate 1 on a service it is an outage.
	Unavailable Kind = "unavailable"
)

// Kinds lists every fault kind.
var Kinds = []Kind{Throttle, Provisioned, ServerError, Latency, DropAfter, Unavailable}

// The services a Rule's Op can name as a whole.
const (
	ServiceDynamoDB    = "dynamodb"
	ServiceSQS         = "sqs"
	ServiceEventBridge = "eventbridge"
)

// sqsActions are the SQS operations a query-protocol request may name in
// Action; EventBridge's query-less JSON protocol always sets X-Amz-Target.
var sqsActions = map[string]bool{
	"SendMessage": true, "SendMessageBatch": true, "ReceiveMessage": true, "DeleteMessage": true,
	"DeleteMessageBatch": true, "ChangeMessageVisibility": true, "ChangeMessageVisibilityBatch": true,
	"GetQueueUrl": true, "GetQueueAttributes": true, "SetQueueAttributes": true, "CreateQueue": true,
	"DeleteQueue": true, "PurgeQueue": true, "ListQueues": true,
}

// Service names the AWS service of a request whose operation is op (as
// returned by Operation): ServiceDynamoDB, ServiceSQS, ServiceEventBridge,
// or "" for any other. JSON protocols say it in X-Amz-Target's prefix; a
// query-protocol SQS call is known by its Action or by its queue-URL path
// (/<account>/<queue>).
func Service(r *http.Request, op string) string {
	switch {
	case strings.HasPrefix(op, "DynamoDB_"):
		return ServiceDynamoDB
	case strings.HasPrefix(op, "AmazonSQS."):
		return ServiceSQS
	case strings.HasPrefix(op, "AWSEvents."):
		return ServiceEventBridge
	case sqsActions[op]:
		return ServiceSQS
	}
	if op == "" && r != nil {
		if parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/"); len(parts) == 2 && len(parts[0]) == 12 {
			if _, err := strconv.ParseUint(parts[0], 10, 64); err == nil {
				return ServiceSQS
			}
		}
	}
	return ""
}

func isService(s string) bool {
	return s == ServiceDynamoDB || s == ServiceSQS || s == ServiceEventBridge
}

// Rule injects one kind of fault into the operations it matches.
type Rule struct {
	// Op matches operations: "*" (all), a service prefix ending in "*"
	// ("DynamoDB_20120810.*", "AmazonSQS.*"), a full target
	// ("AmazonSQS.SendMessageBatch"), a bare operation name ("PutItem"), or
	// a whole service by the name Service gives it ("dynamodb", "sqs",
	// "eventbridge"), whatever its protocol.
	Op   string
	Kind Kind
	// Rate is the probability, 0 to 1, that a matching request gets the
	// fault.
	Rate float64
	// Delay is the longest added latency for Latency (uniform from 0;
	// default 200ms).
	Delay time.Duration
	// Max bounds how many faults the rule injects (0: no bound), so a test
	// can fail exactly the first attempt of a call.
	Max int64
}

// Matches reports whether the rule applies to operation op (as returned by
// Operation). A rule naming a service matches only through MatchesRequest.
func (r Rule) Matches(op string) bool {
	if isService(r.Op) {
		return Service(nil, op) == r.Op
	}
	switch {
	case r.Op == "*" || r.Op == op:
		return true
	case strings.HasSuffix(r.Op, "*"):
		return strings.HasPrefix(op, strings.TrimSuffix(r.Op, "*"))
	}
	_, name, ok := strings.Cut(op, ".")
	return ok && name == r.Op
}

// MatchesRequest reports whether the rule applies to request r, whose
// operation is op: as Matches, and a service-named Op also matches by the
// request's path (see Service).
func (r Rule) MatchesRequest(req *http.Request, op string) bool {
	if isService(r.Op) {
		return Service(req, op) == r.Op
	}
	return r.Matches(op)
}

// ParseRules reads rules written as "kind:rate[:op[:delay]]" separated by
// commas, e.g. "throttle:0.05:DynamoDB_20120810.*,latency:0.1:*:300ms".
// op defaults to "*".
func ParseRules(spec string) ([]Rule, error) {
	var rules []Rule
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		f := strings.Split(part, ":")
		if len(f) < 2 || len(f) > 4 {
			return nil, fmt.Errorf("fault rule %q: want kind:rate[:op[:delay]]", part)
		}
		r := Rule{Kind: Kind(f[0]), Op: "*"}
		if !validKind(r.Kind) {
			return nil, fmt.Errorf("fault rule %q: unknown kind %q (one of %v)", part, f[0], Kinds)
		}
		rate, err := strconv.ParseFloat(f[1], 64)
		if err != nil || rate < 0 || rate > 1 {
			return nil, fmt.Errorf("fault rule %q: rate %q is not a number from 0 to 1", part, f[1])
		}
		r.Rate = rate
		if len(f) >= 3 && f[2] != "" {
			r.Op = f[2]
		}
		if len(f) == 4 {
			if r.Delay, err = time.ParseDuration(f[3]); err != nil || r.Delay < 0 {
				return nil, fmt.Errorf("fault rule %q: delay %q is not a duration", part, f[3])
			}
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func validKind(k Kind) bool {
	for _, v := range Kinds {
		if v == k {
			return true
		}
	}
	return false
}

// Operation names the AWS operation of a request: the X-Amz-Target header
// (JSON protocols), else "<Action>" from the query-protocol form body, else
// "". body is the request body, already read.
func Operation(r *http.Request, body []byte) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		return t
	}
	if a := r.URL.Query().Get("Action"); a != "" {
		return a
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if v, err := url.ParseQuery(string(body)); err == nil {
			return v.Get("Action")
		}
	}
	return ""
}

// Proxy forwards requests to an upstream AWS endpoint, injecting faults.
type Proxy struct {
	upstream  *url.URL
	transport http.RoundTripper

	mu    sync.Mutex
	rules []Rule
	hits  []int64 // faults injected per rule
	rnd   *rand.Rand

	injected atomic.Int64
	forwards atomic.Int64
	byKind   sync.Map // Kind → *atomic.Int64
	// OnFault, when set, is called for every injected fault (for logs).
	OnFault func(op string, k Kind)
}

// New returns a Proxy to upstream (e.g. "http://127.0.0.1:4580") with rules.
// seed makes the fault sequence reproducible for a given request order.
func New(upstream string, rules []Rule, seed uint64) (*Proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("faults: upstream %q is not a URL", upstream)
	}
	return &Proxy{
		upstream:  u,
		transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
		rules:     append([]Rule(nil), rules...),
		hits:      make([]int64, len(rules)),
		rnd:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), //nolint:gosec // fault choice needs reproducible, not secret, randomness
	}, nil
}

// SetRules replaces the rules (nil: forward everything untouched).
func (p *Proxy) SetRules(rules []Rule) {
	p.mu.Lock()
	p.rules = append([]Rule(nil), rules...)
	p.hits = make([]int64, len(rules))
	p.mu.Unlock()
}

// Injected returns how many faults the proxy has injected (latency
// included).
func (p *Proxy) Injected() int64 { return p.injected.Load() }

// Forwarded returns how many requests reached the upstream.
func (p *Proxy) Forwarded() int64 { return p.forwards.Load() }

// Counts returns the injected faults by kind.
func (p *Proxy) Counts() map[Kind]int64 {
	out := map[Kind]int64{}
	p.byKind.Range(func(k, v any) bool {
		out[k.(Kind)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// Close closes the proxy's idle upstream connections.
func (p *Proxy) Close() {
	if t, ok := p.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// pick chooses the fault for req, whose operation is op: each matching rule
// is tried in order with its rate; the first hit wins.
func (p *Proxy) pick(req *http.Request, op string) (Rule, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, r := range p.rules {
		if r.Rate > 0 && (r.Max == 0 || p.hits[i] < r.Max) && r.MatchesRequest(req, op) && p.rnd.Float64() < r.Rate {
			p.hits[i]++
			if r.Kind == Latency {
				d := r.Delay
				if d <= 0 {
					d = 200 * time.Millisecond
				}
				r.Delay = time.Duration(p.rnd.Int64N(int64(d) + 1))
			}
			return r, true
		}
	}
	return Rule{}, false
}

func (p *Proxy) count(op string, k Kind) {
	p.injected.Add(1)
	v, _ := p.byKind.LoadOrStore(k, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	if p.OnFault != nil {
		p.OnFault(op, k)
	}
}

// ServeHTTP forwards r upstream, or injects a fault.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		badGateway(w, r, "faults: read request: "+err.Error())
		return
	}
	op := Operation(r, body)
	rule, hit := p.pick(r, op)
	if hit {
		p.count(op, rule.Kind)
		switch rule.Kind {
		case Throttle, Provisioned, ServerError, Unavailable:
			writeError(w, r, rule.Kind)
			return
		case Latency:
			t := time.NewTimer(rule.Delay)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
	resp, err := p.forward(r, body)
	if err != nil {
		badGateway(w, r, "faults: upstream: "+err.Error())
		return
	}
	defer func() { _ = resp.Body.Close() }()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		badGateway(w, r, "faults: upstream body: "+err.Error())
		return
	}
	if hit && rule.Kind == DropAfter {
		drop(w)
		return
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
}

func (p *Proxy) forward(r *http.Request, body []byte) (*http.Response, error) {
	u := *p.upstream
	u.Path = strings.TrimRight(p.upstream.Path, "/") + r.URL.Path
	u.RawQuery = r.URL.RawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	out.Header = r.Header.Clone()
	out.Host = r.Host // SigV4 signed the original Host
	out.ContentLength = int64(len(body))
	p.forwards.Add(1)
	return p.transport.RoundTrip(out)
}

// drop closes the client connection without an answer, with a TCP reset
// where the platform allows, as a crashed or partitioned endpoint would.
func drop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// HTTP/2 or a recorder: abort the handler, which resets the stream.
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// writeError answers in the error shape the request's protocol expects.
func writeError(w http.ResponseWriter, r *http.Request, k Kind) {
	code, status, msg := "ThrottlingException", http.StatusBadRequest, "Rate exceeded (injected by faults)"
	switch k {
	case Provisioned:
		code, msg = "ProvisionedThroughputExceededException", "The level of configured provisioned throughput for the table was exceeded (injected by faults)"
	case ServerError:
		code, status, msg = "InternalServerError", http.StatusInternalServerError, "Internal server error (injected by faults)"
	case Unavailable:
		code, status, msg = "ServiceUnavailable", http.StatusServiceUnavailable, "Service unavailable (injected by faults)"
	}
	target := r.Header.Get("X-Amz-Target")
	if target == "" {
		// Query protocol: an XML ErrorResponse.
		w.Header().Set("Content-Type", "text/xml")
		answer(w, r, status, fmt.Appendf(nil, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>faults</RequestId></ErrorResponse>`, code, msg))
		return
	}
	namespace := "com.amazonaws.dynamodb.v20120810"
	if strings.HasPrefix(target, "AmazonSQS.") {
		namespace = "com.amazonaws.sqs"
		// SQS speaks JSON with query-compatible error codes.
		qcode := map[string]string{"ThrottlingException": "RequestThrottled", "ProvisionedThroughputExceededException": "RequestThrottled", "InternalServerError": "InternalError", "ServiceUnavailable": "ServiceUnavailable"}[code]
		w.Header().Set("X-Amzn-Query-Error", qcode+";Sender")
	} else if !strings.HasPrefix(target, "DynamoDB_") {
		namespace = strings.SplitN(target, ".", 2)[0]
	}
	body, _ := json.Marshal(map[string]string{"__type": namespace + "#" + code, "message": msg}) // strings only: cannot fail
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-ErrorType", code)
	answer(w, r, status, body)
}

// badGateway answers 502 with msg, for a request the proxy could not forward.
func badGateway(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	answer(w, r, http.StatusBadGateway, []byte(msg+"\n"))
}

// answer writes an answer of the proxy's own making. For a DynamoDB call it
// adds the CRC32 of the body in X-Amz-Crc32, as DynamoDB does on every
// response, errors included: the SDK validates every DynamoDB body against
// that header when it closes it, and without it expects 0.
func answer(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_") {
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) //nolint:gosec // the fault proxy's own error bodies (plain text or AWS JSON) for SDK clients, never rendered as HTML
}
