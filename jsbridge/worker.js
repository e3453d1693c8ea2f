// worker.js hosts factlog.wasm in a dedicated Worker, so that SQLite never
// blocks the page. Its name is "factlog <id>": at once it takes the Web
// Lock "factlog-worker:<id>" for as long as it lives, by which the page
// learns that it died, and says {holding}. The page (engine.js) posts
// {module} once — a WebAssembly.Module it compiled, so that the browser's
// code cache applies — then {id, method, args, bytes} and {cancel: id}.
// The Worker answers {ready}, then {id, result,
// bytes} or {id, error}; it forwards the Go side's notifications as
// {notify, id, json}, its console as {console, text}, and {exited} if the
// Go program ends.
import { start } from "./runtime.js";

let api;
let queue = [];

const id = self.name.startsWith("factlog ") ? self.name.slice("factlog ".length) : "";
if (id && self.navigator.locks) {
  self.navigator.locks.request(`factlog-worker:${id}`, () => {
    self.postMessage({ holding: true });
    return new Promise(() => {}); // held until the Worker goes
  });
}

// Go writes panics and its own logs to the console; a Worker's console is
// easy to miss, so the page repeats it.
for (const level of ["log", "warn", "error"]) {
  const original = console[level].bind(console);
  console[level] = (...args) => {
    original(...args);
    self.postMessage({ console: level, text: args.map(String).join(" ") });
  };
}

self.onmessage = async ({ data: msg }) => {
  if (msg.module) {
    try {
      api = await start(msg.module, (kind, id, json) => self.postMessage({ notify: kind, id, json }), () => self.WebSocket);
      api.exited.then(() => self.postMessage({ exited: true }));
      self.postMessage({ ready: true });
    } catch (err) {
      self.postMessage({ ready: false, error: { code: "UNAVAILABLE", message: "factlog could not start: " + String((err && err.message) || err) } });
    }
    for (const m of queue) handle(m);
    queue = [];
  } else if (!api) {
    queue.push(msg);
  } else {
    handle(msg);
  }
};

async function handle({ id, method, args, bytes, cancel }) {
  if (cancel !== undefined) return api.cancel(cancel);
  try {
    const [result, out] = await api.call(method, args, bytes, id);
    self.postMessage({ id, result, bytes: out }, out ? [out.buffer] : []);
  } catch (err) {
    const error = err && typeof err.code === "string" ? { code: err.code, message: err.message } : { code: "UNAVAILABLE", message: String((err && err.message) || err) };
    self.postMessage({ id, error });
  }
}
