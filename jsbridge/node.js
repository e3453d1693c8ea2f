// node.js is factlog in Node: what the package's "node" export condition
// loads. It runs factlog.wasm in-process (engine.js has the engine shared
// by every store, and in browsers its Worker) and exports the API of
// factlog.js, the build for everything else, which holds no Node code.
import fs from "node:fs";
import v8 from "node:v8";
import { createRequire } from "node:module";
import { Engine, runInProcess } from "./engine.js";
import { FactlogError } from "./errors.js";

export * from "./factlog.js";

runInProcess(nodeEngine);

async function nodeEngine() {
  // Go's runtime (wasm_exec.js) reaches the file system through
  // globalThis.fs, and puts a stub there if it finds none as it loads:
  // runtime.js is imported after this. factlog's own VFS uses the
  // synchronous calls.
  globalThis.fs ??= fs;
  // V8's optimizing tier compiles SQLite's very large functions for
  // seconds while the baseline code runs: for the small transactions of
  // an application, the baseline compiler alone is faster throughout,
  // and Node cannot exit while TurboFan works (BENCHMARKS.md).
  // FACTLOG_V8_FLAGS chooses other flags ("" keeps V8's defaults).
  const flags = process.env.FACTLOG_V8_FLAGS ?? "--liftoff-only";
  if (flags) v8.setFlagsFromString(flags);
  // Node 20 has no global WebSocket; the ws package is one, found beside
  // the application, unless connect is given another.
  const require = createRequire(import.meta.url);
  const sockets = new Map(); // link key → WebSocket constructor
  const { start } = await import("./runtime.js");
  // While V8 compiles and instantiates the module on its own threads,
  // Node's loop has nothing to wait for, so Node leaves it for
  // DrainTasks, which waits for all of V8's background tasks and runs the
  // program's start from there. With V8's optimizing tier on, its next
  // round then waited for TurboFan to compile SQLite's largest functions:
  // seconds in which no timer ran (BENCHMARKS.md). A timer held meanwhile
  // keeps Node in its loop.
  const hold = setInterval(() => {}, 1 << 30);
  let e, api;
  try {
    const module = await WebAssembly.compile(fs.readFileSync(new URL("./factlog.wasm", import.meta.url)));
    api = await start(module, (kind, key, json) => e._notify(kind, key, json), (key) => sockets.get(key));
  } finally {
    clearInterval(hold);
  }
  e = new Engine(
    (id, method, args, bytes) => {
      api.call(method, args, bytes, id).then(
        ([json, out]) => e._settle(id, null, json, out),
        (err) => (err && typeof err.code === "string" ? e._settle(id, err) : e._die(err)),
      );
    },
    (id) => api.cancel(id),
  );
  api.exited.then(() => e._die(new Error("the Go program ended")));
  e.webSocket = (key, given) => {
    let ws = given ?? globalThis.WebSocket;
    if (!ws) {
      try {
        ws = require("ws").WebSocket;
      } catch {}
    }
    if (typeof ws !== "function") {
      throw new FactlogError("UNSUPPORTED", "connect needs a WebSocket: Node 20 has none; install the ws package (npm install ws) or pass connect(url, { WebSocket })");
    }
    sockets.set(key, ws);
    return () => sockets.delete(key);
  };
  return e;
}

