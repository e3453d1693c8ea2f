// Hostile inputs: every JavaScript type where the API takes another, and
// calls that are cancelled. Each must be a FactlogError with a stable code
// and a message that says what to pass; none may store anything, and the
// store must go on working. Run by tests/node_test.go.
import { test } from "node:test";
import assert from "node:assert/strict";
import { open, FactlogError } from "factlog";

const todo = {
  schema: `CREATE TABLE todo (id TEXT PRIMARY KEY, content TEXT, completed INTEGER DEFAULT 0)`,
  materializers: {
    create: `INSERT OR IGNORE INTO todo (id, content) VALUES (:item, :value)`,
    set_completed: `UPDATE todo SET completed = :value WHERE id = :item`,
    note: "", // declared: stored, changes no state
  },
};

function coded(err, code, says) {
  assert.ok(err instanceof FactlogError, `not a FactlogError: ${err && err.stack}`);
  assert.equal(err.name, "FactlogError");
  assert.equal(err.code, code, err.message);
  if (says) assert.match(err.message, says);
  return true;
}

const cyclic = { a: 1 };
cyclic.self = cyclic;
class Point {
  constructor() {
    this.x = 1;
  }
}

// [what, call, message] — each call must reject (or throw) INVALID_ARGUMENT.
const bad = (db) => [
  ["an object item", () => db.append({ a: 1 }, "create", "x"), /item is an object: pass a string/],
  ["an undefined item", () => db.append(undefined, "create", "x"), /item is undefined/],
  ["a null item", () => db.append(null, "create", "x"), /item is null/],
  ["a NaN item", () => db.append(NaN, "create", "x"), /item is NaN/],
  ["a Symbol item", () => db.append(Symbol("i"), "create", "x"), /item is a Symbol/],
  ["a BigInt item", () => db.append(1n, "create", "x"), /item is a BigInt/],
  ["a number type", () => db.append("1", 5, "x"), /type is 5: pass a non-empty string/],
  ["a missing type", () => db.append("1"), /type is undefined/],
  ["an explicit undefined value", () => db.append("1", "note", undefined), /the value is undefined: pass null/],
  ["a function value", () => db.append("1", "note", () => 1), /the value is a function/],
  ["NaN", () => db.append("1", "note", NaN), /the value is NaN/],
  ["Infinity", () => db.append("1", "note", Infinity), /the value is Infinity/],
  ["-Infinity nested", () => db.append("1", "note", { a: [1, -Infinity] }), /the value\.a\[1\] is -Infinity/],
  ["a Symbol value", () => db.append("1", "note", Symbol("s")), /the value is a Symbol/],
  ["a Map", () => db.append("1", "note", new Map([["a", 1]])), /a Map: pass Object\.fromEntries/],
  ["a Set", () => db.append("1", "note", new Set([1])), /a Set/],
  ["a Date", () => db.append("1", "note", new Date(0)), /a Date: pass date\.toISOString/],
  ["a BigInt value", () => db.append("1", "note", 10n), /a BigInt \(10n\)/],
  ["a cyclic value", () => db.append("1", "note", cyclic), /the value\.self contains itself/],
  ["a nested undefined", () => db.append("1", "note", { a: undefined }), /the value\.a is undefined/],
  ["an array hole", () => db.append("1", "note", [1, , 3]), /the value\[1\] is undefined/], // eslint-disable-line no-sparse-arrays
  ["a class instance", () => db.append("1", "note", new Point()), /a Point/],
  ["bytes as a value", () => db.append("1", "note", new Uint8Array(2)), /a Uint8Array/],
  ["Symbol keys", () => db.append("1", "note", { [Symbol("k")]: 1 }), /Symbol keys/],
  ["too deep", () => db.append("1", "note", JSON.parse("[".repeat(300) + "]".repeat(300))), /nested more than/],
  ["a getter that throws", () => db.append("1", "note", { get a() { throw new TypeError("no a"); } }), /the value could not be read: no a/],
  ["a Proxy that throws", () => db.append("1", "note", new Proxy({}, { ownKeys() { throw new RangeError("no keys"); } })), /the value could not be read: no keys/],
  ["two values", () => db.append("1", "note", 1, 2), /append takes \(item, type, value\)/],
  ["appendMany of a string", () => db.appendMany("x"), /appendMany takes an array/],
  ["appendMany of null", () => db.appendMany(null), /appendMany takes an array/],
  ["appendMany of [null]", () => db.appendMany([null]), /event 0 is null/],
  ["appendMany with a hole", () => db.appendMany([, { item: "1", type: "note" }]), /event 0 is undefined/], // eslint-disable-line no-sparse-arrays
  ["appendMany without a type", () => db.appendMany([{ item: "1" }]), /event 0: type is undefined/],
  ["appendMany with a typo", () => db.appendMany([{ item: "1", type: "note", valu: 1 }]), /unknown option "valu"/],
  ["appendMany with a bad value", () => db.appendMany([{ item: "1", type: "note", value: 1 }, { item: "2", type: "note", value: NaN }]), /event 1: the value is NaN/],
  ["a lone surrogate in an item", () => db.append("a\ud800", "create", "x"), /item holds a lone UTF-16 surrogate \(\\ud800, character 2\)/],
  ["a lone surrogate in a type", () => db.append("1", "\udc00"), /type holds a lone UTF-16 surrogate/],
  ["a lone surrogate in a value", () => db.append("1", "note", { a: ["\udfff"] }), /the value\.a\[0\] holds a lone UTF-16 surrogate/],
  ["a lone surrogate in a key", () => db.append("1", "note", { "k\ud800": 1 }), /a key of the value holds a lone UTF-16 surrogate/],
  ["a lone surrogate in a parameter", () => db.query("SELECT ? = ?", ["\ud800", "\udfff"]), /parameter 1 holds a lone UTF-16 surrogate/],
  ["a number as SQL", () => db.query(5), /sql is 5/],
  ["empty SQL", () => db.query(""), /sql is ""/],
  ["a missing parameter", () => db.query("SELECT ?"), /has 1 parameter\(s\) and 0 value\(s\)/],
  ["too few parameters", () => db.query("SELECT ?, ?", [1]), /has 2 parameter\(s\) and 1 value\(s\)/],
  ["a missing named parameter", () => db.query("SELECT :a, :b", { a: 1 }), /parameter :b is missing/],
  ["an undefined parameter", () => db.query("SELECT ?", [undefined]), /parameter 1 is undefined/],
  ["a BigInt parameter past 64 bits", () => db.query("SELECT ?", [2n ** 63n]), /parameter 1 is a BigInt \(9223372036854775808n\), beyond SQLite's 64-bit integers/],
  ["an object parameter", () => db.query("SELECT ?", [{}]), /parameter 1 is an object/],
  ["parameters as a string", () => db.query("SELECT ?", "x"), /the parameters are "x"/],
  ["query options of a string", () => db.query("SELECT 1", [], "x"), /the options are "x"/],
  ["events of a string", () => db.events("1"), /the options are "1"/],
  ["events with a typo", () => db.events({ itme: "1" }), /unknown option "itme"/],
  ["events with a bad signal", () => db.events({}, { signal: 5 }), /signal is 5/],
  ["events of an object item", () => db.events({ item: {} }), /item is an object/],
  ["a version vector string", () => db.exportSince("x"), /the version vector is "x"/],
  ["a negative seq", () => db.exportSince({ ab: -1 }), /seq for ab is -1/],
  ["a fractional seq", () => db.exportSince({ ab: 1.5 }), /seq for ab is 1\.5/],
  ["a version vector with a prototype", () => db.exportSince(Object.create({ ab: 1 })), /the version vector is an object with a prototype of its own/],
  ["import of a string", () => db.import("x"), /takes a Uint8Array, not "x"/],
  ["import of an array", () => db.import([1, 2]), /takes a Uint8Array, not an array/],
  ["import of an ArrayBuffer", () => db.import(new ArrayBuffer(4)), /a ArrayBuffer/],
  ["reinterpret of a string", () => db.reinterpret("x"), /the options are "x"/],
  ["a number schema", () => db.reinterpret({ schema: 5 }), /schema is 5/],
  ["a number materializer", () => db.reinterpret({ schema: "", materializers: { a: 5 } }), /materializer of "a" is 5/],
  ["a bad signal", () => db.exportSince({}, { signal: "x" }), /signal is "x": pass an AbortSignal/],
  ["watch of a number", () => db.watch(5, () => {}), /sql is 5/],
  ["watch without a callback", () => db.watch("SELECT 1", [], "x"), /the callback is "x"/],
  ["watch with a bad onError", () => db.watch("SELECT 1", () => {}, 5), /onError is 5/],
  ["watch with a missing parameter", () => db.watch("SELECT ?", [undefined], () => {}), /parameter 1 is undefined/],
  ["connect to a number", () => db.connect(5), /the URL is 5/],
  ["connect over ftp", () => db.connect("ftp://x/v1/rooms/a"), /the URL is "ftp/],
  ["connect with a number token", () => db.connect("ws://127.0.0.1:9/v1/rooms/a", { token: 5 }), /token is 5/],
  ["connect with a bad WebSocket", () => db.connect("ws://127.0.0.1:9/v1/rooms/a", { WebSocket: 5 }), /WebSocket is 5/],
  ["connect with a typo", () => db.connect("ws://127.0.0.1:9/v1/rooms/a", { tokn: "x" }), /unknown option "tokn"/],
  ["onRole of a number", () => db.onRole(5), /onRole: pass a function, not 5/],
];

test("every bad argument is an INVALID_ARGUMENT that says what to pass, and stores nothing", async () => {
  const db = await open(todo);
  for (const [what, call, says] of bad(db)) {
    let result;
    try {
      // A call that returns a promise rejects; watch, connect and
      // onRole, which return at once, throw.
      let p;
      try {
        p = call();
      } catch (err) {
        if (!/^(watch|connect|onRole)/.test(what)) assert.fail(`${what}: threw at once instead of rejecting: ${err}`);
        throw err;
      }
      result = await p;
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      coded(err, "INVALID_ARGUMENT", says);
      continue;
    }
    assert.fail(`${what}: accepted, returned ${JSON.stringify(result)}`);
  }
  assert.deepEqual(await db.query("SELECT count(*) AS n FROM event"), [{ n: 0 }], "nothing was stored");
  const e = await db.append(1, "create", { text: "still works", n: -0 });
  assert.equal(e.item, "1");
  assert.deepEqual(await db.query("SELECT ? AS b, :x AS x", { 1: new Uint8Array([1, 2]), x: null }).catch((err) => err.code), "INVALID_ARGUMENT");
  assert.deepEqual(await db.query("SELECT ? AS b", [new Uint8Array([1, 2])]), [{ b: new Uint8Array([1, 2]) }], "blob parameters round-trip");
  assert.deepEqual(await db.query("SELECT typeof(?) AS a, ? || '' AS b, typeof(?) AS c, id FROM todo WHERE id = ?", [5, 5, 5.5, 1]),
    [{ a: "integer", b: "5", c: "real", id: "1" }], "a whole number binds as an INTEGER");
  assert.deepEqual(await db.query("SELECT ? AS s", ["a\ud83d\ude00"]), [{ s: "a\ud83d\ude00" }], "paired surrogates round-trip");
  assert.deepEqual(await db.query("SELECT ? AS a, ? + 1 AS b, ? AS c, ? AS d, typeof(?) AS t", [2n ** 63n - 1n, 2 ** 53, 2 ** 53, -(2n ** 63n), 1n]),
    [{ a: 2n ** 63n - 1n, b: 2n ** 53n + 1n, c: 2 ** 53, d: -(2 ** 63), t: "integer" }], "64-bit integers round-trip exactly: a BigInt where a number cannot hold them");
  await db.close();
});

test("bad open options", async () => {
  for (const [options, says] of [
    ["todos", /the options are "todos"/],
    [{ name: 5 }, /name is 5/],
    [{ name: "" }, /name is ""/],
    [{ name: "a\0b.db" }, /holds a NUL character/],
    [{ nme: "x" }, /unknown option "nme"/],
    [{ materializers: "x" }, /materializers is "x"/],
    [{ materializers: { a: null } }, /materializer of "a" is null/],
    [{ schema: ["x"] }, /schema is an array/],
    [{ onProgress: 5 }, /onProgress is 5/],
    [{ signal: {} }, /signal is an object/],
  ]) {
    await assert.rejects(open(options), (err) => coded(err, "INVALID_ARGUMENT", says));
  }
});

test("a call aborted by its AbortSignal rejects with ABORTED and leaves nothing half-done", async () => {
  const db = await open(todo);
  const endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
  const ac = new AbortController();
  const running = db.query(endless, [], { signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(running, (err) => coded(err, "ABORTED", /aborted/));
  await assert.rejects(db.query("SELECT 1", [], { signal: AbortSignal.abort() }), (err) => coded(err, "ABORTED"));

  // An import aborted at once: either it was stopped (nothing added) or it
  // had finished (everything added) — never a part.
  const source = await open(todo);
  await source.appendMany(Array.from({ length: 3000 }, (_, i) => ({ item: String(i), type: "create", value: `todo ${i}` })));
  const batch = await source.exportSince({});
  const ac2 = new AbortController();
  const importing = db.import(batch, { signal: ac2.signal });
  ac2.abort();
  const outcome = await importing.then(() => "done", (err) => (coded(err, "ABORTED"), "aborted"));
  const [{ n }] = await db.query("SELECT count(*) AS n FROM todo");
  assert.equal(n, outcome === "done" ? 3000 : 0, `import ${outcome} with ${n} todos`);
  await db.import(batch); // and it can be done again
  assert.deepEqual(await db.query("SELECT count(*) AS n FROM todo"), [{ n: 3000 }]);

  // A reinterpret aborted: the previous interpretation still serves.
  const ac3 = new AbortController();
  const rebuilding = db.reinterpret({ ...todo, materializers: { ...todo.materializers, create: "INSERT INTO todo (id, content) VALUES (:item, upper(:value))" } }, { signal: ac3.signal });
  ac3.abort();
  const r = await rebuilding.then(() => "done", (err) => (coded(err, "ABORTED"), "aborted"));
  const [{ content }] = await db.query("SELECT content FROM todo WHERE id = '7'");
  assert.equal(content, r === "done" ? "TODO 7" : "todo 7");
  await Promise.all([db.close(), source.close()]);
});

test("a flood of concurrent calls, around one that runs until aborted, each settles with its own answer", async () => {
  // The engine runs calls on goroutines it reuses (wasm/js) and settles
  // each call's promise by its ticket (runtime.js): more calls at once
  // than it keeps, on two stores, some failing, mixed with one that holds
  // its store until aborted, must each get their own result or error, and
  // the engine must serve calls after the flood as before it.
  const [a, b] = await Promise.all([open(todo), open(todo)]);
  const endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
  const ac = new AbortController();
  const running = a.query(endless, [], { signal: ac.signal });
  const flood = [];
  for (let i = 0; i < 300; i++) {
    if (i % 3 === 0) flood.push(b.append(`item ${i}`, "create", `todo ${i}`).then((e) => [i, e.item, e.value]));
    else if (i % 5 === 0) flood.push(b.query(`SELECT * FROM missing_${i}`).then(() => [i, "no error"], (err) => [i, err.code, err.message.match(/missing_\d+/)?.[0]]));
    else flood.push((i % 3 === 1 ? a : b).query("SELECT ? AS i, ? AS s", [i, `call ${i}`]).then(([row]) => [i, row.i, row.s]));
  }
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(running, (err) => coded(err, "ABORTED", /aborted/));
  for (const [i, ...got] of await Promise.all(flood)) {
    const want = i % 3 === 0 ? [`item ${i}`, `todo ${i}`] : i % 5 === 0 ? ["SQL", `missing_${i}`] : [i, `call ${i}`];
    assert.deepEqual(got, want, `call ${i}`);
  }
  assert.deepEqual(await b.query("SELECT count(*) AS n FROM todo"), [{ n: 100 }]);
  for (let round = 0; round < 3; round++) {
    assert.deepEqual(await a.query("SELECT ? AS round", [round]), [{ round }]);
  }
  await Promise.all([a.close(), b.close()]);
});

test("a store is an async disposable; after close every call rejects with CLOSED", async () => {
  const db = await open(todo);
  assert.equal(typeof db[Symbol.asyncDispose], "function");
  await db[Symbol.asyncDispose]();
  await assert.rejects(db.query("SELECT 1"), (err) => coded(err, "CLOSED"));
  await assert.rejects(db.append("1", "create", "x"), (err) => coded(err, "CLOSED"));
  assert.throws(() => db.watch("SELECT 1", () => {}), (err) => coded(err, "CLOSED"));
  assert.throws(() => db.connect("ws://127.0.0.1:9/v1/rooms/a"), (err) => coded(err, "CLOSED"));
  await db.close();
});

test("a watch sees its first rows even when they come before the call returns, every time", async () => {
  // The first notification can overtake the watch call's own answer; a
  // watch that listened only after the answer missed it (the demo's
  // empty replicas).
  const db = await open(todo);
  await db.append("1", "create", "a");
  for (let i = 0; i < 200; i++) {
    const rows = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`watch ${i} never called back`)), 10000);
      const stop = db.watch("SELECT count(*) AS n FROM todo WHERE ? >= 0", [i], (r) => {
        clearTimeout(t);
        stop();
        resolve(r);
      });
    });
    assert.deepEqual(rows, [{ n: 1 }]);
  }
  await db.close();
});

test("a watch callback that throws is reported and does not stop the store", async () => {
  const db = await open(todo);
  const errors = [];
  const original = console.error;
  console.error = (...a) => errors.push(a.join(" "));
  try {
    let calls = 0;
    let again;
    const seen = new Promise((r) => (again = r));
    db.watch("SELECT count(*) AS n FROM todo", (rows) => {
      calls++;
      if (calls === 1) throw new Error("the application's bug");
      again(rows);
    });
    await new Promise((r) => setTimeout(r, 100));
    await db.append("1", "create", "a");
    assert.deepEqual(await seen, [{ n: 1 }]);
    assert.ok(errors.some((e) => e.includes("the application's bug")), errors.join("\n"));
  } finally {
    console.error = original;
  }
  await db.close();
});

test("a query whose result is too large for memory is NO_MEMORY, and every store goes on", async () => {
  const other = await open(todo);
  await other.append("1", "create", "x");
  const db = await open(todo);
  await assert.rejects(
    db.query(`WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c LIMIT 200) SELECT n, printf('%.*c', 1000000, 'x') AS s FROM c`),
    (err) => coded(err, "NO_MEMORY", /the result is over 128 MiB after 13\d rows; read it in pages/),
  );
  assert.deepEqual(await db.query("SELECT 1 AS one"), [{ one: 1 }]);
  assert.deepEqual(await other.query("SELECT content FROM todo"), [{ content: "x" }]);
  await db.close();
  await other.close();
});
