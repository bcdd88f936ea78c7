package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/client"
	"github.com/hourglass-sched/hourglass/pkg/console"
)

// fakeDeadLetters stands in for GET /v1/tasks?state=FAILED and POST
// /v1/tasks/{id}:retry until those operations are merged; the console
// reaches them only through console.DeadLetters.
type fakeDeadLetters struct {
	mu      sync.Mutex
	failed  []client.Task
	retried []string
	refuse  map[string]bool
	next    string // NextPageToken of the first page
	asked   []string
}

func (f *fakeDeadLetters) ListFailed(_ context.Context, pageToken string) (*client.Page, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, pageToken)
	p := &client.Page{Tasks: append([]client.Task(nil), f.failed...)}
	if pageToken == "" {
		p.NextPageToken = f.next
	}
	return p, nil
}

func (f *fakeDeadLetters) Retry(_ context.Context, id string) (*client.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse[id] {
		return nil, &client.Error{Status: http.StatusConflict, Title: "Conflict", Detail: "task is not FAILED"}
	}
	for i, t := range f.failed {
		if t.ID == id {
			f.failed = append(f.failed[:i], f.failed[i+1:]...)
			f.retried = append(f.retried, id)
			t.State = "SCHEDULED"
			return &t, nil
		}
	}
	return nil, &client.Error{Status: http.StatusNotFound, Title: "Not Found"}
}

var _ console.DeadLetters = (*fakeDeadLetters)(nil)

// setup serves a standalone console (prefix "") whose dead letters are f.
// The API URL answers nothing: these tests touch only pages that need no
// API, or check what the console refuses before calling it.
func setup(t *testing.T, f *fakeDeadLetters) (*httptest.Server, *http.Client) {
	t.Helper()
	h, err := console.New(console.Options{API: "http://127.0.0.1:1", Token: "dev-acme",
		DeadLetters: func(string, *http.Client) console.DeadLetters { return f }})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	return srv, hc
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func get(t *testing.T, hc *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := hc.Get(u)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, hc *http.Client, u string, form url.Values, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestDeadLettersListAndRetry(t *testing.T) {
	t.Parallel()
	f := &fakeDeadLetters{failed: []client.Task{
		{ID: "06h2aaaaaaaaaaaaaaaaaaaaaa", State: "FAILED", AttemptCount: 3, LastError: "HTTP 500 from target"},
		{ID: "06h2bbbbbbbbbbbbbbbbbbbbbb", State: "FAILED", AttemptCount: 3, LastError: "connection refused"},
		{ID: "06h2cccccccccccccccccccccc", State: "FAILED", AttemptCount: 1, LastError: "timeout"},
	}, refuse: map[string]bool{"06h2cccccccccccccccccccccc": true}}
	srv, hc := setup(t, f)

	status, body := get(t, hc, srv.URL+"/dlq")
	require.Equal(t, http.StatusOK, status, body)
	for _, tk := range f.failed {
		assert.Contains(t, body, tk.ID)
		assert.Contains(t, body, tk.LastError)
	}
	assert.Contains(t, body, `aria-label="Select task 06h2aaaaaaaaaaaaaaaaaaaaaa"`, "each checkbox is labelled")
	m := csrfRE.FindStringSubmatch(body)
	require.NotNil(t, m, "the form carries a CSRF token")

	// Selected: one.
	status, body = post(t, hc, srv.URL+"/dlq/retry", url.Values{"csrf": {m[1]}, "id": {"06h2aaaaaaaaaaaaaaaaaaaaaa"}}, nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `id="retried"`)
	assert.Equal(t, []string{"06h2aaaaaaaaaaaaaaaaaaaaaa"}, f.retried)

	// All: the rest; the refused one is reported.
	status, body = post(t, hc, srv.URL+"/dlq/retry", url.Values{"csrf": {m[1]}, "all": {"1"}}, nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, []string{"06h2aaaaaaaaaaaaaaaaaaaaaa", "06h2bbbbbbbbbbbbbbbbbbbbbb"}, f.retried)
	assert.Contains(t, body, `id="retry-failed"`)
	assert.Contains(t, body, "06h2cccccccccccccccccccccc")

	// Nothing selected: a 400 naming the field.
	status, body = post(t, hc, srv.URL+"/dlq/retry", url.Values{"csrf": {m[1]}}, nil)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, "<strong>id</strong>")
}

func TestRefusesForeignHostOriginAndMissingCSRF(t *testing.T) {
	t.Parallel()
	f := &fakeDeadLetters{}
	srv, hc := setup(t, f)
	_, body := get(t, hc, srv.URL+"/schedules") // its create form (the API is down: 502)
	m := csrfRE.FindStringSubmatch(body)
	require.NotNil(t, m)

	// DNS rebinding: a page of evil.example whose name resolves to 127.0.0.1.
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/dlq", nil)
	require.NoError(t, err)
	req.Host = "evil.example:8088"
	resp, err := hc.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode, "foreign Host")

	form := url.Values{"csrf": {m[1]}, "all": {"1"}}
	status, _ := post(t, hc, srv.URL+"/dlq/retry", form, map[string]string{"Sec-Fetch-Site": "cross-site"})
	assert.Equal(t, http.StatusForbidden, status, "cross-site form")
	status, _ = post(t, hc, srv.URL+"/dlq/retry", form, map[string]string{"Origin": "http://evil.example"})
	assert.Equal(t, http.StatusForbidden, status, "foreign Origin")
	status, body = post(t, hc, srv.URL+"/dlq/retry", url.Values{"all": {"1"}}, nil)
	assert.Equal(t, http.StatusForbidden, status, "no CSRF token")
	assert.Contains(t, body, "csrf")
	status, _ = post(t, hc, srv.URL+"/dlq/retry", url.Values{"csrf": {strings.Repeat("0", 64)}, "all": {"1"}}, nil)
	assert.Equal(t, http.StatusForbidden, status, "another session's token")
	assert.Empty(t, f.retried, "nothing refused was run")
}

func TestFormErrorsNameTheField(t *testing.T) {
	t.Parallel()
	srv, hc := setup(t, &fakeDeadLetters{})
	status, body := get(t, hc, srv.URL+"/schedules")
	assert.Equal(t, http.StatusBadGateway, status, "the API does not answer")
	assert.Contains(t, body, "The API did not answer")
	m := csrfRE.FindStringSubmatch(body)
	require.NotNil(t, m)
	status, body = post(t, hc, srv.URL+"/tasks", url.Values{"csrf": {m[1]}, "due_at": {"tomorrow"}, "url": {""}, "payload": {"{nope"}, "labels": {"a"}}, nil)
	assert.Equal(t, http.StatusBadRequest, status)
	for _, field := range []string{"due_at", "url", "payload", "labels"} {
		assert.Contains(t, body, "<strong>"+field+"</strong>", "names %s", field)
	}
	status, body = post(t, hc, srv.URL+"/schedules", url.Values{"csrf": {m[1]}, "expression": {""}, "url": {"http://127.0.0.1:9/"}}, nil)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, "<strong>expression</strong>")
	status, _ = get(t, hc, srv.URL+"/nowhere")
	assert.Equal(t, http.StatusNotFound, status)
	status, _ = get(t, hc, srv.URL+"/static/htmx.min.js")
	assert.Equal(t, http.StatusOK, status, "vendored htmx")
	status, _ = get(t, hc, srv.URL+"/static/uPlot.iife.min.js")
	assert.Equal(t, http.StatusOK, status, "vendored uPlot")
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]console.Options{
		"no API":         {Token: "x"},
		"bad API":        {API: "ftp://x", Token: "x"},
		"no credentials": {API: "http://127.0.0.1:8080"},
		"bad prefix":     {API: "http://127.0.0.1:8080", Token: "x", Prefix: "console/"},
	} {
		_, err := console.New(o)
		assert.Error(t, err, name)
	}
}

func TestListenAndServeLoopbackOnly(t *testing.T) {
	t.Parallel()
	h, err := console.New(console.Options{API: "http://127.0.0.1:1", Token: "dev-acme"})
	require.NoError(t, err)
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:8088"} {
		assert.Error(t, console.ListenAndServe(context.Background(), addr, h, nil), addr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- console.ListenAndServe(ctx, "127.0.0.1:0", h, func(u string) { urls <- u }) }()
	u := <-urls
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	status, body := get(t, hc, u+"static/console.css")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "Hourglass console")
	cancel()
	assert.NoError(t, <-done)
}

// TestNextPageLink: a page token (base64, with = + /) survives into the
// next-page link once, encoded once, and comes back to the API as it was.
func TestNextPageLink(t *testing.T) {
	t.Parallel()
	f := &fakeDeadLetters{failed: []client.Task{{ID: "06h2aaaaaaaaaaaaaaaaaaaaaa", State: "FAILED"}}, next: "a=b+c/=="}
	srv, hc := setup(t, f)
	_, body := get(t, hc, srv.URL+"/dlq")
	assert.Contains(t, body, `<a href="/dlq?page_token=a%3Db%2Bc%2F%3D%3D">Next page</a>`)
	status, _ := get(t, hc, srv.URL+"/dlq?page_token=a%3Db%2Bc%2F%3D%3D")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, []string{"", "a=b+c/=="}, f.asked)
}
