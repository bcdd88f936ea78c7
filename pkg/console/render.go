package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"
)

//go:embed templates
var templateFS embed.FS

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{"overview", "tasks", "task", "schedules", "schedule", "dlq", "signin", "error"}

type pageTemplate struct{ t *template.Template }

var funcs = template.FuncMap{
	"utc": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"utcp": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
	"local": func(t time.Time) string {
		return t.Format("2006-01-02 15:04:05 MST (-07:00), Mon")
	},
	// dtlocal is a value for <input type="datetime-local"> (UTC).
	"dtlocal": func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05") },
	"ms": func(a, b time.Time) string {
		if a.IsZero() || b.IsZero() {
			return ""
		}
		return strconv.FormatInt(b.Sub(a).Milliseconds(), 10) + " ms"
	},
	"num": func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"nump": func(f *float64) string {
		if f == nil {
			return "–"
		}
		return strconv.FormatFloat(*f, 'f', 0, 64) + " ms"
	},
	"intp": func(n *int) string {
		if n == nil {
			return "unknown"
		}
		return strconv.Itoa(*n)
	},
	"lower": strings.ToLower,
	"inc":   func(i int) int { return i + 1 },
}

func parsePages() (map[string]*pageTemplate, error) {
	out := map[string]*pageTemplate{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		out[name] = &pageTemplate{t: t}
	}
	return out, nil
}

// view is what every page's template gets.
type view struct {
	Title    string
	Nav      string // the current section, for aria-current
	Prefix   string
	CSRF     string
	SignIn   bool // the console has a sign-in form
	SignedIn bool
	Err      *errView
	Data     any
}

// render writes a whole page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page, title, nav string, data any, ev *errView) {
	sid := sidOf(r)
	v := view{Title: title, Nav: nav, Prefix: c.opts.Prefix, CSRF: c.csrf(sid), SignIn: c.opts.SignIn, Err: ev, Data: data}
	if c.opts.SignIn {
		c.mu.Lock()
		_, v.SignedIn = c.sessions[sid]
		c.mu.Unlock()
	}
	var buf bytes.Buffer
	if err := c.pages[page].t.Execute(&buf, v); err != nil {
		http.Error(w, "console: render "+page+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderFragment writes one named template of the overview (htmx swaps).
func (c *Console) renderFragment(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := c.pages["overview"].t.ExecuteTemplate(&buf, name, view{Prefix: c.opts.Prefix, Data: data}); err != nil {
		http.Error(w, "console: render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// fail renders the error page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, title, detail string, fields []errField) {
	ev := &errView{Status: status, Title: title, Detail: detail}
	for _, f := range fields {
		ev.add(f.Field, f.Reason)
	}
	c.render(w, r, status, "error", title, "", nil, ev)
}

type errField struct{ Field, Reason string }
