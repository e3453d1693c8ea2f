// Automerge 3: one document holds the todos (a map of maps); every event is
// one change, so that each edit is its own unit of history and merge, as
// each factlog event is. The file store is what automerge-repo's storage
// does: incremental chunks appended to a file, loaded whole on open. No SQL.
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

let A;

// content is an ImmutableString (a register), not collaborative text:
// the workload replaces the whole text, as the other systems' columns do.
function apply(d, e) {
  if (e.type === "create") {
    d.todos ??= {};
    d.todos[e.item] ??= { content: new A.ImmutableString(e.value), completed: false };
  } else if (e.type === "set_content") d.todos[e.item].content = new A.ImmutableString(e.value);
  else d.todos[e.item].completed = e.value;
}

export default {
  name: "Automerge",
  storage: "file (incremental chunks appended, loaded on open)",
  async load() {
    A = await import("@automerge/automerge");
    A.init(); // instantiate the wasm outside the timed sections
    return JSON.parse(readFileSync(new URL("./node_modules/@automerge/automerge/package.json", import.meta.url))).version;
  },
  async open(dir) {
    const file = join(dir, "todos.automerge");
    let doc = existsSync(file) ? A.load(readFileSync(file)) : A.init();
    const change = (e) => (doc = A.change(doc, (d) => apply(d, e)));
    // The heads this replica shares with the others: those of its last
    // exchange (what Automerge's sync state calls shared heads). A peer
    // cannot saveSince heads it has never seen, and the other peers'
    // current heads are, after offline edits, exactly that.
    let shared = A.getHeads(doc);
    return {
      async append(e) {
        change(e);
        appendFileSync(file, A.saveIncremental(doc));
      },
      async appendMany(es) {
        for (const e of es) change(e);
        appendFileSync(file, A.saveIncremental(doc));
      },
      version: async () => shared,
      async exportSince(heads) {
        if (heads) return A.saveSince(doc, heads);
        shared = A.getHeads(doc);
        return A.save(doc);
      },
      async import(bytes) {
        doc = A.loadIncremental(doc, bytes);
        shared = A.getHeads(doc);
        appendFileSync(file, bytes);
      },
      count: async () => Object.keys(doc.todos ?? {}).length,
      firstQuery: async () => doc.todos["todo-0500"],
      state: async () =>
        Object.keys(doc.todos)
          .sort()
          .map((id) => ({ id, content: doc.todos[id].content.toString(), completed: doc.todos[id].completed })),
      close: async () => {},
    };
  },
  unsupported: { rebuild: "no state apart from the document: its load replays the changes, see reopen" },
  download: { entry: `export * from "@automerge/automerge";` },
};
