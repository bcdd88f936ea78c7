package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

func (h *ScheduleHandler) create(w http.ResponseWriter, r *http.Request) {
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	s, err := h.svc.Create(r.Context(), TenantOf(r), body)
	if err != nil {
		h.problemOf(r, err).Write(w)
		return
	}
	w.Header().Set("Location", "/v1/schedules/"+s.ID)
	WriteJSON(w, http.StatusCreated, ScheduleViewOf(s))
}

func (h *ScheduleHandler) get(w http.ResponseWriter, r *http.Request) {
	s, err := h.svc.Get(r.Context(), TenantOf(r), r.PathValue("id"))
	if err != nil {
		h.problemOf(r, err).Write(w)
		return
	}
	WriteJSON(w, http.StatusOK, ScheduleViewOf(s))
}

// patch changes a schedule (app.Schedules.Patch); an If-Match header with
// the schedule's version makes the change conditional (412 if it moved).
func (h *ScheduleHandler) patch(w http.ResponseWriter, r *http.Request) {
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	s, err := h.svc.Patch(r.Context(), TenantOf(r), r.PathValue("id"), body, r.Header.Get("If-Match"))
	if err != nil {
		h.problemOf(r, err).Write(w)
		return
	}
	WriteJSON(w, http.StatusOK, ScheduleViewOf(s))
}

func (h *ScheduleHandler) delete(w http.ResponseWriter, r *http.Request) {
	if err := h.svc.Delete(r.Context(), TenantOf(r), r.PathValue("id")); err != nil {
		h.problemOf(r, err).Write(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ScheduleListView is a page of schedules.
type ScheduleListView struct {
	Schedules     []ScheduleView `json:"schedules"`
	NextPageToken string         `json:"next_page_token,omitempty"`
}

func (h *ScheduleHandler) list(w http.ResponseWriter, r *http.Request) {
	size, fe := intParam(r, "page_size", 50, 1, 100)
	if fe != nil {
		problem.Invalid(*fe).Write(w)
		return
	}
	page, err := h.svc.List(r.Context(), TenantOf(r), size, r.URL.Query().Get("page_token"))
	if err != nil {
		h.problemOf(r, err).Write(w)
		return
	}
	out := ScheduleListView{Schedules: make([]ScheduleView, 0, len(page.Schedules)), NextPageToken: page.NextPageToken}
	for _, s := range page.Schedules {
		out.Schedules = append(out.Schedules, ScheduleViewOf(s))
	}
	WriteJSON(w, http.StatusOK, out)
}

// OccurrenceView is one occurrence a schedule created.
type OccurrenceView struct {
	At         time.Time  `json:"at"`     // nominal fire time
	DueAt      time.Time  `json:"due_at"` // when its task is due (flexible window, catch-up)
	TaskID     string     `json:"task_id"`
	State      task.State `json:"state,omitempty"` // absent once the task has expired
	Generation int64      `json:"generation"`
}

// UpcomingView is a future fire time with no task yet.
type UpcomingView struct {
	At    time.Time `json:"at"`
	DueAt time.Time `json:"due_at"`
}

// OccurrencesView lists a schedule's occurrences.
type OccurrencesView struct {
	Occurrences []OccurrenceView `json:"occurrences"` // newest first
	Upcoming    []UpcomingView   `json:"upcoming"`    // in order
}

func (h *ScheduleHandler) occurrences(w http.ResponseWriter, r *http.Request) {
	size, fe := intParam(r, "limit", 20, 1, 100)
	if fe != nil {
		problem.Invalid(*fe).Write(w)
		return
	}
	occ, err := h.svc.Occurrences(r.Context(), TenantOf(r), r.PathValue("id"), size)
	if err != nil {
		h.problemOf(r, err).Write(w)
		return
	}
	out := OccurrencesView{Occurrences: make([]OccurrenceView, 0, len(occ.Occurrences)), Upcoming: make([]UpcomingView, 0, len(occ.Upcoming))}
	for _, o := range occ.Occurrences {
		out.Occurrences = append(out.Occurrences, OccurrenceView{At: o.At.UTC(), DueAt: o.Due.UTC(), TaskID: o.TaskID.String(), State: o.State, Generation: o.Generation})
	}
	for _, u := range occ.Upcoming {
		out.Upcoming = append(out.Upcoming, UpcomingView{At: u.At, DueAt: u.Due})
	}
	WriteJSON(w, http.StatusOK, out)
}

// PreviewView is the answer of a preview.
type PreviewView struct {
	Times []time.Time `json:"times"`
}

// preview returns the next count fire times of an expression strictly
// after after (default now); see app.Schedules.Preview.
func (h *ScheduleHandler) preview(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var errs []task.FieldError
	count, fe := intParam(r, "count", 10, 1, 100)
	if fe != nil {
		errs = append(errs, *fe)
	}
	req := app.Preview{Expression: q.Get("expression"), Timezone: q.Get("timezone"), Count: count}
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"after", &req.After}, {"start_at", &req.Start}} {
		if v := q.Get(p.name); v != "" {
			t, err := task.ParseTime(v)
			if err != nil {
				errs = append(errs, task.FieldError{Field: p.name, Reason: strconv.Quote(v) + " is not an RFC 3339 time with an offset within ±23:59 (e.g. 2030-01-02T15:04:05Z)"})
			}
			*p.to = t
		}
	}
	times, err := h.svc.Preview(req, errs...)
	if err != nil {
		h.problemOf(r, err).Write(w)
		return
	}
	WriteJSON(w, http.StatusOK, PreviewView{Times: times})
}
