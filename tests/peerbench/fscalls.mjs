// What factlog asks of Node's file system while it appends: run.mjs's
// single appends (the workload's creates, then its edits), one at a time
// into a file store, with every synchronous fs call the VFS makes counted
// and timed; then the appends' latency by quarter.
//
//   node fscalls.mjs [n]     (default 3000)
//
// It measures whatever node_modules/factlog holds (dist/npm: go run ./build).
import fs from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { creates, edits } from "./workload.mjs";
import { schema, materializers } from "./factlog.mjs";

// The bridge hands Go's runtime globalThis.fs, and the VFS calls it there.
globalThis.fs = fs;
const calls = {};
for (const name of ["readSync", "writeSync", "fsyncSync", "ftruncateSync", "fstatSync"]) {
  const call = fs[name];
  calls[name] = { n: 0, ms: 0 };
  fs[name] = function (...args) {
    const t = performance.now();
    try {
      return call.apply(this, args);
    } finally {
      calls[name].n++;
      calls[name].ms += performance.now() - t;
    }
  };
}

const { open } = await import("factlog");
const n = Number(process.argv[2] ?? 3000);
const dir = mkdtempSync(join(tmpdir(), "fscalls-"));
try {
  await (await open({ name: ":memory:", schema, materializers })).close(); // the engine starts untimed
  const db = await open({ name: join(dir, "todos.db"), schema, materializers });
  for (const c of Object.values(calls)) (c.n = 0), (c.ms = 0);
  const events = [...creates(), ...edits(n, "a", 1)].slice(0, n);
  const lat = [];
  for (const e of events) {
    const t = performance.now();
    await db.append(e.item, e.type, e.value);
    lat.push(performance.now() - t);
  }
  await db.close();
  for (const [name, c] of Object.entries(calls))
    console.log(`${name.padEnd(14)} ${String(c.n).padStart(7)} calls, ${(c.n / n).toFixed(2)} per append, ${c.ms.toFixed(0)} ms, ${c.n ? ((1000 * c.ms) / c.n).toFixed(1) : 0} µs each`);
  const pct = (a, p) => a.toSorted((x, y) => x - y)[Math.min(a.length - 1, Math.floor((a.length * p) / 100))].toFixed(2);
  for (let q = 0; q < 4; q++) {
    const part = lat.slice((q * n) / 4, ((q + 1) * n) / 4);
    console.log(`appends ${(q * n) / 4 + 1}–${((q + 1) * n) / 4}: p50 ${pct(part, 50)} ms, p99 ${pct(part, 99)} ms`);
  }
  console.log(`all ${n}: p50 ${pct(lat, 50)} ms, p99 ${pct(lat, 99)} ms`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
