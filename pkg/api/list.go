package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Listing limits.
const (
	defaultListLimit = 50
	maxListLimit     = 100
	// maxExamine bounds the index entries one list request reads when
	// filters (state, label) discard most of them: the page may then come
	// back short, with a next_page_token to go on from.
	maxExamine      = 1000
	maxLabelFilters = 16
)

// TaskList is a page of GET /v1/tasks.
type TaskList struct {
	Tasks         []TaskView `json:"tasks"`
	NextPageToken string     `json:"next_page_token,omitempty"`
}

type listFilter struct {
	q      task.ListQuery
	states []task.State
	labels [][2]string
	limit  int
	after  string // position from the page token
}

var listParams = map[string]bool{"state": true, "due_after": true, "due_before": true, "label": true, "limit": true, "page_token": true}

var allStates = []task.State{task.Scheduled, task.Dispatched, task.Running, task.Retrying, task.Succeeded, task.Failed, task.Cancelled}

// parseList validates the query string, naming each bad parameter.
func (s *Server) parseList(r *http.Request) (listFilter, []problem.FieldError) {
	var f listFilter
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
			if !slices.Contains(f.states, task.State(st)) {
				f.states = append(f.states, task.State(st))
			}
		}
	}
	slices.Sort(f.states)
	for _, k := range []string{"due_after", "due_before"} {
		if v, ok := single(k); ok {
			t, err := task.ParseTime(v)
			if err != nil {
				bad(k, "must be an RFC 3339 time with an offset within ±23:59, e.g. 2030-01-02T15:04:05Z")
				continue
			}
			if k == "due_after" {
				f.q.DueAfter = t.UTC()
			} else {
				f.q.DueBefore = t.UTC()
			}
		}
	}
	if len(vals["label"]) > maxLabelFilters {
		bad("label", "at most 16 label filters")
	} else {
		for _, v := range vals["label"] {
			k, val, ok := strings.Cut(v, "=")
			if !ok || k == "" || len(k) > 128 || len(val) > 128 {
				bad("label", `must be "key=value"`)
				continue
			}
			f.labels = append(f.labels, [2]string{k, val})
		}
	}
	slices.SortFunc(f.labels, func(a, b [2]string) int { return strings.Compare(a[0]+"="+a[1], b[0]+"="+b[1]) })
	f.limit = defaultListLimit
	if v, ok := single("limit"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			bad("limit", "must be an integer from 1 to 100")
		} else {
			f.limit = n
		}
	}
	if v, ok := single("page_token"); ok && len(errs) == 0 {
		pos, ok := s.openPageToken(tenantOf(r), f.fingerprint(), v)
		if !ok {
			bad("page_token", "is not a token this listing returned (tokens are bound to the caller and the filters)")
		}
		f.after = pos
	}
	f.q.Tenant, f.q.After = tenantOf(r), f.after
	return f, errs
}

// fingerprint names the filters, so that a page token is only accepted
// with the filters it was issued for.
func (f listFilter) fingerprint() string {
	var b strings.Builder
	for _, st := range f.states {
		b.WriteString(string(st) + ",")
	}
	b.WriteString("|")
	for _, l := range f.labels {
		b.WriteString(strconv.Quote(l[0]) + "=" + strconv.Quote(l[1]) + ",")
	}
	b.WriteString("|" + f.q.DueAfter.Format(time.RFC3339Nano) + "|" + f.q.DueBefore.Format(time.RFC3339Nano))
	return b.String()
}

// pageToken is base64url(position) "." base64url(HMAC(tenant, filters,
// position)): opaque to clients, useless to another tenant, and refused
// when altered or replayed with other filters.
func (s *Server) pageToken(tenant, filters, pos string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pos)) + "." + base64.RawURLEncoding.EncodeToString(s.tokenMAC(tenant, filters, pos))
}

func (s *Server) openPageToken(tenant, filters, tok string) (string, bool) {
	p, m, ok := strings.Cut(tok, ".")
	if !ok || len(tok) > 256 {
		return "", false
	}
	pos, err1 := base64.RawURLEncoding.DecodeString(p)
	mac, err2 := base64.RawURLEncoding.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.tokenMAC(tenant, filters, string(pos))) {
		return "", false
	}
	return string(pos), true
}

func (s *Server) tokenMAC(tenant, filters, pos string) []byte {
	h := hmac.New(sha256.New, s.tokenKey)
	for _, part := range []string{"hourglass page token v1", tenant, filters, pos} {
		h.Write([]byte(strconv.Itoa(len(part)) + ":" + part))
	}
	return h.Sum(nil)[:16]
}

func (f listFilter) match(v TaskView) bool {
	if len(f.states) > 0 && !slices.Contains(f.states, v.State) {
		return false
	}
	for _, l := range f.labels {
		if got, ok := v.Labels[l[0]]; !ok || got != l[1] {
			return false
		}
	}
	return true
}

// listIndexOff is the detail of the 501 that GET /v1/tasks answers when the
// deployment does not write the by_tenant index.
const listIndexOff = "listing tasks needs the by_tenant index, which this deployment does not write: " +
	"set HOURGLASS_LIST_INDEX=1 on every function (CDK stack: the ListIndex prop, or -c listIndex=true) to turn it on. " +
	"It costs one more DynamoDB write unit per task created, and lists only the tasks created after it is on."

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) {
	if s.failedOnly(r) {
		s.listFailed(w, r) // the by_failed index answers, list index or not
		return
	}
	if !s.cfg.ListIndex {
		problem.NotImplemented(listIndexOff).Write(w)
		return
	}
	f, errs := s.parseList(r)
	if len(errs) > 0 {
		problem.Invalid(errs...).Write(w)
		return
	}
	s.listPage(w, r, f, s.store.ListIDs)
}

// listPage answers one page of a listing whose entries lister reads.
func (s *Server) listPage(w http.ResponseWriter, r *http.Request, f listFilter, lister func(context.Context, task.ListQuery) ([]task.ListEntry, bool, error)) {
	out := TaskList{Tasks: []TaskView{}}
	filtered := len(f.states) > 0 || len(f.labels) > 0
	pos, examined, done := f.after, 0, false
	for len(out.Tasks) < f.limit && examined < maxExamine {
		q := f.q
		q.After = pos
		q.Limit = int32(f.limit - len(out.Tasks))
		if filtered {
			q.Limit = maxListLimit
		}
		entries, more, err := lister(r.Context(), q)
		if err == nil && len(entries) == 0 {
			done = true
			break
		}
		var got map[task.ID]*task.Task
		if err == nil {
			ids := make([]task.ID, len(entries))
			for i, e := range entries {
				ids[i] = e.ID
			}
			got, err = s.store.GetMany(r.Context(), ids)
		}
		if err != nil {
			storeProblem(r, err, "").Write(w)
			return
		}
		full := false
		for _, e := range entries {
			examined++
			pos = e.Pos
			// The index is eventually consistent and the item the truth:
			// re-check the tenant, and skip items already deleted.
			if t, ok := got[e.ID]; ok && t.Tenant == f.q.Tenant {
				if v := s.view(r.Context(), t); f.match(v) {
					out.Tasks = append(out.Tasks, v)
				}
			}
			if len(out.Tasks) == f.limit {
				full = true
				break
			}
		}
		if !more && !full {
			done = true
			break
		}
	}
	if !done {
		out.NextPageToken = s.pageToken(f.q.Tenant, f.fingerprint(), pos)
	}
	writeJSON(w, http.StatusOK, out)
}
