package relay

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// DefaultMaxSocketsPerIP is the default of Options.MaxSocketsPerIP: twice
// the WebSocket connections an address may hold, leaving room for the
// page, /healthz and /metrics.
const DefaultMaxSocketsPerIP = 2 * DefaultMaxConnsPerIP

// Listener wraps l so that one client address (an IPv4 address, or an
// IPv6 /64) holds at most Options.MaxSocketsPerIP of its connections open
// at once, HTTP and WebSocket alike; one beyond is answered 429 and closed
// as soon as it is accepted, before the HTTP server reads anything from
// it. Serve the relay through it when it has a listener of its own: the
// handler's own per-address limits count only WebSocket connections, and
// without it one address can hold open as many idle HTTP connections as
// the process has file descriptors, which then refuses everyone.
func (s *Server) Listener(l net.Listener) net.Listener {
	return &limitListener{Listener: l, max: s.opts.MaxSocketsPerIP, open: map[string]int{},
		refused: func() { s.metrics.refused.WithLabelValues("ip_sockets").Inc() }}
}

type limitListener struct {
	net.Listener
	max     int
	refused func()

	mu   sync.Mutex
	open map[string]int // connections open per address (addrKey)
}

// tooMany is the whole answer to a connection over the cap: the client
// may not have sent its request yet, and nothing of it is read.
const tooMany = "HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 45\r\n\r\ntoo many connections open from your address\r\n"

// Accept returns the next connection within the cap; it closes those
// beyond it itself, so that the HTTP server never holds them.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := addrKey(c.RemoteAddr().String())
		l.mu.Lock()
		ok := l.open[key] < l.max
		if ok {
			l.open[key]++
		}
		l.mu.Unlock()
		if ok {
			return &limitConn{Conn: c, l: l, key: key}, nil
		}
		l.refused()
		// A new connection's send buffer is empty: this write does not
		// wait for the client, and the deadline makes sure of it.
		c.SetWriteDeadline(time.Now().Add(time.Second))
		c.Write([]byte(tooMany))
		c.Close()
	}
}

func (l *limitListener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

// limitConn gives its address's place back when it is closed, by the
// HTTP server or, once hijacked, by the WebSocket.
type limitConn struct {
	net.Conn
	l    *limitListener
	key  string
	once sync.Once
}

func (c *limitConn) Close() error {
	c.once.Do(func() { c.l.release(c.key) })
	return c.Conn.Close()
}

// closingWriter closes the connection after any answer but a switch to
// the WebSocket protocol: a refused client has nothing more to say on it,
// and a refused connection left open idle holds a file descriptor.
// coder/websocket finds the http.Hijacker through Unwrap.
type closingWriter struct{ http.ResponseWriter }

func (w closingWriter) WriteHeader(code int) {
	if code != http.StatusSwitchingProtocols {
		w.Header().Set("Connection", "close")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w closingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
