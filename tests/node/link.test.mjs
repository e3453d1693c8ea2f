// Links to a relay from Node 20, which has no global WebSocket: through
// the ws package (installed beside factlog, or passed as an option), to a
// relay that is down and to one that stops and comes back. Run by
// tests/node_test.go, which serves the relay and its switch.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { open } from "factlog";

const { FACTLOG_RELAY: relay, FACTLOG_CONTROL: control, FACTLOG_DEAD: dead } = process.env;
const todo = {
  schema: `CREATE TABLE todo (id TEXT PRIMARY KEY, content TEXT)`,
  materializers: { create: `INSERT OR IGNORE INTO todo (id, content) VALUES (:item, :value)` },
};

// until resolves when check() holds, polling; it rejects after a bound
// (a hang is a failure, never a pass).
function until(what, check, ms = 30000) {
  return new Promise((resolve, reject) => {
    const end = Date.now() + ms;
    const poll = async () => {
      try {
        if (await check()) return resolve();
      } catch (err) {
        return reject(err);
      }
      if (Date.now() > end) return reject(new Error("timed out waiting for " + what));
      setTimeout(poll, 20);
    };
    poll();
  });
}

const states = (log) => log.map((s) => s.state);
const count = async (db) => (await db.query("SELECT count(*) AS n FROM todo"))[0].n;

test("a relay that is down: the link goes offline, retries, and the store goes on", async () => {
  const db = await open(todo);
  const log = [];
  const link = db.connect(`${dead}/v1/rooms/down`, { onStatus: (s) => log.push(s) });
  await until("three failed attempts", () => states(log).filter((s) => s === "offline").length >= 3);
  assert.match(log.find((s) => s.state === "offline").error, /ECONNREFUSED|connect/);
  assert.equal(link.status.state === "offline" || link.status.state === "connecting", true);
  await db.append("1", "create", "still works"); // the engine is alive
  assert.equal(await count(db), 1);
  await db.close();
  assert.equal(link.status.state, "closed");
});

test("a relay that stops and comes back: offline, then online again, and nothing is lost", async () => {
  const room = `${relay}/v1/rooms/stops-${process.pid}`;
  const [a, b] = await Promise.all([open(todo), open(todo)]);
  const logA = [];
  const la = a.connect(room, { onStatus: (s) => logA.push(s), WebSocket }); // given explicitly
  const lb = b.connect(room); // found beside factlog
  await until("both online", () => la.status.state === "online" && lb.status.state === "online");
  await a.append("1", "create", "before the stop");
  await until("b has 1", async () => (await count(b)) === 1);

  assert.equal((await fetch(`${control}/stop`, { method: "POST" })).status, 200);
  await until("both offline", () => la.status.state === "offline" && lb.status.state === "offline");
  await a.append("2", "create", "while a is offline");
  await b.append("3", "create", "while b is offline");
  const failed = states(logA).filter((s) => s === "offline").length;
  await until("a retried", () => states(logA).filter((s) => s === "offline").length >= failed + 2);

  assert.equal((await fetch(`${control}/start`, { method: "POST" })).status, 200);
  await until("both converge", async () => (await count(a)) === 3 && (await count(b)) === 3);
  await until("both online", () => la.status.state === "online" && lb.status.state === "online");
  assert.deepEqual(await a.query("SELECT * FROM todo ORDER BY id"), await b.query("SELECT * FROM todo ORDER BY id"));
  await Promise.all([a.close(), b.close()]);
  assert.equal(la.status.state, "closed");
});

test("a URL that names no room the relay takes: the link ends closed, INVALID_ARGUMENT, saying what to pass", async () => {
  const db = await open(todo);
  for (const [url, says] of [
    [`${relay}/v1/rooms/a%2Fb`, /the room of .* is "a\/b": a room name is 1 to 128 letters/],
    [`${relay}/rooms/todos`, /names no room: pass ws\[s\]:\/\/host\/v1\/rooms\/ROOM/],
  ]) {
    const log = [];
    const link = db.connect(url, { onStatus: (s) => log.push(s) });
    await until("the link to end", () => link.status.state === "closed", 5000);
    assert.equal(link.status.code, "INVALID_ARGUMENT");
    assert.match(link.status.error, says);
    assert.deepEqual(states(log), ["closed"]);
  }
  await db.append("1", "create", "still works");
  await db.close();
});
