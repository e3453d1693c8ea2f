// A full rebuild, alone: a file store of the workload's log (the creates,
// then edits) is made once; each round copies it, opens the copy
// and reinterprets it the way run.mjs's rebuild does (a completed todo
// stays completed), which replays the whole log.
//
//   node rebuild.mjs [n] [rounds]     (default 100000 events, 3 rounds)
//
// It measures whatever node_modules/factlog holds (dist/npm: go run ./build).
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "factlog";
import { log } from "./workload.mjs";
import { schema, materializers, changed } from "./factlog.mjs";

const n = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 3);
const dir = mkdtempSync(join(tmpdir(), "rebuild-"));
try {
  const base = join(dir, "base.db");
  const db = await open({ name: base, schema, materializers });
  const events = log(n);
  for (let i = 0; i < events.length; i += 1000) await db.appendMany(events.slice(i, i + 1000));
  await db.close();
  for (let r = 1; r <= rounds; r++) {
    const name = join(dir, `copy-${r}.db`);
    copyFileSync(base, name);
    const copy = await open({ name, schema, materializers });
    const t = performance.now();
    await copy.reinterpret({ schema, materializers: changed });
    const s = (performance.now() - t) / 1000;
    const [{ stored }] = await copy.query("SELECT count(*) AS stored FROM event");
    if (stored !== n) throw new Error(`the copy holds ${stored} events, not ${n}`);
    console.log(`round ${r}: rebuild of ${n} events in ${s.toFixed(2)} s, ${Math.round(n / s)} events/s`);
    await copy.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
