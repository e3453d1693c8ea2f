package browser

import (
	"net/http"
	"testing"
)

// TestBrowserForkThroughRelay: a store whose OPFS file was copied — a
// restored backup, a copied profile — appends as the same author as the
// original; both, linked to a relay room with an honest replica, converge,
// and the stores and the links report the fork.
func TestBrowserForkThroughRelay(t *testing.T) {
	ctx := browser(t)
	base := serveDist(t, map[string]http.Handler{"/v1/": startRelay(t)})
	load(t, ctx, base+"/test/")
	got := eval[map[string]any](t, ctx, `(async () => {
		const original = await openTodo("fork-src");
		await original.append("1", "create", "make pasta");
		const peer = original.peer;
		await original.close();
		// Copy the store's file, as a backup restored elsewhere would be.
		const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle("factlog");
		const src = await (await dir.getFileHandle("fork-src")).getFile();
		const dst = await (await dir.getFileHandle("fork-copy", { create: true })).createWritable();
		await dst.write(await src.arrayBuffer());
		await dst.close();
		const [a, b, honest] = await Promise.all(["fork-src", "fork-copy", "fork-other"].map(openTodo));
		if (b.peer !== peer) throw new Error("the copy is another author");
		await a.append("1", "set_content", "from a");
		await b.append("1", "set_completed", true);
		await honest.append("2", "create", "clean");
		const room = location.origin + "/v1/rooms/forks";
		const links = [a, b, honest].map((db) => db.connect(room));
		const deadline = Date.now() + 30000;
		for (;;) {
			const states = await Promise.all([a, b, honest].map((db) => db.query("SELECT * FROM todo ORDER BY id")));
			const forks = await Promise.all([a, b, honest].map((db) => db.forks()));
			const same = states.every((s) => JSON.stringify(s) === JSON.stringify(states[0]));
			if (same && states[0].length === 2 && forks.every((f) => f.length === 1) && links.every((l) => (l.status.forks || []).length === 1)) {
				return show({ state: states[0], fork: forks[0][0], peer, linkForks: links.map((l) => l.status.forks.length) });
			}
			if (Date.now() > deadline) throw new Error("no convergence: " + JSON.stringify({ states, forks, status: links.map((l) => l.status) }));
			await new Promise((ok) => setTimeout(ok, 50));
		}
	})()`)
	fork := got["fork"].(map[string]any)
	if fork["peer"] != got["peer"] || fork["seq"] != float64(2) || len(fork["ids"].([]any)) != 2 {
		t.Fatalf("fork %v, want two events at seq 2 of %v", fork, got["peer"])
	}
	state := got["state"].([]any)
	if first := state[0].(map[string]any); first["content"] != "from a" || first["completed"] != float64(1) {
		t.Fatalf("state %v: both branches' edits should apply", state)
	}
	screenshot(t, ctx, "browser-fork")
}
