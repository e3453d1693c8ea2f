// factlog, used the way an application uses it: the npm package that
// `go run ./build` writes to dist/npm, installed here as a file: dependency
// (so this measures whatever dist/ holds now), with the store in a file.
import { join } from "node:path";

let lib;

const schema = `CREATE TABLE todo (id TEXT PRIMARY KEY, content TEXT, completed INTEGER DEFAULT 0)`;
const materializers = {
  create: `INSERT OR IGNORE INTO todo (id, content) VALUES (:item, :value)`,
  set_content: `UPDATE todo SET content = :value WHERE id = :item`,
  set_completed: `UPDATE todo SET completed = :value WHERE id = :item`,
};
// The rebuild workload: the same events read another way (a completed todo
// stays completed), which makes the store replay its whole log.
const changed = { ...materializers, set_completed: `UPDATE todo SET completed = max(completed, :value) WHERE id = :item` };

export default {
  name: "factlog",
  storage: "file (SQLite in the Node file system)",
  async load() {
    lib = await import("factlog");
    // Start the engine (compile the wasm) outside any timed section, as the
    // other systems' wasm is compiled in their load().
    const db = await lib.open({ name: ":memory:", schema, materializers });
    await db.close();
    const { readFileSync } = await import("node:fs");
    const pkg = JSON.parse(readFileSync(new URL("./node_modules/factlog/package.json", import.meta.url)));
    return `${pkg.version} (dist/npm)`;
  },
  async open(dir) {
    const db = await lib.open({ name: join(dir, "todos.db"), schema, materializers });
    return {
      append: (e) => db.append(e.item, e.type, e.value),
      appendMany: (es) => db.appendMany(es),
      version: () => db.versionVector(),
      exportSince: (vv) => db.exportSince(vv),
      import: (bytes) => db.import(bytes),
      rebuild: () => db.reinterpret({ schema, materializers: changed }),
      count: async () => (await db.query("SELECT count(*) AS n FROM todo"))[0].n,
      firstQuery: () => db.query("SELECT * FROM todo WHERE id = ?", ["todo-0500"]),
      state: () => db.query("SELECT id, content, completed FROM todo ORDER BY id"),
      close: () => db.close(),
    };
  },
  download: {
    // What a page fetches: the package's modules (already minified by the
    // build: the bridge, its Worker, their shared chunks) and factlog.wasm.
    files: ["factlog.js", "worker.js", "chunk-*.js", "factlog.wasm"].map((f) => `node_modules/factlog/${f}`),
  },
};
