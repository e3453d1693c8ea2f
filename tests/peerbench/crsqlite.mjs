// cr-sqlite (vlcn.io) 0.16, its wasm build: SQLite with the todo table
// made a CRR (conflict-free replicated relation: a last-writer-wins clock
// per column). It keeps state, not a log: a change set holds the latest
// value of each changed cell, so after 100,000 events on 1,000 todos it
// sends about 3,000 cells. Its native Node build downloads a binary from
// GitHub at install (unreachable here) or compiles Rust, so this is the
// wasm build, whose only persistent file system is IndexedDB: in Node the
// database lives in memory. cr-sqlite defines no wire format; a change set
// travels here as its rows in JSON, gzipped.
import { readFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { gzipSync, gunzipSync } from "node:zlib";

let sqlite;
const sizes = new Map(); // dir → the database's bytes at close (pages × page size)

const insertSQL = {
  create: `INSERT OR IGNORE INTO todo (id, content) VALUES (?, ?)`,
  set_content: `UPDATE todo SET content = ? WHERE id = ?`,
  set_completed: `UPDATE todo SET completed = ? WHERE id = ?`,
};
const args = (e) => (e.type === "create" ? [e.item, e.value] : [typeof e.value === "boolean" ? Number(e.value) : e.value, e.item]);

const COLUMNS = `"table", "pk", "cid", "val", "col_version", "db_version", "site_id", "cl", "seq"`;
const hex = (b) => Buffer.from(b).toString("hex");
const encode = (rows) =>
  gzipSync(JSON.stringify(rows, (k, v) => (v instanceof Uint8Array ? { b: Buffer.from(v).toString("base64") } : v)));
const decode = (bytes) =>
  JSON.parse(gunzipSync(bytes), (k, v) => (v && typeof v.b === "string" ? new Uint8Array(Buffer.from(v.b, "base64")) : v));

export default {
  name: "cr-sqlite",
  storage: "memory (its wasm build persists only to IndexedDB)",
  async load() {
    // Its loader fetches crsqlite.wasm by URL; Node's fetch has no file:
    // URLs, so they are read from disk for the time of the load.
    const fetch = globalThis.fetch;
    globalThis.fetch = async (url, ...rest) =>
      String(url).startsWith("file:")
        ? new Response(await readFile(new URL(String(url))), { headers: { "content-type": "application/wasm" } })
        : fetch(url, ...rest);
    try {
      sqlite = await (await import("@vlcn.io/crsqlite-wasm")).default();
    } finally {
      globalThis.fetch = fetch;
    }
    return JSON.parse(readFileSync(new URL("./node_modules/@vlcn.io/crsqlite-wasm/package.json", import.meta.url))).version;
  },
  async open(dir) {
    const db = await sqlite.open(":memory:");
    await db.exec(`CREATE TABLE todo (id TEXT PRIMARY KEY NOT NULL, content TEXT, completed INTEGER DEFAULT 0)`);
    await db.exec(`SELECT crsql_as_crr('todo')`);
    const stmts = {};
    for (const [t, sql] of Object.entries(insertSQL)) stmts[t] = await db.prepare(sql);
    const insertChange = await db.prepare(`INSERT INTO crsql_changes (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const site = db.siteid.toLowerCase();
    const received = {}; // site (hex) → the highest db_version imported from it
    return {
      append: (e) => stmts[e.type].run(null, ...args(e)),
      appendMany: (es) =>
        db.tx(async (tx) => {
          for (const e of es) await stmts[e.type].run(tx, ...args(e));
        }),
      version: async () => ({ ...received }),
      // Everything, or this replica's own changes the other has not seen.
      async exportSince(v) {
        const rows = v
          ? await db.execA(`SELECT ${COLUMNS} FROM crsql_changes WHERE site_id = crsql_site_id() AND db_version > ?`, [v[site] ?? 0])
          : await db.execA(`SELECT ${COLUMNS} FROM crsql_changes`);
        return encode(rows);
      },
      async import(bytes) {
        const rows = decode(bytes);
        await db.tx(async (tx) => {
          for (const r of rows) await insertChange.run(tx, ...r);
        });
        for (const r of rows) received[hex(r[6])] = Math.max(received[hex(r[6])] ?? 0, r[5]);
      },
      count: async () => (await db.execA(`SELECT count(*) FROM todo`))[0][0],
      firstQuery: () => db.execO(`SELECT * FROM todo WHERE id = ?`, ["todo-0500"]),
      state: () => db.execO(`SELECT id, content, completed FROM todo ORDER BY id`),
      async close() {
        const [[pages]] = await db.execA(`PRAGMA page_count`);
        const [[size]] = await db.execA(`PRAGMA page_size`);
        sizes.set(dir, pages * size);
        for (const s of [...Object.values(stmts), insertChange]) await s.finalize(null);
        await db.close();
      },
    };
  },
  sizeOnDisk: async (dir) => sizes.get(dir),
  unsupported: {
    reopen: "in memory: its wasm build persists only to IndexedDB",
    rebuild: "keeps no log: its state is the CRDT",
  },
  download: {
    entry: `export { default } from "@vlcn.io/crsqlite-wasm";`,
    extraFiles: ["node_modules/@vlcn.io/crsqlite-wasm/dist/crsqlite.wasm"],
  },
};
