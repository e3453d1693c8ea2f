package relay_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/factlog/factlog/relay"
	"github.com/factlog/factlog/relay/protocol"
)

// serveOn serves r's relay on another 127.0.0.1 listener, through
// Server.Listener, with hs's settings, and returns the address.
func serveOn(t *testing.T, r *relayServer, hs *http.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs.Handler = r.srv
	go hs.Serve(r.srv.Listener(l))
	t.Cleanup(func() { hs.Close() })
	return l.Addr().String()
}

// httpConn is a raw keep-alive HTTP/1.1 connection.
type httpConn struct {
	net.Conn
	br *bufio.Reader
}

func dialHTTP(t *testing.T, addr string) *httpConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &httpConn{c, bufio.NewReader(c)}
}

// get sends one request and reads its answer (status 0: none came).
func (c *httpConn) get(path string, header ...string) (status int, closing bool) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", path, strings.Join(header, ""))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, true
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Close
}

// closed reports whether the relay closed the connection (waiting at
// most 5 s for it to).
func (c *httpConn) closed() bool {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.br.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestSocketsPerAddress: one address holds at most MaxSocketsPerIP TCP
// connections, idle keep-alive HTTP ones and WebSockets alike; another
// is answered 429 and closed, and a connection that closes gives its
// place back (so did nothing before: an address held as many idle HTTP
// connections as the relay had file descriptors).
func TestSocketsPerAddress(t *testing.T) {
	r := startRelay(t, relay.Options{MaxSocketsPerIP: 3})
	addr := serveOn(t, r, &http.Server{})
	var idle []*httpConn
	for range 3 {
		c := dialHTTP(t, addr)
		if status, _ := c.get("/healthz"); status != http.StatusOK {
			t.Fatalf("/healthz: %d", status)
		}
		idle = append(idle, c)
	}
	over := dialHTTP(t, addr)
	if status, _ := over.get("/healthz"); status != http.StatusTooManyRequests || !over.closed() {
		t.Fatalf("a fourth connection from the address: %d, want 429 and closed", status)
	}
	// A place given back is taken again; the relay sees the close when
	// it reads it, a moment later.
	idle[0].Close()
	retry := func(what string, try func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !try(); {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the place of a closed connection was not given back", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	retry("http", func() bool {
		c := dialHTTP(t, addr)
		status, _ := c.get("/healthz")
		if status == http.StatusOK {
			idle[0] = c
		}
		return status == http.StatusOK
	})
	// A WebSocket holds its place until it closes.
	idle[1].Close()
	var ws *websocket.Conn
	retry("websocket", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		ws, _, err = websocket.Dial(ctx, "ws://"+addr+"/v1/rooms/r", nil)
		return err == nil
	})
	if status, _ := dialHTTP(t, addr).get("/healthz"); status != http.StatusTooManyRequests {
		t.Fatalf("with a WebSocket and two HTTP connections open: %d, want 429", status)
	}
	ws.CloseNow()
	retry("after the websocket", func() bool {
		status, _ := dialHTTP(t, addr).get("/healthz")
		return status == http.StatusOK
	})
}

// TestRefusalsClose: a request the relay refuses is answered and its
// connection closed (it stayed open, idle, for as long as the client
// liked).
func TestRefusalsClose(t *testing.T) {
	secret := []byte("0123456789abcdef0123")
	r := startRelay(t, relay.Options{Secret: secret, Hosts: []string{"127.0.0.1"}})
	addr := serveOn(t, r, &http.Server{})
	upgrade := "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	for _, c := range []struct {
		path, header string
		status       int
	}{
		{"/v1/rooms/bad!name", upgrade, http.StatusBadRequest},
		{"/v1/rooms/r?token=nonsense", "", http.StatusUpgradeRequired}, // a token is refused after the upgrade
	} {
		conn := dialHTTP(t, addr)
		status, _ := conn.get(c.path, c.header)
		if status != c.status || !conn.closed() {
			t.Errorf("GET %s: %d and the connection left open; want %d and closed", c.path, status, c.status)
		}
	}
	conn := dialHTTP(t, addr)
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n")
	resp, err := http.ReadResponse(conn.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusMisdirectedRequest || !conn.closed() {
		t.Errorf("another Host: %d and the connection left open; want 421 and closed", resp.StatusCode)
	}

	// A request that is not an upgrade, refused by coder/websocket.
	open := startRelay(t, relay.Options{})
	conn = dialHTTP(t, serveOn(t, open, &http.Server{}))
	if status, _ := conn.get("/v1/rooms/r"); status != http.StatusUpgradeRequired || !conn.closed() {
		t.Errorf("GET without an upgrade: %d and the connection left open; want 426 and closed", status)
	}
}

// TestWebSocketOutlivesHTTPTimeouts: the command's http.Server read,
// write and idle timeouts do not cut a WebSocket (net/http clears a
// hijacked connection's deadlines).
func TestWebSocketOutlivesHTTPTimeouts(t *testing.T) {
	r := startRelay(t, relay.Options{})
	const d = 100 * time.Millisecond
	addr := serveOn(t, r, &http.Server{ReadHeaderTimeout: d, ReadTimeout: d, WriteTimeout: d, IdleTimeout: d})
	c := dial(t, "ws://"+addr+"/v1/rooms/r")
	c.Join(0, "")
	time.Sleep(5 * d)
	c.Send(protocol.Envelope{Kind: protocol.Publish, ID: 1, Body: []byte("x")})
	if e := c.Recv(); e.Kind != protocol.Ack {
		t.Fatalf("after the HTTP timeouts: %+v, want an ack", e)
	}
}
