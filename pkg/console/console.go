// Package console is Hourglass's web console: server-rendered pages
// (html/template, with htmx and uPlot vendored and embedded) over a
// Hourglass API, which it calls through package client like any other
// door. It owns no state of its own beyond sign-in sessions: every figure
// and every change goes through the API.
//
// Pages, under the root prefix (/console under make dev; / when served
// standalone by `hourglass console`): / overview, /tasks, /tasks/{id},
// /schedules, /schedules/{id}, /dlq. Each is a plain GET whose query string
// holds its filters, so a URL can be shared and reloaded; every change is a
// POST form (carrying a CSRF token) answered with a redirect, so the pages
// work without JavaScript. htmx only refreshes the overview's figures and
// uPlot draws its charts.
//
// Protection: the console accepts only requests whose Host is a loopback
// name (or one of Options.AllowedHosts), which defeats DNS rebinding; POSTs
// must pass net/http's CrossOriginProtection (Sec-Fetch-Site / Origin
// against Host) and carry the form's CSRF token, an HMAC of the browser's
// session cookie.
package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/client"
)

//go:embed static
var staticFS embed.FS

// Options configure a console.
type Options struct {
	// API is the base URL of the Hourglass API (e.g. http://127.0.0.1:8080).
	API string
	// Token is sent as "Authorization: Bearer <Token>" with every API call
	// ("dev-<tenant>" under make dev, or a JWT). Ignored with SignIn.
	Token string
	// Authorize, when set, signs each API request instead of Token (SigV4
	// with the caller's AWS credentials, for IAM deployments); r.GetBody
	// gives the body to hash.
	Authorize func(*http.Request) error
	// SignIn makes the console ask for a token in a sign-in form and keep
	// it in a server-side cookie session (make dev, where the console is
	// served beside the API on a shared address).
	SignIn bool
	// Prefix is the path the console is served under: "" (standalone) or
	// e.g. "/console". No trailing slash.
	Prefix string
	// AllowedHosts are host names (without port) accepted in the Host
	// header besides the loopback names (127.0.0.1, localhost, ::1).
	AllowedHosts []string
	// HTTPClient carries the API calls (default: a client with a 30 s
	// timeout); its Transport is wrapped to add the authorization.
	HTTPClient *http.Client
	// DeadLetters builds the dead-letter operations on an authorized HTTP
	// client (default: HTTPDeadLetters, which calls GET
	// /v1/tasks?state=FAILED and POST /v1/tasks/{id}:retry).
	DeadLetters func(api string, hc *http.Client) DeadLetters
	// Stats, when set, gives the overview's figures instead of the API's
	// GET /v1/stats (which only the local host serves): for a deployed
	// stack, (&CloudWatchStats{...}).Stats reads its CloudWatch metrics.
	Stats func(ctx context.Context) (*Stats, error)
	// PollEvery is how often the overview refreshes (default 2 s).
	PollEvery time.Duration
	// SessionTTL bounds a sign-in session (default 12 h).
	SessionTTL time.Duration
}

// Console serves the pages.
type Console struct {
	opts   Options
	key    []byte // CSRF HMAC key
	mux    *http.ServeMux
	pages  map[string]*pageTemplate
	static http.Handler

	mu       sync.Mutex
	sessions map[string]session
	apis     map[string]*apiConn // by token ("" for Authorize/Token)
}

type session struct {
	token   string
	expires time.Time
}

// apiConn is the API as one credential sees it.
type apiConn struct {
	c   *client.Client
	hc  *http.Client
	dlq DeadLetters
}

// New builds the console handler.
func New(opts Options) (http.Handler, error) {
	if opts.API == "" {
		return nil, errors.New("console: Options.API (the Hourglass API's base URL) is required")
	}
	if opts.Prefix != "" && (!strings.HasPrefix(opts.Prefix, "/") || strings.HasSuffix(opts.Prefix, "/")) {
		return nil, fmt.Errorf("console: Options.Prefix %q must start with / and not end with one", opts.Prefix)
	}
	if !opts.SignIn && opts.Token == "" && opts.Authorize == nil {
		return nil, errors.New("console: set Options.Token, Options.Authorize or Options.SignIn")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.DeadLetters == nil {
		opts.DeadLetters = func(api string, hc *http.Client) DeadLetters { return &HTTPDeadLetters{API: api, HTTPClient: hc} }
	}
	if opts.PollEvery <= 0 {
		opts.PollEvery = 2 * time.Second
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if _, err := client.New(opts.API, client.Options{}); err != nil {
		return nil, fmt.Errorf("console: Options.API: %w", err)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("console: static files: %w", err)
	}
	c := &Console{opts: opts, key: make([]byte, 32), pages: pages, sessions: map[string]session{}, apis: map[string]*apiConn{},
		static: http.StripPrefix("/static/", http.FileServer(http.FS(sub)))}
	_, _ = rand.Read(c.key)
	c.routes()
	return c, nil
}

func (c *Console) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /static/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		c.static.ServeHTTP(w, r)
	})
	m.HandleFunc("GET /signin", c.signInForm)
	m.HandleFunc("POST /signin", c.signIn)
	m.HandleFunc("POST /signout", c.signOut)
	m.HandleFunc("GET /{$}", c.authed(c.overview))
	m.HandleFunc("GET /overview/figures", c.authed(c.overviewFigures))
	m.HandleFunc("GET /stats.json", c.authed(c.statsJSON))
	m.HandleFunc("GET /tasks", c.authed(c.tasks))
	m.HandleFunc("POST /tasks", c.authed(c.createTask))
	m.HandleFunc("GET /tasks/{id}", c.authed(c.task))
	m.HandleFunc("POST /tasks/{id}/cancel", c.authed(c.cancelTask))
	m.HandleFunc("POST /tasks/{id}/reschedule", c.authed(c.rescheduleTask))
	m.HandleFunc("GET /schedules", c.authed(c.schedules))
	m.HandleFunc("POST /schedules", c.authed(c.createSchedule))
	m.HandleFunc("GET /schedules/{id}", c.authed(c.schedule))
	m.HandleFunc("POST /schedules/{id}/pause", c.authed(c.setScheduleState("DISABLED")))
	m.HandleFunc("POST /schedules/{id}/resume", c.authed(c.setScheduleState("ENABLED")))
	m.HandleFunc("POST /schedules/{id}/edit", c.authed(c.editSchedule))
	m.HandleFunc("GET /dlq", c.authed(c.dlq))
	m.HandleFunc("POST /dlq/retry", c.authed(c.retryDLQ))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, "Not found", "No console page at "+r.URL.Path+".", nil)
	})
	c.mux = m
}

// cop checks Sec-Fetch-Site and Origin of unsafe requests against Host.
var cop = http.NewCrossOriginProtection()

// ServeHTTP checks the Host, strips the prefix, sets the security headers
// and, for POSTs, checks the origin and the CSRF token.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !c.hostAllowed(r.Host) {
		http.Error(w, "console: Host "+r.Host+" is not accepted (open the console at 127.0.0.1 or localhost)", http.StatusMisdirectedRequest)
		return
	}
	p := r.URL.Path
	if c.opts.Prefix != "" {
		if p != c.opts.Prefix && !strings.HasPrefix(p, c.opts.Prefix+"/") {
			http.NotFound(w, r)
			return
		}
		p = strings.TrimPrefix(p, c.opts.Prefix)
	}
	if p == "" {
		p = "/"
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = p, ""
	sid := c.sessionID(w, r2)
	if r.Method == http.MethodPost {
		if err := cop.Check(r); err != nil {
			c.fail(w, r2, http.StatusForbidden, "Cross-origin request refused", err.Error()+": the console accepts forms only from its own pages.", nil)
			return
		}
		if err := r2.ParseForm(); err != nil {
			c.fail(w, r2, http.StatusBadRequest, "Bad form", err.Error(), nil)
			return
		}
		if !hmac.Equal([]byte(r2.PostForm.Get("csrf")), []byte(c.csrf(sid))) {
			c.fail(w, r2, http.StatusForbidden, "Form expired", "The form's CSRF token does not match this browser's session (field csrf). Reload the page and submit it again.", nil)
			return
		}
	}
	c.mux.ServeHTTP(w, r2)
}

func (c *Console) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" || slices.Contains(c.opts.AllowedHosts, host) {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	return false
}

const sidCookie = "hourglass_console_sid"

// sessionID returns the browser's session cookie, setting a new one when
// it has none. The cookie keys the CSRF token (and, with SignIn, the
// session's API token).
func (c *Console) sessionID(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(sidCookie); err == nil && len(ck.Value) == 64 {
		return ck.Value
	}
	sid := newSessionID()
	r.AddCookie(&http.Cookie{Name: sidCookie, Value: sid}) //nolint:gosec // a request cookie: for this request's handlers only, never sent
	http.SetCookie(w, c.sessionCookie(r, sid))
	return sid
}

// sessionCookie is the session cookie: HttpOnly, SameSite=Strict, and
// Secure when the console is served over TLS (on plain-HTTP loopback, as
// make dev and the standalone server are, a Secure cookie is not kept).
func (c *Console) sessionCookie(r *http.Request, sid string) *http.Cookie {
	return &http.Cookie{Name: sidCookie, Value: sid, Path: c.root(), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil} //nolint:gosec // Secure over TLS; see above
}

func newSessionID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (c *Console) root() string {
	if c.opts.Prefix == "" {
		return "/"
	}
	return c.opts.Prefix
}

func (c *Console) csrf(sid string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("csrf\x00" + sid))
	return hex.EncodeToString(m.Sum(nil))
}

func sidOf(r *http.Request) string {
	if ck, err := r.Cookie(sidCookie); err == nil {
		return ck.Value
	}
	return ""
}

// authed resolves the API connection of the request (the console's own
// credentials, or the signed-in session's token) or sends the browser to
// the sign-in form.
func (c *Console) authed(h func(http.ResponseWriter, *http.Request, *apiConn)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := c.opts.Token
		if c.opts.SignIn {
			c.mu.Lock()
			s, ok := c.sessions[sidOf(r)]
			if ok && time.Now().After(s.expires) {
				delete(c.sessions, sidOf(r))
				ok = false
			}
			c.mu.Unlock()
			if !ok {
				if r.Method == http.MethodGet {
					//nolint:gosec // to the console's own sign-in page; next is checked by safeNext when used
					http.Redirect(w, r, c.opts.Prefix+"/signin?next="+urlQueryEscape(c.opts.Prefix+r.URL.RequestURI()), http.StatusSeeOther)
					return
				}
				c.fail(w, r, http.StatusUnauthorized, "Signed out", "Sign in again, then resubmit the form.", nil)
				return
			}
			token = s.token
		}
		a, err := c.conn(token)
		if err != nil {
			c.fail(w, r, http.StatusInternalServerError, "Console misconfigured", err.Error(), nil)
			return
		}
		h(w, r, a)
	}
}

// conn returns (building once) the API connection for a token.
func (c *Console) conn(token string) (*apiConn, error) {
	key := token
	if c.opts.Authorize != nil && !c.opts.SignIn {
		key = ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.apis[key]; ok {
		return a, nil
	}
	base := c.opts.HTTPClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc := *c.opts.HTTPClient
	tr := &authTransport{base: base, token: token}
	if c.opts.Authorize != nil && !c.opts.SignIn {
		tr.authorize = c.opts.Authorize
	}
	hc.Transport = tr
	cl, err := client.New(c.opts.API, client.Options{HTTPClient: &hc, MaxRetries: 1})
	if err != nil {
		return nil, fmt.Errorf("console: API client: %w", err)
	}
	a := &apiConn{c: cl, hc: &hc, dlq: c.opts.DeadLetters(c.opts.API, &hc)}
	c.apis[key] = a
	return a, nil
}

// authTransport authorizes each API request.
type authTransport struct {
	base      http.RoundTripper
	token     string
	authorize func(*http.Request) error
}

func (t *authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if t.authorize != nil {
		if err := t.authorize(r); err != nil {
			return nil, fmt.Errorf("console: authorize API request: %w", err)
		}
	} else if t.token != "" {
		r.Header.Set("Authorization", "Bearer "+t.token)
	}
	return t.base.RoundTrip(r)
}
