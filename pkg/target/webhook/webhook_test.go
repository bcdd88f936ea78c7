package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/target"
)

var testNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// sink is an httptest server on 127.0.0.1 and an executor allowed to reach it.
type sink struct {
	srv  *httptest.Server
	exec *Executor
	clk  *clock.Manual
}

func newSink(t *testing.T, h http.HandlerFunc) *sink {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	clk := clock.NewManual(testNow)
	exec := setup(t, Config{Allow: []string{srv.Listener.Addr().String()}, Clock: clk})
	return &sink{srv: srv, exec: exec, clk: clk}
}

func (s *sink) invoke(t *testing.T, path string, extra map[string]any) (target.Result, error) {
	t.Helper()
	fields := map[string]any{"url": s.srv.URL + path}
	for k, v := range extra {
		fields[k] = v
	}
	return s.exec.Execute(context.Background(), target.Invocation{
		TaskID:         "tsk_123",
		Tenant:         "tenant-a",
		Attempt:        2,
		IdempotencyKey: "idem-abc",
		DueAt:          testNow,
		Payload:        json.RawMessage(`{"order":42}`),
		Spec:           specJSON(t, fields),
		Delivery: target.Delivery{MessageID: "msg-1", Origin: "requeue:dispatch",
			ReceivedAt: testNow.Add(-1500 * time.Millisecond), VisibleUntil: testNow.Add(28500 * time.Millisecond)},
	})
}

func TestExecuteSuccessSignsAndSetsHeaders(t *testing.T) {
	t.Parallel()
	type seen struct {
		method string
		header http.Header
		body   []byte
	}
	got := make(chan seen, 1)
	s := newSink(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.Header.Clone(), b}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "  accepted \n")
	})
	res, err := s.invoke(t, "/hook?q=1", map[string]any{
		"headers": map[string]string{"X-Foo": "bar", "authorization": "Bearer t", "User-Agent": "custom/1"},
	})
	require.NoError(t, err)
	require.Equal(t, target.Result{StatusCode: http.StatusCreated, Summary: "accepted"}, res)

	r := <-got
	require.Equal(t, http.MethodPost, r.method)
	require.JSONEq(t, `{"order":42}`, string(r.body))
	h := r.header
	assert.Equal(t, "application/json", h.Get("Content-Type"))
	assert.Equal(t, "tsk_123", h.Get("Hourglass-Task-Id"))
	assert.Equal(t, "2", h.Get("Hourglass-Attempt"))
	assert.Equal(t, "idem-abc", h.Get("Idempotency-Key"))
	assert.Equal(t, "1773500966", h.Get("webhook-timestamp"))
	assert.Equal(t, MessageID("tenant-a", "idem-abc"), h.Get("webhook-id"))
	assert.Regexp(t, `^msg_[0-9a-f]{32}$`, h.Get("webhook-id"))
	assert.Empty(t, h.Get("Hourglass-Signature"), "the old signature header is gone")
	assert.Empty(t, h.Get("Hourglass-Timestamp"))
	assert.Equal(t, "msg-1", h.Get("Hourglass-Message-Id"))
	assert.Equal(t, "requeue:dispatch", h.Get("Hourglass-Origin"))
	assert.Equal(t, "1773500964500", h.Get("Hourglass-Received-At"))
	assert.Equal(t, "1773500994500", h.Get("Hourglass-Visible-Until"))
	assert.Equal(t, "bar", h.Get("X-Foo"))
	assert.Equal(t, "Bearer t", h.Get("Authorization"))
	assert.Equal(t, "custom/1", h.Get("User-Agent"))

	id, ts, sig := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	require.NoError(t, Verify(testKey("tenant-a"), id, ts, r.body, sig, testNow.Add(10*time.Second), time.Minute))
	require.ErrorIs(t, Verify(testKey("tenant-b"), id, ts, r.body, sig, testNow, time.Minute), ErrBadSignature,
		"another tenant's secret must not verify")
}

func TestExecuteUsesSecretFunc(t *testing.T) {
	t.Parallel()
	var sig, ts, id atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sig.Store(r.Header.Get("webhook-signature"))
		ts.Store(r.Header.Get("webhook-timestamp"))
		id.Store(r.Header.Get("webhook-id"))
	}))
	t.Cleanup(srv.Close)
	secrets := map[string][][]byte{"t1": {[]byte("one")}, "t2": nil, "t3": {[]byte("three"), nil}}
	e := setup(t, Config{
		Allow: []string{srv.Listener.Addr().String()},
		Secret: func(_ context.Context, tenant string) ([][]byte, error) {
			if tenant == "store-down" {
				return nil, errors.New("GetItem: context deadline exceeded")
			}
			s, ok := secrets[tenant]
			if !ok {
				return nil, target.Permanent(errors.New("no such tenant"))
			}
			return s, nil
		},
	})
	inv := target.Invocation{TaskID: "x", Tenant: "t1", Attempt: 1, Payload: json.RawMessage(`[1]`), Spec: specJSON(t, map[string]any{"url": srv.URL})}
	_, err := e.Execute(context.Background(), inv)
	require.NoError(t, err)
	require.NoError(t, Verify([]byte("one"), id.Load().(string), ts.Load().(string), []byte(`[1]`), sig.Load().(string), time.Now(), time.Minute))

	inv.Tenant = "t2"
	_, err = e.Execute(context.Background(), inv)
	require.Error(t, err, "no secret must not send an unsigned request")
	inv.Tenant = "t3"
	_, err = e.Execute(context.Background(), inv)
	require.Error(t, err, "an empty key must not sign")
	inv.Tenant = "nobody"
	_, err = e.Execute(context.Background(), inv)
	require.True(t, target.IsPermanent(err))
	assert.False(t, target.IsNotAttempted(err), "a permanent refusal fails the task, it is not redelivered")
	// A secret our store could not read: the target is not called, and the
	// worker charges no attempt for it.
	inv.Tenant = "store-down"
	_, err = e.Execute(context.Background(), inv)
	require.True(t, target.IsNotAttempted(err), "%v", err)
	assert.False(t, target.IsPermanent(err))
}

func TestExecuteStatusMapping(t *testing.T) {
	t.Parallel()
	s := newSink(t, func(w http.ResponseWriter, r *http.Request) {
		if ra := r.URL.Query().Get("ra"); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		code := 0
		_, _ = io.WriteString(io.Discard, "")
		for _, c := range r.URL.Path[1:] {
			code = code*10 + int(c-'0')
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, http.StatusText(code))
	})
	date := testNow.Add(90 * time.Second).Format(http.TimeFormat)
	tests := []struct {
		path       string
		ok         bool
		permanent  bool
		retryAfter time.Duration // -1: no RetryAfterError
	}{
		{"/200", true, false, -1},
		{"/204", true, false, -1},
		{"/299", true, false, -1},
		{"/301", false, true, -1},
		{"/304", false, true, -1},
		{"/400", false, true, -1},
		{"/401", false, true, -1},
		{"/403", false, true, -1},
		{"/404", false, true, -1},
		{"/410", false, true, -1},
		{"/422", false, true, -1},
		{"/408", false, false, -1},
		{"/425", false, false, -1},
		{"/429", false, false, -1},
		{"/429?ra=7", false, false, 7 * time.Second},
		{"/429?ra=junk", false, false, -1},
		{"/429?ra=999999999999999999999", false, false, MaxRetryAfter},
		{"/503?ra=" + strings.ReplaceAll(date, " ", "%20"), false, false, 90 * time.Second},
		{"/503?ra=0", false, false, 0},
		{"/500?ra=5", false, false, -1},
		{"/500", false, false, -1},
		{"/502", false, false, -1},
		{"/504", false, false, -1},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			res, err := s.invoke(t, tt.path, nil)
			code := 0
			for _, c := range strings.SplitN(tt.path, "?", 2)[0][1:] {
				code = code*10 + int(c-'0')
			}
			require.Equal(t, code, res.StatusCode)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, tt.permanent, target.IsPermanent(err), "%v", err)
			var se *StatusError
			require.ErrorAs(t, err, &se)
			require.Equal(t, code, se.StatusCode)
			var ra *target.RetryAfterError
			if tt.retryAfter < 0 {
				require.False(t, errors.As(err, &ra), "%v", err)
				return
			}
			require.ErrorAs(t, err, &ra)
			require.Equal(t, tt.retryAfter, ra.After)
		})
	}
}

func TestExecuteDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var landed atomic.Int64
	s := newSink(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/landing" {
			landed.Add(1)
			return
		}
		http.Redirect(w, r, "/landing", http.StatusTemporaryRedirect)
	})
	res, err := s.invoke(t, "/start", nil)
	require.Error(t, err)
	require.True(t, target.IsPermanent(err), "%v", err)
	require.Equal(t, http.StatusTemporaryRedirect, res.StatusCode)
	require.Zero(t, landed.Load(), "the redirect must not be followed")
}

func TestExecuteTimeoutIsRetryable(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	s := newSink(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select { // hang until the client gives up (or the test ends)
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	start := time.Now()
	_, err := s.invoke(t, "/", map[string]any{"timeout_ms": 200})
	require.Error(t, err)
	require.False(t, target.IsPermanent(err))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second, "the per-target timeout must bound the call")
}

func TestExecuteCapsResponseBody(t *testing.T) {
	t.Parallel()
	const bodySize = 64 << 20 // far more than MaxResponseRead and any socket buffers
	complete := make(chan bool, 1)
	s := newSink(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		chunk := []byte(strings.Repeat("é", 16<<10)) // 2-byte runes, 32 KiB
		for sent := 0; sent < bodySize; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				complete <- false
				return
			}
		}
		complete <- true
	})
	res, err := s.invoke(t, "/", nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, strings.Repeat("é", MaxSummary/2)+"…", res.Summary)
	select {
	case full := <-complete:
		require.False(t, full, "the executor must stop reading at MaxResponseRead and drop the connection")
	case <-time.After(30 * time.Second):
		t.Fatal("the server never noticed the client leaving")
	}
}

func TestExecuteNetworkErrorIsRetryable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	addr, url := srv.Listener.Addr().String(), srv.URL
	srv.Close() // nothing listens any more
	e := setup(t, Config{Allow: []string{addr}})
	_, err := e.Execute(context.Background(), target.Invocation{Tenant: "t", Payload: json.RawMessage(`{}`), Spec: specJSON(t, map[string]any{"url": url})})
	require.Error(t, err)
	require.False(t, target.IsPermanent(err), "%v", err)
}

func TestExecuteHTTPSThroughResolver(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, r.Host)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := strings.Cut(srv.Listener.Addr().String(), ":")
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	inv := func(host string) target.Invocation {
		return target.Invocation{Tenant: "t", Payload: json.RawMessage(`{}`), Spec: specJSON(t, map[string]any{"url": "https://" + host + ":" + port + "/"})}
	}

	t.Run("allow-listed address", func(t *testing.T) {
		t.Parallel()
		res := newFakeResolver("example.com", "127.0.0.1")
		e := setup(t, Config{Allow: []string{"127.0.0.1:" + port}, Resolver: res, TLSConfig: &tls.Config{RootCAs: roots}})
		got, err := e.Execute(context.Background(), inv("example.com"))
		require.NoError(t, err)
		require.Equal(t, "example.com:"+port, got.Summary, "TLS and Host must use the URL's name, the socket the resolved address")
		require.Positive(t, res.calls.Load())
	})
	t.Run("rebinding to loopback is refused", func(t *testing.T) {
		t.Parallel()
		before := hits.Load()
		res := newFakeResolver("example.com", "127.0.0.1")
		e := setup(t, Config{Resolver: res, TLSConfig: &tls.Config{RootCAs: roots}})
		inv := inv("example.com")
		require.Empty(t, e.Validate(inv.Spec), "a name passes validation; its addresses are checked when dialled")
		_, err := e.Execute(context.Background(), inv)
		require.True(t, target.IsPermanent(err), "%v", err)
		var refused *RefusedError
		require.ErrorAs(t, err, &refused)
		require.Equal(t, "127.0.0.1", refused.Addr.String())
		require.Equal(t, before, hits.Load(), "a refused destination must never be contacted")
	})
	t.Run("metadata endpoint is refused", func(t *testing.T) {
		t.Parallel()
		e := setup(t, Config{Resolver: newFakeResolver("example.com", "169.254.169.254")})
		_, err := e.Execute(context.Background(), inv("example.com"))
		var refused *RefusedError
		require.ErrorAs(t, err, &refused)
		require.True(t, target.IsPermanent(err))
	})
}

func TestExecuteIgnoresProxyEnvironment(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	tr, ok := e.client.Transport.(*http.Transport)
	require.True(t, ok)
	require.Nil(t, tr.Proxy, "HTTP(S)_PROXY must not route around the guard")
	require.NotNil(t, tr.DialContext)
	require.Nil(t, tr.DialTLSContext, "TLS must run over the guarded dial")
}

func TestExecuteInvalidInputIsPermanent(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	for name, inv := range map[string]target.Invocation{
		"bad spec":     {Spec: json.RawMessage(`{"url":"https://127.0.0.1/"}`), Payload: json.RawMessage(`{}`)},
		"not json":     {Spec: json.RawMessage(`nope`), Payload: json.RawMessage(`{}`)},
		"bad payload":  {Spec: specJSON(t, map[string]any{"url": "https://example.com/"}), Payload: json.RawMessage(`{`)},
		"crlf task id": {TaskID: "a\r\nX-Evil: 1", Spec: specJSON(t, map[string]any{"url": "https://example.com/"}), Payload: json.RawMessage(`{}`)},
	} {
		_, err := e.Execute(context.Background(), inv)
		require.True(t, target.IsPermanent(err), "%s: %v", name, err)
	}
}

func TestValidateFields(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	ok := "https://example.com/"
	tests := []struct {
		name  string
		spec  string
		field string // "" with want=false means valid
		bad   bool
	}{
		{"minimal", `{"url":"` + ok + `"}`, "", false},
		{"full", `{"kind":"webhook","url":"` + ok + `","headers":{"X-Foo":"bar","User-Agent":"me"},"timeout_ms":60000}`, "", false},
		{"null headers", `{"url":"` + ok + `","headers":null}`, "", false},
		{"min timeout", `{"url":"` + ok + `","timeout_ms":100}`, "", false},
		{"not an object", `[1]`, "", true},
		{"null", `null`, "", true},
		{"missing url", `{"kind":"webhook"}`, "url", true},
		{"url not string", `{"url":1}`, "url", true},
		{"empty url", `{"url":""}`, "url", true},
		{"unknown field", `{"url":"` + ok + `","method":"GET"}`, "method", true},
		{"case-mismatched field", `{"url":"` + ok + `","URL":"` + ok + `"}`, "URL", true},
		{"timeout too small", `{"url":"` + ok + `","timeout_ms":99}`, "timeout_ms", true},
		{"timeout too large", `{"url":"` + ok + `","timeout_ms":60001}`, "timeout_ms", true},
		{"timeout negative", `{"url":"` + ok + `","timeout_ms":-1}`, "timeout_ms", true},
		{"timeout fraction", `{"url":"` + ok + `","timeout_ms":1.5}`, "timeout_ms", true},
		{"timeout string", `{"url":"` + ok + `","timeout_ms":"10s"}`, "timeout_ms", true},
		{"timeout huge", `{"url":"` + ok + `","timeout_ms":9223372036854775807}`, "timeout_ms", true},
		{"headers not object", `{"url":"` + ok + `","headers":["a"]}`, "headers", true},
		{"header not string", `{"url":"` + ok + `","headers":{"X-A":1}}`, "headers", true},
		{"our signature", `{"url":"` + ok + `","headers":{"webhook-signature":"v1,AA=="}}`, "headers.webhook-signature", true},
		{"our webhook-id", `{"url":"` + ok + `","headers":{"Webhook-Id":"msg_x"}}`, "headers.Webhook-Id", true},
		{"our timestamp", `{"url":"` + ok + `","headers":{"WEBHOOK-TIMESTAMP":"1"}}`, "headers.WEBHOOK-TIMESTAMP", true},
		{"our prefix lower", `{"url":"` + ok + `","headers":{"hourglass-task-id":"x"}}`, "headers.hourglass-task-id", true},
		{"idempotency key", `{"url":"` + ok + `","headers":{"IDEMPOTENCY-KEY":"x"}}`, "headers.IDEMPOTENCY-KEY", true},
		{"content type", `{"url":"` + ok + `","headers":{"Content-Type":"text/plain"}}`, "headers.Content-Type", true},
		{"content length", `{"url":"` + ok + `","headers":{"content-length":"0"}}`, "headers.content-length", true},
		{"host", `{"url":"` + ok + `","headers":{"Host":"internal"}}`, "headers.Host", true},
		{"connection", `{"url":"` + ok + `","headers":{"Connection":"close"}}`, "headers.Connection", true},
		{"transfer-encoding", `{"url":"` + ok + `","headers":{"Transfer-Encoding":"chunked"}}`, "headers.Transfer-Encoding", true},
		{"te", `{"url":"` + ok + `","headers":{"TE":"trailers"}}`, "headers.TE", true},
		{"upgrade", `{"url":"` + ok + `","headers":{"Upgrade":"h2c"}}`, "headers.Upgrade", true},
		{"proxy auth", `{"url":"` + ok + `","headers":{"Proxy-Authorization":"x"}}`, "headers.Proxy-Authorization", true},
		{"keep-alive", `{"url":"` + ok + `","headers":{"Keep-Alive":"1"}}`, "headers.Keep-Alive", true},
		{"bad name", `{"url":"` + ok + `","headers":{"Bad Header":"x"}}`, "headers.Bad Header", true},
		{"crlf value", `{"url":"` + ok + `","headers":{"X-A":"a\r\nX-B: b"}}`, "headers.X-A", true},
		{"nul value", `{"url":"` + ok + `","headers":{"X-A":"a\u0000"}}`, "headers.X-A", true},
		{"C1 NEL value", `{"url":"` + ok + `","headers":{"X-A":"a\u0085b"}}`, "headers.X-A", true},
		{"bidi override value", `{"url":"` + ok + `","headers":{"X-A":"\u202eabc"}}`, "headers.X-A", true},
		{"bidi isolate value", `{"url":"` + ok + `","headers":{"X-A":"a\u2067b"}}`, "headers.X-A", true},
		{"line separator value", `{"url":"` + ok + `","headers":{"X-A":"a\u2028b"}}`, "headers.X-A", true},
		{"tab value", `{"url":"` + ok + `","headers":{"X-A":"a\tb"}}`, "", false},
		{"non-ASCII value", `{"url":"` + ok + `","headers":{"X-A":"café"}}`, "", false},
		{"duplicate by case", `{"url":"` + ok + `","headers":{"X-Foo":"1","x-foo":"2"}}`, "headers.x-foo", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			errs := e.Validate(json.RawMessage(tt.spec))
			if !tt.bad {
				require.Empty(t, errs)
				return
			}
			require.Len(t, errs, 1, "%+v", errs)
			require.Equal(t, tt.field, errs[0].Field)
			require.NotEmpty(t, errs[0].Reason)
		})
	}
}

func TestValidateReportsEveryField(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	errs := e.Validate(json.RawMessage(`{"url":"http://127.0.0.1/","headers":{"Host":"x"},"timeout_ms":0,"extra":true}`))
	fields := make([]string, len(errs))
	for i, fe := range errs {
		fields[i] = fe.Field
	}
	require.Equal(t, []string{"extra", "headers.Host", "timeout_ms", "url"}, fields)
}

func TestNewNeedsASecret(t *testing.T) {
	t.Parallel()
	_, err := New(Config{})
	require.Error(t, err)
	_, err = New(Config{Secret: StaticSecrets([]byte("k"))})
	require.NoError(t, err)
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "", summarize(nil))
	assert.Equal(t, "ok", summarize([]byte(" ok\n")))
	assert.Equal(t, "a\uFFFDb", summarize([]byte("a\xffb")))
	long := strings.Repeat("x", MaxSummary-1) + "é" // the rune straddles the cut
	assert.Equal(t, strings.Repeat("x", MaxSummary-1)+"…", summarize([]byte(long)))
}

func TestSpecMarshalsToAValidTarget(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	b, err := json.Marshal(Spec{Kind: Kind, URL: "https://example.com/h", Headers: map[string]string{"X-A": "1"}, TimeoutMS: 5000})
	require.NoError(t, err)
	require.JSONEq(t, `{"kind":"webhook","url":"https://example.com/h","headers":{"X-A":"1"},"timeout_ms":5000}`, string(b))
	require.Empty(t, e.Validate(b))
}
