package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
)

// Resolver looks up the addresses of a host name. *net.Resolver satisfies it;
// tests inject a fake to simulate DNS answers (rebinding included) without DNS.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// RefusedError reports a destination the SSRF guard will not connect to.
// Execute turns it into a permanent failure.
type RefusedError struct {
	Host   string     // the host as written in the URL (or dialled)
	Addr   netip.Addr // the refused address; invalid when the host itself was refused
	Reason string
}

func (e *RefusedError) Error() string {
	if e.Addr.IsValid() && e.Addr.String() != e.Host {
		return fmt.Sprintf("webhook: refused destination %s (%s): %s", e.Host, e.Addr, e.Reason)
	}
	return fmt.Sprintf("webhook: refused destination %s: %s", e.Host, e.Reason)
}

type blockedRange struct {
	prefix netip.Prefix
	reason string
}

func ranges(pairs ...string) []blockedRange {
	out := make([]blockedRange, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, blockedRange{netip.MustParsePrefix(pairs[i]), pairs[i+1]})
	}
	return out
}

// blockedV4 is every IPv4 range that is not a public unicast destination.
// Order matters only for the reason reported (broadcast before reserved).
var blockedV4 = ranges(
	"0.0.0.0/8", "unspecified (\"this network\")",
	"10.0.0.0/8", "private",
	"100.64.0.0/10", "carrier-grade NAT",
	"127.0.0.0/8", "loopback",
	"169.254.0.0/16", "link-local (cloud metadata)", // 169.254.169.254 IMDS, 169.254.170.2 ECS credentials
	"172.16.0.0/12", "private",
	"192.0.0.0/24", "IETF protocol assignments",
	"192.0.2.0/24", "documentation",
	"192.88.99.0/24", "6to4 relay anycast",
	"192.168.0.0/16", "private",
	"198.18.0.0/15", "benchmarking",
	"198.51.100.0/24", "documentation",
	"203.0.113.0/24", "documentation",
	"224.0.0.0/4", "multicast",
	"255.255.255.255/32", "broadcast",
	"240.0.0.0/4", "reserved",
)

// blockedV6 is checked after the forms that embed an IPv4 address have been
// unwrapped; anything outside 2000::/3 (global unicast) is refused as well.
var blockedV6 = ranges(
	"::/128", "unspecified",
	"::1/128", "loopback",
	"::ffff:0:0:0/96", "IPv4-translated (SIIT)",
	"::/96", "IPv4-compatible (deprecated)",
	"64:ff9b:1::/48", "local-use NAT64",
	"100::/64", "discard-only",
	"2001::/32", "Teredo",
	"2001:db8::/32", "documentation",
	"fc00::/7", "unique local (private)", // includes fd00:ec2::254, the IPv6 IMDS
	"fec0::/10", "site-local",
	"fe80::/10", "link-local",
	"ff00::/8", "multicast",
)

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	global6   = netip.MustParsePrefix("2000::/3")
)

// classify returns why ip may not be dialled, or "" when it is a public
// unicast address. IPv4 addresses embedded in IPv6 (mapped, NAT64, 6to4) are
// judged by the IPv4 address they carry.
func classify(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid address"
	}
	if ip.Zone() != "" {
		return "a scoped (zoned) address"
	}
	if ip.Is4In6() {
		if r := classify(ip.Unmap()); r != "" {
			return "IPv4-mapped " + r
		}
		return ""
	}
	if ip.Is4() {
		for _, b := range blockedV4 {
			if b.prefix.Contains(ip) {
				return b.reason
			}
		}
		return ""
	}
	a := ip.As16()
	switch {
	case nat64.Contains(ip):
		if r := classify(netip.AddrFrom4([4]byte(a[12:16]))); r != "" {
			return "NAT64 of " + r
		}
		return ""
	case sixToFour.Contains(ip):
		if r := classify(netip.AddrFrom4([4]byte(a[2:6]))); r != "" {
			return "6to4 of " + r
		}
	}
	for _, b := range blockedV6 {
		if b.prefix.Contains(ip) {
			return b.reason
		}
	}
	if !global6.Contains(ip) {
		return "not global unicast"
	}
	return ""
}

// host is a URL or dial host after normalisation.
type host struct {
	name string     // lower case, no trailing dot, no brackets
	ip   netip.Addr // valid when the host is an IP literal
}

// parseHost normalises a host (without brackets or port) and refuses every
// ambiguous spelling: a host whose last label is a number must be a canonical
// dotted-decimal IPv4 address, because resolvers disagree about (and inet_aton
// accepts) forms such as 2130706433, 0x7f.1, 017700000001 or 127.1.
func parseHost(raw string) (host, error) {
	if raw == "" {
		return host{}, errors.New("host is empty")
	}
	if strings.Contains(raw, ":") {
		ip, err := netip.ParseAddr(raw)
		if err != nil {
			return host{}, fmt.Errorf("invalid IPv6 address %q", raw)
		}
		return host{name: ip.String(), ip: ip}, nil
	}
	name := strings.ToLower(raw)
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return host{}, errors.New("host is empty")
	}
	if len(name) > 253 {
		return host{}, errors.New("host name is longer than 253 bytes")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return host{}, fmt.Errorf("invalid host name %q", raw)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
				return host{}, fmt.Errorf("invalid host name %q (use the ASCII/punycode form)", raw)
			}
		}
	}
	if numericLabel(labels[len(labels)-1]) {
		ip, err := netip.ParseAddr(name)
		if err != nil || !ip.Is4() {
			if v4, ok := parseInetAton(name); ok {
				return host{}, fmt.Errorf("host %q is a non-canonical IPv4 address (%s); write it in dotted-decimal form", raw, v4)
			}
			return host{}, fmt.Errorf("host %q ends in a number but is not a dotted-decimal IPv4 address", raw)
		}
		return host{name: name, ip: ip}, nil
	}
	return host{name: name}, nil
}

// numericLabel reports whether a label reads as a number in the URL
// standard's sense (decimal digits, or 0x followed by hex digits).
func numericLabel(l string) bool {
	if len(l) >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X') {
		for i := 2; i < len(l); i++ {
			if !isHex(l[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	return l != ""
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// parseInetAton decodes the legacy inet_aton spellings (1 to 4 parts, each
// decimal, 0-prefixed octal or 0x-prefixed hex; the last part fills the
// remaining bytes). It serves only to explain a refusal.
func parseInetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		base, digits := 10, p
		switch {
		case len(p) >= 2 && (p[:2] == "0x" || p[:2] == "0X"):
			base, digits = 16, p[2:]
			if digits == "" {
				digits = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, digits = 8, p[1:]
		}
		if digits == "" {
			return netip.Addr{}, false
		}
		for j := 0; j < len(digits); j++ {
			if !isHex(digits[j]) {
				return netip.Addr{}, false
			}
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	last := len(vals) - 1
	var n uint64
	for i := 0; i < last; i++ {
		if vals[i] > 0xff {
			return netip.Addr{}, false
		}
		n |= vals[i] << (8 * (3 - i))
	}
	if vals[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, false
	}
	n |= vals[last]
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// isLocalhostName reports the names RFC 6761 reserves for loopback.
func isLocalhostName(name string) bool {
	return name == "localhost" || strings.HasSuffix(name, ".localhost")
}

// allowList holds the executor's exceptions to the guard (dev sinks, VPC
// endpoints). It is configuration, never part of a task.
type allowList struct {
	prefixes []netip.Prefix
	addrs    map[netip.AddrPort]bool
	hosts    map[string]bool // "name:port", name normalised
}

// parseAllowList reads entries of the forms "10.0.0.0/8", "127.0.0.1",
// "127.0.0.1:8080", "[::1]:8080" and "sink.local:8080".
func parseAllowList(entries []string) (allowList, error) {
	al := allowList{addrs: map[netip.AddrPort]bool{}, hosts: map[string]bool{}}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if p, err := netip.ParsePrefix(e); err == nil {
			al.prefixes = append(al.prefixes, p.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(e); err == nil {
			al.prefixes = append(al.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		h, port, err := net.SplitHostPort(e)
		if err != nil {
			return allowList{}, fmt.Errorf("webhook: allow-list entry %q: want a CIDR, an IP, or host:port", e)
		}
		pn, err := parsePort(port)
		if err != nil {
			return allowList{}, fmt.Errorf("webhook: allow-list entry %q: %w", e, err)
		}
		hh, err := parseHost(h)
		if err != nil {
			return allowList{}, fmt.Errorf("webhook: allow-list entry %q: %w", e, err)
		}
		if hh.ip.IsValid() {
			al.addrs[netip.AddrPortFrom(hh.ip, pn)] = true
		} else {
			al.hosts[hh.name+":"+port] = true
		}
	}
	return al, nil
}

func (al allowList) ip(ip netip.Addr, port uint16) bool {
	if al.addrs[netip.AddrPortFrom(ip, port)] || al.addrs[netip.AddrPortFrom(ip.Unmap(), port)] {
		return true
	}
	for _, p := range al.prefixes {
		if p.Contains(ip) || p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

func (al allowList) host(name string, port uint16) bool {
	return al.hosts[name+":"+strconv.Itoa(int(port))]
}

// allows reports whether h:port is explicitly allow-listed.
func (al allowList) allows(h host, port uint16) bool {
	if h.ip.IsValid() {
		return al.ip(h.ip, port)
	}
	return al.host(h.name, port)
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return uint16(n), nil
}

// checkStatic applies the guard to what a URL shows without resolving it:
// literal addresses and localhost names. Hosts that need DNS are checked
// again, on every address, when dialled.
func (al allowList) checkStatic(raw string, h host, port uint16) error {
	if al.allows(h, port) {
		return nil
	}
	if h.ip.IsValid() {
		if r := classify(h.ip); r != "" {
			return &RefusedError{Host: raw, Addr: h.ip, Reason: r}
		}
		return nil
	}
	if isLocalhostName(h.name) {
		return &RefusedError{Host: raw, Reason: "a localhost name"}
	}
	return nil
}

// guard dials only addresses that pass the SSRF policy. It resolves a name
// once, checks every address, and dials the checked addresses themselves, so
// a second (rebound) DNS answer is never consulted; the dialer's Control hook
// re-checks the socket address as a last line.
type guard struct {
	allow    allowList
	resolver Resolver
}

func (g *guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	rawHost, ips, port, hostAllowed, err := g.resolve(ctx, addr)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &RefusedError{Host: address, Reason: "unparsable socket address"}
		}
		return g.check(rawHost, hostAllowed, ap.Addr(), ap.Port())
	}}
	var firstErr error
	for _, ip := range ips {
		conn, err := d.DialContext(ctx, network, netip.AddrPortFrom(ip, port).String())
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

func (g *guard) check(rawHost string, hostAllowed bool, ip netip.Addr, port uint16) error {
	if hostAllowed || g.allow.ip(ip, port) {
		return nil
	}
	if r := classify(ip); r != "" {
		return &RefusedError{Host: rawHost, Addr: ip, Reason: r}
	}
	return nil
}

// resolve checks addr ("host:port") and returns the addresses to dial, every
// one of them already checked.
func (g *guard) resolve(ctx context.Context, addr string) (rawHost string, ips []netip.Addr, port uint16, hostAllowed bool, err error) {
	rawHost, rawPort, err := net.SplitHostPort(addr)
	if err != nil {
		return "", nil, 0, false, &RefusedError{Host: addr, Reason: err.Error()}
	}
	port, err = parsePort(rawPort)
	if err != nil {
		return "", nil, 0, false, &RefusedError{Host: addr, Reason: err.Error()}
	}
	h, err := parseHost(rawHost)
	if err != nil {
		return "", nil, 0, false, &RefusedError{Host: rawHost, Reason: err.Error()}
	}
	if err := g.allow.checkStatic(rawHost, h, port); err != nil {
		return "", nil, 0, false, err
	}
	hostAllowed = g.allow.allows(h, port)
	ips = []netip.Addr{h.ip}
	if !h.ip.IsValid() {
		ips, err = g.resolver.LookupNetIP(ctx, "ip", h.name)
		if err != nil {
			return "", nil, 0, false, fmt.Errorf("webhook: resolve %s: %w", h.name, err)
		}
		if len(ips) == 0 {
			return "", nil, 0, false, fmt.Errorf("webhook: resolve %s: no addresses", h.name)
		}
	}
	// One bad answer refuses the whole name: a name that mixes public and
	// internal addresses is a rebinding attempt, not a flaky DNS record.
	for _, ip := range ips {
		if err := g.check(rawHost, hostAllowed, ip, port); err != nil {
			return "", nil, 0, false, err
		}
	}
	return rawHost, ips, port, hostAllowed, nil
}
