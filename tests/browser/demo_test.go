package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/factlog/factlog/tests/internal/e2e"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// demoPage loads the demo, served with a relay as `relay -web dist` does.
func demoPage(t *testing.T) (ctx context.Context, url string) {
	t.Helper()
	ctx = browser(t)
	rel := startRelay(t)
	url = serveDist(t, map[string]http.Handler{"/v1/": rel, "/healthz": rel}) + "/"
	loadDemo(t, ctx, url)
	return ctx, url
}

func loadDemo(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	// Up to 90 s: a second tab of a fresh profile compiles factlog.wasm
	// again, and the test command's other packages may hold both cores
	// meanwhile (a load once took over 45 s there, and 9–18 s alone). In
	// steps of 20 s, each within eval's bound.
	var got string
	for end := time.Now().Add(90 * time.Second); ; {
		got = eval[string](t, ctx, `new Promise((ok) => {
			const end = Date.now() + 20000;
			const w = () => {
				const s = document.getElementById("status").textContent;
				s !== "loading…" || Date.now() > end ? ok(s) : setTimeout(w, 20);
			};
			w();
		})`)
		if got != "loading…" || time.Now().After(end) {
			break
		}
	}
	if got != "ready" {
		t.Logf("Web Locks: %s", eval[string](t, ctx, `navigator.locks.query().then((q) => JSON.stringify(q))`))
		t.Logf("service worker: %s; fetched: %s", eval[string](t, ctx, `navigator.serviceWorker?.controller ? "controls the page" : "none"`),
			eval[string](t, ctx, `JSON.stringify(performance.getEntriesByType("resource").map((e) => [e.name.split("/").pop(), Math.round(e.startTime), Math.round(e.duration)]))`))
		t.Fatalf("demo status %q: %s", got, eval[string](t, ctx, `document.getElementById("errors").textContent`))
	}
}

// replica is a CSS selector within a replica of an example.
func replica(example string, i int, rest string) string {
	return fmt.Sprintf(`#%s [data-replica="%d"] %s`, example, i, rest)
}

func do(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// waitUntil polls a JavaScript condition in the page, boundedly.
func waitUntil(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	eval[bool](t, ctx, `new Promise((ok, fail) => {
		const end = Date.now() + 30000;
		const check = async () => {
			if (await (async () => `+cond+`)()) return ok(true);
			if (Date.now() > end) return fail(new Error("timed out waiting for: " + `+"`"+cond+"`"+`));
			setTimeout(check, 25);
		};
		check();
	})`)
}

type todoRow struct {
	Content   string `json:"content"`
	Completed bool   `json:"completed"`
}

// list reads a replica's list as the page shows it.
func list(t *testing.T, ctx context.Context, example string, i int) []todoRow {
	t.Helper()
	return eval[[]todoRow](t, ctx, fmt.Sprintf(`[...document.querySelectorAll('%s')].map((li) => ({
		content: li.querySelector(".content").textContent, completed: li.querySelector(".toggle").checked }))`, replica(example, i, ".todo-list li")))
}

func listJS(example string, i int) string {
	return fmt.Sprintf(`JSON.stringify([...document.querySelectorAll('%s')].map((li) => [li.querySelector(".content").textContent, li.querySelector(".toggle").checked]))`,
		replica(example, i, ".todo-list li"))
}

func add(t *testing.T, ctx context.Context, example string, i int, text string) {
	t.Helper()
	do(t, ctx, chromedp.SendKeys(replica(example, i, ".new-todo"), text+"\n"))
	waitUntil(t, ctx, listJS(example, i)+`.includes(`+jsString(text)+`)`)
}

// itemSel finds the todo showing text in a replica.
func itemSel(t *testing.T, ctx context.Context, example string, i int, text string) string {
	t.Helper()
	id := eval[string](t, ctx, fmt.Sprintf(`[...document.querySelectorAll('%s')].find((li) => li.querySelector(".content").textContent === %s).dataset.id`,
		replica(example, i, ".todo-list li"), jsString(text)))
	return replica(example, i, fmt.Sprintf(`li[data-id="%s"]`, id))
}

// edit double-clicks a todo, types, and presses Enter.
func edit(t *testing.T, ctx context.Context, example string, i int, from, to string) {
	t.Helper()
	item := itemSel(t, ctx, example, i, from)
	do(t, ctx, chromedp.DoubleClick(item+" .content"), chromedp.WaitVisible(item+" .edit"))
	do(t, ctx, chromedp.SetValue(item+" .edit", to), chromedp.SendKeys(item+" .edit", "\n"))
	waitUntil(t, ctx, listJS(example, i)+`.includes(`+jsString(to)+`)`)
}

// clickNow clicks the element sel selects in one step, once there is one:
// a node chromedp finds and then clicks may have been drawn anew in
// between (a list re-rendered by a sync), and its click then fails.
func clickNow(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	waitUntil(t, ctx, fmt.Sprintf(`(() => { const e = document.querySelector(%s); e?.click(); return !!e; })()`, jsString(sel)))
}

func toggle(t *testing.T, ctx context.Context, example string, i int, text string, done bool) {
	t.Helper()
	clickNow(t, ctx, itemSel(t, ctx, example, i, text)+" .toggle")
	waitUntil(t, ctx, fmt.Sprintf(`JSON.parse(%s).some(([c, d]) => c === %s && d === %v)`, listJS(example, i), jsString(text), done))
}

func offline(t *testing.T, ctx context.Context, example string, i int) {
	t.Helper()
	do(t, ctx, chromedp.Click(replica(example, i, ".offline")))
}

func syncNodes(t *testing.T, ctx context.Context, example string) {
	t.Helper()
	do(t, ctx, chromedp.Click("#"+example+" .sync"))
	waitUntil(t, ctx, `!document.querySelector("#`+example+` .sync").disabled`)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// sameLists waits until the three replicas of an example show one list,
// and returns it.
func sameLists(t *testing.T, ctx context.Context, example string) []todoRow {
	t.Helper()
	waitUntil(t, ctx, fmt.Sprintf(`%s === %s && %s === %s`, listJS(example, 0), listJS(example, 1), listJS(example, 1), listJS(example, 2)))
	return list(t, ctx, example, 0)
}

// conflicts plays the same story in an example: a todo made on A and
// synced; then, apart, A renames it, B completes it, C (offline) renames
// it too; a sync without C; C comes back; a sync of all.
func conflicts(t *testing.T, ctx context.Context, example string) []todoRow {
	add(t, ctx, example, 0, "make pasta")
	syncNodes(t, ctx, example)
	sameLists(t, ctx, example)
	offline(t, ctx, example, 2)
	edit(t, ctx, example, 0, "make pasta", "boil")
	toggle(t, ctx, example, 1, "make pasta", true)
	edit(t, ctx, example, 2, "make pasta", "cook")
	syncNodes(t, ctx, example)
	waitUntil(t, ctx, listJS(example, 1)+` === '[["boil",true]]'`)
	if got := list(t, ctx, example, 2); !reflect.DeepEqual(got, []todoRow{{"cook", false}}) {
		t.Fatalf("the offline replica took part in the sync: %v", got)
	}
	offline(t, ctx, example, 2)
	syncNodes(t, ctx, example)
	return sameLists(t, ctx, example)
}

type demoEvent struct {
	ID    string          `json:"id"`
	Clock int             `json:"clock"`
	Item  string          `json:"item"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// showsTodos waits until a replica's list shows exactly want, in order.
func showsTodos(t *testing.T, ctx context.Context, example string, i int, want []todoRow) {
	t.Helper()
	b, _ := json.Marshal(want)
	waitUntil(t, ctx, fmt.Sprintf(`JSON.stringify(JSON.parse(%s).map(([content, completed]) => ({content, completed}))) === %s`, listJS(example, i), jsString(string(b))))
}

// interpret replays events (in replay order) the way the demo's
// interpretations do, independently of the library, and returns the
// todos (by creation; a deleted one is gone, and created again last) and
// the number of un-completions.
func interpret(events []demoEvent, stays bool) (todos []todoRow, churn int) {
	index := map[string]int{}
	for _, e := range events {
		var v any
		json.Unmarshal(e.Value, &v)
		i, ok := index[e.Item]
		switch e.Type {
		case "create":
			if !ok {
				index[e.Item] = len(todos)
				todos = append(todos, todoRow{Content: v.(string)})
			}
		case "set_content":
			if ok {
				todos[i].Content = v.(string)
			}
		case "set_completed":
			if ok {
				done := v.(bool)
				if todos[i].Completed && !done {
					churn++
				}
				todos[i].Completed = done || (stays && todos[i].Completed)
			}
		case "delete":
			if ok {
				todos = append(todos[:i], todos[i+1:]...)
				delete(index, e.Item)
				for item, j := range index {
					if j > i {
						index[item] = j - 1
					}
				}
			}
		}
	}
	return todos, churn
}

// TestDemoExamples drives both examples with the mouse and keyboard.
func TestDemoExamples(t *testing.T) {
	ctx, url := demoPage(t)

	// Registers: content was written once on A and once on C (clock 2
	// each): the tie goes to the bigger value, "cook". Completion was
	// written on B only.
	if got := conflicts(t, ctx, "lww"); !reflect.DeepEqual(got, []todoRow{{"cook", true}}) {
		t.Fatalf("LWW result %v, want [{cook true}] by the clock rule", got)
	}
	state := eval[[][]any](t, ctx, `demo.lww[0].regs.state().then((s) => s.map((r) => [r.column, r.value, r.clock]))`)
	if !reflect.DeepEqual(state, [][]any{{"completed", true, 2.0}, {"content", "cook", 2.0}}) {
		t.Fatalf("LWW registers %v", state)
	}
	do(t, ctx, chromedp.ScrollIntoView("#lww"))
	elementShot(t, ctx, "#lww", "demo-lww")

	// The event log: the state is the chosen interpretation of the
	// merged log, and every replica holds the same log.
	got := conflicts(t, ctx, "log")
	toggle(t, ctx, "log", 0, got[0].Content, false) // un-complete it, for the churn
	syncNodes(t, ctx, "log")
	sameLists(t, ctx, "log")
	events := eval[[]demoEvent](t, ctx, `demo.log[0].db.events()`)
	for _, it := range []struct {
		name  string
		stays bool
	}{{"lww", false}, {"completed", true}, {"churn", false}} {
		do(t, ctx, chromedp.Click(fmt.Sprintf(`#log input[name="interpretation"][value="%s"]`, it.name)))
		want, churn := interpret(events, it.stays)
		showsTodos(t, ctx, "log", 0, want)
		sameLists(t, ctx, "log")
		if it.name != "churn" {
			churn = 0 // only that reading lists them
		} else if churn != 1 {
			t.Fatalf("the story has %d un-completions, want 1", churn)
		}
		waitUntil(t, ctx, fmt.Sprintf(`document.querySelectorAll('#log [data-replica="2"] .churn li').length === %d`, churn))
	}
	same := eval[bool](t, ctx, `(async () => {
		const dump = async (db) => JSON.stringify([
			await db.query("SELECT * FROM event ORDER BY id"),
			await db.query("SELECT * FROM event_dag ORDER BY parent_id, event_id"),
			await db.heads()]);
		const [a, b, c] = await Promise.all(demo.log.map((r) => dump(r.db)));
		return a === b && b === c;
	})()`)
	if !same {
		t.Fatal("the replicas' event and event_dag tables differ")
	}
	do(t, ctx, chromedp.Click(`#log input[name="interpretation"][value="lww"]`))
	// The list is drawn anew once the state is rebuilt: its item is looked
	// for after that.
	lww, _ := interpret(events, false)
	showsTodos(t, ctx, "log", 0, lww)
	clickNow(t, ctx, itemSel(t, ctx, "log", 0, got[0].Content)+" .history")
	waitUntil(t, ctx, `document.querySelectorAll('#log [data-replica="0"] .history li').length === `+fmt.Sprint(len(events)))
	do(t, ctx, chromedp.ScrollIntoView("#log"))
	elementShot(t, ctx, "#log", "demo-log")
	before := list(t, ctx, "log", 1)

	// A reload keeps the event-log replicas' data (in OPFS).
	loadDemo(t, ctx, url)
	waitUntil(t, ctx, listJS("log", 1)+` !== "[]"`)
	if after := list(t, ctx, "log", 1); !reflect.DeepEqual(after, before) {
		t.Fatalf("after a reload: %v, want %v", after, before)
	}
}

// TestDemoLive: two tabs, each its own replica, converge through the relay.
func TestDemoLive(t *testing.T) {
	ctx, url := demoPage(t)
	other, cancel := chromedp.NewContext(ctx)
	defer cancel()
	loadDemo(t, other, url)
	waitUntil(t, ctx, `demo.live.link.status.state === "online"`)
	waitUntil(t, other, `demo.live.link.status.state === "online"`)
	add(t, ctx, "live", 0, "from the first tab")
	add(t, other, "live", 0, "from the second tab")
	for _, c := range []context.Context{ctx, other} {
		waitUntil(t, c, `(() => { const l = `+listJS("live", 0)+`; return l.includes('["from the first tab",false]') && l.includes('["from the second tab",false]'); })()`)
	}
	do(t, other, chromedp.ScrollIntoView("#live"))
	elementShot(t, other, "#live", "demo-live")
}

// elementShot writes a screenshot of one element to test-output/.
func elementShot(t *testing.T, ctx context.Context, selector, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.Screenshot(selector))
	if err != nil {
		t.Fatalf("screenshot %s: %v", selector, err)
	}
	dir := filepath.Join(e2e.Root, "test-output")
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
