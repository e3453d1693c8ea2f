package browser

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/factlog/factlog/relay"
	"github.com/factlog/factlog/relay/room"
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

// TestBrowserLinkRefused: a browser cannot see the HTTP status of a
// refused upgrade. A link to a URL that names no room the relay takes, or
// whose token the relay refuses, ends closed with INVALID_ARGUMENT and a
// message saying what to pass, instead of retrying forever; so does a
// link whose token expires while it is online, when it expires.
// None of them dials again.
func TestBrowserLinkRefused(t *testing.T) {
	secret := []byte("browser-secret-0123456789")
	store, err := sqlitestore.Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var cur atomic.Pointer[relay.Server]
	start := func() {
		srv, err := relay.New(relay.Options{Store: store, Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		cur.Store(srv)
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cur.Load().Close(ctx) // every connection closed with 1001
	}
	start()
	defer stop()
	var dials atomic.Int32
	rooms := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dials.Add(1)
		cur.Load().ServeHTTP(w, r)
	})
	ctx := browser(t)
	load(t, ctx, serveDist(t, map[string]http.Handler{"/v1/": rooms})+"/test/")
	mint := func(name string, ttl time.Duration) string {
		tok, err := room.MintToken(secret, name, room.ReadWrite, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	eval[bool](t, ctx, `(async () => {
		window.db = await openTodo("refused");
		// ended waits (boundedly) for a link to close by itself.
		window.ended = (l) => new Promise((ok) => {
			const end = Date.now() + 20000;
			const check = () => (l.status.state === "closed" || Date.now() > end ? ok(l.status) : setTimeout(check, 20));
			check();
		});
		return true;
	})()`)
	type status struct {
		State string `json:"state"`
		Code  string `json:"code"`
		Error string `json:"error"`
	}
	got := eval[[]status](t, ctx, `Promise.all([
		db.connect(location.origin + "/v1/rooms/a%2Fb"),
		db.connect(location.origin + "/rooms/guarded"),
		db.connect(location.origin + "/v1/rooms/guarded"),
		db.connect(location.origin + "/v1/rooms/guarded", { token: `+jsString(mint("elsewhere", time.Hour))+` }),
	].map(ended))`)
	for i, want := range []string{`"a/b"`, "/v1/rooms/ROOM", "needs a room token", `for room "elsewhere"`} {
		if st := got[i]; st.State != "closed" || st.Code != "INVALID_ARGUMENT" || !strings.Contains(st.Error, want) {
			t.Errorf("link %d: %+v, want closed, INVALID_ARGUMENT, saying %s", i, st, want)
		}
	}

	// A token that expires while its link is online: the relay closes
	// the connection then.
	eval[bool](t, ctx, `(async () => {
		window.link = db.connect(location.origin + "/v1/rooms/guarded", { token: `+jsString(mint("guarded", 4*time.Second))+` });
		await db.append("1", "create", "before the expiry");
		return true;
	})()`)
	waitUntil(t, ctx, `link.status.state === "online"`)
	if st := eval[status](t, ctx, `ended(link)`); st.State != "closed" || st.Code != "INVALID_ARGUMENT" || !strings.Contains(st.Error, "expired") {
		t.Fatalf("after the expiry: %+v, want closed, INVALID_ARGUMENT, saying the token expired", st)
	}
	n := dials.Load()
	time.Sleep(time.Second)
	if dials.Load() != n {
		t.Fatalf("%d more connections after the links ended", dials.Load()-n)
	}
}
