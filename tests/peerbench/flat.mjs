// Single appends to file stores that hold more and more events (imported
// first, untimed): the append latency as the log grows, which the issue
// wants flat.
//
//   node flat.mjs [sizes]     (default 1000,10000,100000)
//
// It measures whatever node_modules/factlog holds (dist/npm: go run ./build).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "factlog";
import { log, edits, percentile } from "./workload.mjs";
import { schema, materializers } from "./factlog.mjs";

const sizes = (process.argv[2] ?? "1000,10000,100000").split(",").map(Number);
const dir = mkdtempSync(join(tmpdir(), "factlog-flat-"));
try {
  for (const n of sizes) {
    const src = await open({ name: ":memory:", schema, materializers });
    const evs = log(n);
    for (let i = 0; i < evs.length; i += 1000) await src.appendMany(evs.slice(i, i + 1000));
    const db = await open({ name: join(dir, `${n}.db`), schema, materializers });
    await db.import(await src.exportSince({}));
    await src.close();
    const lat = [];
    for (const e of edits(2000, "Z", 99)) {
      const t = performance.now();
      await db.append(e.item, e.type, e.value);
      lat.push(performance.now() - t);
    }
    await db.close();
    lat.sort((a, b) => a - b);
    console.log(`${n} events held: 2,000 single appends, p50 ${percentile(lat, 50).toFixed(2)} ms, p99 ${percentile(lat, 99).toFixed(2)} ms`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
