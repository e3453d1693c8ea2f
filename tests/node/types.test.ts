// Type-checked (tsc --noEmit --strict) by tests/node_test.go: the
// declarations in factlog.d.ts describe the API the way users call it.
import { open, FactlogError, type Database, type Event, type ErrorCode, type LinkStatus } from "factlog";

async function demo(): Promise<void> {
  const db: Database = await open({
    name: "todos",
    schema: "CREATE TABLE t (x)",
    materializers: { create: "INSERT INTO t VALUES (:value)", note: "" },
    onProgress: (d: number, t: number) => void [d, t],
    signal: AbortSignal.timeout(10_000),
  });
  const role: "leader" | "follower" = db.role;
  const offRole: () => void = db.onRole((r: "leader" | "follower") => void r);
  offRole();
  const e: Event = await db.append("1", "create", { text: "make pasta", tags: ["a"], done: false, n: 1 });
  const rows = await db.query<{ id: string; n: number }>("SELECT id, n FROM t WHERE id = ?", ["1"], { signal: new AbortController().signal });
  const first: string | undefined = rows[0]?.id;
  const batch: Uint8Array = await db.exportSince(await db.versionVector(), { signal: AbortSignal.abort() });
  const { added, pending } = await db.import(batch, {});
  await db.reinterpret({ schema: "CREATE TABLE t (x)" }, { onProgress: (d) => void d, signal: AbortSignal.timeout(1000) });
  await db.reinterpret({ materializers: {} }, (done, total) => void [done, total]);
  const stop: () => void = db.watch("SELECT * FROM t", (r) => r.length, (err: FactlogError) => err.code === "SQL");
  stop();
  const link = db.connect("ws://127.0.0.1:8080/v1/rooms/todos", { token: "t", onStatus: (s: LinkStatus) => void s.code, WebSocket: class {
    constructor(public url: string) {}
  } });
  await link.close();
  try {
    await db.append("1", "nope", null);
  } catch (err) {
    if (err instanceof FactlogError) {
      const code: ErrorCode = err.code;
      void code;
    }
  }
  await db[Symbol.asyncDispose]();
  void [e.id, e.parents, first, added, pending, role];
}
void demo;
