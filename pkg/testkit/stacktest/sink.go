package stacktest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/target/webhook"
)

type netipPrefix = netip.Prefix

var parsePrefix = netip.ParsePrefix

// Call is one request the sink received.
type Call struct {
	TaskID  string
	Key     string // Idempotency-Key
	Attempt string
	At      time.Time
	Body    []byte
	// Header is the request's header: webhook-id, webhook-timestamp and
	// webhook-signature among them (see Stack.Verify).
	Header http.Header
}

// Sink is a webhook receiver on 127.0.0.1 that records every call.
type Sink struct {
	URL string
	mu  sync.Mutex
	// Status decides the response code per call (default 204); tests set
	// it to make a target fail.
	status func(c Call) int
	calls  []Call
	// Hold, when set, delays the response (a slow target).
	hold time.Duration
}

// NewSink starts a sink, closed when the test ends.
func NewSink(tb testing.TB) *Sink {
	s := &Sink{}
	srv := httptest.NewServer(s)
	tb.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// SetStatus sets the response code function.
func (s *Sink) SetStatus(f func(c Call) int) { s.mu.Lock(); s.status = f; s.mu.Unlock() }

// SetHold makes every response wait d.
func (s *Sink) SetHold(d time.Duration) { s.mu.Lock(); s.hold = d; s.mu.Unlock() }

// ServeHTTP records the call.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c := Call{TaskID: r.Header.Get("Hourglass-Task-Id"), Key: r.Header.Get("Idempotency-Key"), Attempt: r.Header.Get("Hourglass-Attempt"), At: time.Now(), Body: body,
		Header: r.Header.Clone()}
	// The sink does not know the tenant: tests check signatures with
	// Stack.Verify when needed.
	s.mu.Lock()
	s.calls = append(s.calls, c)
	status, hold := s.status, s.hold
	s.mu.Unlock()
	if hold > 0 {
		time.Sleep(hold)
	}
	code := http.StatusNoContent
	if status != nil {
		code = status(c)
	}
	w.WriteHeader(code)
}

// Calls returns the calls so far for taskID ("" for all).
func (s *Sink) Calls(taskID string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if taskID == "" || c.TaskID == taskID {
			out = append(out, c)
		}
	}
	return out
}

// Verify checks a call's Standard Webhooks signature against every key
// the tenant's secret holds now (current, and previous in its grace
// period), as a receiver holding that secret would.
func (s *Stack) Verify(tenant string, c Call) error {
	sec, err := s.Comps.Signing.Get(context.Background(), tenant)
	if err != nil {
		return err
	}
	h := c.Header
	for _, k := range sec.Keys(time.Now()) {
		err = webhook.Verify(k, h.Get(webhook.HeaderWebhookID), h.Get(webhook.HeaderWebhookTimestamp), c.Body, h.Get(webhook.HeaderWebhookSignature), time.Now(), 0)
		if err == nil {
			return nil
		}
	}
	return err
}
