// Package client is a typed Go client for Hourglass's HTTP API: every
// route (tasks and recurring schedules), SigV4 signing (API Gateway with IAM authorization) or the
// development token, retries with backoff on 429 and 5xx honouring
// Retry-After, and an iterator over a listing's pages. A 501 is not
// retried: listing on a deployment without the list index is
// ErrListingNotEnabled.
//
// A create is retried on 5xx and network errors only when it carries an
// Idempotency-Key (then a retry after a lost answer returns the task the
// first attempt created instead of creating a second); without one, only
// 429s (which wrote nothing) are retried. A key costs the server one more
// write (the key's record, in a transaction), so it is the caller's choice.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Options configures a Client. Set one of DevTenant (development mode),
// Token (any bearer token: a JWT, or "dev-<tenant>") or Credentials and
// Region (SigV4).
type Options struct {
	// HTTPClient sends the requests (default: a client with a 30 s timeout).
	HTTPClient *http.Client
	// DevTenant sends "Authorization: Bearer dev-<tenant>" (make dev only).
	DevTenant string
	// Token sends "Authorization: Bearer <Token>" (a JWT deployment's
	// token, or "dev-<tenant>" in development).
	Token string
	// Credentials and Region sign each request with SigV4 for service
	// "execute-api", as API Gateway's IAM authorization expects.
	Credentials aws.CredentialsProvider
	Region      string
	// MaxRetries after the first attempt on 429, 5xx and network errors
	// (default 4; negative: none). MinBackoff and MaxBackoff bound the
	// exponential backoff with jitter (defaults 200 ms and 10 s); a
	// Retry-After header takes precedence, up to MaxBackoff.
	MaxRetries             int
	MinBackoff, MaxBackoff time.Duration
	// OnRetry, when set, is told of each failed attempt about to be
	// retried: its status (0: no answer) and the wait (load tools count
	// 429s with it).
	OnRetry func(status int, wait time.Duration)
	// RetryUnkeyedCreates retries creates sent without an Idempotency-Key
	// on 5xx and network errors too, accepting that a retry may create a
	// second task when the first was written but its answer lost. Load
	// tools that count duplicates use it; applications should send a key.
	RetryUnkeyedCreates bool
}

// Client calls one Hourglass API.
type Client struct {
	base   *url.URL
	hc     *http.Client
	opts   Options
	signer *v4.Signer
}

// New returns a client for the API at baseURL (e.g. "http://127.0.0.1:8080"
// or an API Gateway stage URL).
func New(baseURL string, opts Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("hourglass client: base URL %q must be http(s)://host[/stage]", baseURL)
	}
	n := 0
	for _, set := range []bool{opts.DevTenant != "", opts.Token != "", opts.Credentials != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, errors.New("hourglass client: set one of DevTenant, Token or Credentials")
	}
	if opts.Credentials != nil && opts.Region == "" {
		return nil, errors.New("hourglass client: SigV4 needs a Region")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = 4
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 200 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	c := &Client{base: u, hc: opts.HTTPClient, opts: opts}
	if opts.Credentials != nil {
		c.signer = v4.NewSigner()
	}
	return c, nil
}

// Error is a non-2xx answer: the API's RFC 9457 problem document.
type Error struct {
	Status     int           `json:"status"`
	Type       string        `json:"type"`
	Title      string        `json:"title"`
	Detail     string        `json:"detail,omitempty"`
	Errors     []FieldError  `json:"errors,omitempty"`
	RetryAfter time.Duration `json:"-"`
}

// FieldError names one invalid field.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// Error summarises the problem.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hourglass: %d %s", e.Status, e.Title)
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	return b.String()
}

// IsNotFound reports a 404 (a missing task, or another tenant's).
func IsNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

// IsConflict reports a 409 (the task's state forbids the change).
func IsConflict(err error) bool { return statusOf(err) == http.StatusConflict }

// IsPreconditionFailed reports a 412 (a schedule change's IfVersion was
// not the schedule's version).
func IsPreconditionFailed(err error) bool { return statusOf(err) == http.StatusPreconditionFailed }

// ErrListingNotEnabled is what List and All return (wrapping the API's
// *Error, a 501) when the deployment does not write the list index:
// listing needs HOURGLASS_LIST_INDEX=1 (the CDK stack's ListIndex prop),
// which costs one more DynamoDB write unit per task, and then lists the
// tasks created from then on. Retrying does not help.
var ErrListingNotEnabled = errors.New("hourglass: listing tasks is not enabled in this deployment (HOURGLASS_LIST_INDEX is off)")

func statusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Target is where a task is sent; Kind selects the executor ("webhook",
// "sqs"), and the other fields are the kind's (url, headers, timeout_ms,
// queue_url, message_group_id, ...).
type Target map[string]any

// Webhook is a webhook target.
func Webhook(url string) Target { return Target{"kind": "webhook", "url": url} }

// Retry is a retry policy; zero fields take the server's defaults.
type Retry struct {
	MaxAttempts      int   `json:"max_attempts,omitempty"`
	InitialBackoffMs int64 `json:"initial_backoff_ms,omitempty"`
	MaxBackoffMs     int64 `json:"max_backoff_ms,omitempty"`
}

// CreateTask is a task to create.
type CreateTask struct {
	DueAt          time.Time         `json:"due_at"`
	Target         Target            `json:"target"`
	Payload        any               `json:"payload,omitempty"`
	Retry          *Retry            `json:"retry,omitempty"`
	IdempotencyKey string            `json:"idempotency_key,omitempty"` // sent to the target
	Labels         map[string]string `json:"labels,omitempty"`
	// LimitKey names the limit (PutLimit) the task's target calls count
	// against.
	LimitKey string `json:"limit_key,omitempty"`
}

// Attempt is one finished execution attempt.
type Attempt struct {
	N          int       `json:"n"`
	StartedAt  time.Time `json:"started_at"`
	EndedAt    time.Time `json:"ended_at"`
	Outcome    string    `json:"outcome"`
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
	Summary    string    `json:"summary,omitempty"`
}

// Task is a task as the API shows it (target header values redacted).
type Task struct {
	ID             string            `json:"id"`
	State          string            `json:"state"`
	DueAt          time.Time         `json:"due_at"`
	Target         Target            `json:"target"`
	Payload        json.RawMessage   `json:"payload"`
	Retry          Retry             `json:"retry"`
	IdempotencyKey string            `json:"idempotency_key"`
	Labels         map[string]string `json:"labels,omitempty"`
	AttemptCount   int               `json:"attempt_count"`
	Attempts       []Attempt         `json:"attempts"`
	NextAttemptAt  *time.Time        `json:"next_attempt_at,omitempty"`
	LastError      string            `json:"last_error,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
	FinishedAt     *time.Time        `json:"finished_at,omitempty"`
	ReplacedBy     string            `json:"replaced_by,omitempty"`
	Replaces       string            `json:"replaces,omitempty"`
	LimitKey       string            `json:"limit_key,omitempty"`
	// LimitWaits and LimitWaitedMs: how often and how long in all the
	// task waited for a free slot of its limit key.
	LimitWaits    int   `json:"limit_waits"`
	LimitWaitedMs int64 `json:"limit_waited_ms"`
}

// BatchResult is one task's outcome in a batch: Status 201 or 200 with
// Task, or an error status with Err.
type BatchResult struct {
	Status int    `json:"status"`
	Task   *Task  `json:"task,omitempty"`
	Err    *Error `json:"problem,omitempty"`
}

// Patch changes a task; nil fields are left as they are. A new DueAt
// reschedules: the answer is a new task (Replaces names the old one).
type Patch struct {
	DueAt   *time.Time `json:"due_at,omitempty"`
	Target  Target     `json:"target,omitempty"`
	Payload any        `json:"payload,omitempty"`
	Retry   *Retry     `json:"retry,omitempty"`
	// Labels replaces the labels; ClearLabels removes them.
	Labels      map[string]string `json:"labels,omitempty"`
	ClearLabels bool              `json:"-"`
}

// ListOptions filter a listing; zero values select everything.
type ListOptions struct {
	States    []string          // e.g. "SCHEDULED", "FAILED"
	DueAfter  time.Time         // exclusive
	DueBefore time.Time         // exclusive
	Labels    map[string]string // all must match
	Limit     int               // page size, 1-100 (server default 50)
	PageToken string
}

// Page is one page of a listing.
type Page struct {
	Tasks         []Task `json:"tasks"`
	NextPageToken string `json:"next_page_token,omitempty"`
}

// Create creates a task. idemKey is the Idempotency-Key ("" sends none;
// RandomKey makes one). created is false when the key had already created
// the task.
func (c *Client) Create(ctx context.Context, t CreateTask, idemKey string) (task *Task, created bool, err error) {
	var out Task
	status, err := c.do(ctx, http.MethodPost, "/v1/tasks", nil, t, idemKey, &out)
	if err != nil {
		return nil, false, err
	}
	return &out, status == http.StatusCreated, nil
}

// CreateJSON is Create for a caller that holds the request body already
// (a proxy, a load tool): body is sent as it is.
func (c *Client) CreateJSON(ctx context.Context, body json.RawMessage, idemKey string) (task *Task, created bool, err error) {
	var out Task
	status, err := c.do(ctx, http.MethodPost, "/v1/tasks", nil, body, idemKey, &out)
	if err != nil {
		return nil, false, err
	}
	return &out, status == http.StatusCreated, nil
}

// CreateBatch creates up to 100 tasks, each on its own; the results are in
// order. idemKey ("" sends none) makes the whole batch replayable.
func (c *Client) CreateBatch(ctx context.Context, tasks []CreateTask, idemKey string) ([]BatchResult, error) {
	var out struct {
		Results []BatchResult `json:"results"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/v1/tasks:batch", nil, map[string]any{"tasks": tasks}, idemKey, &out); err != nil {
		return nil, err
	}
	return out.Results, nil
}

// Get reads a task.
func (c *Client) Get(ctx context.Context, id string) (*Task, error) {
	var out Task
	if _, err := c.do(ctx, http.MethodGet, "/v1/tasks/"+url.PathEscape(id), nil, nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Update changes a SCHEDULED, not yet dispatched task (IsConflict otherwise).
func (c *Client) Update(ctx context.Context, id string, p Patch) (*Task, error) {
	body := map[string]any{}
	if p.DueAt != nil {
		body["due_at"] = p.DueAt.UTC().Format(time.RFC3339Nano)
	}
	if p.Target != nil {
		body["target"] = p.Target
	}
	if p.Payload != nil {
		body["payload"] = p.Payload
	}
	if p.Retry != nil {
		body["retry"] = p.Retry
	}
	if p.ClearLabels {
		body["labels"] = nil
	} else if p.Labels != nil {
		body["labels"] = p.Labels
	}
	var out Task
	if _, err := c.do(ctx, http.MethodPatch, "/v1/tasks/"+url.PathEscape(id), nil, body, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Cancel cancels a task (idempotent).
func (c *Client) Cancel(ctx context.Context, id string) (*Task, error) {
	var out Task
	if _, err := c.do(ctx, http.MethodDelete, "/v1/tasks/"+url.PathEscape(id), nil, nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// List reads one page of the caller's tasks, newest due first.
func (c *Client) List(ctx context.Context, o ListOptions) (*Page, error) {
	q := url.Values{}
	if len(o.States) > 0 {
		q.Set("state", strings.Join(o.States, ","))
	}
	if !o.DueAfter.IsZero() {
		q.Set("due_after", o.DueAfter.UTC().Format(time.RFC3339Nano))
	}
	if !o.DueBefore.IsZero() {
		q.Set("due_before", o.DueBefore.UTC().Format(time.RFC3339Nano))
	}
	for k, v := range o.Labels {
		q.Add("label", k+"="+v)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.PageToken != "" {
		q.Set("page_token", o.PageToken)
	}
	var out Page
	if _, err := c.do(ctx, http.MethodGet, "/v1/tasks", q, nil, "", &out); err != nil {
		if statusOf(err) == http.StatusNotImplemented {
			return nil, fmt.Errorf("%w: %w", ErrListingNotEnabled, err)
		}
		return nil, err
	}
	return &out, nil
}

// ListFailed reads one page of the caller's FAILED tasks (the dead
// letters), newest due first. Unlike other listings it works whether or
// not the deployment writes the list index: the API reads its sparse
// by_failed index. o.States is ignored.
func (c *Client) ListFailed(ctx context.Context, o ListOptions) (*Page, error) {
	o.States = []string{"FAILED"}
	return c.List(ctx, o)
}

// Retry runs a FAILED task again with a fresh budget of attempts (0: the
// API's default, 3); the task is RETRYING when it returns. A task that is
// not FAILED is IsConflict. As a POST without an Idempotency-Key it is
// retried on 429 only: after a 5xx or a lost answer, Get the task to see
// whether it is RETRYING.
func (c *Client) Retry(ctx context.Context, id string, attempts int) (*Task, error) {
	var body any
	if attempts > 0 {
		body = map[string]int{"attempts": attempts}
	}
	var out Task
	if _, err := c.do(ctx, http.MethodPost, "/v1/tasks/"+url.PathEscape(id)+":retry", nil, body, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// All iterates over every task a listing selects, page after page; it
// stops at the first error, which it yields.
func (c *Client) All(ctx context.Context, o ListOptions) iter.Seq2[*Task, error] {
	return func(yield func(*Task, error) bool) {
		for {
			p, err := c.List(ctx, o)
			if err != nil {
				yield(nil, err)
				return
			}
			for i := range p.Tasks {
				if !yield(&p.Tasks[i], nil) {
					return
				}
			}
			if p.NextPageToken == "" {
				return
			}
			o.PageToken = p.NextPageToken
		}
	}
}

// OpenAPI fetches the API's OpenAPI document.
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	var out json.RawMessage
	_, err := c.do(ctx, http.MethodGet, "/v1/openapi.json", nil, nil, "", &out)
	return out, err
}

// Health reports whether the API answers /healthz with 200.
func (c *Client) Health(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/healthz", nil, nil, "", nil)
	return err
}

// do sends one call, retrying on 429, 5xx and network errors (a POST only
// with an Idempotency-Key, which makes it safe), and decodes a 2xx answer
// into out.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body any, idemKey string, out any) (int, error) {
	return c.doHeaders(ctx, method, path, q, body, idemKey, nil, out)
}

// doHeaders is do with extra request headers (If-Match).
func (c *Client) doHeaders(ctx context.Context, method, path string, q url.Values, body any, idemKey string, hdr http.Header, out any) (int, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return 0, fmt.Errorf("hourglass %s %s: encode body: %w", method, path, err)
		}
	}
	u := *c.base
	u.Path = c.base.Path + path
	u.RawPath = ""
	if strings.Contains(path, "%") {
		u.RawPath = c.base.EscapedPath() + path
	}
	u.RawQuery = q.Encode()
	// PATCH is retried too: a repeated change is refused with 409 rather
	// than applied twice, since the version it read has moved on.
	retryable := method != http.MethodPost || idemKey != "" || c.opts.RetryUnkeyedCreates
	for attempt := 0; ; attempt++ {
		status, wait, err := c.once(ctx, method, u.String(), raw, idemKey, hdr, out)
		if err == nil {
			return status, nil
		}
		// 501 (a feature this deployment has turned off) stays so on retry.
		again := attempt < c.opts.MaxRetries && (status == http.StatusTooManyRequests ||
			(retryable && (status == 0 || (status >= 500 && status != http.StatusNotImplemented))))
		if !again || ctx.Err() != nil {
			return status, err
		}
		d := c.backoff(attempt, wait)
		if c.opts.OnRetry != nil {
			c.opts.OnRetry(status, d)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return status, fmt.Errorf("%w (gave up waiting to retry: %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, c.opts.MaxBackoff)
	}
	d := float64(c.opts.MinBackoff) * math.Pow(2, float64(attempt))
	d = math.Min(d, float64(c.opts.MaxBackoff))
	return time.Duration(d/2 + mrand.Float64()*d/2) //nolint:gosec // jitter needs no cryptographic randomness
}

// once sends one attempt. status 0 means no answer (network error).
func (c *Client) once(ctx context.Context, method, u string, raw []byte, idemKey string, hdr http.Header, out any) (int, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(raw))
	if err != nil {
		return 0, 0, fmt.Errorf("hourglass %s %s: %w", method, u, err)
	}
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	if err := c.authorize(ctx, req, raw); err != nil {
		return 0, 0, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("hourglass %s %s: %w", method, u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, 0, fmt.Errorf("hourglass %s %s: read answer: %w", method, u, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				return resp.StatusCode, 0, fmt.Errorf("hourglass %s %s: decode answer: %w", method, u, err)
			}
		}
		return resp.StatusCode, 0, nil
	}
	e := &Error{}
	if json.Unmarshal(b, e) != nil || e.Title == "" {
		e = &Error{Title: http.StatusText(resp.StatusCode), Detail: strings.TrimSpace(string(b))}
	}
	e.Status = resp.StatusCode
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return resp.StatusCode, e.RetryAfter, e
}

// authorize adds the dev token or a SigV4 signature.
func (c *Client) authorize(ctx context.Context, req *http.Request, raw []byte) error {
	if c.opts.DevTenant != "" {
		req.Header.Set("Authorization", "Bearer dev-"+c.opts.DevTenant)
		return nil
	}
	if c.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.opts.Token)
		return nil
	}
	if c.signer == nil {
		return nil
	}
	creds, err := c.opts.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("hourglass: retrieve AWS credentials: %w", err)
	}
	sum := sha256.Sum256(raw)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "execute-api", c.opts.Region, time.Now()); err != nil {
		return fmt.Errorf("hourglass: sign request: %w", err)
	}
	return nil
}

// BaseURL is the API's base URL this client calls.
func (c *Client) BaseURL() string { return strings.TrimRight(c.base.String(), "/") }

// Authorize adds this client's authorization to a request made outside
// it (a bearer token, or a SigV4 signature over the body that req.GetBody
// returns): the web console's API calls use it.
func (c *Client) Authorize(req *http.Request) error {
	var raw []byte
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return fmt.Errorf("hourglass: read request body to sign: %w", err)
		}
		raw, err = io.ReadAll(body)
		_ = body.Close()
		if err != nil {
			return fmt.Errorf("hourglass: read request body to sign: %w", err)
		}
	}
	return c.authorize(req.Context(), req, raw)
}

// RandomKey returns a fresh random Idempotency-Key.
func RandomKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "hgc-" + hex.EncodeToString(b)
}
