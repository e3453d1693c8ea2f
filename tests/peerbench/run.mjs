// The side-by-side benchmark of issue 15: factlog and its peers on the same
// todo workload, in one run, and one table with medians, ranges and the
// ratio to factlog.
//
//   cd tests/peerbench && npm ci && node run.mjs            # the full sizes, 3 rounds
//   node run.mjs --scale 0.1 --rounds 1                      # a quick look
//   node run.mjs --systems factlog,yjs --only appends,bulk   # a part
//
// Each round runs every system once, in its own process (child.mjs), in an
// order that rotates from round to round, so that a noisy minute of this
// shared machine falls on different systems and no system inherits another
// one's V8 flags (factlog's bridge sets --liftoff-only for the process),
// compiled code or garbage.
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { downloadSize } from "./download.mjs";

const { values: opt } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    scale: { type: "string", default: "1" },
    systems: { type: "string", default: "factlog,livestore,automerge,yjs,crsqlite,sqlite" },
    only: { type: "string" }, // appends,bulk,log,merge10000,merge1000
    download: { type: "boolean", default: true },
    json: { type: "string" }, // also write every round's raw figures here
    timeout: { type: "string", default: "3600" }, // seconds for one system's round
  },
  allowNegative: true,
});

const FULL = { appends: 2000, bulk: 10000, call: 1000, log: 100000, merge: [10000, 1000] };
// LiveStore commits at a few hundred events per second and merges through
// its sync server slowly: it runs at these sizes, and its rates and times
// are shown with the size they were measured at.
const SMALLER = { livestore: { appends: 500, bulk: 2000, log: 10000, merge: [1000] } };

function sizesFor(system) {
  const s = { ...FULL, ...SMALLER[system] };
  const k = Number(opt.scale);
  const scaled = (n, min) => Math.max(min, Math.round(n * k));
  return {
    appends: scaled(s.appends, 20),
    bulk: scaled(s.bulk, 1000),
    call: s.call,
    log: scaled(s.log, 1000), // at least the 1,000 creates
    merge: s.merge.map((n) => scaled(n, 10)),
    skipped: FULL.merge.filter((n) => !s.merge.includes(n)).map((n) => scaled(n, 10)),
    only: opt.only?.split(","),
  };
}

const systems = opt.systems.split(",");
const rounds = Number(opt.rounds);
const work = mkdtempSync(join(tmpdir(), "peerbench-"));
const cache = join(work, "cache");
// One build of factlog for the whole run (see factlog.mjs).
const factlog = join(work, "factlog");
cpSync(realpathSync(join(import.meta.dirname, "node_modules/factlog")), factlog, { recursive: true });
const loads = [loadavg()[0]];
const results = Object.fromEntries(systems.map((s) => [s, []]));
const started = Date.now();

function child(system) {
  const config = JSON.stringify({ work, cache, factlog, sizes: sizesFor(system) });
  return new Promise((resolve) => {
    // NODE_ENV=production for every system: LiveStore needs it (its
    // development build checks much more), and the others ignore it.
    const p = spawn(process.execPath, ["child.mjs", system, config], {
      cwd: import.meta.dirname,
      env: { ...process.env, NODE_ENV: "production" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => p.kill("SIGKILL"), Number(opt.timeout) * 1000);
    p.on("close", (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split("\n").at(-1);
      try {
        resolve(JSON.parse(line));
      } catch {
        resolve({ system, failed: `exit ${code ?? signal}: ${(err || out).trim().split("\n").slice(-3).join(" | ")}` });
      }
    });
  });
}

// The download sizes first, while the copy of factlog is the build the
// rounds measure.
const downloads = {};
if (opt.download)
  for (const s of systems) downloads[s] = await downloadSize(s, s === "factlog" ? factlog : undefined).catch((e) => ({ error: e.message }));

for (let r = 0; r < rounds; r++) {
  const order = systems.map((_, i) => systems[(i + r) % systems.length]);
  for (const system of order) {
    const t = Date.now();
    const res = await child(system);
    results[system].push(res);
    loads.push(...(res.load ?? []));
    const errs = res.failed ?? Object.entries(res.errors ?? {}).map(([k, v]) => `${k}: ${v}`).join("; ");
    console.error(`round ${r + 1}/${rounds}  ${system.padEnd(10)} ${((Date.now() - t) / 1000).toFixed(0)} s${errs ? "  ERROR " + errs : ""}`);
  }
}

loads.push(loadavg()[0]);
rmSync(work, { recursive: true, force: true });

// ---- the table ----

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (x) => {
  if (!Number.isFinite(x)) return "?";
  const a = Math.abs(x);
  const d = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : a >= 0.1 ? 2 : 3;
  return x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
};
const count = (n) => n.toLocaleString("en-US");

// Each row: which figure of which workload, its unit, and how to read it.
const ROWS = [
  { label: (n) => `${count(n)} single appends, p50 (ms)`, key: "appends", field: "p50", size: "appends" },
  { label: (n) => `${count(n)} single appends, p99 (ms)`, key: "appends", field: "p99", size: "appends" },
  { label: (n) => `bulk appends, calls of 1,000 (events/s; ${count(n)} events)`, key: "bulk", field: "eventsPerSec", size: "bulk" },
  { label: (n) => `import ${count(n)} events in order (events/s)`, key: "import", field: "eventsPerSec", size: "log" },
  { label: (n) => `full rebuild of ${count(n)} events (events/s)`, key: "rebuild", field: "eventsPerSec", size: "log" },
  { label: (n) => `3 peers × ${count(n)} offline edits, all merge (s)`, key: (n) => `merge${n}`, field: "seconds", size: "merge", at: 0, perEvent: true },
  { label: (n) => `3 peers × ${count(n)} offline edits, all merge (s)`, key: (n) => `merge${n}`, field: "seconds", size: "merge", at: 1, perEvent: true },
  { label: (n) => `bytes each peer sends to another, ${count(n)} merge (KB)`, key: (n) => `merge${n}`, field: "bytesSent", size: "merge", at: 0, scale: 1e-3 },
  { label: (n) => `reopen a ${count(n)}-event store + first query (s)`, key: "reopen", field: "seconds", size: "log", perEvent: true },
  { label: (n) => `size for ${count(n)} events, state included (MB)`, key: "size", field: "bytes", size: "log", scale: 1e-6, perEvent: true },
];

const fullSizes = sizesFor("factlog");
const sizeOf = (sizes, row) => (row.at === undefined ? sizes[row.size] : [...sizes.merge, ...sizes.skipped].sort((a, b) => b - a)[row.at]);

function cell(system, row) {
  const sizes = sizesFor(system);
  const n = sizeOf(sizes, row);
  const key = typeof row.key === "function" ? row.key(n) : row.key;
  const runs = results[system];
  if (row.at !== undefined && sizes.skipped.includes(n)) return { text: "not run (too slow at this size)" };
  const failed = runs.find((r) => r.failed);
  if (failed) return { text: `failed: ${failed.failed.slice(0, 80)}` };
  const figs = runs.map((r) => r.figures?.[key]).filter(Boolean);
  const unsupported = figs.find((f) => f.unsupported);
  if (unsupported) return { text: `– (${unsupported.unsupported})` };
  const err = runs.map((r) => r.errors?.[key]).find(Boolean);
  if (err && figs.length === 0) return { text: `error: ${err.slice(0, 80)}` };
  const xs = figs.map((f) => f[row.field] * (row.scale ?? 1)).filter(Number.isFinite);
  if (xs.length === 0) return { text: "–" };
  const m = median(xs);
  const full = sizeOf(fullSizes, row);
  const at = n !== full ? ` at ${count(n)}` : "";
  const range = xs.length > 1 ? ` (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})` : "";
  return { value: m, n, text: `${fmt(m)}${range}${at}` };
}

const names = { factlog: "factlog", livestore: "LiveStore", automerge: "Automerge", yjs: "Yjs", crsqlite: "cr-sqlite", sqlite: "SQLite wasm (official)" };
const header = ["workload", ...systems.map((s) => names[s] ?? s)];
function printTable() {
  const lines = [];
  const versions = systems.map((s) => [...new Set(results[s].map((r) => r.version).filter(Boolean))].join(" / ") || "?");
  lines.push(`| ${header.join(" | ")} |`);
  lines.push(`|${header.map(() => "---").join("|")}|`);
  lines.push(`| version | ${versions.join(" | ")} |`);
  lines.push(`| storage in Node | ${systems.map((s) => results[s].find((r) => r.storage)?.storage ?? "?").join(" | ")} |`);
  for (const row of ROWS) {
    const n = sizeOf(fullSizes, row);
    const base = systems.includes("factlog") ? cell("factlog", row) : null;
    const cells = systems.map((s) => {
      const c = cell(s, row);
      // Where a system ran at a smaller size, totals (seconds, bytes)
      // compare per event; rates and latencies compare as they are.
      if (s === "factlog" || c.value === undefined || !base?.value) return c.text;
      let ratio = c.value / base.value;
      if (row.perEvent && c.n !== base.n) ratio = c.value / c.n / (base.value / base.n);
      return `${c.text} ×${fmt(ratio)}`;
    });
    lines.push(`| ${row.label(n)} | ${cells.join(" | ")} |`);
  }
  lines.push(
    `| what a browser downloads, brotli (MB) | ${systems
      .map((s) => {
        const d = downloads[s];
        if (!d) return "not measured";
        if (d.error) return `error: ${d.error}`;
        const base = downloads.factlog?.bytes;
        return `${fmt(d.bytes / 1e6)}${s !== "factlog" && base ? ` ×${fmt(d.bytes / base)}` : ""}`;
      })
      .join(" | ")} |`,
  );
  return lines.join("\n");
}

const minutes = ((Date.now() - started) / 60000).toFixed(1);
console.log(`\n${rounds} round(s), ${minutes} min; Node ${process.version}; ${cpus().length} × ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`);
console.log(`load average (1 min) during the run: ${fmt(Math.min(...loads))}–${fmt(Math.max(...loads))}`);
console.log(`cells: median (min–max over the rounds); ×R = the system's figure ÷ factlog's (per event where sizes differ): for rates higher is better, for times and sizes lower is better\n`);
console.log(printTable());
if (opt.json) writeFileSync(opt.json, JSON.stringify({ rounds, loads, results, downloads }, null, 2));
