// A late merge, factlog alone: a replica edits one todo offline while the
// others make `distance` more edits of the 1,000 todos; then its 10 edits
// reach a file store of 20,000 events, where they sort in `distance`
// events from the end. Timed: that import (three times, each into a fresh
// copy), with what it re-applied.
//
//   node late.mjs [distance,...]     (default 1000,9000)
//
// It measures whatever node_modules/factlog holds (dist/npm: go run ./build).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "factlog";
import { creates, edits } from "./workload.mjs";
import { schema, materializers } from "./factlog.mjs";

const N = 20_000;
const distances = (process.argv[2] ?? "1000,9000").split(",").map(Number);

const appendAll = async (db, evs) => {
  for (let i = 0; i < evs.length; i += 1000) await db.appendMany(evs.slice(i, i + 1000));
};

for (const distance of distances) {
  const log = [...creates(), ...edits(N - 1000, "log", 1)];
  const source = await open({ name: ":memory:", schema, materializers });
  await appendAll(source, log.slice(0, N - distance));
  const before = await source.exportSince({});
  await appendAll(source, log.slice(N - distance));
  const whole = await source.exportSince({});
  const offline = await open({ name: ":memory:", schema, materializers });
  await offline.import(before);
  for (let i = 0; i < 10; i++) await offline.append("todo-0007", "set_content", `offline edit ${i}`);
  const late = await offline.exportSince(await source.versionVector());
  const ms = [];
  let reapplied;
  for (let round = 0; round < 3; round++) {
    const dir = mkdtempSync(join(tmpdir(), "factlog-late-"));
    const db = await open({ name: join(dir, "todos.db"), schema, materializers });
    await db.import(whole);
    const t = performance.now();
    ({ reapplied } = await db.import(late));
    ms.push(performance.now() - t);
    await db.close();
    rmSync(dir, { recursive: true });
  }
  console.log(`distance ${distance}: the late import took ${ms.map((x) => x.toFixed(0)).join(" / ")} ms, re-applying ${reapplied ?? "?"} events`);
  await source.close();
  await offline.close();
}
