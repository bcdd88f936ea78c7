package devhost_test

import (
	"net/netip"
	"testing"
)

func devLoopback(t *testing.T) []netip.Prefix {
	t.Helper()
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}
