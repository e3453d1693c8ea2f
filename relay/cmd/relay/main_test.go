package main

import "testing"

// TestHTTPServerTimeouts: every stage of an HTTP connection has a
// timeout (only the header's had one: a connection kept alive with no
// request stayed open for good).
func TestHTTPServerTimeouts(t *testing.T) {
	hs := httpServer(nil)
	if hs.ReadHeaderTimeout <= 0 || hs.ReadTimeout <= 0 || hs.WriteTimeout <= 0 || hs.IdleTimeout <= 0 {
		t.Errorf("timeouts: header %v, read %v, write %v, idle %v; want all set", hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout)
	}
}
