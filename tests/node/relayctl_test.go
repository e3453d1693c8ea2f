package node

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/factlog/factlog/relay"
	"github.com/factlog/factlog/relay/sqlitestore"
)

// switchedRelay is a relay on 127.0.0.1 that a test stops and starts again
// on the same address, keeping its store: a relay that goes away and
// comes back, as a deploy or a crash makes it.
type switchedRelay struct {
	t     *testing.T
	store *sqlitestore.Store
	addr  string

	mu   sync.Mutex
	http *http.Server
	rel  *relay.Server
}

func newSwitchedRelay(t *testing.T) *switchedRelay {
	t.Helper()
	store, err := sqlitestore.Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	r := &switchedRelay{t: t, store: store}
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.stop()
		store.Close()
	})
	return r
}

// start serves the relay, on the address it had before if it had one.
func (r *switchedRelay) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.http != nil {
		return nil
	}
	addr := r.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	rel, err := relay.New(relay.Options{Store: r.store})
	if err != nil {
		l.Close()
		return err
	}
	r.addr, r.rel, r.http = l.Addr().String(), rel, &http.Server{Handler: rel}
	go r.http.Serve(l)
	return nil
}

// stop closes the listener and every connection.
func (r *switchedRelay) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.http == nil {
		return
	}
	r.http.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.rel.Close(ctx)
	r.http, r.rel = nil, nil
}

// control serves POST /stop and POST /start on a listener of its own, so
// that a script in Node or a page can switch the relay; it returns the
// base URL.
func (r *switchedRelay) control() string {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /stop", func(w http.ResponseWriter, _ *http.Request) { r.stop() })
	mux.HandleFunc("POST /start", func(w http.ResponseWriter, _ *http.Request) {
		if err := r.start(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	r.t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

// deadAddr returns a 127.0.0.1 address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
