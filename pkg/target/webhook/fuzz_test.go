package webhook

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// internalByStdlib is an oracle independent of classify: what the standard
// library itself calls non-public, plus the ranges the brief names.
func internalByStdlib(a netip.Addr) bool {
	for _, x := range []netip.Addr{a, a.Unmap()} {
		if x.IsLoopback() || x.IsPrivate() || x.IsLinkLocalUnicast() || x.IsLinkLocalMulticast() ||
			x.IsInterfaceLocalMulticast() || x.IsMulticast() || x.IsUnspecified() {
			return true
		}
		for _, p := range oraclePrefixes {
			if p.Contains(x) {
				return true
			}
		}
	}
	return false
}

var oraclePrefixes = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "255.255.255.255/32",
		"fd00:ec2::254/128", "fc00::/7", "fe80::/10",
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

func embed(prefix string, v4 netip.Addr, at int) netip.Addr {
	a := netip.MustParseAddr(prefix).As16()
	b := v4.As4()
	copy(a[at:at+4], b[:])
	return netip.AddrFrom16(a)
}

// FuzzClassify: every address the standard library (or the brief) calls
// internal is refused, in every IPv6 form that embeds it, and classify never
// panics.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1", "169.254.169.254", "169.254.170.2", "10.0.0.1", "100.64.0.1", "0.0.0.0",
		"255.255.255.255", "224.0.0.1", "8.8.8.8", "::1", "::", "fe80::1", "fd00:ec2::254",
		"::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "2606:4700:4700::1111",
	} {
		f.Add(netip.MustParseAddr(s).AsSlice())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		reason := classify(a)
		if internalByStdlib(a) && reason == "" {
			t.Fatalf("%s is internal but allowed", a)
		}
		if again := classify(netip.MustParseAddr(a.String())); again != reason {
			t.Fatalf("%s: classification changed through its string form: %q vs %q", a, reason, again)
		}
		if !a.Is4() || reason == "" {
			return
		}
		forms := []netip.Addr{
			netip.AddrFrom16(a.As16()),   // ::ffff:a.b.c.d
			embed("::", a, 12),           // ::a.b.c.d
			embed("64:ff9b::", a, 12),    // NAT64
			embed("::ffff:0:0:0", a, 12), // SIIT
			embed("2002::", a, 2),        // 6to4
			netip.AddrFrom16(a.As16()).WithZone("eth0"),
		}
		for _, x := range forms {
			if classify(x) == "" {
				t.Fatalf("%s embeds refused %s (%s) but is allowed", x, a, reason)
			}
		}
	})
}

// oracleInetAton reads a host the way permissive resolvers (inet_aton, the
// URL standard) do, written independently of parseInetAton.
func oracleInetAton(s string) (netip.Addr, bool) {
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	parts := strings.Split(s, ".")
	if len(parts) == 0 || len(parts) > 4 {
		return netip.Addr{}, false
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		if p == "" || strings.ContainsAny(p, "_bo+-") && !strings.HasPrefix(p, "0x") {
			return netip.Addr{}, false
		}
		if strings.HasPrefix(p, "0x") && strings.ContainsAny(p[2:], "_x") {
			return netip.Addr{}, false
		}
		if p == "0x" {
			p = "0"
		}
		n, err := strconv.ParseUint(p, 0, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		nums[i] = n
	}
	var v uint32
	for i, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, false
		}
		v += uint32(n) << (24 - 8*i)
	}
	rest := nums[len(nums)-1]
	if rest >= uint64(1)<<(32-8*(len(nums)-1)) {
		return netip.Addr{}, false
	}
	v += uint32(rest)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// FuzzHost: for any host, Validate never accepts a URL that any common
// reading of its host makes internal, and the dialer, whose resolver always
// answers 127.0.0.1 (DNS rebinding), never hands back an internal address.
func FuzzHost(f *testing.F) {
	for _, s := range []string{
		"example.com", "127.0.0.1", "2130706433", "0x7f.1", "017700000001", "127.1", "[::ffff:127.0.0.1]",
		"[::ffff:7f00:1]", "127.0.0.1.", "LOCALHOST", "169.254.169.254", "[fd00:ec2::254]", "0", "[fe80::1%25eth0]",
		"%31%32%37.0.0.1", "8.8.8.8", "[64:ff9b::7f00:1]", "1.1.1.1:8443", "a.b.c.0x10", "xn--bcher-kva.example",
	} {
		f.Add(s)
	}
	e, err := New(Config{Secret: testSecrets})
	if err != nil {
		f.Fatal(err)
	}
	g := &guard{resolver: anyResolver{netip.MustParseAddr("127.0.0.1")}}
	f.Fuzz(func(t *testing.T, s string) {
		raw := "https://" + s + "/"
		if errs := e.Validate(specJSON(t, map[string]any{"url": raw})); len(errs) == 0 {
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatalf("accepted unparsable %q", raw)
			}
			h := u.Hostname()
			if u.User != nil {
				t.Fatalf("accepted userinfo in %q", raw)
			}
			if a, err := netip.ParseAddr(strings.TrimSuffix(h, ".")); err == nil && internalByStdlib(a) {
				t.Fatalf("accepted %q (%s)", raw, a)
			}
			if ip := net.ParseIP(h); ip != nil {
				a, _ := netip.AddrFromSlice(ip)
				if internalByStdlib(a) {
					t.Fatalf("accepted %q (net.ParseIP: %s)", raw, a)
				}
			}
			if a, ok := oracleInetAton(h); ok && internalByStdlib(a) {
				t.Fatalf("accepted %q (inet_aton: %s)", raw, a)
			}
			if h = strings.ToLower(strings.TrimSuffix(h, ".")); h == "localhost" || strings.HasSuffix(h, ".localhost") {
				t.Fatalf("accepted %q", raw)
			}
		}
		// The dialer sees host:port as the transport builds it.
		for _, addr := range []string{s, net.JoinHostPort(s, "443")} {
			_, ips, _, _, err := g.resolve(context.Background(), addr)
			if err != nil {
				continue
			}
			for _, ip := range ips {
				if internalByStdlib(ip) {
					t.Fatalf("dialer would connect %q to %s", addr, ip)
				}
			}
		}
	})
}

// FuzzSignVerify: a signature verifies for its own ID, timestamp and body
// and for nothing else, and Verify never panics on any header.
func FuzzSignVerify(f *testing.F) {
	f.Add([]byte("secret"), "msg_1", []byte(`{"a":1}`), int64(1_700_000_000), "v1,AA==")
	f.Add([]byte{}, "", []byte{}, int64(0), "")
	f.Add([]byte("k"), "msg_x.1", []byte("body"), int64(1<<40), "v1, v1,zz v2,1")
	f.Fuzz(func(t *testing.T, secret []byte, id string, body []byte, ts int64, header string) {
		if ts < 0 || ts > 1<<40 {
			ts &= 1<<40 - 1
		}
		if id == "" {
			id = "msg_"
		}
		stamp := strconv.FormatInt(ts, 10)
		now := time.Unix(ts, 0)
		sig := Sign(id, stamp, body, secret)
		if err := Verify(secret, id, stamp, body, sig, now, time.Minute); err != nil {
			t.Fatalf("own signature rejected: %v", err)
		}
		if err := Verify(secret, id, stamp, body, header+" "+sig, now.Add(time.Minute), time.Minute); err != nil {
			t.Fatalf("own signature among others rejected: %v", err)
		}
		if err := Verify(secret, id, stamp, append(body, 'x'), sig, now, time.Minute); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("tampered body: %v", err)
		}
		if err := Verify(secret, id+"x", stamp, body, sig, now, time.Minute); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("tampered webhook-id: %v", err)
		}
		if err := Verify(secret, id, strconv.FormatInt(ts+1, 10), body, sig, now, time.Minute); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("tampered timestamp: %v", err)
		}
		if err := Verify(secret, id, stamp, body, sig, now.Add(time.Minute+time.Second), time.Minute); !errors.Is(err, ErrTimestampSkew) {
			t.Fatalf("stale timestamp: %v", err)
		}
		// Arbitrary header: accepted only if it carries the right MAC.
		if err := Verify(secret, id, stamp, body, header, now, time.Minute); err == nil {
			want, _ := base64.StdEncoding.DecodeString(sig[3:])
			found := false
			for part := range strings.FieldsSeq(header) {
				v, h, _ := strings.Cut(part, ",")
				got, err := base64.StdEncoding.DecodeString(h)
				if v == "v1" && err == nil && string(got) == string(want) {
					found = true
				}
			}
			if !found {
				t.Fatalf("header %q verified without the signature", header)
			}
		}
		// Arbitrary timestamp strings never panic and never verify a foreign stamp.
		_ = Verify(secret, id, header, body, sig, now, time.Minute)
	})
}
