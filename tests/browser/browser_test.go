package browser

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/factlog/factlog/tests/internal/e2e"
)

// serveDist serves dist/ at / and tests/browser/ at /test/ on 127.0.0.1.
func serveDist(t *testing.T, extra map[string]http.Handler) string {
	t.Helper()
	handlers := map[string]http.Handler{"/test/": http.StripPrefix("/test/", http.FileServer(http.Dir(filepath.Join(e2e.Root, "tests", "browser"))))}
	maps.Copy(handlers, extra)
	return serveFolder(t, e2e.Dist(t), handlers)
}

// browser starts headless Chromium (Debian's) for one test; tabs opened
// from the returned context share it.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := e2e.Need(t, "chromium", "apt-get install chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil { // start the browser now
		t.Fatalf("start chromium: %v", err)
	}
	recordConsole(t, ctx)
	return ctx
}

// recordConsole keeps what the pages of ctx print and throw, and logs it
// if the test fails: a hang in the browser then says where it was.
func recordConsole(t *testing.T, ctx context.Context) {
	var mu sync.Mutex
	var lines []string
	start := time.Now()
	note := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf("%6.2fs ", time.Since(start).Seconds())+fmt.Sprintf(format, args...))
		if len(lines) > 400 {
			lines = lines[len(lines)-400:]
		}
	}
	chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`))
			}
			note("console.%s: %s", e.Type, strings.Join(parts, " "))
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			note("uncaught: %s", msg)
		}
	})
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		t.Logf("the browser's console:\n%s", strings.Join(lines, "\n"))
	})
}

// eval runs an async expression in the page and decodes its result,
// within a bounded time.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, func(p *runtime.EvaluateParams) { yes := true; p.AwaitPromise = &yes }))
	if err != nil {
		t.Fatalf("evaluate %.80q: %v", js, err)
	}
	return v
}

// screenshot writes the page to test-output/name.png.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := filepath.Join(e2e.Root, "test-output")
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func load(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventConsoleAPICalled); ok {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`))
			}
			t.Logf("console.%s: %s", e.Type, strings.Join(parts, " "))
		}
	})
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible("#status")); err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
	eval[bool](t, ctx, `new Promise((ok) => { const w = () => document.getElementById("status").textContent === "ready" ? ok(true) : setTimeout(w, 20); w(); })`)
}

// TestBrowserPersists opens a store in the Worker, appends, reloads the
// page: the data is still there (OPFS), and nothing was replayed.
func TestBrowserPersists(t *testing.T) {
	ctx := browser(t)
	url := serveDist(t, nil) + "/test/"
	load(t, ctx, url)
	type state struct {
		Persisted bool             `json:"persisted"`
		Rows      []map[string]any `json:"rows"`
		Peer      string           `json:"peer"`
	}
	first := eval[state](t, ctx, `(async () => {
		const db = await openTodo("persist");
		await db.append("1", "create", "make pasta");
		await db.append("1", "set_completed", true);
		const s = { persisted: db.persisted, peer: db.peer, rows: await db.query("SELECT * FROM todo") };
		await db.close();
		return show(s);
	})()`)
	if !first.Persisted || len(first.Rows) != 1 {
		t.Fatalf("first visit: %+v", first)
	}
	load(t, ctx, url) // a reload: a new page and a new Worker
	again := eval[state](t, ctx, `(async () => {
		const db = await openTodo("persist");
		return show({ persisted: db.persisted, peer: db.peer, rows: await db.query("SELECT * FROM todo") });
	})()`)
	if again.Peer != first.Peer || len(again.Rows) != 1 || again.Rows[0]["content"] != "make pasta" || again.Rows[0]["completed"] != 1.0 {
		t.Fatalf("after reload: %+v, want %+v", again, first)
	}
	screenshot(t, ctx, "browser-persists")
}

// TestBrowserSecondTab: a second tab shares a store (tabs_test.go), unless
// it reads it another way (another version of the application): then it
// is refused, clearly, and the first tab goes on.
func TestBrowserSecondTab(t *testing.T) {
	ctx := browser(t)
	url := serveDist(t, nil) + "/test/"
	load(t, ctx, url)
	eval[bool](t, ctx, `openTodo("shared").then((db) => (window.db = db, true))`)
	tab, cancel := chromedp.NewContext(ctx)
	defer cancel()
	load(t, tab, url)
	got := eval[string](t, tab, `factlog.open({ name: "shared", schema: "CREATE TABLE other (x)" }).then(() => "opened", (e) => e.code + ": " + e.message)`)
	if !strings.HasPrefix(got, "LOCKED: ") || !strings.Contains(got, "another tab with a different schema") {
		t.Fatalf("second tab: %s", got)
	}
	// Registers of other columns, or registers where a store is: the
	// message says which.
	got = eval[string](t, tab, `import("../factlog.js").then((f) => f.openRegisters({ name: "shared", table: "todo", columns: ["content"] })).then(() => "opened", (e) => e.code + ": " + e.message)`)
	if !strings.HasPrefix(got, "LOCKED: ") || !strings.Contains(got, `as an event store, not registers of table "todo" with columns ["content"]`) {
		t.Fatalf("registers in the second tab: %s", got)
	}
	if got := eval[string](t, tab, `openTodo("shared").then((db) => db.role)`); got != "follower" {
		t.Fatalf("the same interpretation in the second tab: %s", got)
	}
	if n := eval[float64](t, ctx, `db.append("1", "create", "x").then(() => db.query("SELECT count(*) AS n FROM todo")).then((r) => r[0].n)`); n != 1 {
		t.Fatalf("the first tab after the refusal: %v todos", n)
	}
}
