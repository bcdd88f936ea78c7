package target

import (
	"fmt"
	"strings"
)

// AnyTenant is the allow-list entry that applies to every tenant without
// an entry of its own.
const AnyTenant = "*"

// AllowList says which AWS resources (queue, bus and function ARNs) each
// tenant may target. Written (HOURGLASS_TARGET_ALLOW) as
//
//	tenant=pattern|pattern,tenant=pattern,*=pattern
//
// Entries are separated by commas, a tenant from its patterns by the last
// "=" of the entry (a tenant may contain "="; an ARN never does), patterns
// by "|". A pattern is an ARN in which * matches any run of characters
// (":" and "/" included), e.g. arn:aws:sqs:*:123456789012:orders-*; a lone
// * allows every ARN. A tenant's own entry replaces the * entry (so it can
// be narrower than the default); a tenant with neither may target no ARN.
// "tenant=" with no pattern allows it none.
type AllowList struct {
	m map[string][]string
}

// ParseAllow parses an allow-list; tenantOK checks tenant names (nil
// accepts any non-empty name).
func ParseAllow(s string, tenantOK func(string) bool) (*AllowList, error) {
	out := &AllowList{m: map[string][]string{}}
	for _, entry := range strings.Split(s, ",") {
		if entry = strings.TrimSpace(entry); entry == "" {
			continue
		}
		i := strings.LastIndex(entry, "=")
		if i < 0 {
			return nil, fmt.Errorf("%q: want tenant=arn-pattern|arn-pattern", entry)
		}
		tenant, pats := strings.TrimSpace(entry[:i]), strings.TrimSpace(entry[i+1:])
		if tenant == "" || (tenant != AnyTenant && tenantOK != nil && !tenantOK(tenant)) {
			return nil, fmt.Errorf("%q: %q is not a tenant name (or * for every other tenant)", entry, tenant)
		}
		if _, dup := out.m[tenant]; dup {
			return nil, fmt.Errorf("tenant %q has two entries", tenant)
		}
		list := []string{}
		for _, p := range strings.Split(pats, "|") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			if p != "*" && !strings.HasPrefix(p, "arn:") {
				return nil, fmt.Errorf("%q: pattern %q must be an ARN (arn:…, * matches any characters) or *", entry, p)
			}
			list = append(list, p)
		}
		out.m[tenant] = list
	}
	return out, nil
}

// AllowAll is the development default: every tenant may target any ARN.
func AllowAll() *AllowList { return &AllowList{m: map[string][]string{AnyTenant: {"*"}}} }

// Allows reports whether tenant may target arn.
func (l *AllowList) Allows(tenant, arn string) bool {
	pats, ok := l.m[tenant]
	if !ok {
		pats = l.m[AnyTenant]
	}
	for _, p := range pats {
		if Match(p, arn) {
			return true
		}
	}
	return false
}

// Match reports whether s matches pattern, in which * matches any run of
// characters and everything else matches itself (case-sensitive, as ARNs
// are).
func Match(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}
