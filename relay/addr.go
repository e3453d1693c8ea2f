package relay

import (
	"net"
	"net/netip"
	"time"

	"golang.org/x/time/rate"
)

// addrKey is what the per-address limits count a client by: its IPv4
// address, or the /64 prefix of its IPv6 address. An IPv6 host is commonly
// given a whole /64 and may take a new address for every connection:
// counted by address, one host would have no limit at all. An IPv4
// address mapped into IPv6 counts as the IPv4 address.
func addrKey(hostport string) string {
	var a netip.Addr
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		a = ap.Addr()
	} else if a, err = netip.ParseAddr(hostport); err != nil {
		host, _, err := net.SplitHostPort(hostport)
		if err != nil {
			return hostport
		}
		return host
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// maxTrackedAddrs bounds the addresses whose connection rate the server
// remembers, and evictSample how many of them a new address looks at when
// the table is full.
const (
	maxTrackedAddrs = 100_000
	evictSample     = 64
)

// allowIP applies the per-address connection rate.
func (s *Server) allowIP(key string) bool {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.perIP[key]
	if l == nil {
		if len(s.perIP) >= maxTrackedAddrs {
			s.forgetAddrs(now)
		}
		l = rate.NewLimiter(rate.Limit(float64(s.opts.ConnsPerIPMinute)/60), s.opts.ConnsPerIPMinute)
		s.perIP[key] = l
	}
	return l.AllowN(now, 1)
}

// forgetAddrs makes room in a full table of addresses, looking at no more
// than evictSample of them. It forgets those whose limiter has all its
// tokens again — a new limiter starts full, so forgetting them gives
// nobody anything — or, if none has, the most rested of those it looked
// at. Forgetting everyone at once, as it did, let a client that cycles
// through new addresses reset the limit of every other, its own included.
func (s *Server) forgetAddrs(now time.Time) {
	full := float64(s.opts.ConnsPerIPMinute)
	var rested string
	most, seen, forgot := -1.0, 0, false
	for key, l := range s.perIP { // map order: an arbitrary sample
		if seen++; seen > evictSample {
			break
		}
		t := l.TokensAt(now)
		if t >= full {
			delete(s.perIP, key)
			forgot = true
		} else if t > most {
			rested, most = key, t
		}
	}
	if !forgot && rested != "" {
		delete(s.perIP, rested)
	}
}
