// Yjs: one Y.Doc, a Y.Map of todos, each a Y.Map; every event is one
// transaction (one update). The file store is what y-leveldb and
// y-indexeddb do: each update appended, all merged on open. No SQL, and
// no history: overwritten values are garbage-collected.
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

let Y;

// Updates are appended length-prefixed, so that reopening splits them.
function frame(updates) {
  const size = updates.reduce((n, u) => n + 4 + u.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const u of updates) {
    view.setUint32(at, u.length);
    out.set(u, at + 4);
    at += 4 + u.length;
  }
  return out;
}

function unframe(buf) {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = [];
  for (let at = 0; at < buf.length; ) {
    const n = view.getUint32(at);
    out.push(buf.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

export default {
  name: "Yjs",
  storage: "file (updates appended, merged on open)",
  async load() {
    Y = await import("yjs");
    return JSON.parse(readFileSync(new URL("./node_modules/yjs/package.json", import.meta.url))).version;
  },
  async open(dir) {
    const file = join(dir, "todos.yjs");
    const doc = new Y.Doc();
    if (existsSync(file)) Y.applyUpdate(doc, Y.mergeUpdates(unframe(readFileSync(file))));
    const todos = doc.getMap("todos");
    let pending = [];
    doc.on("update", (u) => pending.push(u));
    const flush = () => {
      appendFileSync(file, frame(pending));
      pending = [];
    };
    const apply = (e) =>
      doc.transact(() => {
        if (e.type === "create") {
          if (todos.has(e.item)) return;
          const m = new Y.Map();
          m.set("content", e.value);
          m.set("completed", false);
          todos.set(e.item, m);
        } else todos.get(e.item).set(e.type === "set_content" ? "content" : "completed", e.value);
      });
    return {
      async append(e) {
        apply(e);
        flush();
      },
      async appendMany(es) {
        for (const e of es) apply(e);
        flush();
      },
      version: async () => Y.encodeStateVector(doc),
      exportSince: async (sv) => (sv ? Y.encodeStateAsUpdate(doc, sv) : Y.encodeStateAsUpdate(doc)),
      async import(bytes) {
        Y.applyUpdate(doc, bytes);
        flush();
      },
      count: async () => todos.size,
      firstQuery: async () => todos.get("todo-0500")?.toJSON(),
      state: async () =>
        [...todos.keys()].sort().map((id) => ({ id, content: todos.get(id).get("content"), completed: todos.get(id).get("completed") })),
      close: async () => doc.destroy(),
    };
  },
  unsupported: { rebuild: "no state apart from the document: its load merges the updates, see reopen" },
  download: { entry: `export * from "yjs";` },
};
