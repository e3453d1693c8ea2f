package relay_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/factlog/factlog/relay"
)

// v6Listener accepts on 127.0.0.1 but reports each connection as coming
// from another address of one IPv6 /64, as one IPv6 host can.
type v6Listener struct {
	net.Listener
	n atomic.Int64
}

type v6Conn struct {
	net.Conn
	addr net.Addr
}

func (c v6Conn) RemoteAddr() net.Addr { return c.addr }

func (l *v6Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.n.Add(1)
	return v6Conn{c, &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("2001:db8:1:2::%x", n)), Port: 40000}}, nil
}

// v6Host serves r to clients that all seem to come from one IPv6 /64, a
// new address of it each; it returns the host:port to dial.
func v6Host(t *testing.T, r *relayServer) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: r.srv}
	go hs.Serve(&v6Listener{Listener: l})
	t.Cleanup(func() { hs.Close() })
	return l.Addr().String()
}

// TestIPv6HostIsOneAddress: the connections of one IPv6 /64 count as one
// address's, whatever address of the prefix each comes from (each used
// to be counted apart: one host had no limit, and filled the relay).
func TestIPv6HostIsOneAddress(t *testing.T) {
	r := startRelay(t, relay.Options{MaxConnsPerIP: 4, ConnsPerIPMinute: 100, MaxConns: 40})
	url := "ws://" + v6Host(t, r) + "/v1/rooms/r"
	var open []*websocket.Conn
	defer func() {
		for _, ws := range open {
			ws.CloseNow()
		}
	}()
	status := 0
	for range 40 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ws, resp, err := websocket.Dial(ctx, url, nil)
		cancel()
		if err != nil {
			if resp != nil {
				status = resp.StatusCode
			}
			break
		}
		open = append(open, ws)
	}
	if len(open) != 4 || status != http.StatusTooManyRequests {
		t.Errorf("one IPv6 /64 opened %d connections and was then answered %d; want 4 (MaxConnsPerIP), then 429", len(open), status)
	}
}
