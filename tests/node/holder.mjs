// holder.mjs FILE: opens the store at FILE, appends one event, says
// "ready" on stdout and holds the store until killed. lock.test.mjs runs
// it as the other process.
import { open } from "factlog";

const db = await open({ name: process.argv[2], schema: "CREATE TABLE t (v)", materializers: { put: "INSERT INTO t VALUES (:value)" } });
await db.append("x", "put", "from the holder");
process.stdout.write("ready\n");
setInterval(() => {}, 1 << 30);
