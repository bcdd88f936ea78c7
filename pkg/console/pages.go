package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/client"
)

// States a task can be in, for the filter.
var taskStates = []string{"SCHEDULED", "DISPATCHED", "RUNNING", "RETRYING", "SUCCEEDED", "FAILED", "CANCELLED"}

// errView is a problem shown on a page: the API's problem document, or the
// console's own check of a form, naming each bad field.
type errView struct {
	Status int
	Title  string
	Detail string
	Fields []client.FieldError
}

func (e *errView) add(field, reason string) {
	e.Fields = append(e.Fields, client.FieldError{Field: field, Reason: reason})
}

// problemOf turns an API call's error into what the page shows, and the
// status the page answers with: the API's 4xx as it is, anything else as
// 502 (the API failed or did not answer).
func problemOf(err error) *errView {
	var e *client.Error
	if errors.As(err, &e) {
		st := e.Status
		if st < 400 || st >= 500 {
			st = http.StatusBadGateway
		}
		return &errView{Status: st, Title: fmt.Sprintf("The API answered %d %s", e.Status, e.Title), Detail: e.Detail, Fields: e.Errors}
	}
	return &errView{Status: http.StatusBadGateway, Title: "The API did not answer", Detail: err.Error()}
}

// formErr starts the console's own 400 for a form.
func formErr() *errView {
	return &errView{Status: http.StatusBadRequest, Title: "Some fields need another look"}
}

func (e *errView) any() bool { return len(e.Fields) > 0 }

// parseTime reads a form's time: RFC 3339, or a datetime-local value
// (2006-01-02T15:04[:05]), taken as UTC.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("must be a time such as 2026-12-03T14:03:07Z (UTC)")
}

// parseLabels reads "k=v, k2=v2".
func parseLabels(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	out := map[string]string{}
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%q is not key=value (separate labels with commas)", strings.TrimSpace(part))
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

func formatLabels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ", ")
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// redirect answers a form with 303 to a console page.
func (c *Console) redirect(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, c.opts.Prefix+path, http.StatusSeeOther)
}

// ---- sign-in ----

type signInData struct {
	Next string
}

func (c *Console) signInForm(w http.ResponseWriter, r *http.Request) {
	if !c.opts.SignIn {
		c.redirect(w, r, "/")
		return
	}
	c.render(w, r, http.StatusOK, "signin", "Sign in", "", signInData{Next: c.safeNext(r.URL.Query().Get("next"))}, nil)
}

// safeNext keeps a post-sign-in destination inside the console.
func (c *Console) safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, c.opts.Prefix+"/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return c.root()
	}
	return next
}

func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	if !c.opts.SignIn {
		c.redirect(w, r, "/")
		return
	}
	token := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(r.PostForm.Get("token")), "Bearer "))
	next := c.safeNext(r.PostForm.Get("next"))
	ev := formErr()
	if token == "" {
		ev.add("token", "is required (under make dev: dev-<tenant>, e.g. dev-acme)")
		c.render(w, r, ev.Status, "signin", "Sign in", "", signInData{Next: next}, ev)
		return
	}
	a, err := c.conn(token)
	if err == nil {
		// Any authenticated call proves the token; listing one schedule is cheap.
		_, err = a.c.ListSchedules(r.Context(), client.ScheduleListOptions{PageSize: 1})
	}
	if err != nil {
		c.mu.Lock()
		delete(c.apis, token)
		c.mu.Unlock()
		ev := problemOf(err)
		if ev.Status == http.StatusUnauthorized || ev.Status == http.StatusForbidden {
			ev.add("token", "the API refused it")
		}
		c.render(w, r, ev.Status, "signin", "Sign in", "", signInData{Next: next}, ev)
		return
	}
	// A new session ID at sign-in: an ID planted before it (session
	// fixation) never becomes a signed-in session.
	sid := newSessionID()
	http.SetCookie(w, c.sessionCookie(r, sid))
	now := time.Now()
	c.mu.Lock()
	for k, s := range c.sessions {
		if now.After(s.expires) {
			delete(c.sessions, k)
		}
	}
	delete(c.sessions, sidOf(r))
	c.sessions[sid] = session{token: token, expires: now.Add(c.opts.SessionTTL)}
	c.mu.Unlock()
	http.Redirect(w, r, next, http.StatusSeeOther) //nolint:gosec // next passed safeNext: a path inside the console
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	delete(c.sessions, sidOf(r))
	c.mu.Unlock()
	c.redirect(w, r, "/signin")
}

// ---- overview ----

// Stats mirrors the JSON of GET /v1/stats (served by the local host; see
// package devhost): series of per-step rates and lateness, totals by
// outcome and the task DLQ's depth.
type Stats struct {
	GeneratedAt time.Time `json:"generated_at"`
	StepSeconds int       `json:"step_seconds"`
	Series      []struct {
		T             time.Time `json:"t"`
		CreatedPerS   float64   `json:"created_per_s"`
		ExecutedPerS  float64   `json:"executed_per_s"`
		LatenessP50Ms *float64  `json:"lateness_p50_ms"`
		LatenessP99Ms *float64  `json:"lateness_p99_ms"`
	} `json:"series"`
	Totals struct {
		Created   int64 `json:"created"`
		Executed  int64 `json:"executed"`
		Succeeded int64 `json:"succeeded"`
		Retried   int64 `json:"retried"`
		Failed    int64 `json:"failed"`
	} `json:"totals"`
	DLQDepth *int      `json:"dlq_depth"`
	Since    time.Time `json:"since"`
}

type overviewData struct {
	Stats     *Stats
	Missing   string // why there are no figures
	PollEvery int    // milliseconds
	// Latest figures (the last full step).
	CreatedPerS, ExecutedPerS float64
	P50, P99                  *float64
}

// fetchStats reads GET /v1/stats from the API (raw, for stats.json).
func (c *Console) fetchStats(ctx context.Context, a *apiConn) ([]byte, *Stats, error) {
	if c.opts.Stats != nil {
		s, err := c.opts.Stats(ctx)
		if err != nil {
			return nil, nil, err
		}
		b, err := json.Marshal(s)
		return b, s, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.opts.API, "/")+"/v1/stats", nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, &client.Error{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode)}
	}
	var s Stats
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, nil, fmt.Errorf("decode /v1/stats: %w", err)
	}
	return b, &s, nil
}

func (c *Console) overviewData(ctx context.Context, a *apiConn) overviewData {
	d := overviewData{PollEvery: int(c.opts.PollEvery / time.Millisecond)}
	_, s, err := c.fetchStats(ctx, a)
	if err != nil {
		var e *client.Error
		if errors.As(err, &e) && e.Status == http.StatusNotFound {
			d.Missing = "This API does not serve GET /v1/stats: the local host (make dev) does; in AWS these figures are CloudWatch metrics (namespace Hourglass), which hourglass console --sigv4 reads."
		} else {
			d.Missing = "Could not read the figures: " + err.Error()
		}
		return d
	}
	d.Stats = s
	if n := len(s.Series); n >= 2 {
		p := s.Series[n-2] // the last full step
		d.CreatedPerS, d.ExecutedPerS = p.CreatedPerS, p.ExecutedPerS
		for i := n - 1; i >= 0 && d.P50 == nil; i-- {
			d.P50, d.P99 = s.Series[i].LatenessP50Ms, s.Series[i].LatenessP99Ms
		}
	}
	return d
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, a *apiConn) {
	c.render(w, r, http.StatusOK, "overview", "Overview", "overview", c.overviewData(r.Context(), a), nil)
}

// overviewFigures is the fragment htmx swaps in every PollEvery.
func (c *Console) overviewFigures(w http.ResponseWriter, r *http.Request, a *apiConn) {
	c.renderFragment(w, "figures", c.overviewData(r.Context(), a))
}

// statsJSON passes /v1/stats through for the charts.
func (c *Console) statsJSON(w http.ResponseWriter, r *http.Request, a *apiConn) {
	b, _, err := c.fetchStats(r.Context(), a)
	if err != nil {
		ev := problemOf(err)
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(ev.Status)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": ev.Status, "title": ev.Title, "detail": ev.Detail})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// ---- tasks ----

type taskForm struct {
	DueAt, URL, Payload, Labels, MaxAttempts string
}

type tasksData struct {
	States                            []string
	State, Label, DueAfter, DueBefore string
	Tasks                             []client.Task
	Next                              template.URL // the next page (built here from an encoded query, so not escaped again)
	ListOff                           bool
	Form                              taskForm
	Filtered                          bool
}

func (c *Console) tasks(w http.ResponseWriter, r *http.Request, a *apiConn) {
	q := r.URL.Query()
	if id := strings.TrimSpace(q.Get("id")); id != "" {
		c.redirect(w, r, "/tasks/"+url.PathEscape(id))
		return
	}
	d := tasksData{States: taskStates, State: q.Get("state"), Label: q.Get("label"), DueAfter: q.Get("due_after"), DueBefore: q.Get("due_before"),
		Form: taskForm{MaxAttempts: ""}}
	c.listTasks(w, r, a, &d, nil)
}

// listTasks fills d's listing from its filters and renders the page with
// ev (a form's problem) when set.
func (c *Console) listTasks(w http.ResponseWriter, r *http.Request, a *apiConn, d *tasksData, ev *errView) {
	opts := client.ListOptions{Limit: 50, PageToken: r.URL.Query().Get("page_token")}
	fe := formErr()
	if d.State != "" {
		if !slices.Contains(taskStates, d.State) {
			fe.add("state", "must be one of "+strings.Join(taskStates, ", "))
		}
		opts.States = []string{d.State}
	}
	var err error
	if opts.Labels, err = parseLabels(d.Label); err != nil {
		fe.add("label", err.Error())
	}
	if d.DueAfter != "" {
		if opts.DueAfter, err = parseTime(d.DueAfter); err != nil {
			fe.add("due_after", err.Error())
		}
	}
	if d.DueBefore != "" {
		if opts.DueBefore, err = parseTime(d.DueBefore); err != nil {
			fe.add("due_before", err.Error())
		}
	}
	d.Filtered = d.State != "" || d.Label != "" || d.DueAfter != "" || d.DueBefore != ""
	status := http.StatusOK
	if ev != nil {
		status = ev.Status
	}
	if fe.any() {
		c.render(w, r, fe.Status, "tasks", "Tasks", "tasks", d, fe)
		return
	}
	page, err := a.c.List(r.Context(), opts)
	switch {
	case errors.Is(err, client.ErrListingNotEnabled):
		d.ListOff = true
	case err != nil:
		if ev == nil {
			ev = problemOf(err)
			status = ev.Status
		}
	default:
		d.Tasks = page.Tasks
		if page.NextPageToken != "" {
			nq := r.URL.Query()
			nq.Set("page_token", page.NextPageToken)
			d.Next = template.URL(c.opts.Prefix + "/tasks?" + nq.Encode()) //nolint:gosec // our own path and an encoded query
		}
	}
	c.render(w, r, status, "tasks", "Tasks", "tasks", d, ev)
}

func (c *Console) createTask(w http.ResponseWriter, r *http.Request, a *apiConn) {
	f := taskForm{DueAt: r.PostForm.Get("due_at"), URL: strings.TrimSpace(r.PostForm.Get("url")), Payload: r.PostForm.Get("payload"),
		Labels: r.PostForm.Get("labels"), MaxAttempts: strings.TrimSpace(r.PostForm.Get("max_attempts"))}
	ct := client.CreateTask{Target: client.Webhook(f.URL)}
	ev := formErr()
	var err error
	if strings.TrimSpace(f.DueAt) == "" {
		ev.add("due_at", "is required")
	} else if ct.DueAt, err = parseTime(f.DueAt); err != nil {
		ev.add("due_at", err.Error())
	}
	if f.URL == "" {
		ev.add("url", "is required (the webhook to call)")
	}
	if p := strings.TrimSpace(f.Payload); p != "" {
		if !json.Valid([]byte(p)) {
			ev.add("payload", "must be JSON")
		} else {
			ct.Payload = json.RawMessage(p)
		}
	}
	if ct.Labels, err = parseLabels(f.Labels); err != nil {
		ev.add("labels", err.Error())
	}
	if f.MaxAttempts != "" {
		n, err := strconv.Atoi(f.MaxAttempts)
		if err != nil || n < 1 {
			ev.add("max_attempts", "must be a whole number, at least 1")
		} else {
			ct.Retry = &client.Retry{MaxAttempts: n}
		}
	}
	d := tasksData{States: taskStates, Form: f}
	if ev.any() {
		c.listTasks(w, r, a, &d, ev)
		return
	}
	// A fresh key per submission makes the client's retry of a lost answer safe.
	t, _, err := a.c.Create(r.Context(), ct, client.RandomKey())
	if err != nil {
		c.listTasks(w, r, a, &d, problemOf(err))
		return
	}
	c.redirect(w, r, "/tasks/"+url.PathEscape(t.ID))
}

type taskData struct {
	Task          *client.Task
	Target        string // the target as JSON
	Payload       string
	Labels        string
	Cancellable   bool
	Reschedulable bool
}

func (c *Console) task(w http.ResponseWriter, r *http.Request, a *apiConn) {
	c.showTask(w, r, a, r.PathValue("id"), nil)
}

func (c *Console) showTask(w http.ResponseWriter, r *http.Request, a *apiConn, id string, ev *errView) {
	t, err := a.c.Get(r.Context(), id)
	if err != nil {
		pv := problemOf(err)
		if pv.Status == http.StatusNotFound {
			pv.Title = "No task " + id
			pv.Detail = "No task with this ID belongs to you (task IDs are 26 characters, 0-9 and a-v)."
		}
		c.render(w, r, pv.Status, "task", "Task "+id, "tasks", taskData{}, pv)
		return
	}
	tb, _ := json.MarshalIndent(t.Target, "", "  ")
	d := taskData{Task: t, Target: string(tb), Labels: formatLabels(t.Labels),
		Cancellable:   t.State == "SCHEDULED" || t.State == "DISPATCHED" || t.State == "RETRYING",
		Reschedulable: t.State == "SCHEDULED"}
	if len(t.Payload) > 0 && string(t.Payload) != "null" {
		var v any
		if json.Unmarshal(t.Payload, &v) == nil {
			pb, _ := json.MarshalIndent(v, "", "  ")
			d.Payload = string(pb)
		}
	}
	status := http.StatusOK
	if ev != nil {
		status = ev.Status
	}
	c.render(w, r, status, "task", "Task "+t.ID, "tasks", d, ev)
}

func (c *Console) cancelTask(w http.ResponseWriter, r *http.Request, a *apiConn) {
	id := r.PathValue("id")
	if _, err := a.c.Cancel(r.Context(), id); err != nil {
		c.showTask(w, r, a, id, problemOf(err))
		return
	}
	c.redirect(w, r, "/tasks/"+url.PathEscape(id))
}

func (c *Console) rescheduleTask(w http.ResponseWriter, r *http.Request, a *apiConn) {
	id := r.PathValue("id")
	due, err := parseTime(r.PostForm.Get("due_at"))
	if err != nil {
		ev := formErr()
		ev.add("due_at", err.Error())
		c.showTask(w, r, a, id, ev)
		return
	}
	t, err := a.c.Update(r.Context(), id, client.Patch{DueAt: &due})
	if err != nil {
		c.showTask(w, r, a, id, problemOf(err))
		return
	}
	// A new due time makes a new task (its ID locates it): follow it.
	c.redirect(w, r, "/tasks/"+url.PathEscape(t.ID))
}

// ---- schedules ----

type scheduleForm struct {
	Expression, Timezone, URL, Payload, Labels string
}

type schedulesData struct {
	Schedules []client.Schedule
	Next      template.URL
	Form      scheduleForm
}

func (c *Console) schedules(w http.ResponseWriter, r *http.Request, a *apiConn) {
	c.listSchedules(w, r, a, &schedulesData{Form: scheduleForm{Timezone: "UTC"}}, nil)
}

func (c *Console) listSchedules(w http.ResponseWriter, r *http.Request, a *apiConn, d *schedulesData, ev *errView) {
	status := http.StatusOK
	if ev != nil {
		status = ev.Status
	}
	page, err := a.c.ListSchedules(r.Context(), client.ScheduleListOptions{PageSize: 50, PageToken: r.URL.Query().Get("page_token")})
	if err != nil {
		if ev == nil {
			ev = problemOf(err)
			status = ev.Status
		}
	} else {
		d.Schedules = page.Schedules
		if page.NextPageToken != "" {
			d.Next = template.URL(c.opts.Prefix + "/schedules?" + url.Values{"page_token": {page.NextPageToken}}.Encode()) //nolint:gosec // as above
		}
	}
	c.render(w, r, status, "schedules", "Schedules", "schedules", d, ev)
}

func (c *Console) createSchedule(w http.ResponseWriter, r *http.Request, a *apiConn) {
	f := scheduleForm{Expression: strings.TrimSpace(r.PostForm.Get("expression")), Timezone: strings.TrimSpace(r.PostForm.Get("timezone")),
		URL: strings.TrimSpace(r.PostForm.Get("url")), Payload: r.PostForm.Get("payload"), Labels: r.PostForm.Get("labels")}
	cs := client.CreateSchedule{Expression: f.Expression, Timezone: f.Timezone, Target: client.Webhook(f.URL)}
	ev := formErr()
	if f.Expression == "" {
		ev.add("expression", "is required: cron(…), rate(…) or at(…)")
	}
	if f.URL == "" {
		ev.add("url", "is required (the webhook each fire calls)")
	}
	if p := strings.TrimSpace(f.Payload); p != "" {
		if !json.Valid([]byte(p)) {
			ev.add("payload", "must be JSON")
		} else {
			cs.Payload = json.RawMessage(p)
		}
	}
	var err error
	if cs.Labels, err = parseLabels(f.Labels); err != nil {
		ev.add("labels", err.Error())
	}
	d := schedulesData{Form: f}
	if ev.any() {
		c.listSchedules(w, r, a, &d, ev)
		return
	}
	s, err := a.c.CreateSchedule(r.Context(), cs)
	if err != nil {
		c.listSchedules(w, r, a, &d, problemOf(err))
		return
	}
	c.redirect(w, r, "/schedules/"+url.PathEscape(s.ID))
}

// fireTime is one upcoming fire time in the schedule's zone and in UTC.
type fireTime struct {
	Local, UTC time.Time
}

type scheduleData struct {
	Schedule    *client.Schedule
	Target      string
	Payload     string
	TargetURL   string
	Labels      string
	Next        []fireTime
	NextErr     string
	Occurrences []client.Occurrence
	OccErr      string
	Paused      bool
}

func (c *Console) schedule(w http.ResponseWriter, r *http.Request, a *apiConn) {
	c.showSchedule(w, r, a, r.PathValue("id"), nil)
}

func (c *Console) showSchedule(w http.ResponseWriter, r *http.Request, a *apiConn, id string, ev *errView) {
	ctx := r.Context()
	s, err := a.c.GetSchedule(ctx, id)
	if err != nil {
		pv := problemOf(err)
		if pv.Status == http.StatusNotFound {
			pv.Title = "No schedule " + id
			pv.Detail = "No schedule with this ID belongs to you."
		}
		c.render(w, r, pv.Status, "schedule", "Schedule "+id, "schedules", scheduleData{}, pv)
		return
	}
	tb, _ := json.MarshalIndent(s.Target, "", "  ")
	d := scheduleData{Schedule: s, Target: string(tb), Labels: formatLabels(s.Labels), Paused: s.State == "DISABLED"}
	if u, ok := s.Target["url"].(string); ok {
		d.TargetURL = u
	}
	if len(s.Payload) > 0 && string(s.Payload) != "null" {
		d.Payload = string(s.Payload)
	}
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil || s.Timezone == "" {
		loc = time.UTC
	}
	// The preview anchors rate() at start_at, else at the epoch; a schedule
	// without start_at is anchored at its creation (rounded up to a second).
	anchor := s.CreatedAt.Truncate(time.Second)
	if !anchor.Equal(s.CreatedAt) {
		anchor = anchor.Add(time.Second)
	}
	if s.StartAt != nil {
		anchor = *s.StartAt
	}
	after := time.Now()
	if s.StartAt != nil && s.StartAt.After(after) {
		after = s.StartAt.Add(-time.Nanosecond)
	}
	times, err := a.c.Preview(ctx, client.PreviewOptions{Expression: s.Expression, Timezone: s.Timezone, After: after, StartAt: anchor, Count: 10})
	if err != nil {
		d.NextErr = problemOf(err).Title + ": " + problemOf(err).Detail
	}
	for _, t := range times {
		if s.EndAt != nil && t.After(*s.EndAt) {
			break
		}
		d.Next = append(d.Next, fireTime{Local: t.In(loc), UTC: t.UTC()})
	}
	occ, err := a.c.Occurrences(ctx, id, 20)
	if err != nil {
		d.OccErr = problemOf(err).Title + ": " + problemOf(err).Detail
	} else {
		d.Occurrences = occ.Occurrences
	}
	status := http.StatusOK
	if ev != nil {
		status = ev.Status
	}
	c.render(w, r, status, "schedule", "Schedule "+s.ID, "schedules", d, ev)
}

func (c *Console) setScheduleState(state string) func(http.ResponseWriter, *http.Request, *apiConn) {
	return func(w http.ResponseWriter, r *http.Request, a *apiConn) {
		id := r.PathValue("id")
		st := state
		if _, err := a.c.UpdateSchedule(r.Context(), id, client.SchedulePatch{State: &st}); err != nil {
			c.showSchedule(w, r, a, id, problemOf(err))
			return
		}
		c.redirect(w, r, "/schedules/"+url.PathEscape(id))
	}
}

func (c *Console) editSchedule(w http.ResponseWriter, r *http.Request, a *apiConn) {
	id := r.PathValue("id")
	f := r.PostForm
	p := client.SchedulePatch{}
	ev := formErr()
	if v, err := strconv.ParseInt(f.Get("version"), 10, 64); err == nil && v > 0 {
		p.IfVersion = v
	} else {
		ev.add("version", "is missing: reload the page")
	}
	if e := strings.TrimSpace(f.Get("expression")); e != "" {
		p.Expression = &e
	} else {
		ev.add("expression", "is required")
	}
	tz := strings.TrimSpace(f.Get("timezone"))
	if tz == "" {
		tz = "UTC"
	}
	p.Timezone = &tz
	if u := strings.TrimSpace(f.Get("url")); u != "" {
		p.Target = client.Webhook(u)
	}
	if pl := strings.TrimSpace(f.Get("payload")); pl != "" {
		if !json.Valid([]byte(pl)) {
			ev.add("payload", "must be JSON")
		} else {
			p.Payload = json.RawMessage(pl)
		}
	}
	if ev.any() {
		c.showSchedule(w, r, a, id, ev)
		return
	}
	if _, err := a.c.UpdateSchedule(r.Context(), id, p); err != nil {
		pv := problemOf(err)
		if client.IsPreconditionFailed(err) {
			pv.Detail = "The schedule changed since this page was loaded; here it is as it is now. " + pv.Detail
		}
		c.showSchedule(w, r, a, id, pv)
		return
	}
	c.redirect(w, r, "/schedules/"+url.PathEscape(id))
}

// ---- dead letters ----

type dlqData struct {
	Tasks   []client.Task
	Next    template.URL
	Retried []string
	Failed  []string
	ListOff bool
}

func (c *Console) dlq(w http.ResponseWriter, r *http.Request, a *apiConn) {
	d := dlqData{}
	if q := r.URL.Query(); q.Get("retried") != "" || q.Get("failed") != "" {
		d.Retried = splitNonEmpty(q.Get("retried"))
		d.Failed = splitNonEmpty(q.Get("failed"))
	}
	c.listDLQ(w, r, a, &d, nil)
}

func splitNonEmpty(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c *Console) listDLQ(w http.ResponseWriter, r *http.Request, a *apiConn, d *dlqData, ev *errView) {
	status := http.StatusOK
	page, err := a.dlq.ListFailed(r.Context(), r.URL.Query().Get("page_token"))
	switch {
	case err != nil && problemOf(err).Status == http.StatusNotImplemented:
		d.ListOff = true
	case err != nil:
		if ev == nil {
			ev = problemOf(err)
		}
	default:
		d.Tasks = page.Tasks
		if page.NextPageToken != "" {
			d.Next = template.URL(c.opts.Prefix + "/dlq?" + url.Values{"page_token": {page.NextPageToken}}.Encode()) //nolint:gosec // as above
		}
	}
	if ev != nil {
		status = ev.Status
	}
	c.render(w, r, status, "dlq", "Dead letters", "dlq", d, ev)
}

// maxRetryAll bounds one "re-run all" (pages of FAILED tasks read).
const maxRetryAll = 1000

func (c *Console) retryDLQ(w http.ResponseWriter, r *http.Request, a *apiConn) {
	ctx := r.Context()
	ids := r.PostForm["id"]
	if r.PostForm.Get("all") != "" {
		ids = nil
		token := ""
		for len(ids) < maxRetryAll {
			page, err := a.dlq.ListFailed(ctx, token)
			if err != nil {
				c.listDLQ(w, r, a, &dlqData{}, problemOf(err))
				return
			}
			for _, t := range page.Tasks {
				ids = append(ids, t.ID)
			}
			if token = page.NextPageToken; token == "" {
				break
			}
		}
	}
	if len(ids) == 0 {
		ev := formErr()
		ev.add("id", "select at least one task (or use Re-run all)")
		c.listDLQ(w, r, a, &dlqData{}, ev)
		return
	}
	var retried, failed []string
	for _, id := range ids {
		if _, err := a.dlq.Retry(ctx, id); err != nil {
			failed = append(failed, id)
			continue
		}
		retried = append(retried, id)
	}
	q := url.Values{}
	if len(retried) > 0 {
		q.Set("retried", strings.Join(retried, ","))
	}
	if len(failed) > 0 {
		q.Set("failed", strings.Join(failed, ","))
	}
	c.redirect(w, r, "/dlq?"+q.Encode())
}
