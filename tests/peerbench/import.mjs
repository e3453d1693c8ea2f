// An in-order import alone, timed in wall and CPU time: a store made by
// appendMany of the todo log exports everything, and fresh file stores
// import it (run.mjs's import, without the rest of the run). The CPU
// time is the steadier figure on a shared machine.
//
//   node import.mjs [n] [rounds]     (default 100000 events, 3 rounds)
//
// It measures whatever node_modules/factlog holds (dist/npm: go run ./build).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "factlog";
import { log } from "./workload.mjs";
import { schema, materializers } from "./factlog.mjs";

const n = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 3);
const dir = mkdtempSync(join(tmpdir(), "factlog-import-"));
const src = await open({ name: join(dir, "src.db"), schema, materializers });
const evs = log(n);
for (let i = 0; i < evs.length; i += 1000) await src.appendMany(evs.slice(i, i + 1000));
const bytes = await src.exportSince({});
await src.close();
for (let r = 0; r < rounds; r++) {
  const db = await open({ name: join(dir, `dst${r}.db`), schema, materializers });
  const t = performance.now();
  const cpu = process.cpuUsage();
  await db.import(bytes);
  const wall = performance.now() - t;
  const used = process.cpuUsage(cpu);
  console.log(`import ${n}: ${wall.toFixed(0)} ms, ${((n / wall) * 1000).toFixed(0)} events/s, CPU ${((used.user + used.system) / 1000).toFixed(0)} ms`);
  await db.close();
}
rmSync(dir, { recursive: true, force: true });
