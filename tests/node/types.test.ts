// Type-checked (tsc --noEmit --strict) by tests/node_test.go: the
// declarations in factlog.d.ts describe the API the way users call it.
import { open, type Database, type Event, type FactlogError } from "factlog";

async function demo(): Promise<void> {
  const db: Database = await open({ name: "todos", schema: "CREATE TABLE t (x)", materializers: { create: "INSERT INTO t VALUES (:value)" }, onProgress: (d: number, t: number) => void [d, t] });
  const e: Event = await db.append("1", "create", { text: "make pasta", tags: ["a"], done: false, n: 1 });
  const rows = await db.query<{ id: string; n: number }>("SELECT id, n FROM t WHERE id = ?", ["1"]);
  const first: string | undefined = rows[0]?.id;
  const batch: Uint8Array = await db.exportSince(await db.versionVector());
  const { added, pending } = await db.import(batch);
  const stop: () => void = db.watch("SELECT * FROM t", (r) => r.length, (err: FactlogError) => err.code === "SQL");
  stop();
  await db.close();
  void [e.id, e.parents, first, added, pending];
}
void demo;
