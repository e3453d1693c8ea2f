package browser

import (
	"context"
	"fmt"
	"sync"

	"github.com/chromedp/cdproto/page"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestTabsPageLeaves: a tab whose page navigates away may be kept, frozen,
// in the back/forward cache. Frozen, it runs nothing; so it must hold
// neither the store's lead nor its file, nor be next in line for them —
// else every other tab waits until the browser evicts it (minutes). And
// when the page comes back, its store works again.
func TestTabsPageLeaves(t *testing.T) {
	url, tab, _ := tabs(t, 3)
	var mu sync.Mutex
	why := ""
	for i, c := range tab {
		chromedp.Listen(c, func(ev any) {
			if e, ok := ev.(*page.EventBackForwardCacheNotUsed); ok {
				mu.Lock()
				for _, r := range e.NotRestoredExplanations {
					why += fmt.Sprintf(" tab %d: %s(%s) %v", i, r.Reason, r.Type, r.Details)
				}
				mu.Unlock()
			}
		})
	}
	count := `db.query("SELECT count(*) AS n FROM todo").then((r) => r[0].n + " " + db.role)`
	away := func(t *testing.T, c context.Context) {
		t.Helper()
		eval[bool](t, c, `(window.addEventListener("pageshow", (e) => { window.restored = e.persisted; }), true)`)
		if err := chromedp.Do(c, chromedp.Navigate(url+"away.html")); err != nil {
			t.Fatal(err)
		}
	}
	// back goes back to the page, restored from the cache; a page the
	// browser discarded from the cache after all (the reason said in the
	// log) is loaded afresh, and then opens its store again, if evictable.
	back := func(t *testing.T, c context.Context, evictable bool) {
		t.Helper()
		// A page restored from the cache fires no load event, which
		// NavigateBack waits for: history.back() instead.
		eval[bool](t, c, `(setTimeout(() => history.back(), 0), true)`)
		// Polled from here: an evaluation in the page it leaves ends
		// with that page. A page loaded afresh has no "restored".
		var at string
		for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			ctx, cancel := context.WithTimeout(c, 2*time.Second)
			at, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname + " " + window.restored`))
			cancel()
			switch {
			case at == "/test/ true":
				return
			case at == "/test/ undefined" && evictable:
				mu.Lock()
				t.Logf("the page was not kept in the cache:%s; it opens its store again", why)
				mu.Unlock()
				load(t, c, url)
				eval[string](t, c, `openTodo("leaves").then((db) => (window.db = db, db.role))`)
				return
			}
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("back on the page: %q, want %q (restored from the back/forward cache; else this test tests nothing); why not:%s", at, "/test/ true", why)
	}
	for i, c := range tab {
		want := "leader"
		if i > 0 {
			want = "follower"
		}
		if r := eval[string](t, c, `openTodo("leaves").then((db) => (window.db = db, db.role))`); r != want {
			t.Fatalf("tab %d is %s, want %s", i, r, want)
		}
	}

	// The leader leaves while a follower's appendMany runs: the follower
	// leads, and its appendMany is answered, applied once.
	eval[bool](t, tab[1], `(window.q = db.appendMany(Array.from({length: 2000}, (_, i) => ({item: "i" + i, type: "create", value: {content: "c"}}))).then((evs) => "appended " + evs.length, (e) => e.code), true)`)
	away(t, tab[0])
	if q := settle(t, tab[1], `q`, 30000); q != "appended 2000" {
		t.Fatalf("the follower's appendMany, after the leader left: %s", q)
	}
	if n := settle(t, tab[1], count, 30000); n != "2000 leader" {
		t.Fatalf("after the leader left, the first follower has %s, want 2000 leader", n)
	}

	// The old leader comes back: its store works, as a follower. (Its
	// Worker sent messages until it stopped, and one that reaches the
	// page frozen makes Chrome discard it from the cache now and then:
	// IgnoreEventAndEvict.)
	back(t, tab[0], true)
	if n := settle(t, tab[0], `db.append("back", "create", {content: "b"}).then(() => `+count+`)`, 30000); n != "2001 follower" {
		t.Fatalf("the page that came back: %s, want 2001 follower", n)
	}

	// A follower leaves, then the leader closes: the frozen follower was
	// next in line; the tab after it must lead instead.
	away(t, tab[2])
	eval[string](t, tab[1], `db.close().then(() => "closed")`)
	if n := settle(t, tab[0], count, 30000); n != "2001 leader" {
		t.Fatalf("after the leader closed, with a follower frozen: %s, want 2001 leader", n)
	}
	back(t, tab[2], false)
	if n := settle(t, tab[2], `db.append("again", "create", {content: "a"}).then(() => `+count+`)`, 30000); n != "2002 follower" {
		t.Fatalf("the follower that came back: %s, want 2002 follower", n)
	}
}
