package browser

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/factlog/factlog/relay"
	"github.com/factlog/factlog/relay/sqlitestore"
)

// startRelay returns a relay handler on a store in a temp folder.
func startRelay(t *testing.T) http.Handler {
	t.Helper()
	store, err := sqlitestore.Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := relay.New(relay.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Close(ctx)
		store.Close()
	})
	return srv
}

// TestBrowserPagesConverge: two pages, each a replica with a store of its
// own, edit while linked to one relay room, and converge.
func TestBrowserPagesConverge(t *testing.T) {
	ctx := browser(t)
	base := serveDist(t, map[string]http.Handler{"/v1/": startRelay(t)})
	url := base + "/test/"
	other, cancel := chromedp.NewContext(ctx)
	defer cancel()
	setup := `(async (name, item, text) => {
		window.db = await openTodo(name);
		window.link = db.connect(location.origin + "/v1/rooms/converge");
		await db.append(item, "create", text);
		return true;
	})`
	load(t, ctx, url)
	load(t, other, url)
	eval[bool](t, ctx, setup+`("page-a", "1", "make pasta")`)
	eval[bool](t, other, setup+`("page-b", "2", "clean")`)
	eval[bool](t, ctx, `db.append("1", "set_completed", true).then(() => true)`)
	wait := `new Promise((ok, fail) => {
		const t = setTimeout(() => fail(new Error("no convergence: " + JSON.stringify(link.status))), 30000);
		const check = async () => {
			const rows = await db.query("SELECT id, content, completed FROM todo ORDER BY id");
			if (rows.length === 2 && rows[0].completed === 1) { clearTimeout(t); ok(show(rows)); } else setTimeout(check, 50);
		};
		check();
	})`
	a := eval[[]map[string]any](t, ctx, wait)
	b := eval[[]map[string]any](t, other, wait)
	if len(a) != 2 || len(b) != 2 || a[1]["content"] != "clean" || b[0]["content"] != "make pasta" {
		t.Fatalf("page a %v, page b %v", a, b)
	}
	status := eval[string](t, ctx, `link.status.state`)
	if status != "online" {
		t.Fatalf("link status %q", status)
	}
	screenshot(t, other, "browser-relay")
}
