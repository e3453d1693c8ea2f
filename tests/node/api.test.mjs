// The JavaScript API against the built package (dist/, installed as
// "factlog"), in Node: run by tests/node_test.go with `node --test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open, openRegisters, FactlogError } from "factlog";

const schema = `CREATE TABLE todo (id TEXT PRIMARY KEY, content TEXT NOT NULL DEFAULT '', completed INTEGER NOT NULL DEFAULT 0)`;
const materializers = {
  create: `INSERT OR IGNORE INTO todo (id, content) VALUES (:item, :value)`,
  set_content: `UPDATE todo SET content = :value WHERE id = :item`,
  set_completed: `UPDATE todo SET completed = :value WHERE id = :item`,
  delete: `DELETE FROM todo WHERE id = :item`,
};
const todo = { schema, materializers };

async function rejects(promise, code, match) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof FactlogError, `${err} is not a FactlogError`);
    assert.equal(err.name, "FactlogError");
    assert.equal(err.code, code, err.message);
    if (match) assert.match(err.message, match);
    return true;
  });
}

test("append, query, events, heads, version vector", async () => {
  const db = await open(todo);
  assert.match(db.peer, /^[0-9a-f]{32,}$/); // hex; its length is the core's (a public key)
  assert.equal(db.persisted, false);
  const e = await db.append("1", "create", "make pasta");
  assert.deepEqual(Object.keys(e).sort(), ["clock", "id", "item", "parents", "peer", "seq", "time", "type", "value"]);
  assert.equal(e.seq, 1);
  assert.equal(e.clock, 1);
  assert.deepEqual(e.parents, []);
  const e2 = await db.append(1, "set_completed", true);
  assert.deepEqual(e2.parents, [e.id]);
  assert.equal(e2.item, "1");
  assert.deepEqual(await db.query("SELECT id, content, completed FROM todo"), [{ id: "1", content: "make pasta", completed: 1 }]);
  assert.deepEqual(await db.query("SELECT ? AS a, ?2 AS b", [7, "x"]), [{ a: 7, b: "x" }]);
  assert.deepEqual(await db.query("SELECT :a AS a, @b AS b", { a: 1.5, b: null }), [{ a: 1.5, b: null }]);
  assert.deepEqual(await db.query("SELECT x'00ff' AS blob"), [{ blob: new Uint8Array([0, 255]) }]);
  assert.deepEqual((await db.events({ item: "1" })).map((x) => x.type), ["create", "set_completed"]);
  assert.equal((await db.events()).length, 2);
  assert.deepEqual(await db.heads(), [e2.id]);
  const vv = await db.versionVector(); // { "<peer>" or "<peer>:<chain tip>": seq }
  assert.deepEqual(Object.values(vv), [2]);
  assert.ok(Object.keys(vv)[0].startsWith(db.peer), JSON.stringify(vv));
  await db.close();
});

test("values round-trip as JSON", async () => {
  const db = await open({ materializers: { set: "" } }); // "": a type that changes no state
  const values = [null, true, false, 0, -1.5, 1e21, "é ✓ 🙂", "", [], [1, [2, { a: null }]], { b: 1, a: { c: "x" } }];
  for (const v of values) {
    const e = await db.append("v", "set", v);
    assert.deepEqual(e.value, v);
  }
  const stored = (await db.events({ item: "v" })).map((e) => e.value);
  assert.deepEqual(stored, values);
  await db.close();
});

test("errors carry stable codes", async () => {
  const db = await open(todo);
  await rejects(db.append("1", "", 1), "INVALID_ARGUMENT", /type is "": pass a non-empty string/);
  await rejects(db.append("1", "set_content", "x".repeat(70000)), "INVALID_EVENT", /at most 65536/);
  await rejects(db.query("SELEC 1"), "SQL", /syntax error/);
  await rejects(db.query("DELETE FROM todo"), "SQL", /append/);
  await rejects(db.query("DELETE FROM event"), "SQL", /belongs to factlog|is a view/);
  await rejects(db.query("SELECT 1; SELECT 2"), "INVALID_ARGUMENT", /one statement/);
  await rejects(db.import(new Uint8Array([1, 2, 3])), "INVALID_BATCH");
  await rejects(db.import("not bytes"), "INVALID_ARGUMENT");
  await db.append("1", "create", "a");
  await rejects(db.append("2", "create", "b").then(() => db.appendMany([{ item: "3", type: "create", value: "c" }, { item: "3", type: "set_content", value: "x".repeat(70000) }])), "INVALID_EVENT");
  assert.deepEqual((await db.query("SELECT id FROM todo ORDER BY id")).map((r) => r.id), ["1", "2"], "a failed appendMany stores nothing");
  await rejects(open({ schema: "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT)" }), "SCHEMA", /AUTOINCREMENT/);
  await db.close();
  await rejects(db.query("SELECT 1"), "CLOSED");
  await rejects(db.append("1", "create", "x"), "CLOSED");
  await db.close(); // twice is fine
});

test("a file store persists across reopen, without replay", async () => {
  const dir = mkdtempSync(join(tmpdir(), "factlog-"));
  const name = join(dir, "todos.db");
  try {
    const db = await open({ name, ...todo });
    assert.equal(db.persisted, true);
    await db.append("1", "create", "make pasta");
    await db.append("1", "set_completed", true);
    const peer = db.peer;
    await db.close();
    let replayed = 0;
    const again = await open({ name, ...todo, onProgress: () => replayed++ });
    assert.equal(again.peer, peer);
    assert.deepEqual(await again.query("SELECT content, completed FROM todo"), [{ content: "make pasta", completed: 1 }]);
    assert.equal(replayed, 0);
    // A changed interpretation rebuilds, reporting progress.
    await again.close();
    const other = await open({ name, schema, materializers: { ...materializers, set_completed: "SELECT 1" }, onProgress: () => replayed++ });
    assert.deepEqual(await other.query("SELECT completed FROM todo"), [{ completed: 0 }]);
    assert.ok(replayed > 0);
    await other.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("three replicas converge through exportSince and import", async () => {
  const [a, b, c] = await Promise.all([open(todo), open(todo), open(todo)]);
  const sync = async (from, to) => to.import(await from.exportSince(await to.versionVector()));
  await a.append("1", "create", "make pasta");
  await a.append("1", "set_completed", true);
  await sync(a, b);
  await sync(a, c);
  await b.append("1", "set_content", "cook"); // offline edits
  await c.append("1", "set_completed", false);
  await c.append("2", "create", "clean");
  for (const from of [a, b, c]) for (const to of [a, b, c]) if (from !== to) await sync(from, to);
  const states = await Promise.all([a, b, c].map((db) => db.query("SELECT * FROM todo ORDER BY id")));
  assert.deepEqual(states[1], states[0]);
  assert.deepEqual(states[2], states[0]);
  assert.deepEqual(states[0], [{ id: "1", content: "cook", completed: 0 }, { id: "2", content: "clean", completed: 0 }]);
  const heads = await Promise.all([a, b, c].map((db) => db.heads()));
  assert.deepEqual(heads[1], heads[0]);
  assert.deepEqual(heads[2], heads[0]);
  assert.deepEqual(await b.versionVector(), await a.versionVector());
  const again = await a.import(await b.exportSince({}));
  assert.deepEqual([again.added, again.duplicates, again.reapplied], [0, 5, 0], "importing twice changes nothing");
  await Promise.all([a, b, c].map((db) => db.close()));
});

test("a copied store file forks its author; replicas keep both branches, converge and report the fork", async () => {
  const dir = mkdtempSync(join(tmpdir(), "factlog-"));
  try {
    const original = await open({ name: join(dir, "a.db"), ...todo });
    await original.append("1", "create", "make pasta");
    await original.close();
    copyFileSync(join(dir, "a.db"), join(dir, "b.db")); // a second machine, with the same key
    const [a, b, other] = await Promise.all([open({ name: join(dir, "a.db"), ...todo }), open({ name: join(dir, "b.db"), ...todo }), open(todo)]);
    assert.equal(b.peer, a.peer);
    await a.append("1", "set_content", "from a");
    await b.append("1", "set_completed", true);
    const sync = async (from, to) => to.import(await from.exportSince(await to.versionVector()));
    for (let round = 0; round < 2; round++) {
      for (const [from, to] of [[a, other], [b, other], [other, a], [other, b]]) await sync(from, to);
    }
    const states = await Promise.all([a, b, other].map((db) => db.query("SELECT * FROM todo")));
    assert.deepEqual(states[1], states[0]);
    assert.deepEqual(states[2], states[0]);
    for (const db of [a, b, other]) {
      const forks = await db.forks();
      assert.equal(forks.length, 1);
      assert.equal(forks[0].peer, a.peer);
      assert.equal(forks[0].seq, 2);
      assert.equal(forks[0].ids.length, 2);
      assert.equal((await db.pending()).events, 0);
    }
    await Promise.all([a, b, other].map((db) => db.close()));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("watch re-runs when a table it reads changes", async () => {
  const db = await open(todo);
  const seen = [];
  let wake;
  const stop = db.watch("SELECT count(*) AS n FROM todo", [], (rows) => {
    seen.push(rows[0].n);
    if (wake) wake();
  });
  const until = (n) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`watch saw ${seen}, waited for ${n}`)), 10000);
      wake = () => seen.at(-1) === n && (clearTimeout(t), resolve());
      wake();
    });
  await until(0);
  await db.append("1", "create", "a");
  await until(1);
  await db.appendMany([{ item: "2", type: "create", value: "b" }, { item: "3", type: "create", value: "c" }]);
  await until(3);
  stop();
  await db.append("4", "create", "d");
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(seen.at(-1), 3, "no result after stop");
  await db.close();
});

test("reinterpret rebuilds the state from the same events", async () => {
  const db = await open(todo);
  await db.append("1", "create", "make pasta");
  await db.append("1", "set_completed", true);
  await db.append("1", "set_completed", false);
  assert.deepEqual(await db.query("SELECT completed FROM todo"), [{ completed: 0 }]);
  const progress = [];
  await db.reinterpret({ schema, materializers: { ...materializers, set_completed: "UPDATE todo SET completed = max(completed, :value) WHERE id = :item" } }, (done, total) => progress.push([done, total]));
  assert.deepEqual(await db.query("SELECT completed FROM todo"), [{ completed: 1 }]);
  assert.deepEqual(progress.at(-1), [3, 3]);
  assert.equal((await db.events()).length, 3, "no event is lost");
  await db.close();
});

test("last-write-wins registers converge and keep only the winners", async () => {
  const [a, b] = await Promise.all([0, 1].map(() => openRegisters({ table: "todo", columns: ["content", "completed"] })));
  await a.set("1", "content", "make pasta");
  await a.set("1", "completed", true);
  await b.merge(await a.exportState());
  await b.set("1", "content", "cook");
  await a.set("1", "completed", false);
  await b.merge(await a.exportState());
  await a.merge(await b.exportState());
  assert.deepEqual(await a.rows(), [{ id: "1", content: "cook", completed: 0 }]);
  assert.deepEqual(await b.rows(), await a.rows());
  assert.deepEqual(
    (await a.state()).map((r) => [r.column, r.value, r.clock]),
    [["completed", false, 2], ["content", "cook", 2]],
  );
  await rejects(a.set("1", "title", "x"), "INVALID_ARGUMENT", /no column/);
  await rejects(a.merge(new Uint8Array([1])), "INVALID_ARGUMENT", /not a registers state/);
  await a.close();
  await rejects(a.rows(), "CLOSED");
  await b.close();
});

test("registers refuse a store's file, which stays as it was and opens again", async () => {
  const dir = mkdtempSync(join(tmpdir(), "factlog-"));
  const name = join(dir, "todos.db");
  let db = await open({ name, ...todo });
  await db.append("1", "create", "make pasta");
  const before = await db.query("SELECT * FROM todo");
  await db.close();
  await rejects(openRegisters({ name, table: "todo", columns: ["content", "extra"] }), "INVALID_ARGUMENT", /not a database of registers/);
  db = await open({ name, ...todo });
  assert.deepEqual(await db.query("SELECT * FROM todo"), before);
  await db.append("2", "create", "buy basil");
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});
