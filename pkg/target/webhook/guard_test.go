package webhook

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	refused := []string{
		"127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3", "10.0.0.1", "172.16.0.1", "172.31.255.255",
		"192.168.0.1", "100.64.0.1", "100.127.255.255", "169.254.169.254", "169.254.170.2", "169.254.0.1",
		"224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1", "192.0.0.170", "192.0.2.1",
		"198.18.0.1", "198.51.100.7", "203.0.113.9",
		"::", "::1", "fe80::1", "fe80::1%eth0", "fc00::1", "fd00:ec2::254", "fd12:3456::1", "ff02::1", "fec0::1",
		"::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::ffff:0.0.0.0",
		"::127.0.0.1", "::8.8.8.8", // IPv4-compatible: refused outright
		"::ffff:0:127.0.0.1", // SIIT
		"64:ff9b::127.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b::10.0.0.1", "64:ff9b:1::1",
		"2002:7f00:1::1", "2002:a9fe:a9fe::", "2001::1", "2001:db8::1", "100::1",
	}
	for _, s := range refused {
		assert.NotEmpty(t, classify(netip.MustParseAddr(s)), "%s must be refused", s)
	}
	allowed := []string{
		"8.8.8.8", "1.1.1.1", "93.184.216.34", "100.63.255.255", "100.128.0.0", "172.32.0.1", "11.0.0.1",
		"::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1", "2606:4700:4700::1111", "2a00:1450:4001::1",
	}
	for _, s := range allowed {
		assert.Empty(t, classify(netip.MustParseAddr(s)), "%s must be allowed", s)
	}
	assert.NotEmpty(t, classify(netip.Addr{}))
}

// ssrfSpellings are URLs whose host is, in some spelling, an internal
// address (or otherwise refused). dial marks those whose host alone (no
// scheme or userinfo rule) must also be refused by the dialer.
var ssrfSpellings = []struct {
	url  string
	dial string // host:port handed to the dialer; "" when not a dial case
}{
	{"https://127.0.0.1/", "127.0.0.1:443"},
	{"https://127.0.0.1:8443/x", "127.0.0.1:8443"},
	{"https://2130706433/", "2130706433:443"},
	{"https://0x7f.1/", "0x7f.1:443"},
	{"https://0X7F.1/", "0X7F.1:443"},
	{"https://0x7f000001/", "0x7f000001:443"},
	{"https://017700000001/", "017700000001:443"},
	{"https://0177.0.0.1/", "0177.0.0.1:443"},
	{"https://0177.1/", "0177.1:443"},
	{"https://127.1/", "127.1:443"},
	{"https://127.0.1/", "127.0.1:443"},
	{"https://127.000.000.001/", "127.000.000.001:443"},
	{"https://127.0.0.1./", "127.0.0.1.:443"},
	{"https://0/", "0:443"},
	{"https://0.0.0.0/", "0.0.0.0:443"},
	{"https://0x0/", "0x0:443"},
	{"https://1.2.3.4.5/", "1.2.3.4.5:443"},
	{"https://example.123/", "example.123:443"},
	{"https://%31%32%37.0.0.1/", ""},
	{"https://[::1]/", "[::1]:443"},
	{"https://[0:0:0:0:0:0:0:1]/", "[0:0:0:0:0:0:0:1]:443"},
	{"https://[::]/", "[::]:443"},
	{"https://[::ffff:127.0.0.1]/", "[::ffff:127.0.0.1]:443"},
	{"https://[::ffff:7f00:1]/", "[::ffff:7f00:1]:443"},
	{"https://[::FFFF:7F00:1]/", "[::FFFF:7F00:1]:443"},
	{"https://[::127.0.0.1]/", "[::127.0.0.1]:443"},
	{"https://[::ffff:169.254.169.254]/", "[::ffff:169.254.169.254]:443"},
	{"https://[::ffff:a9fe:a9fe]/", "[::ffff:a9fe:a9fe]:443"},
	{"https://[64:ff9b::7f00:1]/", "[64:ff9b::7f00:1]:443"},
	{"https://[64:ff9b::169.254.169.254]/", "[64:ff9b::169.254.169.254]:443"},
	{"https://[2002:7f00:1::]/", "[2002:7f00:1::]:443"},
	{"https://169.254.169.254/latest/meta-data/", "169.254.169.254:443"},
	{"https://169.254.170.2/v2/credentials", "169.254.170.2:443"},
	{"https://[fd00:ec2::254]/", "[fd00:ec2::254]:443"},
	{"https://[fe80::1]/", "[fe80::1]:443"},
	{"https://[fe80::1%25eth0]/", "[fe80::1%eth0]:443"},
	{"https://10.0.0.1/", "10.0.0.1:443"},
	{"https://172.16.0.1/", "172.16.0.1:443"},
	{"https://192.168.1.1/", "192.168.1.1:443"},
	{"https://100.64.0.1/", "100.64.0.1:443"},
	{"https://[fc00::1]/", "[fc00::1]:443"},
	{"https://224.0.0.1/", "224.0.0.1:443"},
	{"https://[ff02::1]/", "[ff02::1]:443"},
	{"https://255.255.255.255/", "255.255.255.255:443"},
	{"https://LOCALHOST/", "LOCALHOST:443"},
	{"https://localhost./", "localhost.:443"},
	{"https://api.localhost/", "api.localhost:443"},
	{"HTTPS://127.0.0.1/", ""},
	{"https://user:pass@example.com/", ""},
	{"https://user@example.com/", ""},
	{"http://example.com/", ""},
	{"ftp://example.com/", ""},
	{"file:///etc/passwd", ""},
	{"gopher://127.0.0.1:6379/_", ""},
	{"https:example.com", ""},
	{"//example.com/", ""},
	{"https://exa mple.com/", ""},
	{"https://exa\\mple.com/", ""},
	{"https://bücher.example/", ""},
	{"https://example.com:0/", ""},
	{"https://example.com:99999/", ""},
	{"https://example.com/" + string(make([]byte, MaxURLLength)), ""},
}

func TestValidateRefusesSSRFSpellings(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{})
	for _, tt := range ssrfSpellings {
		t.Run(tt.url[:min(len(tt.url), 60)], func(t *testing.T) {
			t.Parallel()
			errs := e.Validate(specJSON(t, map[string]any{"url": tt.url}))
			require.Len(t, errs, 1, "%q must be refused", tt.url)
			require.Equal(t, "url", errs[0].Field)
			require.NotEmpty(t, errs[0].Reason)
		})
	}
}

func TestDialRefusesSSRFSpellings(t *testing.T) {
	t.Parallel()
	// Whatever a resolver would make of these hosts, the guard refuses them
	// before asking it (a cgo resolver reads 2130706433 as 127.0.0.1).
	res := anyResolver{netip.MustParseAddr("127.0.0.1")}
	g := &guard{resolver: res}
	for _, tt := range ssrfSpellings {
		if tt.dial == "" {
			continue
		}
		t.Run(tt.dial, func(t *testing.T) {
			t.Parallel()
			conn, err := g.DialContext(context.Background(), "tcp", tt.dial)
			if conn != nil {
				conn.Close()
			}
			var refused *RefusedError
			require.ErrorAs(t, err, &refused, "%s must be refused at dial time", tt.dial)
		})
	}
}

func TestDialRefusesRebinding(t *testing.T) {
	t.Parallel()
	internal := []string{
		"127.0.0.1", "169.254.169.254", "169.254.170.2", "10.1.2.3", "0.0.0.0", "100.100.100.200",
		"::1", "fd00:ec2::254", "::ffff:127.0.0.1", "64:ff9b::a9fe:a9fe", "fe80::1",
	}
	for _, ip := range internal {
		t.Run(ip, func(t *testing.T) {
			t.Parallel()
			res := newFakeResolver("hooks.example.com", ip)
			g := &guard{resolver: res}
			conn, err := g.DialContext(context.Background(), "tcp", "Hooks.Example.COM.:443")
			if conn != nil {
				conn.Close()
			}
			var refused *RefusedError
			require.ErrorAs(t, err, &refused)
			require.Equal(t, netip.MustParseAddr(ip), refused.Addr)
			require.EqualValues(t, 1, res.calls.Load(), "the normalised name must be resolved exactly once")
		})
	}
	t.Run("mixed answers", func(t *testing.T) {
		t.Parallel()
		res := newFakeResolver("hooks.example.com", "93.184.216.34", "hooks.example.com", "127.0.0.1")
		g := &guard{resolver: res}
		_, _, _, _, err := g.resolve(context.Background(), "hooks.example.com:443")
		var refused *RefusedError
		require.ErrorAs(t, err, &refused)
	})
	t.Run("public answer passes", func(t *testing.T) {
		t.Parallel()
		res := newFakeResolver("hooks.example.com", "93.184.216.34")
		g := &guard{resolver: res}
		_, ips, port, _, err := g.resolve(context.Background(), "hooks.example.com:443")
		require.NoError(t, err)
		require.Equal(t, []netip.Addr{netip.MustParseAddr("93.184.216.34")}, ips)
		require.EqualValues(t, 443, port)
	})
	t.Run("dns failure is not a refusal", func(t *testing.T) {
		t.Parallel()
		g := &guard{resolver: newFakeResolver()}
		_, _, _, _, err := g.resolve(context.Background(), "nowhere.example:443")
		require.Error(t, err)
		var refused *RefusedError
		require.False(t, errors.As(err, &refused), "a DNS failure is retryable, not a refusal")
	})
}

func TestValidateAccepts(t *testing.T) {
	t.Parallel()
	e := setup(t, Config{Allow: []string{"127.0.0.1:8080", "sink.local:9000", "10.20.0.0/16", "::1"}})
	for _, u := range []string{
		"https://example.com/hook",
		"https://EXAMPLE.com./hook?x=1#frag",
		"https://hooks.example.com:8443/a/b",
		"https://8.8.8.8/",
		"https://[2606:4700:4700::1111]/",
		"https://[::ffff:8.8.8.8]/",
		"https://a-b_c.example.com/",
		"https://1x.example.com/",
		"http://127.0.0.1:8080/sink",
		"http://sink.local:9000/",
		"http://SINK.local.:9000/",
		"http://10.20.3.4/",
		"https://10.20.3.4:9999/",
		"http://[::1]:1234/",
	} {
		assert.Empty(t, e.Validate(specJSON(t, map[string]any{"url": u})), u)
	}
	// The allow-list is exact: neighbours stay refused.
	for _, u := range []string{
		"http://127.0.0.1:8081/",
		"https://127.0.0.1/",
		"http://sink.local:9001/",
		"http://10.21.0.1/",
		"https://[::2]/",
	} {
		assert.NotEmpty(t, e.Validate(specJSON(t, map[string]any{"url": u})), u)
	}
}

func TestAllowListEntries(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "not a cidr", "sink.local", "127.0.0.1:0", "127.0.0.1:http", "2130706433:80", "10.0.0.0/33"} {
		_, err := New(Config{Secret: testSecrets, Allow: []string{bad}})
		assert.Error(t, err, "%q", bad)
	}
	_, err := New(Config{Secret: testSecrets, Allow: []string{"10.0.0.0/8", "127.0.0.1", "[::1]:80", "Sink.Local.:80"}})
	require.NoError(t, err)
}

func TestParseInetAton(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"2130706433":     "127.0.0.1",
		"0x7f.1":         "127.0.0.1",
		"017700000001":   "127.0.0.1",
		"127.1":          "127.0.0.1",
		"0177.0.0.01":    "127.0.0.1",
		"0xa9.254.43518": "169.254.169.254",
		"0":              "0.0.0.0",
	} {
		got, ok := parseInetAton(in)
		require.True(t, ok, in)
		require.Equal(t, want, got.String(), in)
	}
	for _, in := range []string{"256.1.1.1", "1.2.3.4.5", "08", "4294967296", "1..2"} {
		_, ok := parseInetAton(in)
		require.False(t, ok, in)
	}
}
