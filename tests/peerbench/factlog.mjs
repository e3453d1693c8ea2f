// factlog, used the way an application uses it: the npm package that
// `go run ./build` writes to dist/npm, installed here as a file: dependency
// (so this measures whatever dist/ holds), with the store in a file.
// run.mjs copies the package when a run starts and every round imports
// that copy: others rebuild dist/ while they work on the core, and one run
// must measure one build.
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

let lib;

// The todo interpretation every factlog measure here uses.
export const schema = `CREATE TABLE todo (id TEXT PRIMARY KEY, content TEXT, completed INTEGER DEFAULT 0)`;
export const materializers = {
  create: `INSERT OR IGNORE INTO todo (id, content) VALUES (:item, :value)`,
  set_content: `UPDATE todo SET content = :value WHERE id = :item`,
  set_completed: `UPDATE todo SET completed = :value WHERE id = :item`,
};
// The rebuild workload: the same events read another way (a completed todo
// stays completed), which makes the store replay its whole log.
export const changed = { ...materializers, set_completed: `UPDATE todo SET completed = max(completed, :value) WHERE id = :item` };

// The package's version and which build it is (a hash of its wasm).
export function version(dir) {
  const pkg = JSON.parse(readFileSync(join(dir, "package.json")));
  const wasm = readFileSync(join(dir, "factlog.wasm"));
  return `${pkg.version}, wasm ${createHash("sha256").update(wasm).digest("hex").slice(0, 8)}`;
}

export default {
  name: "factlog",
  storage: "file (SQLite in the Node file system)",
  async load({ factlog }) {
    lib = await import(pathToFileURL(join(factlog, "node.js")).href); // the package's "node" export
    // Start the engine (compile the wasm) outside any timed section, as the
    // other systems' wasm is compiled in their load().
    const db = await lib.open({ name: ":memory:", schema, materializers });
    await db.close();
    return version(factlog);
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
    files: ["factlog.js", "worker.js", "chunk-*.js", "factlog.wasm"],
  },
};
