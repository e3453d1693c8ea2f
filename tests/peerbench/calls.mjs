// The peers' merge (run.mjs's merge workload), factlog alone, call by
// call: three file stores share the 1,000 creates, each makes n edits
// offline, then each exports what the other two lack and they import it.
// Printed: every export and import, with what the import re-applied.
//
//   node calls.mjs [n]     (default 10000)
//
// It measures whatever node_modules/factlog holds (dist/npm: go run ./build).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "factlog";
import { creates, edits } from "./workload.mjs";
import { schema, materializers } from "./factlog.mjs";

const n = Number(process.argv[2] ?? 10_000);
const dir = mkdtempSync(join(tmpdir(), "factlog-calls-"));
const appendAll = async (db, evs) => {
  for (let i = 0; i < evs.length; i += 1000) await db.appendMany(evs.slice(i, i + 1000));
};
const ms = (t) => `${(performance.now() - t).toFixed(0)} ms`;

const peers = [];
for (let i = 0; i < 3; i++) peers.push(await open({ name: join(dir, `peer${i}.db`), schema, materializers }));
await appendAll(peers[0], creates());
const base = await peers[0].exportSince({});
for (const p of peers.slice(1)) await p.import(base);
for (const [i, p] of peers.entries()) await appendAll(p, edits(n, "ABC"[i], 11 + i));
const versions = [];
for (const p of peers) versions.push(await p.versionVector());

const start = performance.now();
const batches = [];
for (const [i, p] of peers.entries()) {
  for (const j of [0, 1, 2]) {
    if (j === i) continue;
    const t = performance.now();
    batches.push({ from: i, to: j, bytes: await p.exportSince(versions[j]) });
    console.log(`export ${i} → ${j}: ${ms(t)}`);
  }
}
for (const b of batches) {
  const t = performance.now();
  const res = await peers[b.to].import(b.bytes);
  console.log(`import ${b.from} → ${b.to}: ${ms(t)}, re-applied ${res.reapplied}`);
}
console.log(`all: ${((performance.now() - start) / 1000).toFixed(2)} s`);
for (const p of peers) await p.close();
rmSync(dir, { recursive: true, force: true });
