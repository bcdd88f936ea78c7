package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Listing limits.
const (
	// DefaultListLimit is a page's size when ListTasks.Limit is zero.
	DefaultListLimit = 50
	// MaxListLimit is the largest page.
	MaxListLimit = 100
	// maxExamine bounds the index entries one list request reads when
	// filters (state, label) discard most of them: the page may then come
	// back short, with a next page token to go on from.
	maxExamine = 1000
	// MaxLabelFilters is the most label filters one listing takes.
	MaxLabelFilters = 16
)

// ListTasks asks for one page of a tenant's tasks, newest due first.
type ListTasks struct {
	States    []task.State // shown states to keep; none: all
	Labels    [][2]string  // key=value pairs every task kept carries
	DueAfter  time.Time    // zero: unbounded
	DueBefore time.Time    // zero: unbounded
	Limit     int          // 1 to MaxListLimit; zero: DefaultListLimit
	// PageToken continues a listing: a NextPageToken an earlier page with
	// the same filters returned to the same tenant.
	PageToken string
}

// TaskPage is a page of tasks, as shown.
type TaskPage struct {
	Tasks []*task.Task
	// NextPageToken continues the listing; empty on its last page.
	NextPageToken string
}

// listIndexOff is the detail of the *NotEnabled that listing answers when
// the deployment does not write the by_tenant index.
const listIndexOff = "listing tasks needs the by_tenant index, which this deployment does not write: " +
	"set HOURGLASS_LIST_INDEX=1 on every function (CDK stack: the ListIndex prop, or -c listIndex=true) to turn it on. " +
	"It costs one more DynamoDB write unit per task created, and lists only the tasks created after it is on."

// CanList says whether this deployment can list tasks in states (none:
// all): nil, or *NotEnabled saying how to turn listing on. FAILED tasks
// alone can always be listed (see DeadLetters).
func (s *Tasks) CanList(states ...task.State) error {
	if _, ok := s.failedOnly(states); ok {
		return nil
	}
	if !s.cfg.ListIndex {
		return &NotEnabled{Detail: listIndexOff}
	}
	return nil
}

// List returns one page of tenant's tasks. A page token that this listing
// did not issue (to this tenant, with these filters) is *Invalid, naming
// the field "page_token".
//
// A listing of FAILED tasks alone reads the sparse by_failed index (see
// DeadLetters), so it answers with the list index off.
func (s *Tasks) List(ctx context.Context, tenant string, req ListTasks) (TaskPage, error) {
	if err := s.CanList(req.States...); err != nil {
		return TaskPage{}, err
	}
	lister := s.store.ListIDs
	if dl, ok := s.failedOnly(req.States); ok {
		lister = dl.ListFailedIDs
	}
	states := slices.Clone(req.States)
	slices.Sort(states)
	states = slices.Compact(states)
	labels := slices.Clone(req.Labels)
	slices.SortFunc(labels, func(a, b [2]string) int { return strings.Compare(a[0]+"="+a[1], b[0]+"="+b[1]) })
	limit := req.Limit
	if limit == 0 {
		limit = DefaultListLimit
	}
	if limit < 1 || limit > MaxListLimit {
		return TaskPage{}, invalid("limit", "must be an integer from 1 to 100")
	}
	if len(labels) > MaxLabelFilters {
		return TaskPage{}, invalid("label", "at most 16 label filters")
	}
	q := task.ListQuery{Tenant: tenant, DueAfter: req.DueAfter.UTC(), DueBefore: req.DueBefore.UTC()}
	filters := fingerprint(states, labels, q)
	var pos string
	if req.PageToken != "" {
		p, ok := s.openPageToken(tenant, filters, req.PageToken)
		if !ok {
			return TaskPage{}, invalid("page_token", "is not a token this listing returned (tokens are bound to the caller and the filters)")
		}
		pos = p
	}
	match := func(t *task.Task) bool {
		if len(states) > 0 && !slices.Contains(states, t.State) {
			return false
		}
		for _, l := range labels {
			if got, ok := t.Labels[l[0]]; !ok || got != l[1] {
				return false
			}
		}
		return true
	}

	out := TaskPage{Tasks: []*task.Task{}}
	filtered := len(states) > 0 || len(labels) > 0
	examined, done := 0, false
	for len(out.Tasks) < limit && examined < maxExamine {
		q := q
		q.After = pos
		q.Limit = int32(limit - len(out.Tasks))
		if filtered {
			q.Limit = MaxListLimit
		}
		entries, more, err := lister(ctx, q)
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
			got, err = s.store.GetMany(ctx, ids)
		}
		if err != nil {
			return TaskPage{}, err
		}
		full := false
		for _, e := range entries {
			examined++
			pos = e.Pos
			// The index is eventually consistent and the item the truth:
			// re-check the tenant, and skip items already deleted.
			if t, ok := got[e.ID]; ok && t.Tenant == tenant {
				if v := s.shown(ctx, t); match(v) {
					out.Tasks = append(out.Tasks, v)
				}
			}
			if len(out.Tasks) == limit {
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
		out.NextPageToken = s.pageToken(tenant, filters, pos)
	}
	return out, nil
}

// fingerprint names the filters, so that a page token is only accepted
// with the filters it was issued for.
func fingerprint(states []task.State, labels [][2]string, q task.ListQuery) string {
	var b strings.Builder
	for _, st := range states {
		b.WriteString(string(st) + ",")
	}
	b.WriteString("|")
	for _, l := range labels {
		b.WriteString(strconv.Quote(l[0]) + "=" + strconv.Quote(l[1]) + ",")
	}
	b.WriteString("|" + q.DueAfter.Format(time.RFC3339Nano) + "|" + q.DueBefore.Format(time.RFC3339Nano))
	return b.String()
}

// pageToken is base64url(position) "." base64url(HMAC(tenant, filters,
// position)): opaque to clients, useless to another tenant, and refused
// when altered or replayed with other filters.
func (s *Tasks) pageToken(tenant, filters, pos string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pos)) + "." + base64.RawURLEncoding.EncodeToString(s.tokenMAC(tenant, filters, pos))
}

func (s *Tasks) openPageToken(tenant, filters, tok string) (string, bool) {
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

func (s *Tasks) tokenMAC(tenant, filters, pos string) []byte {
	h := hmac.New(sha256.New, s.tokenKey)
	for _, part := range []string{"hourglass page token v1", tenant, filters, pos} {
		h.Write([]byte(strconv.Itoa(len(part)) + ":" + part))
	}
	return h.Sum(nil)[:16]
}
