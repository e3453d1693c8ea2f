// A process's first seconds with factlog in Node: open a file store, one
// appendMany of the 1,000 creates, then 2,000 single appends, with the
// V8 flags that FACTLOG_V8_FLAGS gives the bridge (its default,
// --liftoff-only, when unset; "" keeps V8's defaults); N sets the count
// of single appends (2,000), reported by 500. From the open on,
// a timer set to fire every 10 ms measures how long the event loop went
// without running it.
//
//   node startup.mjs                       # the bridge's default flags
//   FACTLOG_V8_FLAGS= node startup.mjs     # V8's optimizing tier on
//   N=8000 FACTLOG_V8_FLAGS=--wasm-num-compilation-tasks=1 node startup.mjs
//
// It measures whatever node_modules/factlog holds (dist/npm: go run ./build).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "factlog";
import { creates, edits, percentile } from "./workload.mjs";
import { schema, materializers } from "./factlog.mjs";

const dir = mkdtempSync(join(tmpdir(), "factlog-startup-"));
let gap = 0;
let last;
let ticker;
try {
  const t0 = performance.now();
  const db = await open({ name: join(dir, "todos.db"), schema, materializers });
  const opened = performance.now() - t0;
  last = performance.now();
  ticker = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 10);
  const t1 = performance.now();
  await db.appendMany(creates());
  const many = performance.now() - t1;
  const lat = [];
  for (const e of edits(Number(process.env.N ?? 2000), "A", 5)) {
    const t = performance.now();
    await db.append(e.item, e.type, e.value);
    lat.push(performance.now() - t);
  }
  const stall = gap;
  const t2 = performance.now();
  await db.close();
  const closed = performance.now() - t2;
  const group = (q) => {
    const d = lat.slice(q * 500, q * 500 + 500).sort((a, b) => a - b);
    return `${percentile(d, 50).toFixed(2)} / ${percentile(d, 99).toFixed(2)}`;
  };
  console.log(`flags: ${process.env.FACTLOG_V8_FLAGS ?? "(the bridge's default)"}`);
  console.log(`open ${opened.toFixed(0)} ms, appendMany of 1,000 ${many.toFixed(0)} ms, close ${closed.toFixed(0)} ms`);
  console.log(`the event loop's longest stall, from the open to the close: ${stall.toFixed(0)} ms; during the close: ${gap > stall ? gap.toFixed(0) + " ms" : "no longer"}`);
  const groups = Array.from({ length: Math.ceil(lat.length / 500) }, (_, q) => group(q));
  console.log(`single appends, p50 / p99 ms by 500: ${groups.join(" | ")}`);
} finally {
  clearInterval(ticker);
  rmSync(dir, { recursive: true, force: true });
}
