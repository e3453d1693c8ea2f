// Command browserbench measures factlog in headless Chromium with default
// flags — what users get (BENCHMARKS.md, "Browser"): cold and warm start,
// append latency from the page through the Worker (into memory, and into
// OPFS), importing and replaying 100,000 events in the Worker, the peers'
// merge of tests/peerbench, and reopening a persisted store of 100,000
// events; and with -tabs, one store in two tabs: a follower's append
// latency against the leader's, and the handoff time.
//
//	go run ./build && go run ./tests/browserbench [-tabs]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/sync"
)

func main() {
	flag.Parse()
	_, file, _, _ := goruntime.Caller(0)
	top := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	dist := filepath.Join(top, "dist")
	if _, err := os.Stat(filepath.Join(dist, "factlog.wasm")); err != nil {
		log.Fatal("run go run ./build first")
	}
	evs, sigs := chain(100_000)
	batch, err := sync.Encode(evs, sigs)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(dist)))
	mux.Handle("/test/", http.StripPrefix("/test/", http.FileServer(http.Dir(filepath.Join(top, "tests", "browser")))))
	mux.Handle("/peerbench/", http.StripPrefix("/peerbench/", http.FileServer(http.Dir(filepath.Join(top, "tests", "peerbench")))))
	mux.HandleFunc("/bench/batch.bin", func(w http.ResponseWriter, r *http.Request) { w.Write(batch) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(l, mux)
	url := "http://" + l.Addr().String() + "/test/bench.html"

	chromium, err := exec.LookPath("chromium")
	if err != nil {
		log.Fatal("chromium is not installed")
	}
	profile, _ := os.MkdirTemp("", "browserbench")
	defer os.RemoveAll(profile)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.UserDataDir(profile), chromedp.Flag("headless", "new"), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-background-networking", true))...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()

	version, _ := exec.Command(chromium, "--version").Output()
	if *tabsOnly {
		fmt.Printf("%s, %d CPUs\n", version[:len(version)-1], goruntime.NumCPU())
		if err := chromedp.Do(ctx); err != nil { // start the browser; the tabs open in it
			log.Fatal(err)
		}
		tabs(ctx, url)
		return
	}
	fmt.Printf("%s, %d CPUs; batch of 100,000 events: %d bytes\n", version[:len(version)-1], goruntime.NumCPU(), len(batch))
	for _, visit := range []string{"cold (first visit)", "warm (reload, code cache)", "warm (reload, code cache)"} {
		load(ctx, url)
		var s struct{ SinceNavigation, OpenAndQuery float64 }
		eval(ctx, `bench.start()`, &s)
		fmt.Printf("start, %s: first query %.0f ms after navigation (open + query %.0f ms)\n", visit, s.SinceNavigation, s.OpenAndQuery)
	}
	var a struct{ P50, P99 float64 }
	eval(ctx, `bench.append(1000)`, &a)
	fmt.Printf("append from the page, 1,000 in a row: p50 %.2f ms, p99 %.2f ms\n", a.P50, a.P99)
	eval(ctx, fmt.Sprintf(`bench.append(1000, "bench-appends-%d")`, rand.Int64()), &a)
	fmt.Printf("append from the page into OPFS, 1,000 in a row: p50 %.2f ms, p99 %.2f ms\n", a.P50, a.P99)
	var r struct {
		Events             int
		ImportMs, ReplayMs float64
		Persisted          bool
	}
	eval(ctx, `bench.replay("bench-100k")`, &r)
	fmt.Printf("import %d events in order into OPFS (persisted %v): %.0f ms, %.0f events/s\n", r.Events, r.Persisted, r.ImportMs, float64(r.Events)/r.ImportMs*1000)
	fmt.Printf("full replay of %d events (reinterpret): %.0f ms, %.0f events/s\n", r.Events, r.ReplayMs, float64(r.Events)/r.ReplayMs*1000)
	for _, n := range []int{10_000, 1_000} {
		var m struct {
			Ms                   float64
			Converged, Persisted bool
		}
		eval(ctx, fmt.Sprintf(`bench.merge(%d, "bench-merge-%d")`, n, rand.Int64()), &m)
		if !m.Converged {
			log.Fatalf("the peers' merge of 3 × %d edits did not converge", n)
		}
		fmt.Printf("3 peers × %d offline edits, all merge, OPFS stores (persisted %v): %.2f s\n", n, m.Persisted, m.Ms/1000)
	}
	for _, when := range []string{"after a reload", "after another reload"} {
		load(ctx, url)
		var o struct {
			Ms     float64
			Events int
		}
		eval(ctx, `bench.reopen("bench-100k")`, &o)
		fmt.Printf("reopen a persisted store of %d events and query, %s: %.0f ms\n", o.Events, when, o.Ms)
	}
}

var tabsOnly = flag.Bool("tabs", false, "measure one store in two tabs only")

// tabs measures one store open in two tabs: 1,000 appends from the
// leader's tab, then from the follower's, five times over, and the time
// from closing the leader's tab to the follower's first acknowledged
// append.
func tabs(ctx context.Context, url string) {
	for round := range 5 {
		leader, closeLeader := chromedp.NewContext(ctx)
		follower, closeFollower := chromedp.NewContext(ctx)
		load(leader, url)
		load(follower, url)
		name := fmt.Sprintf("bench-tabs-%d-%d", time.Now().UnixNano(), round)
		var role string
		eval(leader, fmt.Sprintf(`tabs.open(%q)`, name), &role)
		eval(follower, fmt.Sprintf(`tabs.open(%q)`, name), &role)
		if role != "follower" {
			log.Fatalf("the second tab is the %s", role)
		}
		for _, tab := range []struct {
			name string
			ctx  context.Context
		}{{"leader", leader}, {"follower", follower}} {
			var a struct {
				Role     string
				P50, P99 float64
			}
			eval(tab.ctx, fmt.Sprintf(`tabs.append(1000, %q)`, tab.name), &a)
			fmt.Printf("round %d: append from the %s's tab (%s), 1,000 in a row: p50 %.2f ms, p99 %.2f ms\n", round+1, tab.name, a.Role, a.P50, a.P99)
		}
		var ok bool
		eval(follower, `tabs.mark()`, &ok)
		closeLeader()
		var h struct {
			Ms   float64
			Role string
		}
		eval(follower, `tabs.afterHandoff()`, &h)
		fmt.Printf("round %d: handoff (leader's tab closed → the follower's first append acknowledged, now %s): %.0f ms\n", round+1, h.Role, h.Ms)
		closeFollower()
	}
}

func load(ctx context.Context, url string) {
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		log.Fatal(err)
	}
	var s string
	eval(ctx, `new Promise((ok) => { const w = () => document.getElementById("status").textContent === "ready" ? ok("ready") : setTimeout(w, 5); w(); })`, &s)
}

func eval(ctx context.Context, js string, out any) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](js, func(p *runtime.EvaluateParams) { yes := true; p.AwaitPromise = &yes }))
	if err != nil {
		log.Fatalf("%s: %v", js, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		log.Fatal(err)
	}
}

// chain is n todo edits by one author, each the child of the one before.
// chain returns n todo edits by one author, each a child of the one
// before, and the author's signature over the last (which covers them all).
func chain(n int) ([]event.Event, map[event.ID]event.Signature) {
	rng := rand.New(rand.NewPCG(1, 2))
	key, err := event.KeyFromSeed(make([]byte, 32))
	if err != nil {
		log.Fatal(err)
	}
	evs := make([]event.Event, n)
	for i := range evs {
		item := fmt.Sprintf("todo-%d", rng.IntN(200))
		typ, value := "set_content", fmt.Sprintf(`"text %d"`, rng.IntN(1000))
		switch rng.IntN(4) {
		case 0:
			typ, value = "create", `"new"`
		case 1:
			typ, value = "set_completed", fmt.Sprint(rng.IntN(2) == 0)
		}
		e := event.Event{Peer: key.Peer(), Seq: uint64(i + 1), Clock: uint64(i + 1), Time: 1_700_000_000_000 + int64(i), Item: item, Type: typ, Value: []byte(value)}
		if i > 0 {
			e.Parents = []event.ID{evs[i-1].ID}
		}
		e.ID = e.Hash()
		evs[i] = e
	}
	return evs, map[event.ID]event.Signature{evs[n-1].ID: key.Sign(evs[n-1].ID)}
}
