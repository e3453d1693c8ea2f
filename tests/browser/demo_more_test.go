package browser

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// dagMatches is true when every event-log replica's summary ("The DAG: N
// events") shows as many events as its store holds.
const dagMatches = `(async () => {
	for (const r of [...demo.log, demo.live].filter(Boolean)) {
		const [{ n }] = await r.db.query("SELECT count(*) AS n FROM event");
		const shown = r.summary.textContent.match(/The DAG: (\d+) events/);
		if (!shown || Number(shown[1]) !== n) return false;
	}
	return true;
})()`

// TestDemoLoads loads the demo many times in a row: every time, every
// replica shows the events its store holds. (A watch that missed its
// first result left a replica empty in 4 of 8 loads: six loads in a row
// passed by chance once in 64.)
func TestDemoLoads(t *testing.T) {
	ctx, url := demoPage(t)
	for i := range 3 {
		add(t, ctx, "log", i, fmt.Sprintf("todo on %c", 'A'+i))
	}
	for i := range 6 {
		loadDemo(t, ctx, url)
		waitUntil(t, ctx, `demo.log.every((r) => r.todos.length === 1) && `+dagMatches)
		if got := eval[string](t, ctx, `demo.log.map((r) => r.summary.textContent).join(" | ")`); !strings.Contains(got, "The DAG: 1 events") {
			t.Fatalf("load %d: %s", i+1, got)
		}
	}
}

// downable serves h until down is set; then it drops every connection
// without an answer, as a relay that is down does.
type downable struct {
	h    http.Handler
	down atomic.Bool
}

func (d *downable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d.down.Load() {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	d.h.ServeHTTP(w, r)
}

// TestDemoLayout checks what a person sees, at a desktop and a phone
// width, with screenshots: the replica headers' style, no page wider than
// the screen, the events' values in view, replicas named A, B, C, the
// interpretation kept across a reload, no missing file (favicon), and,
// with the relay down, the live replica's stored todos.
func TestDemoLayout(t *testing.T) {
	ctx := browser(t)
	relay := &downable{h: startRelay(t)}
	url := serveDist(t, map[string]http.Handler{"/v1/": relay, "/healthz": relay}) + "/"
	var missing []string
	chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventResponseReceived); ok && e.Response.Status >= 400 {
			missing = append(missing, fmt.Sprintf("%d %s", e.Response.Status, e.Response.URL))
		}
	})
	// (chromedp enables the Network domain of every tab.)
	loadDemo(t, ctx, url)
	add(t, ctx, "log", 0, "make pasta")
	add(t, ctx, "log", 1, `a longer todo whose value should wrap, not hide past the table's edge`)
	add(t, ctx, "lww", 0, "water the plants")
	add(t, ctx, "live", 0, "from the live replica")
	syncNodes(t, ctx, "log")
	sameLists(t, ctx, "log")
	do(t, ctx, chromedp.Click(`#log input[name="interpretation"][value="completed"]`))
	waitUntil(t, ctx, `document.querySelector("#log .progress").textContent === "rebuilt from the same events"`)

	for _, size := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"desktop", 1400, 900, false}, {"phone", 390, 844, true}} {
		opts := []chromedp.EmulateViewportOption{}
		if size.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
		}
		do(t, ctx, chromedp.EmulateViewport(size.width, size.height, opts...))
		loadDemo(t, ctx, url)
		waitUntil(t, ctx, `demo.log.every((r) => r.todos.length === 2) && `+dagMatches)
		if over := eval[float64](t, ctx, `document.documentElement.scrollWidth - innerWidth`); over > 0 {
			t.Errorf("%s: the page is %v px wider than the screen", size.name, over)
		}
		style := eval[[]string](t, ctx, `(() => { const s = getComputedStyle(document.querySelector("#log .replica > .head > header")); return [s.display, s.borderBottomWidth]; })()`)
		if style[0] != "flex" || style[1] != "3px" {
			t.Errorf("%s: a replica's header is %v, want flex with its 3px underline", size.name, style)
		}
		gap := eval[float64](t, ctx, `(() => { const h = document.querySelector("#live .replica > .head > header"); return h.querySelector(".link").getBoundingClientRect().left - h.querySelector(".peer-id").getBoundingClientRect().right; })()`)
		if gap < 4 {
			t.Errorf("%s: the peer id and the link's state touch (%v px apart)", size.name, gap)
		}
		if size.name == "desktop" {
			hidden := eval[float64](t, ctx, `Math.max(...[...document.querySelectorAll("#log table.events")].map((t) => t.parentElement.scrollWidth - t.parentElement.clientWidth))`)
			if hidden > 0 {
				t.Errorf("%s: the events table hides %v px behind a scroll bar", size.name, hidden)
			}
		}
		names := eval[[]string](t, ctx, `[...document.querySelectorAll("#log table.events .peer")].map((e) => e.textContent)`)
		for _, n := range names {
			if n != "A" && n != "B" && n != "C" {
				t.Errorf("%s: an event is labelled %q, not by its replica's name", size.name, n)
				break
			}
		}
		if got := eval[string](t, ctx, `document.querySelector('#log input[name="interpretation"]:checked').value`); got != "completed" {
			t.Errorf("%s: after a reload the interpretation is %q, want the chosen one", size.name, got)
		}
		screenshot(t, ctx, "demo-"+size.name)
	}
	if len(missing) > 0 {
		t.Errorf("missing files: %v", missing)
	}

	// The relay goes down: a reload still shows the live replica's todos.
	relay.down.Store(true)
	do(t, ctx, chromedp.EmulateViewport(1400, 900))
	loadDemo(t, ctx, url)
	waitUntil(t, ctx, listJS("live", 0)+`.includes("from the live replica")`)
	waitUntil(t, ctx, `demo.live.link.status.state === "offline"`)
	do(t, ctx, chromedp.ScrollIntoView("#live"))
	elementShot(t, ctx, "#live", "demo-live-relay-down")
}

// TestDemoTwoTabs opens the demo in two tabs of one browser: both work,
// on the same stores — edits in one show in the other, the live replica's
// one link is online in both, and no tab falls back to a copy.
func TestDemoTwoTabs(t *testing.T) {
	ctx, url := demoPage(t)
	other, cancel := chromedp.NewContext(ctx)
	defer cancel()
	loadDemo(t, other, url)
	for _, c := range []context.Context{ctx, other} {
		if n := eval[string](t, c, `document.getElementById("notices").textContent + document.getElementById("errors").textContent`); n != "" {
			t.Fatalf("a tab shows: %s", n)
		}
	}
	roles := eval[[]string](t, other, `[...demo.log.map((r) => r.db.role), demo.live.db.role, ...demo.lww.map((r) => r.regs.role)]`)
	for _, r := range roles {
		if r != "follower" {
			t.Fatalf("the second tab's roles: %v, want followers of the first", roles)
		}
	}
	add(t, ctx, "log", 0, "from the first tab")
	waitUntil(t, other, listJS("log", 0)+`.includes("from the first tab")`)
	add(t, other, "log", 1, "from the second tab")
	waitUntil(t, ctx, listJS("log", 1)+`.includes("from the second tab")`)
	add(t, other, "lww", 2, "a register from the second tab")
	waitUntil(t, ctx, listJS("lww", 2)+`.includes("a register from the second tab")`)
	add(t, ctx, "live", 0, "live, from the first tab")
	waitUntil(t, other, listJS("live", 0)+`.includes("live, from the first tab")`)
	for _, c := range []context.Context{ctx, other} {
		waitUntil(t, c, `demo.live.link.status.state === "online"`)
	}
	do(t, other, chromedp.ScrollIntoView("#log"))
	elementShot(t, other, "#log", "demo-second-tab")
}

// remove clicks a todo's delete button.
func remove(t *testing.T, ctx context.Context, example string, i int, text string) {
	t.Helper()
	do(t, ctx, chromedp.Click(itemSel(t, ctx, example, i, text)+" .destroy"))
	waitUntil(t, ctx, `!`+listJS(example, i)+`.includes(`+jsString(text)+`)`)
}

// TestDemoDelete: a todo deleted on one replica while another renames it
// offline is gone from every replica once they sync, in both examples.
// The registers keep a tombstone; the log keeps every fact (the todo's
// create, its rename and its deletion), and every interpretation reads
// the deletion.
func TestDemoDelete(t *testing.T) {
	ctx, _ := demoPage(t)
	for _, ex := range []string{"lww", "log"} {
		add(t, ctx, ex, 0, "keep")
		add(t, ctx, ex, 0, "drop")
		syncNodes(t, ctx, ex)
		sameLists(t, ctx, ex)
		offline(t, ctx, ex, 2)
		edit(t, ctx, ex, 2, "drop", "drop, renamed offline")
		remove(t, ctx, ex, 1, "drop")
		offline(t, ctx, ex, 2)
		syncNodes(t, ctx, ex)
		if got := sameLists(t, ctx, ex); !reflect.DeepEqual(got, []todoRow{{"keep", false}}) {
			t.Fatalf("%s after the sync: %v, want only the todo kept", ex, got)
		}
	}
	if got := eval[[]any](t, ctx, `demo.lww[0].regs.state().then((s) => s.filter((r) => r.column === "deleted").map((r) => r.value))`); !reflect.DeepEqual(got, []any{true}) {
		t.Fatalf("the registers' tombstones: %v, want [true]", got)
	}
	types := eval[[]string](t, ctx, `demo.log[0].db.events().then((es) => {
		const id = es.find((e) => e.value === "drop").item;
		return es.filter((e) => e.item === id).map((e) => e.type).sort();
	})`)
	if !reflect.DeepEqual(types, []string{"create", "delete", "set_content"}) {
		t.Fatalf("the deleted todo's events: %v, want its create, rename and deletion", types)
	}
	events := eval[[]demoEvent](t, ctx, `demo.log[0].db.events()`)
	for _, it := range []struct {
		name  string
		stays bool
	}{{"completed", true}, {"churn", false}, {"lww", false}} {
		do(t, ctx, chromedp.Click(fmt.Sprintf(`#log input[name="interpretation"][value="%s"]`, it.name)))
		want, _ := interpret(events, it.stays)
		showsTodos(t, ctx, "log", 0, want)
		sameLists(t, ctx, "log")
	}
}

// TestDemoBadRoom: a ?room= the relay would refuse (a "/", over 128
// characters) does not break the page: the live example says why, and
// its replica works in memory, unlinked, beside the other examples; a
// room of 128 characters links.
func TestDemoBadRoom(t *testing.T) {
	ctx, url := demoPage(t)
	for i, room := range []string{"a/b", strings.Repeat("r", 129)} {
		loadDemo(t, ctx, url+"?room="+room)
		if got := eval[string](t, ctx, `document.querySelector("#live .live-status").textContent`); !strings.Contains(got, "cannot be used: a room name is 1 to 128 letters") {
			t.Fatalf("?room=%.20s…: the live example says %q", room, got)
		}
		if eval[bool](t, ctx, `"link" in demo.live || demo.live.db.persisted`) {
			t.Fatalf("?room=%.20s…: the live replica is linked or persisted", room)
		}
		for ex, text := range map[string]string{"live": "kept here", "lww": "the registers work", "log": "the log works"} {
			add(t, ctx, ex, 0, fmt.Sprint(text, " ", i))
		}
		if errs := eval[string](t, ctx, `document.getElementById("errors").textContent`); errs != "" {
			t.Fatalf("?room=%.20s…: %s", room, errs)
		}
	}
	loadDemo(t, ctx, url+"?room="+strings.Repeat("r", 128))
	waitUntil(t, ctx, `demo.live.link.status.state === "online" && demo.live.db.persisted`)
}

// TestDemoRoleBadge: the second tab's replicas say "via another tab"
// while the first tab leads; when the first tab closes, the second leads
// every store, and no badge says otherwise.
func TestDemoRoleBadge(t *testing.T) {
	ctx := browser(t)
	rel := startRelay(t)
	url := serveDist(t, map[string]http.Handler{"/v1/": rel, "/healthz": rel}) + "/"
	first, closeFirst := chromedp.NewContext(ctx)
	defer closeFirst()
	loadDemo(t, first, url)
	second, cancel := chromedp.NewContext(ctx)
	defer cancel()
	loadDemo(t, second, url)
	const badges = `document.querySelectorAll("header .role").length`
	if n := eval[float64](t, second, badges); n != 7 {
		t.Fatalf("the second tab shows %v badges, want 7 (3 registers, 3 logs, the live replica)", n)
	}
	closeFirst()
	waitUntil(t, second, `[...demo.lww.map((r) => r.regs.role), ...demo.log.map((r) => r.db.role), demo.live.db.role].every((r) => r === "leader") && `+badges+` === 0`)
}
