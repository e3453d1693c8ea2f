// Node 20 without the ws package: connect says what to install, with a
// coded error, and nothing else breaks. Run by tests/node_test.go in a
// project where ws is not installed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { open, FactlogError } from "factlog";

test("connect without a WebSocket implementation throws UNSUPPORTED and says what to install", async () => {
  delete globalThis.WebSocket; // Node 22 has one; Node 20, the floor, has none
  const db = await open();
  assert.throws(() => db.connect("ws://127.0.0.1:9/v1/rooms/x"), (err) => {
    assert.ok(err instanceof FactlogError);
    assert.equal(err.code, "UNSUPPORTED");
    assert.match(err.message, /npm install ws/);
    return true;
  });
  await db.append("1", "t", 1).catch(() => {}); // whatever the interpretation says, the engine answers
  assert.deepEqual(await db.query("SELECT 1 AS one"), [{ one: 1 }]);
  await db.close();
});
