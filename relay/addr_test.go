package relay

import (
	"fmt"
	"testing"

	"github.com/factlog/factlog/relay/sqlitestore"
)

func TestAddrKey(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"192.0.2.7:4000", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:4000", "192.0.2.7"},
		{"[2001:db8:1:2::1]:4000", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff:1:2:3]:4000", "2001:db8:1:2::/64"},
		{"[2001:db8:1:3::1]:4000", "2001:db8:1:3::/64"},
		{"[fe80::1%eth0]:4000", "fe80::/64"},
		{"2001:db8:1:2::9", "2001:db8:1:2::/64"},
		{"not an address", "not an address"},
	} {
		if got := addrKey(c.in); got != c.want {
			t.Errorf("addrKey(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestAddrTableFullKeepsLimits: a client that cycles through more new
// addresses than the server remembers does not get its own exhausted
// limit back, nor anyone else's (the table used to be cleared when full).
func TestAddrTableFullKeepsLimits(t *testing.T) {
	store, err := sqlitestore.Open(t.TempDir() + "/relay.db")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	s, err := New(Options{Store: store, ConnsPerIPMinute: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(t.Context())
	const victim = "192.0.2.1"
	for range 2 {
		if !s.allowIP(victim) {
			t.Fatal("the first connections of an address were refused")
		}
	}
	if s.allowIP(victim) {
		t.Fatal("a third connection within the minute was allowed (2 per minute)")
	}
	for i := range maxTrackedAddrs + 1000 {
		s.allowIP(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255))
	}
	if n := len(s.perIP); n > maxTrackedAddrs {
		t.Errorf("%d addresses remembered, more than %d", n, maxTrackedAddrs)
	}
	if s.allowIP(victim) {
		t.Error("after many new addresses, an address that had used its connections for the minute got a new one")
	}
}
