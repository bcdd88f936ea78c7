package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/client"
)

// printJSON writes v as indented JSON: what -o json prints.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table writes rows under a header, aligned.
func (a *app) table(header []string, rows [][]string) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		_, _ = fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush()
}

// fields writes name: value lines, aligned; empty values are left out.
func (a *app) fields(kv [][2]string) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	for _, f := range kv {
		if f[1] != "" {
			_, _ = fmt.Fprintf(tw, "%s:\t%s\n", f[0], f[1])
		}
	}
	_ = tw.Flush()
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func tsp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return ts(*t)
}

// targetText is a target in one short phrase: its kind and where it goes.
func targetText(t client.Target) string {
	kind, _ := t["kind"].(string)
	for _, k := range []string{"url", "queue_url", "function_arn", "event_bus_arn", "bus_arn", "arn"} {
		if v, ok := t[k].(string); ok && v != "" {
			return kind + " " + v
		}
	}
	return kind
}

// clip shortens s to n runes for a table cell, on one line.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func labelsText(l map[string]string) string {
	if len(l) == 0 {
		return ""
	}
	parts := make([]string, 0, len(l))
	for k, v := range l {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// progress is a bar on stderr for long operations, drawn only when stderr
// is a terminal (never into a pipe or a log).
type progress struct {
	w     io.Writer
	on    bool
	label string
	total int
	done  int
}

const barWidth = 30

func (p *progress) step() {
	p.done++
	if !p.on || p.total == 0 {
		return
	}
	full := barWidth * p.done / p.total
	_, _ = fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d", p.label, strings.Repeat("#", full), strings.Repeat(".", barWidth-full), p.done, p.total)
}

func (p *progress) finish() {
	if p.on && p.total > 0 {
		_, _ = fmt.Fprintln(p.w)
	}
}
