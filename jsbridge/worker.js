// worker.js hosts factlog.wasm in a dedicated Worker, so that SQLite never
// blocks the page. The page posts {module} once (a WebAssembly.Module it
// compiled, so that the browser's code cache applies), then
// {id, method, args, bytes}; the worker answers {id, result, bytes} or
// {id, error}, and forwards the Go side's notifications as {notify}.
import { start } from "./runtime.js";

let api;
let queue = [];

// Go writes panics and its own logs to the console; a Worker's console is
// easy to miss, so the page repeats it (factlog.js).
for (const level of ["log", "warn", "error"]) {
  const original = console[level].bind(console);
  console[level] = (...args) => {
    original(...args);
    self.postMessage({ console: level, text: args.map(String).join(" ") });
  };
}
const locks = new Map(); // store name → release function of its Web Lock

self.onmessage = async (e) => {
  const msg = e.data;
  if (msg.module) {
    try {
      api = await start(msg.module, (kind, id, json) => self.postMessage({ notify: kind, id, json }), () => self.WebSocket);
      self.postMessage({ ready: true });
    } catch (err) {
      self.postMessage({ ready: false, error: { code: "INTERNAL", message: String(err && err.message || err) } });
    }
    for (const m of queue) handle(m);
    queue = [];
    return;
  }
  if (!api) {
    queue.push(msg);
    return;
  }
  handle(msg);
};

async function handle({ id, method, args, bytes, name }) {
  try {
    if (opens(method) && name) await lock(name);
    const [result, out] = await api.call(method, args, bytes);
    if ((method === "close" || method === "registers.close") && name) unlock(name);
    const transfer = out ? [out.buffer] : [];
    self.postMessage({ id, result, bytes: out }, transfer);
  } catch (err) {
    if (opens(method) && name) unlock(name);
    const error = err && err.code ? { code: err.code, message: err.message } : { code: "INTERNAL", message: String(err && err.message || err) };
    self.postMessage({ id, error });
  }
}

const opens = (method) => method === "open" || method === "openRegisters";

// lock takes an exclusive Web Lock on a store name for as long as the
// store is open here, so that a second tab gets a clear error instead of
// OPFS's NoModificationAllowedError (or worse).
function lock(name) {
  if (!self.navigator.locks) return Promise.resolve();
  return new Promise((resolve, reject) => {
    self.navigator.locks.request("factlog:" + name, { ifAvailable: true }, (held) => {
      if (!held) {
        reject({ code: "LOCKED", message: `store "${name}" is open in another tab or worker; close it there first` });
        return;
      }
      resolve();
      return new Promise((release) => locks.set(name, release));
    });
  });
}

function unlock(name) {
  const release = locks.get(name);
  locks.delete(name);
  if (release) release();
}
