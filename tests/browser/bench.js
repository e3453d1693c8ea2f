// Measurements for tests/browserbench, run in a page with default flags.
import { open } from "../factlog.js";
import { creates, edits } from "/peerbench/workload.mjs";

const todo = {
  schema: `CREATE TABLE todo (id TEXT PRIMARY KEY, content TEXT NOT NULL DEFAULT '', completed INTEGER NOT NULL DEFAULT 0)`,
  materializers: {
    create: `INSERT OR IGNORE INTO todo (id, content) VALUES (:item, :value)`,
    set_content: `UPDATE todo SET content = :value WHERE id = :item`,
    set_completed: `UPDATE todo SET completed = :value WHERE id = :item`,
  },
};

const pct = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)];

window.bench = {
  // Page start (navigation) to the first query's rows, on a new store.
  async start() {
    const t0 = performance.now();
    const db = await open({ name: ":memory:", ...todo });
    await db.query("SELECT count(*) FROM todo");
    const ms = performance.now() - t0;
    await db.close();
    return { sinceNavigation: performance.now(), openAndQuery: ms };
  },
  // n appends in a row from the page, into the store name (":memory:",
  // or a file in OPFS, which each run starts anew).
  async append(n, name = ":memory:") {
    const db = await open({ name, ...todo });
    const lat = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await db.append(`todo-${i % 40}`, i % 40 === i ? "create" : "set_content", `text ${i}`);
      lat.push(performance.now() - t);
    }
    await db.close();
    return { p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
  },
  // Imports the batch (every event applied in order) into a persisted
  // store, then rebuilds it (a full replay).
  async replay(name) {
    const batch = new Uint8Array(await (await fetch("/bench/batch.bin")).arrayBuffer());
    const db = await open({ name, ...todo });
    let t = performance.now();
    const res = await db.import(batch);
    const importMs = performance.now() - t;
    t = performance.now();
    await db.reinterpret({ schema: todo.schema, materializers: { ...todo.materializers, delete: "DELETE FROM todo WHERE id = :item" } });
    const replayMs = performance.now() - t;
    await db.close();
    return { events: res.added, importMs, replayMs, persisted: db.persisted };
  },
  // The peers' merge of tests/peerbench (run.mjs's merge workload), in
  // OPFS stores: three stores share the 1,000 creates, each makes n edits
  // offline, then each exports what the other two lack and they import
  // it. Timed: the six exports and imports; the states must then agree.
  async merge(n, prefix) {
    const peers = [];
    for (let i = 0; i < 3; i++) peers.push(await open({ name: `${prefix}-${i}`, ...todo }));
    const appendAll = async (db, evs) => {
      for (let i = 0; i < evs.length; i += 1000) await db.appendMany(evs.slice(i, i + 1000));
    };
    await appendAll(peers[0], creates());
    const base = await peers[0].exportSince({});
    for (const p of peers.slice(1)) await p.import(base);
    for (const [i, p] of peers.entries()) await appendAll(p, edits(n, "ABC"[i], 11 + i));
    const versions = [];
    for (const p of peers) versions.push(await p.versionVector());
    const t = performance.now();
    const batches = [];
    for (const [i, p] of peers.entries()) {
      for (const j of [0, 1, 2]) if (j !== i) batches.push({ to: j, bytes: await p.exportSince(versions[j]) });
    }
    for (const b of batches) await peers[b.to].import(b.bytes);
    const ms = performance.now() - t;
    const states = [];
    for (const p of peers) states.push(JSON.stringify(await p.query("SELECT id, content, completed FROM todo ORDER BY id")));
    for (const p of peers) await p.close();
    return { ms, converged: states[1] === states[0] && states[2] === states[0], persisted: peers[0].persisted };
  },
  // Opens the persisted store again and runs a first query.
  async reopen(name) {
    const t = performance.now();
    const db = await open({ name, schema: todo.schema, materializers: { ...todo.materializers, delete: "DELETE FROM todo WHERE id = :item" } });
    const rows = await db.query("SELECT count(*) AS n FROM event");
    return { ms: performance.now() - t, events: rows[0].n };
  },
};
// One store, many tabs (run in two tabs): opens the shared store, then
// appends n events in a row from this tab; returns its role and the
// latencies.
window.tabs = {
  async open(name) {
    window.db = await open({ name, ...todo });
    return window.db.role;
  },
  async append(n, prefix) {
    const lat = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await window.db.append(`${prefix}-${i % 40}`, i < 40 ? "create" : "set_content", `text ${i}`);
      lat.push(performance.now() - t);
    }
    return { role: window.db.role, p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
  },
  // The time from mark() (just before the leader's tab closes) to this
  // tab's first acknowledged append.
  mark() {
    window.t0 = performance.now();
    return true;
  },
  async afterHandoff() {
    await window.db.append("handoff", "create", "after the handoff");
    return { ms: performance.now() - window.t0, role: window.db.role };
  },
};
document.getElementById("status").textContent = "ready";
