package ingest

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hourglass-sched/hourglass/events"
)

// Any, as a source or a tenant in Sources, matches every one.
const Any = "*"

// Sources says which event sources may create tasks for which tenants.
// The zero value allows none.
type Sources struct {
	m map[string]map[string]bool // source → tenants ("*" for any)
}

// ParseSources reads HOURGLASS_INGEST_SOURCES: comma-separated
// source=tenants entries, tenants separated by "|", "*" for any tenant —
// "com.example.orders=acme|globex,com.example.billing=*". A source of "*"
// matches every source (for development; never in production).
func ParseSources(s string) (Sources, error) {
	out := Sources{m: map[string]map[string]bool{}}
	for _, entry := range strings.Split(s, ",") {
		if entry = strings.TrimSpace(entry); entry == "" {
			continue
		}
		src, tenants, ok := strings.Cut(entry, "=")
		src = strings.TrimSpace(src)
		if !ok || src == "" || strings.TrimSpace(tenants) == "" {
			return Sources{}, fmt.Errorf("HOURGLASS_INGEST_SOURCES: %q: want source=tenant|tenant or source=*", entry)
		}
		if reservedSource(src) {
			return Sources{}, fmt.Errorf("HOURGLASS_INGEST_SOURCES: %q: the source %q is Hourglass's own (lifecycle events) or AWS's; it cannot create tasks", entry, src)
		}
		if out.m[src] == nil {
			out.m[src] = map[string]bool{}
		}
		for _, t := range strings.Split(tenants, "|") {
			if t = strings.TrimSpace(t); t == "" {
				return Sources{}, fmt.Errorf("HOURGLASS_INGEST_SOURCES: %q: empty tenant", entry)
			}
			out.m[src][t] = true
		}
	}
	return out, nil
}

// Allows reports whether events from source may act for tenant.
// Events from Hourglass's own source (its lifecycle events) or an AWS
// service never may, even under a "*" source.
func (s Sources) Allows(source, tenant string) bool {
	if reservedSource(source) {
		return false
	}
	for _, src := range []string{source, Any} {
		if ts := s.m[src]; ts[tenant] || ts[Any] {
			return true
		}
	}
	return false
}

// String lists the configuration in its environment form, sorted.
func (s Sources) String() string {
	entries := make([]string, 0, len(s.m))
	for src, ts := range s.m {
		names := make([]string, 0, len(ts))
		for t := range ts {
			names = append(names, t)
		}
		sort.Strings(names)
		entries = append(entries, src+"="+strings.Join(names, "|"))
	}
	sort.Strings(entries)
	return strings.Join(entries, ",")
}

// reservedSource reports whether source is Hourglass's lifecycle source or
// an AWS service's: never a creator of tasks.
func reservedSource(source string) bool {
	return strings.EqualFold(source, events.Source) || strings.HasPrefix(source, "aws.")
}
