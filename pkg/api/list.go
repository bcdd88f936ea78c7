package api

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// TaskList is a page of GET /v1/tasks.
type TaskList struct {
	Tasks         []TaskView `json:"tasks"`
	NextPageToken string     `json:"next_page_token,omitempty"`
}

var listParams = map[string]bool{"state": true, "due_after": true, "due_before": true, "label": true, "limit": true, "page_token": true}

var allStates = []task.State{task.Scheduled, task.Dispatched, task.Running, task.Retrying, task.Succeeded, task.Failed, task.Cancelled}

// parseList decodes the query string into a listing request, naming each
// bad parameter. The service checks the page token (it is bound to the
// tenant and the filters).
func parseList(r *http.Request) (app.ListTasks, []problem.FieldError) {
	var f app.ListTasks
	var errs []problem.FieldError
	bad := func(param, reason string) {
		errs = append(errs, problem.FieldError{Field: "query:" + param, Reason: reason})
	}
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return f, []problem.FieldError{{Field: "query", Reason: "is not a valid query string"}}
	}
	for k := range vals {
		if !listParams[k] {
			bad(k, "unknown parameter (state, due_after, due_before, label, limit, page_token)")
		}
	}
	single := func(k string) (string, bool) {
		v := vals[k]
		if len(v) > 1 {
			bad(k, "may be given once")
			return "", false
		}
		if len(v) == 0 || v[0] == "" {
			return "", false
		}
		return v[0], true
	}
	for _, v := range vals["state"] {
		for st := range strings.SplitSeq(v, ",") {
			if !slices.Contains(allStates, task.State(st)) {
				bad("state", "must be one of SCHEDULED, DISPATCHED, RUNNING, RETRYING, SUCCEEDED, FAILED, CANCELLED (comma-separated)")
				break
			}
			if !slices.Contains(f.States, task.State(st)) {
				f.States = append(f.States, task.State(st))
			}
		}
	}
	for _, k := range []string{"due_after", "due_before"} {
		if v, ok := single(k); ok {
			t, err := task.ParseTime(v)
			if err != nil {
				bad(k, "must be an RFC 3339 time with an offset within ±23:59, e.g. 2030-01-02T15:04:05Z")
				continue
			}
			if k == "due_after" {
				f.DueAfter = t.UTC()
			} else {
				f.DueBefore = t.UTC()
			}
		}
	}
	if len(vals["label"]) > app.MaxLabelFilters {
		bad("label", "at most 16 label filters")
	} else {
		for _, v := range vals["label"] {
			k, val, ok := strings.Cut(v, "=")
			if !ok || k == "" || len(k) > 128 || len(val) > 128 {
				bad("label", `must be "key=value"`)
				continue
			}
			f.Labels = append(f.Labels, [2]string{k, val})
		}
	}
	f.Limit = app.DefaultListLimit
	if v, ok := single("limit"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > app.MaxListLimit {
			bad("limit", "must be an integer from 1 to 100")
		} else {
			f.Limit = n
		}
	}
	if v, ok := single("page_token"); ok {
		f.PageToken = v
	}
	return f, errs
}

// listTasks answers GET /v1/tasks. A deployment that cannot list (the
// list index off, unless FAILED tasks alone are asked for) answers 501
// before the rest of the query is checked.
func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) {
	req, errs := parseList(r)
	if err := s.tasks.CanList(req.States...); err != nil {
		problemOf(r, err).Write(w)
		return
	}
	if len(errs) > 0 {
		problem.Invalid(errs...).Write(w)
		return
	}
	page, err := s.tasks.List(r.Context(), tenantOf(r), req)
	var inv *app.Invalid
	if errors.As(err, &inv) {
		for i := range inv.Fields {
			inv.Fields[i].Field = "query:" + inv.Fields[i].Field
		}
	}
	if err != nil {
		problemOf(r, err).Write(w)
		return
	}
	out := TaskList{Tasks: make([]TaskView, len(page.Tasks)), NextPageToken: page.NextPageToken}
	for i, t := range page.Tasks {
		out.Tasks[i] = View(t)
	}
	writeJSON(w, http.StatusOK, out)
}
