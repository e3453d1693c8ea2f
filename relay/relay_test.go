package relay_test

import (
	"context"
	"fmt"
	"github.com/factlog/factlog/relay/relaytest"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/factlog/factlog/relay"
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

func (r *relayServer) url(name string) string { return "ws://" + r.addr + "/v1/rooms/" + name }

func dial(t *testing.T, url string) *relaytest.Client { return relaytest.Dial(t, url) }
