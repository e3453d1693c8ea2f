// The official SQLite wasm build (C compiled by emscripten), as the floor:
// hand-written event sourcing with the same tables and materializer SQL as
// factlog's store — an event table and the todo state, one transaction
// per append — but no ids, hashes, signatures, DAG or merge. Its Node build
// has no file system of its own (emscripten's in-memory one), so the
// database lives in memory and goes to a real file at close
// (sqlite3_js_db_export), and opening reads that file back.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

let sqlite3;

const schema = `
  CREATE TABLE IF NOT EXISTS event (seq INTEGER PRIMARY KEY, item TEXT NOT NULL, type TEXT NOT NULL, value TEXT);
  CREATE INDEX IF NOT EXISTS event_item ON event (item);
  CREATE TABLE IF NOT EXISTS todo (id TEXT PRIMARY KEY, content TEXT, completed INTEGER DEFAULT 0);`;
const materializers = {
  create: `INSERT OR IGNORE INTO todo (id, content) VALUES (:item, :value)`,
  set_content: `UPDATE todo SET content = :value WHERE id = :item`,
  set_completed: `UPDATE todo SET completed = :value WHERE id = :item`,
};
// The rebuild's changed interpretation, as factlog's.
const changed = { ...materializers, set_completed: `UPDATE todo SET completed = max(completed, :value) WHERE id = :item` };

const native = (v) => (typeof v === "boolean" ? Number(v) : v); // factlog binds true/false as 1/0

function openDB(file) {
  const db = new sqlite3.oo1.DB(":memory:");
  if (existsSync(file)) {
    const bytes = new Uint8Array(readFileSync(file)); // a Buffer is refused
    const p = sqlite3.wasm.allocFromTypedArray(bytes);
    const { capi } = sqlite3;
    db.checkRc(
      capi.sqlite3_deserialize(db.pointer, "main", p, bytes.length, bytes.length,
        capi.SQLITE_DESERIALIZE_FREEONCLOSE | capi.SQLITE_DESERIALIZE_RESIZEABLE),
    );
  }
  db.exec(schema);
  return db;
}

export default {
  name: "SQLite wasm",
  storage: "memory (written to a file at close)",
  async load() {
    sqlite3 = await (await import("@sqlite.org/sqlite-wasm")).default();
    return sqlite3.version.libVersion;
  },
  async open(dir) {
    const file = join(dir, "todos.sqlite");
    const db = openDB(file);
    const insert = db.prepare("INSERT INTO event (item, type, value) VALUES (?, ?, ?)");
    const prepare = (m) => Object.fromEntries(Object.entries(m).map(([t, sql]) => [t, db.prepare(sql)]));
    let apply = prepare(materializers);
    const run = (stmt, params) => stmt.bind(params).stepReset();
    const write = (e) => {
      run(insert, [e.item, e.type, JSON.stringify(e.value)]);
      run(apply[e.type], { ":item": e.item, ":value": native(e.value) });
    };
    const finalize = () => [insert, ...Object.values(apply)].forEach((s) => s.finalize());
    return {
      append: async (e) => db.transaction(() => write(e)),
      appendMany: async (es) => db.transaction(() => es.forEach(write)),
      // The log read back in order and applied with the changed
      // interpretation, in one transaction.
      async rebuild() {
        for (const s of Object.values(apply)) s.finalize();
        apply = prepare(changed);
        db.transaction(() => {
          db.exec("DELETE FROM todo");
          db.exec({
            sql: "SELECT item, type, value FROM event ORDER BY seq",
            rowMode: "array",
            callback: ([item, type, value]) => run(apply[type], { ":item": item, ":value": native(JSON.parse(value)) }),
          });
        });
      },
      count: async () => db.selectValue("SELECT count(*) FROM todo"),
      firstQuery: async () => db.selectObject("SELECT * FROM todo WHERE id = ?", ["todo-0500"]),
      state: async () => db.selectObjects("SELECT id, content, completed FROM todo ORDER BY id"),
      async close() {
        finalize();
        writeFileSync(file, sqlite3.capi.sqlite3_js_db_export(db));
        db.close();
      },
    };
  },
  unsupported: {
    import: "SQLite has no sync format",
    merge: "SQLite is not a CRDT",
  },
  download: {
    entry: `export { default } from "@sqlite.org/sqlite-wasm";`,
    extraFiles: ["node_modules/@sqlite.org/sqlite-wasm/dist/sqlite3.wasm"],
  },
};
