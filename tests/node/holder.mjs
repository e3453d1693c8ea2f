// holder.mjs FILE [stream]: opens the store at FILE, appends one event,
// says "ready" on stdout and holds the store until killed. With stream,
// it goes on appending, one event at a time, and says "acked N" once the
// Nth is acknowledged. lock.test.mjs runs it as the other process.
import { open } from "factlog";

const db = await open({ name: process.argv[2], schema: "CREATE TABLE t (v)", materializers: { put: "INSERT INTO t VALUES (:value)" } });
await db.append("x", "put", "from the holder");
process.stdout.write("ready\n");
if (process.argv[3] === "stream") {
  for (let n = 1; ; n++) {
    await db.append(`x${n}`, "put", `${n}`.padStart(n % 500, "·"));
    process.stdout.write(`acked ${n}\n`); // a pipe: written before the next append starts
  }
}
setInterval(() => {}, 1 << 30);
