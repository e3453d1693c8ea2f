package browser

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// tabs opens n tabs of the test page in one browser; a cancel closes its
// tab.
func tabs(t *testing.T, n int) (url string, ctxs []context.Context, cancels []context.CancelFunc) {
	t.Helper()
	ctx := browser(t)
	url = serveDist(t, nil) + "/test/"
	for range n {
		c, cancel := chromedp.NewContext(ctx)
		t.Cleanup(cancel)
		load(t, c, url)
		ctxs, cancels = append(ctxs, c), append(cancels, cancel)
	}
	return url, ctxs, cancels
}

// waitJS polls a condition in a page, boundedly.
func waitJS(t *testing.T, ctx context.Context, cond, what string) {
	t.Helper()
	eval[bool](t, ctx, `new Promise((ok, fail) => {
		const end = Date.now() + 45000;
		const check = async () => {
			try { if (await (async () => `+cond+`)()) return ok(true); } catch (e) { return fail(e); }
			if (Date.now() > end) return fail(new Error(`+jsString("timed out waiting for "+what)+`));
			setTimeout(check, 25);
		};
		check();
	})`)
}

// TestTabsShareOneStore: three tabs open one store: one leads, two
// follow; appends from all three interleave; a watch in every tab sees
// every change; they are one replica (one peer id).
func TestTabsShareOneStore(t *testing.T) {
	_, tab, _ := tabs(t, 3)
	var roles, peers []string
	for i, c := range tab {
		r := eval[[]string](t, c, fmt.Sprintf(`openTodo("shared").then((db) => (window.db = db, watchCount(db, "all"), [db.role, db.peer, String(db.persisted)]))`))
		roles, peers = append(roles, r[0]), append(peers, r[1])
		if r[2] != "true" {
			t.Fatalf("tab %d: not persisted", i)
		}
	}
	slices.Sort(roles)
	if !slices.Equal(roles, []string{"follower", "follower", "leader"}) {
		t.Fatalf("roles %v, want one leader and two followers", roles)
	}
	if peers[0] != peers[1] || peers[1] != peers[2] {
		t.Fatalf("peer ids %v: the tabs are not one replica", peers)
	}
	var wg sync.WaitGroup
	for i, c := range tab {
		wg.Add(1)
		go func() {
			defer wg.Done()
			eval[float64](t, c, fmt.Sprintf(`burst(db, "tab%d", 20)`, i))
		}()
	}
	wg.Wait()
	for i, c := range tab {
		waitJS(t, c, `counts.all === 60`, fmt.Sprintf("tab %d's watch to see 60 todos", i))
		if got := eval[float64](t, c, `db.query("SELECT count(*) AS n FROM todo").then((r) => r[0].n)`); got != 60 {
			t.Fatalf("tab %d: %v todos", i, got)
		}
		if failed := eval[[]string](t, c, `failed`); len(failed) > 0 {
			t.Fatalf("tab %d: %v", i, failed)
		}
	}
	// Errors and codes are the same in every tab.
	for i, c := range tab {
		got := eval[string](t, c, `db.query("SELEC 1").then(() => "ok", (e) => (e instanceof factlog.FactlogError) + " " + e.code)`)
		if got != "true SQL" {
			t.Fatalf("tab %d: a bad query gave %q", i, got)
		}
	}
	// The leader's tab closes the store (the tab stays): another tab
	// takes over, and both others go on.
	leader := slices.IndexFunc(tab, func(c context.Context) bool { return eval[string](t, c, `db.role`) == "leader" })
	eval[bool](t, tab[leader], `db.close().then(() => true)`)
	for i, c := range tab {
		if i == leader {
			continue
		}
		eval[bool](t, c, fmt.Sprintf(`db.append("after-close-%d", "create", "x").then(() => true)`, i))
	}
	for i, c := range tab {
		if i != leader {
			waitJS(t, c, `counts.all === 62`, fmt.Sprintf("tab %d's watch to see the appends after the leader closed", i))
		}
	}
	if got := eval[string](t, tab[leader], `db.query("SELECT 1").then(() => "ok", (e) => e.code)`); got != "CLOSED" {
		t.Fatalf("the closed store: %q", got)
	}
}

// TestTabsHandoff: the leader tab closes in the middle of a burst of
// appends from the others: a follower takes over; every acknowledged
// append is there exactly once, none is applied twice, the tabs converge;
// a reload of every tab keeps it all.
func TestTabsHandoff(t *testing.T) {
	url, tab, cancels := tabs(t, 3)
	leader := -1
	for i, c := range tab {
		if eval[string](t, c, `openTodo("handoff").then((db) => (window.db = db, watchCount(db, "all"), db.role))`) == "leader" {
			leader = i
		}
	}
	if leader != 0 {
		t.Fatalf("tab %d leads; the first tab to open should", leader)
	}
	for _, c := range tab[1:] {
		eval[bool](t, c, `(window.roles = [], db.onRole((r) => roles.push(r)), window.bursting = burst(db, "f" + Math.random().toString(36).slice(2, 6), 60), true)`)
	}
	waitJS(t, tab[1], `acked.length >= 10`, "the burst to be under way")
	cancels[0]() // close the leader tab, appends in flight
	var acked [][]string
	for i, c := range tab[1:] {
		eval[float64](t, c, `bursting`)
		if failed := eval[[]string](t, c, `failed`); len(failed) > 0 {
			t.Fatalf("tab %d: appends failed across the handoff: %v", i+1, failed)
		}
		acked = append(acked, eval[[]string](t, c, `acked`))
	}
	roles := []string{eval[string](t, tab[1], `db.role`), eval[string](t, tab[2], `db.role`)}
	slices.Sort(roles)
	if !slices.Equal(roles, []string{"follower", "leader"}) {
		t.Fatalf("after the handoff: roles %v", roles)
	}
	// onRole reports changes only: the tab that leads now, once; the
	// other, still a follower of another leader, never.
	changes := []string{strings.Join(eval[[]string](t, tab[1], `roles`), ","), strings.Join(eval[[]string](t, tab[2], `roles`), ",")}
	slices.Sort(changes)
	if !slices.Equal(changes, []string{"", "leader"}) {
		t.Fatalf("onRole in the two tabs: %q, want the new leader's and none", changes)
	}
	check := func(c context.Context) {
		t.Helper()
		dups := eval[[]string](t, c, `db.query("SELECT item_id FROM event GROUP BY item_id HAVING count(*) > 1").then((r) => r.map((x) => x.item_id))`)
		if len(dups) > 0 {
			t.Fatalf("appended twice: %v", dups)
		}
		have := eval[[]string](t, c, `db.query("SELECT item_id FROM event").then((r) => r.map((x) => x.item_id))`)
		for _, a := range acked {
			for _, item := range a {
				if !slices.Contains(have, item) {
					t.Fatalf("acknowledged append %s is lost", item)
				}
			}
		}
	}
	check(tab[1])
	n := eval[float64](t, tab[1], `db.query("SELECT count(*) AS n FROM todo").then((r) => r[0].n)`)
	if n != 120 {
		t.Fatalf("%v todos, want the 120 acknowledged", n)
	}
	for i, c := range tab[1:] {
		waitJS(t, c, fmt.Sprintf(`counts.all === %v`, n), fmt.Sprintf("tab %d's watch to see every todo", i+1))
	}
	// Reload both: the store persists, and leads again.
	for _, c := range tab[1:] {
		load(t, c, url)
	}
	for i, c := range tab[1:] {
		got := eval[float64](t, c, `openTodo("handoff").then((db) => (window.db = db, db.query("SELECT count(*) AS n FROM todo"))).then((r) => r[0].n)`)
		if got != n {
			t.Fatalf("tab %d after a reload: %v todos, want %v", i+1, got, n)
		}
	}
	check(tab[2])
}

// TestTabsWorkerDies: the Workers stop (self.close(), as a crash would):
// a store of the page alone rejects its pending and later calls with
// UNAVAILABLE; a shared store carries on in new Workers, its calls
// retried by a new leader.
func TestTabsWorkerDies(t *testing.T) {
	_, tab, _ := tabs(t, 2)
	eval[bool](t, tab[0], `Promise.all([factlog.open(), openTodo("dies")]).then(([m, s]) => (window.mem = m, window.db = s, true))`)
	eval[string](t, tab[1], `openTodo("dies").then((db) => (window.db = db, watchCount(db, "all"), db.role))`)
	eval[bool](t, tab[0], `db.append("1", "create", "before").then(() => true)`)
	// A call that runs until the Worker dies.
	eval[bool](t, tab[0], `(window.endless = mem.query("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c").then(() => "finished", (e) => e.code), true)`)
	killWorkers(t, tab[0])
	if got := eval[string](t, tab[0], `endless`); got != "UNAVAILABLE" {
		t.Fatalf("the pending call: %q, want UNAVAILABLE", got)
	}
	if got := eval[string](t, tab[0], `mem.query("SELECT 1").then(() => "ok", (e) => e.code + ": " + e.message)`); !strings.HasPrefix(got, "UNAVAILABLE: ") {
		t.Fatalf("a later call on the dead engine: %q", got)
	}
	// The shared store: appends from both tabs go on.
	eval[bool](t, tab[0], `db.append("2", "create", "after, from the first tab").then(() => true)`)
	eval[bool](t, tab[1], `db.append("3", "create", "after, from the second tab").then(() => true)`)
	waitJS(t, tab[1], `counts.all === 3`, "the second tab's watch to see 3 todos")
	// And a new store opens in a new engine.
	if got := eval[float64](t, tab[0], `factlog.open().then((m) => m.query("SELECT 7 AS n")).then((r) => r[0].n)`); got != 7 {
		t.Fatalf("a new engine: %v", got)
	}
}

// killWorkers stops every factlog Worker of the browser (the first tab's,
// which leads, and the others', idle) from inside, with close().
func killWorkers(t *testing.T, ctx context.Context) {
	t.Helper()
	infos, err := chromedp.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, ti := range infos {
		if ti.Type != "worker" || !strings.HasPrefix(ti.Title, "factlog ") {
			continue
		}
		wctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(ti.TargetID))
		ctx2, cancel2 := context.WithTimeout(wctx, 20*time.Second)
		if _, err := chromedp.Run(ctx2, chromedp.Evaluate[any](`setTimeout(() => close(), 0)`)); err != nil {
			t.Logf("worker %s: %v", ti.TargetID, err)
		}
		cancel2()
		cancel()
		killed++
	}
	if killed == 0 {
		t.Fatal("no factlog Worker")
	}
}
