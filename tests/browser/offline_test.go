package browser

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/factlog/factlog/tests/internal/e2e"
)

// TestBrowserDemoOffline: after one visit, the demo loads and keeps its
// todos with its server gone — the service worker caches the site's files
// when it installs, during that visit, not only what later visits fetch.
func TestBrowserDemoOffline(t *testing.T) {
	ctx := browser(t)
	rel := startRelay(t)
	site, down := unplugged(t, serveDist(t, map[string]http.Handler{"/v1/": rel, "/healthz": rel}))
	loadDemo(t, ctx, site+"/")
	add(t, ctx, "log", 0, "written online")

	// The worker caches the files the build listed in it.
	sw, err := os.ReadFile(filepath.Join(e2e.Dist(t), "sw.js"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`const FILES = (\[.*\]);`).FindSubmatch(sw)
	var files []string
	if m == nil || json.Unmarshal(m[1], &files) != nil || !slices.Contains(files, "factlog.wasm") || !slices.Contains(files, "./") {
		t.Fatalf("dist/sw.js lists no site files to cache: %q", m)
	}
	list, _ := json.Marshal(files)
	waitUntil(t, ctx, `(async () => {
		await navigator.serviceWorker.ready;
		const cache = await caches.open("factlog-demo-v1");
		const have = new Set((await cache.keys()).map((r) => new URL(r.url).pathname));
		return `+string(list)+`.every((f) => have.has(new URL(f, location.href).pathname));
	})()`)

	down.Store(true)
	loadDemo(t, ctx, site+"/")
	waitUntil(t, ctx, listJS("log", 0)+`.includes("written online")`)
	if got := eval[bool](t, ctx, `fetch("./healthz").then(() => true, () => false)`); got {
		t.Fatal("the server still answers: the test did not take it down")
	}
}

// unplugged serves what backend serves until down is set; then it drops
// every connection unanswered, as a server that is gone.
func unplugged(t *testing.T, backend string) (site string, down *atomic.Bool) {
	t.Helper()
	target, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	down = new(atomic.Bool)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String(), down
}
