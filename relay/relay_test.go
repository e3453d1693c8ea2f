package relay_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/factlog/factlog/relay"
	"github.com/factlog/factlog/relay/protocol"
	"github.com/factlog/factlog/relay/sqlitestore"
)

// baseGoroutines is how many goroutines run before any test.
var baseGoroutines int

// TestMain fails the run if a test leaves goroutines behind.
func TestMain(m *testing.M) {
	base := runtime.NumGoroutine()
	baseGoroutines = base
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > base {
			buf := make([]byte, 1<<20)
			fmt.Fprintf(os.Stderr, "leaked goroutines: %d, was %d\n%s\n", n, base, buf[:runtime.Stack(buf, true)])
			code = 1
		}
	}
	os.Exit(code)
}

// relayServer is a relay on 127.0.0.1 with its store in a temp file.
type relayServer struct {
	t     *testing.T
	path  string
	addr  string
	store *sqlitestore.Store
	srv   *relay.Server
	http  *http.Server
	opts  relay.Options
}

func startRelay(t *testing.T, opts relay.Options) *relayServer {
	t.Helper()
	r := &relayServer{t: t, path: filepath.Join(t.TempDir(), "relay.db"), addr: "127.0.0.1:0", opts: opts}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *relayServer) start() {
	r.t.Helper()
	var err error
	if r.store, err = sqlitestore.Open(r.path); err != nil {
		r.t.Fatal(err)
	}
	opts := r.opts
	opts.Store = r.store
	if r.srv, err = relay.New(opts); err != nil {
		r.t.Fatal(err)
	}
	var l net.Listener
	for range 100 { // the old address may take a moment to free after a restart
		if l, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	r.addr = l.Addr().String()
	r.http = &http.Server{Handler: r.srv}
	go r.http.Serve(l)
}

func (r *relayServer) stop() {
	if r.http == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.http.Close()
	r.srv.Close(ctx)
	r.store.Close()
	r.http = nil
}

func (r *relayServer) restart() {
	r.stop()
	r.start()
}

func (r *relayServer) url(room string) string { return "ws://" + r.addr + "/v1/rooms/" + room }

// client is a raw protocol client for the tests that look at envelopes.
type client struct {
	t    *testing.T
	ws   *websocket.Conn
	more []protocol.Envelope // envelopes of the last message not yet returned
}

func dial(t *testing.T, url string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	ws.SetReadLimit(4 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return &client{t: t, ws: ws}
}

func (c *client) send(e protocol.Envelope) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageBinary, protocol.Encode(e)); err != nil {
		c.t.Fatalf("send %v: %v", e.Kind, err)
	}
}

func (c *client) recv() protocol.Envelope {
	c.t.Helper()
	e, err := c.next()
	if err != nil {
		c.t.Fatalf("receive: %v", err)
	}
	return e
}

func (c *client) next() (protocol.Envelope, error) {
	if len(c.more) == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, b, err := c.ws.Read(ctx)
		if err != nil {
			return protocol.Envelope{}, err
		}
		if c.more, err = protocol.DecodeAll(b); err != nil {
			return protocol.Envelope{}, err
		}
	}
	e := c.more[0]
	c.more = c.more[1:]
	return e, nil
}

// closed waits for the relay to close the connection and returns the code.
func (c *client) closed() (websocket.StatusCode, string) {
	c.t.Helper()
	for {
		_, err := c.next()
		if err != nil {
			var ce websocket.CloseError
			if ok := asClose(err, &ce); ok {
				return ce.Code, ce.Reason
			}
			c.t.Fatalf("connection ended without a close frame: %v", err)
		}
	}
}

func asClose(err error, ce *websocket.CloseError) bool {
	code := websocket.CloseStatus(err)
	if code == -1 {
		return false
	}
	ce.Code = code
	var e websocket.CloseError
	if ok := errors.As(err, &e); ok {
		ce.Reason = e.Reason
	}
	return true
}

// join sends Join and reads the Welcome and the backlog up to CaughtUp.
func (c *client) join(cursor uint64, epoch string) (protocol.Envelope, []protocol.Envelope) {
	c.t.Helper()
	c.send(protocol.Envelope{Kind: protocol.Join, Cursor: cursor, Epoch: epoch})
	w := c.recv()
	if w.Kind != protocol.Welcome {
		c.t.Fatalf("got %v, want welcome", w.Kind)
	}
	var backlog []protocol.Envelope
	for {
		e := c.recv()
		if e.Kind == protocol.CaughtUp {
			return w, backlog
		}
		backlog = append(backlog, e)
	}
}
