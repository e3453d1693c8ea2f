// engine.js runs factlog.wasm — one engine per process or page, shared by
// every store it opens: in a dedicated Worker (worker.js) in browsers,
// in-process in Node (node.js installs that engine: this file holds no
// Node code, so that bundlers for browsers find none). An engine makes
// calls, cancels them when their AbortSignal fires, routes the Go side's
// notifications to listeners by (kind, key), and when it dies — the Worker
// killed or crashed, the Go program ended — rejects every pending call
// with UNAVAILABLE and tells its listeners, so that no call ever hangs on
// a dead engine.
import { FactlogError, toError } from "./errors.js";

export const isNode = typeof process === "object" && !!(process.versions && process.versions.node) && typeof window === "undefined";

let current;
let workerEngineOfPage; // the latest Worker engine, from its start: stopEngine stops it
let inProcess; // starts the engine in this process: set by node.js

/** runInProcess makes engine() start the wasm in this process, with start (node.js). */
export function runInProcess(start) {
  inProcess = start;
}

/** engine returns the running engine, starting one if there is none or the last one died. */
export function engine() {
  current ??= start().catch((err) => {
    current = undefined;
    throw err;
  });
  return current.then((e) => {
    if (!e.dead) return e;
    current = undefined;
    return engine();
  });
}

/**
 * stopEngine stops the page's Worker at once, if one runs: the next call
 * starts another. Its calls in flight reject with UNAVAILABLE, and the
 * stores open in it are gone (tabs.js, when a page leaves for the
 * back/forward cache).
 */
export function stopEngine() {
  workerEngineOfPage?.terminate();
}

async function start() {
  if (inProcess) return inProcess();
  if (isNode) {
    throw new FactlogError(
      "UNSUPPORTED",
      `this is factlog's build for browsers, loaded in Node: "factlog" was resolved without the "node" export condition, which loads node.js, the engine in-process. ` +
        `Import "factlog" from Node itself, or give your bundler that condition (esbuild: --platform=node; Rollup: nodeResolve({ exportConditions: ["node"] }))`,
    );
  }
  // A Worker whose files all load now, but that did not run, may have
  // met a passing fault (a 503 during a deploy): one more, and a second
  // such failure is for good.
  return workerEngine().catch((err) => (err === notRun ? workerEngine(true) : Promise.reject(err)));
}

/** notRun fails a first Worker that did not run though its files load. */
const notRun = new Error("factlog's Worker did not run");

/** aborted is the rejection of a call whose signal fired before it started. */
export const aborted = (method) => new FactlogError("ABORTED", `${method} was aborted`);

export class Engine {
  #send;
  #cancel;
  #pending = new Map(); // call id → { resolve, reject }
  #listeners = new Map(); // "kind:key" → fn
  #deaths = new Set();
  #calls = 0;
  #keys = 0;
  /** Why the engine died, or null while it runs. */
  dead = null;

  /**
   * @param {(id: number, method: string, args: string, bytes?: Uint8Array) => void} send
   * @param {(id: number) => void} cancel
   */
  constructor(send, cancel) {
    this.#send = send;
    this.#cancel = cancel;
  }

  /** key returns a notification key no other watch, link or progress of this engine has. */
  key() {
    return ++this.#keys;
  }

  /**
   * call runs a method; it resolves with { result, bytes } or rejects with a FactlogError.
   * @param {string} method
   * @param {object} args
   * @param {{ bytes?: Uint8Array, signal?: AbortSignal | null }} [opts]
   */
  call(method, args, { bytes, signal } = {}) {
    if (this.dead) return Promise.reject(this.dead);
    if (signal && signal.aborted) return Promise.reject(aborted(method));
    const id = ++this.#calls;
    return new Promise((resolve, reject) => {
      const onAbort = () => this.#cancel(id);
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => {
        this.#pending.delete(id);
        signal?.removeEventListener("abort", onAbort);
      };
      this.#pending.set(id, {
        resolve: (v) => (done(), resolve(v)),
        reject: (e) => (done(), reject(e)),
      });
      try {
        this.#send(id, method, JSON.stringify(args), bytes);
      } catch (err) {
        this._die(err);
      }
    });
  }

  /** _settle is the transport's answer to call id. */
  _settle(id, error, json, bytes) {
    const p = this.#pending.get(id);
    if (!p) return;
    if (error) p.reject(toError(error));
    else p.resolve({ result: JSON.parse(json), bytes: bytes ?? null });
  }

  /** on listens to the notifications of one key; it returns the function that stops listening. */
  on(kind, key, fn) {
    const k = kind + ":" + key;
    this.#listeners.set(k, fn);
    return () => this.#listeners.get(k) === fn && this.#listeners.delete(k);
  }

  /**
   * _notify delivers a notification, in a microtask of its own: in Node
   * the Go side runs inside the JavaScript call into it, so a watch's
   * first rows could otherwise reach its callback before `watch()` has
   * returned (its stop function not yet assigned), and a callback that
   * calls the store would re-enter Go while Go calls JavaScript. A
   * listener that throws is reported, never propagated into Go.
   */
  _notify(kind, key, json) {
    queueMicrotask(() => {
      const fn = this.#listeners.get(kind + ":" + key);
      if (!fn) return;
      try {
        fn(JSON.parse(json));
      } catch (err) {
        console.error(`factlog: a ${kind} callback threw:`, err);
      }
    });
  }

  /** onDeath calls fn(error) if the engine dies; it returns the function that stops it. */
  onDeath(fn) {
    this.#deaths.add(fn);
    return () => this.#deaths.delete(fn);
  }

  /** _die rejects every pending call and every later one with UNAVAILABLE. */
  _die(cause) {
    if (this.dead) return;
    this.dead = new FactlogError(
      "UNAVAILABLE",
      `factlog's engine stopped (${(cause && cause.message) || cause}); open the store again`,
      { cause },
    );
    for (const p of [...this.#pending.values()]) p.reject(this.dead);
    for (const fn of [...this.#deaths]) {
      try {
        fn(this.dead);
      } catch (err) {
        console.error("factlog:", err);
      }
    }
  }

  /**
   * terminate stops the engine at once, as if it had died: a Worker's
   * file handles are released before the page is frozen (tabs.js). Only a
   * Worker can be stopped so; elsewhere this does nothing.
   */
  terminate() {}

  /** webSocket is set by the Node engine: it chooses the WebSocket a link uses. */
  webSocket() {
    return () => {};
  }
}

async function workerEngine(again = false) {
  const wasmURL = new URL("./factlog.wasm", import.meta.url);
  const id = typeof crypto.randomUUID === "function" ? crypto.randomUUID() : String(Math.random()).slice(2);
  const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: `factlog ${id}` });
  let e;
  let started;
  let loaded = false; // the Worker has sent a message: its script ran
  const ready = new Promise((resolve, reject) => (started = { resolve, reject }));
  // The Worker holds a lock while it lives (worker.js); the page's request
  // for it is granted when the Worker dies, however it dies (a crash, an
  // out-of-memory kill, self.close()), which no event reports reliably —
  // starting included.
  const died = (why = "the Worker stopped") => {
    started.reject(toError({ code: "UNAVAILABLE", message: `factlog's Worker stopped while it started (${why})` }));
    e._die(new Error(why));
  };
  const watching = new AbortController();
  worker.onmessage = ({ data }) => {
    loaded = true;
    if (data.holding) {
      navigator.locks.request(`factlog-worker:${id}`, { signal: watching.signal }, () => died()).catch(() => {});
    } else if ("ready" in data) {
      data.ready ? started.resolve() : started.reject(toError(data.error));
    } else if (data.console) {
      console[data.console]("factlog worker:", data.text);
    } else if (data.notify) {
      e._notify(data.notify, data.id, data.json);
    } else if (data.exited) {
      e._die(new Error("the Go program ended"));
    } else {
      e._settle(data.id, data.error, data.result, data.bytes);
    }
  };
  worker.onerror = (ev) => {
    if (loaded) {
      // Before it is ready too: an open must not wait for it.
      const err = new Error("factlog's Worker failed: " + (ev.message || "an error"));
      started.reject(toError({ code: "UNAVAILABLE", message: err.message }));
      return e._die(err);
    }
    // Its script, or a module it imports, did not load or run: the error
    // event says neither which nor why, so ask the server.
    const url = new URL("./worker.js", here);
    checkModule(url)
      .then(() => {
        if (!again) throw notRun;
        const why = ev.message || "the browser's console says why: a syntax error, or files of two versions of the package?";
        throw loadError(`${url}, or a module it imports, did not run (${why})`);
      })
      .catch(started.reject);
  };
  e = new Engine(
    (id, method, args, bytes) => worker.postMessage({ id, method, args, bytes }, bytes ? [bytes.buffer] : []),
    (id) => worker.postMessage({ cancel: id }),
  );
  e.terminate = () => {
    // Not granted the Worker's lock once it is gone: a page frozen in the
    // back/forward cache that is granted a lock is discarded from it.
    watching.abort();
    worker.onmessage = worker.onerror = null; // what it sent before it stopped is not for a frozen page
    worker.terminate();
    died("the page left for the back/forward cache");
  };
  workerEngineOfPage = e;
  try {
    // A Worker that cannot load fails ready without waiting for the wasm.
    worker.postMessage({ module: await Promise.race([compile(wasmURL), ready]) });
    await ready;
  } catch (err) {
    worker.terminate();
    throw err;
  }
  return e;
}

// The folder of the module this code is in, whose files worker.js and
// factlog.wasm are beside. Not new URL(path, import.meta.url): bundlers
// take that for a file to emit.
const here = import.meta.url;

const loadErrors = new WeakSet();

/**
 * loadFailed reports whether err is a file of the package that did not
 * load in this page: a new Worker would fail alike (tabs.js does not
 * retry it).
 */
export const loadFailed = (err) => loadErrors.has(err);

function loadError(what) {
  const err = new FactlogError(
    "UNAVAILABLE",
    `factlog could not start: ${what}. Check that factlog.wasm, worker.js and the chunk-*.js files of the package are served ` +
      `beside factlog.js, or beside the bundle that holds it (${new URL(".", here)}): factlog's README says how with a bundler`,
  );
  loadErrors.add(err);
  return err;
}

/** fetchFile fetches a file of the package, or throws a loadError saying why it cannot. */
async function fetchFile(url) {
  let res;
  try {
    res = await fetch(url);
  } catch (err) {
    throw loadError(`${url} could not be fetched (${err.message})`);
  }
  if (!res.ok) throw loadError(`${url} answered ${res.status} ${res.statusText}`.trim());
  return res;
}

async function compile(url) {
  try {
    return await WebAssembly.compileStreaming(fetch(url));
  } catch {
    // A server that does not send application/wasm still works, slower.
  }
  const res = await fetchFile(url);
  try {
    return await WebAssembly.compile(await res.arrayBuffer());
  } catch (err) {
    throw loadError(`${url} is not factlog's WebAssembly (${err.message})`);
  }
}

/**
 * checkModule throws a loadError if the module at url, or one it imports,
 * cannot load: the server answers an error, or something other than
 * JavaScript (a page of HTML, say), which a module Worker refuses.
 */
async function checkModule(url, seen = new Set()) {
  if (seen.has(url.href)) return;
  seen.add(url.href);
  const res = await fetchFile(url);
  const type = res.headers.get("content-type") || "no type";
  if (!/javascript|ecmascript/i.test(type)) throw loadError(`${url} came as ${type}, not JavaScript`);
  for (const [, path] of (await res.text()).matchAll(/\b(?:from|import)\s*["'](\.\.?\/[^"']+)["']/g)) {
    await checkModule(new URL(path, url), seen);
  }
}
