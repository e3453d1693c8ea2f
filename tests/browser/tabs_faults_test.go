package browser

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// endless is a query that runs until it is aborted.
const endless = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) AS n FROM c`

// settle awaits a promise expression in a page, boundedly: "HANG" if it
// did not settle within ms, "REJECT code: message" if it rejected.
func settle(t *testing.T, ctx context.Context, expr string, ms int) string {
	t.Helper()
	return eval[string](t, ctx, `Promise.race([Promise.resolve(`+expr+`).then((v) => String(v), (e) => "REJECT " + (e && e.code) + ": " + (e && e.message)),
		new Promise((r) => setTimeout(() => r("HANG"), `+strconv.Itoa(ms)+`))])`)
}

// TestTabsFaults: what a leader's close, a leader's tab going away and a
// follower's close do to the calls in flight. Every call settles — none
// hangs, none is acknowledged without being applied or rejected while it
// is applied — and the store goes on. (The pauses only order the steps;
// no outcome depends on their length.)
func TestTabsFaults(t *testing.T) {
	root := browser(t)
	url := serveDist(t, nil) + "/test/"
	// openWith opens n tabs, each running opening (a promise of the role
	// its handle took): the first leads, the others follow.
	openWith := func(t *testing.T, n int, opening string) ([]context.Context, []context.CancelFunc) {
		var ctxs []context.Context
		var cancels []context.CancelFunc
		for i := range n {
			c, cancel := chromedp.NewContext(root)
			t.Cleanup(cancel)
			load(t, c, url)
			want := "leader"
			if i > 0 {
				want = "follower"
			}
			if r := eval[string](t, c, opening); r != want {
				t.Fatalf("tab %d is %s, want %s", i, r, want)
			}
			ctxs, cancels = append(ctxs, c), append(cancels, cancel)
		}
		return ctxs, cancels
	}
	open := func(t *testing.T, n int, store string) ([]context.Context, []context.CancelFunc) {
		return openWith(t, n, `openTodo(`+jsString(store)+`).then((db) => (window.db = db, db.role))`)
	}
	runEndless := func(t *testing.T, ctx context.Context) {
		eval[bool](t, ctx, `(window.ac = new AbortController(), window.q = db.query(`+jsString(endless)+`, [], { signal: ac.signal }).then(() => "ok", (e) => e.code), true)`)
		time.Sleep(500 * time.Millisecond)
	}
	next := func(t *testing.T, ctx context.Context) string {
		return settle(t, ctx, `db.query("SELECT 1 AS one").then((r) => r[0].one)`, 10000)
	}

	// The leader closes while a follower's query runs; the follower aborts
	// it. The closing leader still takes the cancel, so its close ends,
	// and the follower leads.
	t.Run("abort while the leader closes", func(t *testing.T) {
		tab, _ := open(t, 2, "faults-close")
		runEndless(t, tab[1])
		eval[bool](t, tab[0], `(window.closing = db.close().then(() => "closed", (e) => e.code), true)`)
		time.Sleep(300 * time.Millisecond)
		eval[bool](t, tab[1], `(ac.abort(), true)`)
		q, c, n := settle(t, tab[1], `q`, 15000), settle(t, tab[0], `closing`, 15000), next(t, tab[1])
		if q != "ABORTED" || c != "closed" || n != "1" {
			t.Fatalf("aborted query: %s; the leader's close: %s; the follower's next query: %s", q, c, n)
		}
	})

	// The leader's tab goes away; the follower aborts its query before
	// it leads. The cancel went to the dead leader: the query must not be
	// sent again to the next one, where it would run forever.
	t.Run("abort across a handoff", func(t *testing.T) {
		tab, cancels := open(t, 2, "faults-handoff")
		runEndless(t, tab[1])
		cancels[0]()
		eval[bool](t, tab[1], `(ac.abort(), true)`)
		if q, n := settle(t, tab[1], `q`, 20000), next(t, tab[1]); q != "ABORTED" || n != "1" {
			t.Fatalf("aborted query: %s; the next query: %s", q, n)
		}
	})

	// A follower appends and closes at once: the leader applies the
	// append, so the follower must acknowledge it, not reject it as CLOSED
	// (an application would append it again).
	t.Run("a follower closes with an append in flight", func(t *testing.T) {
		tab, _ := open(t, 2, "faults-follower")
		got := settle(t, tab[1], `(async () => { const p = db.append("x", "create", "x").then(() => "acked", (e) => e.code); await db.close(); return p; })()`, 15000)
		n := eval[float64](t, tab[0], `db.query("SELECT count(*) AS n FROM todo WHERE id = 'x'").then((r) => r[0].n)`)
		if got != "acked" || n != 1 {
			t.Fatalf("the follower's append: %s; applied %v times", got, n)
		}
	})

	// A follower's append goes to a closing leader, which leaves it to the
	// next; the follower, leading, applies it as a retry. Its request key
	// must be new: the tab closed and opened the store before, and an
	// earlier append's key would answer with that append, not apply this.
	t.Run("request keys are never reused", func(t *testing.T) {
		tab, _ := open(t, 1, "faults-keys")
		eval[string](t, tab[0], `db.append("a", "create", "start").then(() => "ok")`)
		c, cancel := chromedp.NewContext(root)
		t.Cleanup(cancel)
		load(t, c, url)
		eval[string](t, c, `openTodo("faults-keys").then(async (db) => { await db.append("a", "set_content", "one"); await db.close(); return "ok"; })`)
		eval[string](t, c, `openTodo("faults-keys").then((db) => (window.db = db, db.role))`)
		eval[bool](t, tab[0], `(window.ac = new AbortController(), window.q = db.query(`+jsString(endless)+`, [], { signal: ac.signal }).catch((e) => e.code), window.closing = db.close(), true)`)
		time.Sleep(300 * time.Millisecond)
		eval[bool](t, c, `(window.p = db.append("a", "set_content", "two").then((e) => e.value, (e) => "REJECT " + e.code + ": " + e.message), true)`)
		time.Sleep(300 * time.Millisecond)
		eval[bool](t, tab[0], `(ac.abort(), true)`)
		got := settle(t, c, `p`, 20000)
		content := settle(t, c, `db.query("SELECT content FROM todo WHERE id = 'a'").then((r) => r[0].content)`, 10000)
		if got != "two" || content != "two" {
			t.Fatalf("the append of \"two\" answered %s; the content is %s", got, content)
		}
	})

	// The leader's Worker dies while the leader's own import runs: the
	// import goes again, with its bytes, to the next leader (this tab with
	// a new Worker). Its bytes were transferred to the dead Worker: sent
	// again as they were, detached, they cannot be posted, and each new
	// Worker died of it in turn.
	t.Run("the leader's import when its Worker dies", func(t *testing.T) {
		tab, _ := open(t, 2, "faults-import")
		eval[bool](t, tab[0], `(async () => {
			const m = await openTodo(":memory:");
			await m.appendMany(Array.from({ length: 4000 }, (_, i) => ({ item: "m" + i, type: "create", value: "m" + i })));
			window.batch = await m.exportSince({});
			await m.close();
			window.imp = db.import(batch).then((r) => "imported " + (r.added + r.duplicates), (e) => "REJECT " + e.code + ": " + e.message);
			return true;
		})()`)
		killWorkers(t, tab[0])
		got := settle(t, tab[0], `imp`, 40000)
		count := `db.query("SELECT count(*) AS n FROM todo").then((r) => String(r[0].n))`
		n0, n1 := settle(t, tab[0], count, 20000), settle(t, tab[1], count, 20000)
		if got != "imported 4000" || n0 != "4000" || n1 != "4000" {
			t.Fatalf("the import: %s; the todos the tabs see: %s and %s, want 4000", got, n0, n1)
		}
	})

	// A follower closes with an appendMany in flight, and the leader's tab
	// goes away: the closing follower must still send it to the next
	// leader (another tab, or itself if it is the last), as a retry; it
	// was left unanswered for 30 s, then rejected as CLOSED, applied or
	// not.
	t.Run("a follower closes with an append in flight, and the leader goes", func(t *testing.T) {
		tab, cancels := open(t, 3, "faults-closing")
		many := func(prefix string) string {
			return `(window.p = db.appendMany(Array.from({ length: 5000 }, (_, i) => ({ item: "` + prefix + `" + i, type: "create", value: "x" })))
				.then((evs) => "acked " + evs.length, (e) => "REJECT " + e.code + ": " + e.message), window.closing = db.close().then(() => "closed"), true)`
		}
		count := `openTodo("faults-closing").then((d) => (window.db = d, d.query("SELECT count(*) AS n FROM todo"))).then((r) => String(r[0].n))`
		// The next leader is another tab.
		eval[bool](t, tab[2], many("a"))
		cancels[0]()
		if got, closed := settle(t, tab[2], `p`, 25000), settle(t, tab[2], `closing`, 5000); got != "acked 5000" || closed != "closed" {
			t.Fatalf("the closing follower's appendMany, the next leader another tab: %s; its close: %s", got, closed)
		}
		if n := settle(t, tab[2], count, 10000); n != "5000" {
			t.Fatalf("%s todos, want 5000", n)
		}
		// The next leader is the closing tab itself.
		eval[bool](t, tab[2], many("b"))
		cancels[1]()
		if got, closed := settle(t, tab[2], `p`, 25000), settle(t, tab[2], `closing`, 5000); got != "acked 5000" || closed != "closed" {
			t.Fatalf("the closing follower's appendMany, the last tab: %s; its close: %s", got, closed)
		}
		if n := settle(t, tab[2], count, 10000); n != "10000" {
			t.Fatalf("%s todos, want 10000", n)
		}
	})

	// A follower's page goes into the back/forward cache (its pagehide and
	// pageshow, dispatched here: the store's code is what runs) while the
	// leader reads the store another way: the follower missed the new
	// interpretation. Back, it must be refused like any tab of another
	// interpretation (LOCKED), not follow silently — and, next in line,
	// lead and rebuild the store its old way under the others' feet.
	t.Run("a follower back from the back/forward cache after a reinterpret", func(t *testing.T) {
		tab, _ := open(t, 2, "faults-interp")
		eval[bool](t, tab[1], `(window.dispatchEvent(new PageTransitionEvent("pagehide", { persisted: true })), true)`)
		eval[bool](t, tab[0], `(window.v2 = {
			schema: "CREATE TABLE todo (id TEXT PRIMARY KEY, content TEXT NOT NULL DEFAULT '', completed INTEGER NOT NULL DEFAULT 0); CREATE TABLE tag (id TEXT)",
			materializers: {
				create: "INSERT OR IGNORE INTO todo (id, content) VALUES (:item, :value)",
				set_content: "UPDATE todo SET content = :value WHERE id = :item",
				set_completed: "UPDATE todo SET completed = :value WHERE id = :item",
				tag: "INSERT INTO tag (id) VALUES (:item)",
			},
		}, db.reinterpret(v2).then(() => true))`)
		eval[bool](t, tab[1], `(window.dispatchEvent(new PageTransitionEvent("pageshow", { persisted: true })), true)`)
		if got := settle(t, tab[1], `db.query("SELECT count(*) AS n FROM todo").then((r) => r[0].n)`, 10000); !strings.HasPrefix(got, "REJECT LOCKED: ") {
			t.Fatalf("the follower that missed the reinterpret: %s, want LOCKED", got)
		}
		// The leader closes; the store, opened again the new way, has it.
		got := settle(t, tab[0], `db.close().then(() => factlog.open({ name: "faults-interp", ...v2 })).then((d) => (window.db = d, d.append("t", "tag"))).then(() => db.query("SELECT count(*) AS n FROM tag")).then((r) => db.role + " " + r[0].n)`, 20000)
		if got != "leader 1" {
			t.Fatalf("the new interpretation, after its leader closed: %s", got)
		}
	})

	// Two tabs (or one, twice) connect at once to a URL that names no
	// room: the leader runs one link for both. Each must end closed with
	// INVALID_ARGUMENT; the second was left "connecting" for ever, as it
	// joined the first's link before the engine refused it.
	t.Run("links to a bad URL refused at once", func(t *testing.T) {
		tab, _ := open(t, 2, "faults-links")
		const bad = `"http://127.0.0.1:9/v1/rooms/a%2Fb"`
		ended := `((l) => new Promise((ok) => {
			const end = Date.now() + 10000;
			const check = () => (l.status.state === "closed" || Date.now() > end ? ok(l.status.state + " " + (l.status.code || "")) : setTimeout(check, 20));
			check();
		}))`
		eval[bool](t, tab[1], `(window.l1 = db.connect(`+bad+`), true)`)
		got := eval[[]string](t, tab[0], `(() => { const a = db.connect(`+bad+`), b = db.connect(`+bad+`); return Promise.all([a, b].map(`+ended+`)); })()`)
		got = append(got, eval[string](t, tab[1], ended+`(l1)`))
		for i, st := range got {
			if st != "closed INVALID_ARGUMENT" {
				t.Errorf("link %d: %s, want closed INVALID_ARGUMENT", i, st)
			}
		}
	})

	// A follower closes with a write in flight, not awaited, and opens the
	// store again at once (a component unmounted and mounted again): when
	// the write is answered, the old handle leaves the leader — which must
	// not drop the new handle's watch of the same tab with it.
	t.Run("a follower opens again while its close waits", func(t *testing.T) {
		tab, _ := open(t, 2, "faults-reopen")
		eval[bool](t, tab[1], `(async () => {
			window.p = db.appendMany(Array.from({ length: 3000 }, (_, i) => ({ item: "r" + i, type: "create", value: "x" })));
			window.closing = db.close();
			await new Promise((r) => setTimeout(r, 20)); // the close has begun: it waits for the appendMany
			window.db = await openTodo("faults-reopen");
			watchCount(db, "again");
			await closing;
			await p;
			return true;
		})()`)
		waitJS(t, tab[1], `counts.again === 3000`, "the new handle's watch to see the appendMany")
		eval[bool](t, tab[0], `db.append("after", "create", "x").then(() => true)`)
		waitJS(t, tab[1], `counts.again === 3001`, "the new handle's watch to see a later append")
	})

	// A follower's register set reaches the leader, which applies it; the
	// answer is lost (the follower's page goes into the back/forward cache
	// as it sends), and the follower sends the set again when it comes
	// back. The register holds the value already: it keeps its clock, which
	// a second write would have moved past concurrent ones.
	t.Run("a register set sent again after its answer was lost", func(t *testing.T) {
		tab, _ := openWith(t, 2, `import("../factlog.js").then((f) => f.openRegisters({ name: "faults-regs", table: "todo", columns: ["content"] })).then((r) => (window.regs = r, r.role))`)
		eval[bool](t, tab[1], `(window.p = regs.set("1", "content", "cook").then((r) => String(r.clock), (e) => "REJECT " + e.code + ": " + e.message),
			window.dispatchEvent(new PageTransitionEvent("pagehide", { persisted: true })), true)`)
		waitJS(t, tab[0], `regs.state().then((s) => s.length === 1)`, "the leader to apply the set")
		eval[bool](t, tab[1], `(window.dispatchEvent(new PageTransitionEvent("pageshow", { persisted: true })), true)`)
		got := settle(t, tab[1], `p`, 20000)
		state := settle(t, tab[1], `regs.state().then((s) => s.map((r) => r.value + "@" + r.clock).join())`, 20000)
		if got != "1" || state != "cook@1" {
			t.Fatalf("the set answered clock %s, the register is %s; want 1 and cook@1", got, state)
		}
	})

	// A follower's import reaches the leader, which applies it; the
	// follower cannot hear the answer (its page went into the back/forward
	// cache: pagehide and pageshow dispatched here) and, back, aborts the
	// import before a leader answers again. ABORTED says nothing was kept:
	// the import must be answered for what it did.
	t.Run("an import aborted when its outcome is unknown", func(t *testing.T) {
		tab, _ := open(t, 2, "faults-abort-import")
		eval[bool](t, tab[1], `(async () => {
			const m = await openTodo(":memory:");
			await m.appendMany(Array.from({ length: 1000 }, (_, i) => ({ item: "m" + i, type: "create", value: "m" + i })));
			const batch = await m.exportSince({});
			await m.close();
			window.ac = new AbortController();
			window.p = db.import(batch, { signal: ac.signal }).then((r) => "imported " + (r.added + r.duplicates), (e) => "REJECT " + e.code + ": " + e.message);
			window.dispatchEvent(new PageTransitionEvent("pagehide", { persisted: true }));
			return true;
		})()`)
		waitJS(t, tab[0], `db.query("SELECT count(*) AS n FROM todo").then((r) => r[0].n === 1000)`, "the leader to apply the import")
		eval[bool](t, tab[1], `(window.dispatchEvent(new PageTransitionEvent("pageshow", { persisted: true })), ac.abort(), true)`)
		got := settle(t, tab[1], `p`, 20000)
		n := settle(t, tab[1], `db.query("SELECT count(*) AS n FROM todo").then((r) => r[0].n)`, 20000)
		if got != "imported 1000" || n != "1000" {
			t.Fatalf("the import: %s, with %s todos kept", got, n)
		}
	})

	// An open that rebuilds the store for a new interpretation is aborted
	// (at its first progress): ABORTED says nothing was kept, as in Node —
	// the tab that was to lead went on with the rebuild and kept it, so
	// the next open found it done.
	t.Run("an open aborted while it rebuilds", func(t *testing.T) {
		tab, _ := open(t, 1, "faults-abort-open")
		got := settle(t, tab[0], `(async () => {
			await db.appendMany(Array.from({ length: 10000 }, (_, i) => ({ item: "i" + i, type: "create", value: "v" })));
			await db.close();
			const v2 = { schema: "CREATE TABLE todo2 (id TEXT PRIMARY KEY, content TEXT)", materializers: { create: "INSERT OR IGNORE INTO todo2 VALUES (:item, :value)", set_content: "", set_completed: "" } };
			const ac = new AbortController();
			const first = await factlog.open({ name: "faults-abort-open", ...v2, signal: ac.signal, onProgress: () => ac.abort() }).then(() => "opened", (e) => e.code);
			let rebuilt = false;
			const again = await factlog.open({ name: "faults-abort-open", ...v2, onProgress: () => (rebuilt = true) });
			const n = (await again.query("SELECT count(*) AS n FROM todo2"))[0].n;
			return first + ", then rebuilt " + rebuilt + " " + n;
		})()`, 60000)
		if got != "ABORTED, then rebuilt true 10000" {
			t.Fatalf("the aborted open, then the next: %s", got)
		}
	})
}
