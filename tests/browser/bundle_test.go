package browser

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/evanw/esbuild/pkg/api"
	"github.com/factlog/factlog/tests/internal/e2e"
)

// bundledApp is a tiny application that imports the package by its name.
const bundledApp = `import { open } from "factlog";

window.openNotes = (name) => open({
  name,
  schema: "CREATE TABLE note (id TEXT PRIMARY KEY, text TEXT)",
  materializers: { note: "INSERT OR REPLACE INTO note (id, text) VALUES (:item, :value)" },
});
document.getElementById("status").textContent = "ready";
`

// bundle builds bundledApp against the npm package (dist/npm, installed
// in node_modules) the way an application's bundler does — esbuild for
// browsers, its default conditions — and copies beside it the files
// README.md says to copy: factlog.wasm, worker.js and the chunk-*.js
// files. It returns the folder to serve.
func bundle(t *testing.T) string {
	t.Helper()
	npm := filepath.Join(e2e.Dist(t), "npm")
	app := t.TempDir()
	if err := os.MkdirAll(filepath.Join(app, "node_modules"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(npm, filepath.Join(app, "node_modules", "factlog")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app, "app.js"), []byte(bundledApp), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(app, "public")
	res := api.Build(api.BuildOptions{
		AbsWorkingDir: app,
		EntryPoints:   []string{"app.js"},
		Outdir:        out,
		Bundle:        true,
		Format:        api.FormatESModule,
		Platform:      api.PlatformBrowser,
		Write:         true,
		LogLevel:      api.LogLevelSilent,
	})
	for _, m := range append(res.Errors, res.Warnings...) {
		where := ""
		if m.Location != nil {
			where = m.Location.File + ": "
		}
		t.Errorf("esbuild: %s%s", where, m.Text)
	}
	if t.Failed() {
		t.FailNow()
	}
	built, err := os.ReadFile(filepath.Join(out, "app.js"))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`["']node:[a-z_/]+["']`).Find(built); m != nil {
		t.Errorf("the browser bundle holds Node code: it imports %s", m)
	}
	chunks, _ := filepath.Glob(filepath.Join(npm, "chunk-*.js"))
	for _, f := range append(chunks, filepath.Join(npm, "factlog.wasm"), filepath.Join(npm, "worker.js")) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	page := `<!doctype html><meta charset="utf-8"><p id="status">loading…</p><script type="module" src="app.js"></script>`
	if err := os.WriteFile(filepath.Join(out, "index.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// serveFolder serves dir on 127.0.0.1, with handlers in front of some of
// its paths; it returns the base URL.
func serveFolder(t *testing.T, dir string, override map[string]http.Handler) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(dir)))
	for p, h := range override {
		mux.Handle(p, h)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

// TestBrowserBundled: an application bundled for browsers with the
// package in it, served with the package's files beside it, opens a
// store, appends and queries, in a Worker and across tabs as without a
// bundler.
func TestBrowserBundled(t *testing.T) {
	dir := bundle(t)
	ctx := browser(t)
	load(t, ctx, serveFolder(t, dir, nil)+"/")
	for _, name := range []string{"bundled", ":memory:"} {
		got := eval[[]map[string]any](t, ctx, `(async () => {
			const db = await openNotes(`+jsString(name)+`);
			await db.append("1", "note", "from a bundle");
			const rows = await db.query("SELECT id, text FROM note");
			await db.close();
			return rows;
		})()`)
		if len(got) != 1 || got[0]["id"] != "1" || got[0]["text"] != "from a bundle" {
			t.Fatalf("store %q: rows %v, want one note", name, got)
		}
	}
}

// TestBrowserFilesMissing: when a file the package needs beside it does
// not load — worker.js, the chunk it imports, factlog.wasm, or a worker.js
// that is not valid JavaScript — open() fails at once, with UNAVAILABLE
// naming the file and saying what to check, for a store of the page alone
// and for one shared by tabs alike (which retried new Workers for a
// minute, then failed with "factlog's Worker failed: an error").
func TestBrowserFilesMissing(t *testing.T) {
	dir := bundle(t)
	worker, err := os.ReadFile(filepath.Join(dir, "worker.js"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := regexp.MustCompile(`\./(chunk-[A-Z0-9]+\.js)`).FindSubmatch(worker)
	if chunk == nil {
		t.Fatalf("worker.js imports no chunk:\n%.500s", worker)
	}
	broken := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write([]byte("export const = ;\n"))
	})
	ctx := browser(t)
	for _, c := range []struct {
		name, path string
		serve      http.Handler
		want       string // in the message, after the file's URL
	}{
		{"worker.js missing", "/worker.js", http.NotFoundHandler(), " answered 404"},
		{"its chunk missing", "/" + string(chunk[1]), http.NotFoundHandler(), " answered 404"},
		{"worker.js broken", "/worker.js", broken, ""},
		{"factlog.wasm missing", "/factlog.wasm", http.NotFoundHandler(), " answered 404"},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := serveFolder(t, dir, map[string]http.Handler{c.path: c.serve})
			tab, cancel := chromedp.NewContext(ctx)
			defer cancel()
			load(t, tab, url+"/")
			for _, name := range []string{"missing", ":memory:"} {
				got := settle(t, tab, `openNotes(`+jsString(name)+`)`, 20000)
				t.Logf("open(%q): %s", name, got)
				var missing []string
				for _, want := range []string{"REJECT UNAVAILABLE: ", url + c.path + c.want, "worker.js", "chunk-*.js", "factlog.wasm"} {
					if !strings.Contains(got, want) {
						missing = append(missing, want)
					}
				}
				if missing != nil {
					t.Errorf("open(%q): %s\nwant it to say %q", name, got, missing)
				}
			}
		})
	}
}

// TestBrowserWorkerFailsOnce: a file the Worker needs that fails once (a
// 503 during a deploy, then served) does not fail open(): a Worker that
// did not run though its files load now is started once more.
func TestBrowserWorkerFailsOnce(t *testing.T) {
	dir := bundle(t)
	ctx := browser(t)
	for _, path := range []string{"/worker.js", "/factlog.wasm"} {
		t.Run(path, func(t *testing.T) {
			var n atomic.Int32
			files := http.FileServer(http.Dir(dir))
			flaky := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					http.Error(w, "busy", http.StatusServiceUnavailable)
					return
				}
				files.ServeHTTP(w, r)
			})
			url := serveFolder(t, dir, map[string]http.Handler{path: flaky})
			tab, cancel := chromedp.NewContext(ctx)
			defer cancel()
			load(t, tab, url+"/")
			for _, name := range []string{"flaky", ":memory:"} {
				if got := settle(t, tab, `openNotes(`+jsString(name)+`).then(async (db) => { await db.close(); return "opened" })`, 30000); got != "opened" {
					t.Fatalf("%s answered 503 once: open(%q) → %s", path, name, got)
				}
			}
		})
	}
}

// TestBrowserWorkerErrorBeforeReady: a Worker that runs, and then throws
// while the engine starts, fails open() with UNAVAILABLE; it hung, and
// so did every open() of the page after it.
func TestBrowserWorkerErrorBeforeReady(t *testing.T) {
	dir := bundle(t)
	if err := os.Rename(filepath.Join(dir, "worker.js"), filepath.Join(dir, "worker-orig.js")); err != nil {
		t.Fatal(err)
	}
	wrapper := `import "./worker-orig.js";
const orig = self.onmessage;
self.onmessage = (ev) => {
  if (ev.data && ev.data.module) { setTimeout(() => { throw new WebAssembly.RuntimeError("unreachable (a trap while starting)"); }); return; }
  return orig(ev);
};
`
	if err := os.WriteFile(filepath.Join(dir, "worker.js"), []byte(wrapper), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	load(t, ctx, serveFolder(t, dir, nil)+"/")
	for i := range 2 { // and the next open() too: it waited on the same start
		if got := settle(t, ctx, `openNotes(":memory:").then(() => "opened")`, 20000); !strings.HasPrefix(got, "REJECT UNAVAILABLE: ") || !strings.Contains(got, "unreachable") {
			t.Fatalf("open %d → %s, want UNAVAILABLE saying why", i+1, got)
		}
	}
}
