// One writer per store file in Node, which has no file locks: a second
// open (in this process or another) gets LOCKED, saying who holds it; a
// holder killed with -9 leaves no wedged store, and loses none of the
// appends it acknowledged. Run by tests/node_test.go.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, existsSync, symlinkSync, linkSync, unlinkSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { open, FactlogError } from "factlog";

const interp = { schema: "CREATE TABLE t (v)", materializers: { put: "INSERT INTO t VALUES (:value)" } };

async function rejects(promise, code, says) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof FactlogError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, says);
    return true;
  });
}

const locked = (promise, says) => rejects(promise, "LOCKED", says);

function withDir(fn) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "factlog-lock-"));
    try {
      await fn(join(dir, "store.db"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test("a second open in one process gets LOCKED until the first closes", withDir(async (name) => {
  const db = await open({ name, ...interp });
  await locked(open({ name, ...interp }), /this process/);
  await db.append("1", "put", "one");
  await db.close();
  assert.equal(existsSync(name + "-lock"), false, "close removes the lock file");
  const again = await open({ name, ...interp });
  assert.deepEqual(await again.query("SELECT v FROM t"), [{ v: "one" }]);
  await again.close();
}));

// holding starts holder.mjs on the store, and resolves once it holds it.
async function holding(name) {
  const holder = spawn(process.execPath, ["holder.mjs", name], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise((resolve) => holder.on("exit", (code, signal) => resolve(signal || code)));
  try {
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("the holder did not start")), 60000);
      holder.stdout.on("data", (d) => String(d).includes("ready") && (clearTimeout(t), resolve()));
      holder.on("exit", () => reject(new Error("the holder exited")));
    });
  } catch (err) {
    holder.kill("SIGKILL");
    throw err;
  }
  return { holder, exited };
}

test("another process holds the store: LOCKED naming it; killed with -9, the store opens again", withDir(async (name) => {
  const { holder, exited } = await holding(name);
  try {
    await locked(open({ name, ...interp }), new RegExp(`process ${holder.pid}\\b`));
    await locked(open({ name, ...interp }), /lock file/); // and again: refusing changes nothing
  } finally {
    holder.kill("SIGKILL");
  }
  assert.equal(await exited, "SIGKILL");
  assert.equal(existsSync(name + "-lock"), true, "kill -9 leaves the lock file behind");
  const db = await open({ name, ...interp });
  assert.deepEqual(await db.query("SELECT v FROM t"), [{ v: "from the holder" }], "what the holder committed is there");
  await db.append("2", "put", "after the takeover");
  await db.close();
}));

test("killed with -9 while appending: every acknowledged append is there after the takeover", withDir(async (name) => {
  const holder = spawn(process.execPath, ["holder.mjs", name, "stream"], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise((resolve) => holder.on("exit", (code, signal) => resolve(signal || code)));
  let acked = 0;
  try {
    // Killed at a moment the holder does not choose: after 300 appends
    // and a few more milliseconds, somewhere within an append.
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`the holder acknowledged ${acked} appends in 60 s`)), 60000);
      let text = "";
      holder.stdout.on("data", (d) => {
        text += d;
        const lines = text.split("\n");
        text = lines.pop();
        for (const line of lines) if (line.startsWith("acked ")) acked = Number(line.slice(6));
        if (acked >= 300) clearTimeout(t), setTimeout(resolve, Math.random() * 50);
      });
      holder.on("exit", () => reject(new Error("the holder exited")));
    });
  } finally {
    holder.kill("SIGKILL");
  }
  assert.equal(await exited, "SIGKILL");
  const db = await open({ name, ...interp });
  const [{ n }] = await db.query("SELECT count(*) AS n FROM t");
  const [{ events }] = await db.query("SELECT count(*) AS events FROM event");
  assert.ok(n >= acked + 1, `${n - 1} appends are in the store, ${acked} were acknowledged`);
  assert.equal(events, n, "each stored event has its row");
  await db.append("after", "put", "after the takeover");
  await db.close();
}));

test("one store by two names (a symbolic link, a relative path) is one store: LOCKED, and nothing is lost", withDir(async (name) => {
  const link = join(dirname(name), "link.db");
  const db = await open({ name, ...interp });
  await db.append("1", "put", "one");
  symlinkSync(name, link);
  await locked(open({ name: link, ...interp }), /this process/);
  await db.close();
  const viaLink = await open({ name: link, ...interp });
  await viaLink.append("2", "put", "two");
  await locked(open({ name, ...interp }), /this process/);
  await viaLink.close();
  const again = await open({ name, ...interp });
  assert.deepEqual(await again.query("SELECT v FROM t ORDER BY v"), [{ v: "one" }, { v: "two" }]);
  await again.close();
}));

test("a symbolic link to a file not made yet is the store it makes: LOCKED by either name, one log", withDir(async (name) => {
  const link = join(dirname(name), "link.db");
  symlinkSync(name, link); // dangling until the store is made through it
  const db = await open({ name: link, ...interp });
  await db.append("1", "put", "via the link");
  await locked(open({ name, ...interp }), /this process/);
  await db.close();
  const direct = await open({ name, ...interp });
  assert.deepEqual(await direct.query("SELECT v FROM t"), [{ v: "via the link" }]);
  await direct.append("2", "put", "direct");
  await locked(open({ name: link, ...interp }), /this process/);
  await direct.close();
}));

test("a store file with a second name by a hard link, which no lock can see, is refused until it has one", withDir(async (name) => {
  const hard = join(dirname(name), "hard.db");
  const db = await open({ name, ...interp });
  await db.append("1", "put", "one");
  linkSync(name, hard);
  const refused = (p) => rejects(p, "INVALID_ARGUMENT", /more than one name \(hard links\)/);
  await refused(open({ name: hard, ...interp })); // a second writer, by the lock's count
  await db.append("2", "put", "two");
  await db.close();
  await refused(open({ name, ...interp }));
  unlinkSync(hard);
  const again = await open({ name, ...interp });
  assert.deepEqual(await again.query("SELECT v FROM t ORDER BY v"), [{ v: "one" }, { v: "two" }]);
  await again.close();
}));

test("a directory where the store keeps a file (its own, its -wal, its -lock) is INVALID_ARGUMENT saying so", withDir(async (name) => {
  for (const suffix of ["", "-wal", "-lock"]) {
    mkdirSync(name + suffix);
    await rejects(open({ name, ...interp }), "INVALID_ARGUMENT", /a directory is where the store keeps a file/);
    rmSync(name + suffix, { recursive: true });
  }
}));

test("a store whose name is near the file system's limit opens, and opens again after kill -9", withDir(async (name) => {
  const long = join(dirname(name), "s".repeat(242) + ".db"); // with "-lock", 250 bytes of the 255 a name may have
  const { holder, exited } = await holding(long);
  holder.kill("SIGKILL");
  assert.equal(await exited, "SIGKILL");
  const db = await open({ name: long, ...interp });
  assert.deepEqual(await db.query("SELECT v FROM t"), [{ v: "from the holder" }]);
  await db.close();
}));

test("a lock of another copy of factlog in this process is held; one an engine of this process left when it stopped is taken over", withDir(async (name) => {
  const db = await open({ name, ...interp });
  await db.append("1", "put", "one");
  await db.close();
  // What another engine of this process writes: its pid and its token,
  // among the running engines' tokens while its Go program runs.
  const engines = process[Symbol.for("factlog.engines")];
  assert.ok(engines instanceof Set && engines.size === 1, "this engine's token is registered");
  writeFileSync(name + "-lock", `${process.pid} feedfacefeedface\n`);
  engines.add("feedfacefeedface");
  try {
    await locked(open({ name, ...interp }), /another copy of factlog in this process/);
  } finally {
    engines.delete("feedfacefeedface"); // its program ended
  }
  const again = await open({ name, ...interp });
  assert.deepEqual(await again.query("SELECT v FROM t"), [{ v: "one" }]);
  await again.close();
}));

test("a lock from before the machine restarted is taken over, though a process has its pid now (Linux)", withDir(async (name) => {
  let boot;
  try {
    boot = readFileSync("/proc/sys/kernel/random/boot_id", "latin1").replace(/[^0-9a-f]/g, "").slice(0, 16);
  } catch {
    return; // no boot id: locks say no boot, and this cannot be told
  }
  const db = await open({ name, ...interp });
  await db.append("1", "put", "one");
  await db.close();
  // pid 1 always runs: here it is the lock's writer of this boot, then
  // one of the boot before.
  writeFileSync(name + "-lock", `1 feedfacefeedface.${boot}\n`);
  await locked(open({ name, ...interp }), /process 1\b/);
  writeFileSync(name + "-lock", `1 feedfacefeedface.${boot === "0".repeat(16) ? "1" : "0".repeat(16)}\n`);
  const again = await open({ name, ...interp });
  assert.deepEqual(await again.query("SELECT v FROM t"), [{ v: "one" }]);
  await again.close();
}));
