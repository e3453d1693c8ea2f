// Runs every workload for one system, in a process of its own (so that no
// system inherits another's V8 flags, JIT state or garbage), and prints
// the figures as one JSON line. run.mjs starts one per system per round.
//
//   node child.mjs <system> '<config json>'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync, statSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { creates, edits, log, chunks, percentile, now } from "./workload.mjs";

const [system, configJSON] = process.argv.slice(2);
const config = JSON.parse(configJSON);
const { work, cache, sizes } = config;
const adapter = (await import(`./${system}.mjs`)).default;

const result = { system, storage: adapter.storage, load: [loadavg()[0]], figures: {}, errors: {} };
result.version = await adapter.load(config);

let dirs = 0;
const freshDir = () => mkdtempSync(join(work, `${system}-${++dirs}-`));

function du(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((sum, f) => sum + du(join(path, f)), 0);
}

async function appendAll(store, events) {
  for (const c of chunks(events, sizes.call)) await store.appendMany(c);
}

const sameState = (rows) =>
  JSON.stringify(rows.map((r) => [r.id, r.content, r.completed ? 1 : 0]));

// Helpers an adapter's own workloads (LiveStore's) use too.
const ctx = { freshDir, du, appendAll, sameState, sizes, cache, creates, edits, log, now };

const workloads = {
  // 1. single appends, each its own write: latency per append.
  async appends() {
    const store = await adapter.open(freshDir());
    const lat = [];
    for (const e of log(sizes.appends)) {
      const t = now();
      await store.append(e);
      lat.push(now() - t);
    }
    await store.close();
    lat.sort((a, b) => a - b);
    return { n: sizes.appends, p50: percentile(lat, 50), p99: percentile(lat, 99) };
  },

  // 2. bulk appends, calls of sizes.call events.
  async bulk() {
    const store = await adapter.open(freshDir());
    const events = log(sizes.bulk);
    const t = now();
    await appendAll(store, events);
    const ms = now() - t;
    await store.close();
    return { n: sizes.bulk, eventsPerSec: sizes.bulk / (ms / 1000) };
  },

  // 3. import a whole log in order; then 8 (size), 7 (reopen) and 4
  // (rebuild) on the store it made. A system that cannot import gets its
  // store from bulk appends instead (untimed).
  async log() {
    const dir = freshDir();
    let store = await adapter.open(dir);
    let t;
    if (adapter.unsupported?.import) {
      result.figures.import = { unsupported: adapter.unsupported.import };
      await appendAll(store, log(sizes.log));
    } else {
      const bytes = await source(sizes.log);
      t = now();
      await store.import(bytes);
      result.figures.import = { n: sizes.log, eventsPerSec: sizes.log / ((now() - t) / 1000), batchBytes: bytes.length };
    }
    const items = await store.count();
    if (items !== 1000) throw new Error(`the store holds ${items} todos, not 1000`);
    await store.close();
    result.figures.size = { n: sizes.log, bytes: adapter.sizeOnDisk ? await adapter.sizeOnDisk(dir) : du(dir) };

    if (adapter.unsupported?.reopen) result.figures.reopen = { unsupported: adapter.unsupported.reopen };
    else {
      t = now();
      store = await adapter.open(dir);
      await store.firstQuery();
      result.figures.reopen = { n: sizes.log, seconds: (now() - t) / 1000 };
      await store.close();
    }

    if (adapter.unsupported?.rebuild) result.figures.rebuild = { unsupported: adapter.unsupported.rebuild };
    else {
      store = await adapter.open(dir);
      t = now();
      await store.rebuild();
      result.figures.rebuild = { n: sizes.log, eventsPerSec: sizes.log / ((now() - t) / 1000) };
      await store.close();
    }
  },

  // 5 and 6. three peers share the 1,000 items, each makes n edits offline,
  // then each imports what the other two made (every export is taken from
  // the offline state, then every import runs). Timed: all six exports and
  // imports. Untimed, after: the three states must be equal.
  async merge(n) {
    const peers = [];
    for (let i = 0; i < 3; i++) peers.push(await adapter.open(freshDir()));
    await appendAll(peers[0], creates());
    const base = await peers[0].exportSince(null);
    for (const p of peers.slice(1)) await p.import(base);
    for (const [i, p] of peers.entries()) await appendAll(p, edits(n, "ABC"[i], 11 + i));
    const versions = [];
    for (const p of peers) versions.push(await p.version());

    const t = now();
    const batches = [];
    for (const [i, p] of peers.entries())
      for (const j of [0, 1, 2]) if (j !== i) batches.push({ to: j, bytes: await p.exportSince(versions[j]) });
    for (const b of batches) await peers[b.to].import(b.bytes);
    const seconds = (now() - t) / 1000;

    const states = [];
    for (const p of peers) states.push(sameState(await p.state()));
    if (states[1] !== states[0] || states[2] !== states[0]) throw new Error("the three peers did not converge");
    for (const p of peers) await p.close();
    const sent = batches.map((b) => b.bytes.length);
    return { n, seconds, bytesSent: sent.reduce((a, b) => a + b, 0) / sent.length };
  },
};

// The whole log as one batch, made once per run (untimed) and kept in the
// cache folder for the later rounds.
async function source(n) {
  const file = join(cache, `${system}-${n}.bin`);
  if (existsSync(file)) return new Uint8Array(readFileSync(file));
  const store = await adapter.open(freshDir());
  await appendAll(store, log(n));
  const bytes = await store.exportSince(null);
  await store.close();
  mkdirSync(cache, { recursive: true });
  writeFileSync(file, bytes);
  return bytes;
}

async function run(name, fn) {
  if (process.env.PEERBENCH_DEBUG) console.error(`${system}: ${name}`);
  if (adapter.unsupported?.[name]) {
    result.figures[name] = { unsupported: adapter.unsupported[name] };
    return;
  }
  try {
    const figure = await (adapter.workloads?.[name] ?? fn)(ctx);
    // The log workload yields four figures (import, size, reopen, rebuild).
    if (figure) Object.assign(result.figures, name === "log" ? figure : { [name]: figure });
  } catch (err) {
    result.errors[name] = String(err?.stack ?? err).split("\n").slice(0, 4).join(" | ");
  }
}

const only = sizes.only ? new Set(sizes.only) : null;
const want = (name) => !only || only.has(name);
if (want("appends")) await run("appends", workloads.appends);
if (want("bulk")) await run("bulk", workloads.bulk);
if (want("log")) await run("log", workloads.log);
for (const n of sizes.merge) {
  if (!want(`merge${n}`)) continue;
  const name = `merge${n}`;
  if (adapter.unsupported?.merge) result.figures[name] = { unsupported: adapter.unsupported.merge };
  else if (adapter.unsupported?.[name]) result.figures[name] = { unsupported: adapter.unsupported[name] };
  else
    try {
      result.figures[name] = await (adapter.workloads?.merge ?? ((c, k) => workloads.merge(k)))(ctx, n);
    } catch (err) {
      result.errors[name] = String(err?.stack ?? err).split("\n").slice(0, 4).join(" | ");
    }
}
result.load.push(loadavg()[0]);
process.stdout.write("\n" + JSON.stringify(result) + "\n");
// Some libraries keep timers or workers alive; the figures are out.
process.exit(0);
