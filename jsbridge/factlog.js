// factlog — an event log that is a CRDT, in SQLite, in the browser and in
// Node. See factlog.d.ts for the API and README.md for a tour.
//
// In a browser the WebAssembly runs in one dedicated Worker per page
// (worker.js), shared by every store the page opens; the page compiles the
// module (so the browser's code cache applies) and talks to the Worker by
// postMessage. In Node it runs in-process.
import { FactlogError, toError, closedError } from "./errors.js";

export { FactlogError };

const isNode = typeof process === "object" && !!(process.versions && process.versions.node) && typeof window === "undefined";

let enginePromise;

/** The engine runs calls on the Go side and routes its notifications. */
function engine() {
  enginePromise ??= (isNode ? nodeEngine() : workerEngine()).catch((err) => {
    enginePromise = undefined;
    throw err;
  });
  return enginePromise;
}

function router() {
  const listeners = new Map(); // "kind:id" → function(json)
  return {
    on(kind, id, fn) {
      listeners.set(kind + ":" + id, fn);
      return () => listeners.delete(kind + ":" + id);
    },
    dispatch(kind, id, json) {
      const fn = listeners.get(kind + ":" + id);
      if (fn) fn(JSON.parse(json));
    },
  };
}

async function nodeEngine() {
  const fs = (await import("node:fs")).default;
  // Go's runtime (wasm_exec.js) reaches the file system through
  // globalThis.fs; factlog's own VFS uses its synchronous calls.
  globalThis.fs ??= fs;
  // V8's optimizing tier compiles SQLite's very large functions for
  // seconds while the baseline code runs: for the small transactions of
  // an application, the baseline compiler alone is faster throughout
  // (append p99 1.5 ms instead of 11; BENCHMARKS.md). Set
  // FACTLOG_V8_FLAGS to choose other flags ("" keeps V8's defaults).
  const flags = process.env.FACTLOG_V8_FLAGS ?? "--liftoff-only";
  if (flags) (await import("node:v8")).default.setFlagsFromString(flags);
  const { start } = await import("./runtime.js");
  const module = await WebAssembly.compile(fs.readFileSync(new URL("./factlog.wasm", import.meta.url)));
  const routes = router();
  // Node 20 has no global WebSocket; the ws package is one, found beside
  // factlog (an optional dependency) unless connect is given another.
  const sockets = new Map(); // link key → WebSocket constructor
  const require = (await import("node:module")).createRequire(import.meta.url);
  const api = await start(module, routes.dispatch, (key) => sockets.get(key));
  return {
    on: routes.on,
    webSocket(key, given) {
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
    },
    async call(method, args, bytes) {
      try {
        const [json, out] = await api.call(method, JSON.stringify(args), bytes);
        return { result: JSON.parse(json), bytes: out };
      } catch (e) {
        throw toError(e);
      }
    },
  };
}

async function workerEngine() {
  const wasmURL = new URL("./factlog.wasm", import.meta.url);
  const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "factlog" });
  const routes = router();
  const waiting = new Map();
  let next = 0;
  let started;
  const ready = new Promise((resolve, reject) => (started = { resolve, reject }));
  worker.onmessage = ({ data }) => {
    if ("ready" in data) {
      data.ready ? started.resolve() : started.reject(toError(data.error));
    } else if (data.console) {
      console[data.console]("factlog worker:", data.text);
    } else if (data.notify) {
      routes.dispatch(data.notify, data.id, data.json);
    } else {
      const w = waiting.get(data.id);
      waiting.delete(data.id);
      if (data.error) w.reject(toError(data.error));
      else w.resolve({ result: JSON.parse(data.result), bytes: data.bytes });
    }
  };
  worker.onerror = (e) => started.reject(new Error("factlog worker failed: " + (e.message || e)));
  const response = fetch(wasmURL);
  let module;
  try {
    module = await WebAssembly.compileStreaming(response);
  } catch {
    // A server that does not send application/wasm still works, slower.
    module = await WebAssembly.compile(await (await fetch(wasmURL)).arrayBuffer());
  }
  worker.postMessage({ module });
  await ready;
  return {
    on: routes.on,
    webSocket: () => () => {}, // the Worker's own
    call(method, args, bytes, name) {
      const id = ++next;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        const transfer = bytes ? [bytes.buffer] : [];
        worker.postMessage({ id, method, args: JSON.stringify(args), bytes, name }, transfer);
      });
    },
  };
}

function toRows({ columns, rows }) {
  return rows.map((r) => {
    const o = {};
    columns.forEach((c, i) => {
      const v = r[i];
      o[c] = v !== null && typeof v === "object" && "$blob" in v ? base64ToBytes(v.$blob) : v;
    });
    return o;
  });
}

function base64ToBytes(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

let keys = 0; // notification keys: progress, watch, link

/**
 * Opens a store. See factlog.d.ts.
 * @param {import("./factlog").OpenOptions} options
 */
export async function open(options = {}) {
  const { name = ":memory:", schema = "", materializers = {}, onProgress } = options;
  if (typeof name !== "string") throw toError({ code: "INVALID_ARGUMENT", message: "name must be a string" });
  const e = await engine();
  const progress = ++keys;
  let report = onProgress || null;
  const off = e.on("progress", progress, (p) => report && report(p.done, p.total));
  try {
    const { result } = await e.call("open", { name, schema, materializers, progress }, undefined, persistentName(name));
    if (result.warning) console.warn("factlog:", result.warning);
    return new Database(e, result, name, progress, (fn) => (report = fn), off);
  } catch (err) {
    off();
    throw err;
  }
}

/**
 * Opens (or creates) a table of last-write-wins registers, the seed's
 * first system, for comparison with the event log. See factlog.d.ts.
 */
export async function openRegisters({ name = ":memory:", table, columns } = {}) {
  const e = await engine();
  const { result } = await e.call("openRegisters", { name, table, columns }, undefined, persistentName(name));
  if (result.warning) console.warn("factlog:", result.warning);
  return new Registers(e, result, name);
}

class Registers {
  #e;
  #id;
  #closed = false;

  constructor(engine, opened, name) {
    this.#e = engine;
    this.#id = opened.registers;
    this.name = name;
    this.persisted = opened.persisted;
  }

  async #call(method, args = {}, bytes) {
    if (this.#closed) throw closedError();
    const { result, bytes: out } = await this.#e.call("registers." + method, { registers: this.#id, ...args }, bytes);
    return out !== undefined && out !== null ? out : result;
  }

  /** Writes a column of a row; returns the register { id, column, value, clock }. */
  set(id, column, value = null) {
    return this.#call("set", { id: String(id), column, value });
  }

  /** The rows as objects: { id, ...columns }. */
  async rows() {
    return toRows(await this.#call("rows"));
  }

  /** Every register: [{ id, column, value, clock }], by row and column. */
  state() {
    return this.#call("state");
  }

  /** The whole state, to merge into another replica. */
  exportState() {
    return this.#call("export");
  }

  /** Merges another replica's state; returns { changed }. */
  merge(bytes) {
    if (!(bytes instanceof Uint8Array)) return Promise.reject(toError({ code: "INVALID_ARGUMENT", message: "merge takes a Uint8Array" }));
    return this.#call("merge", {}, bytes.slice());
  }

  async close() {
    if (this.#closed) return;
    this.#closed = true;
    await this.#e.call("registers.close", { registers: this.#id }, undefined, persistentName(this.name));
  }
}

function persistentName(name) {
  return name === ":memory:" ? undefined : name;
}

class Database {
  #e;
  #db;
  #closed = false;
  #stops = new Set();
  #links = new Set();

  #progress;
  #setProgress;
  #offProgress;

  constructor(engine, opened, name, progress, setProgress, offProgress) {
    this.#e = engine;
    this.#db = opened.db;
    this.#progress = progress;
    this.#setProgress = setProgress;
    this.#offProgress = offProgress;
    /** This replica's id. */
    this.peer = opened.peer;
    /** The store's name (":memory:" for one that is not persisted). */
    this.name = name;
    /** Whether the data outlives the page or process. */
    this.persisted = opened.persisted;
    /** Why a named store is not persisted, if it is not. */
    this.warning = opened.warning || null;
  }

  async #call(method, args = {}, bytes) {
    if (this.#closed) throw closedError();
    const { result, bytes: out } = await this.#e.call(method, { db: this.#db, ...args }, bytes);
    return out !== undefined && out !== null ? out : result;
  }

  /** Appends an event; returns it. */
  async append(item, type, value = null) {
    const [event] = await this.#call("append", { events: [{ item: String(item), type, value }] });
    return event;
  }

  /** Appends several events in one transaction; returns them. */
  appendMany(events) {
    return this.#call("append", { events: events.map((e) => ({ item: String(e.item), type: e.type, value: e.value ?? null })) });
  }

  /** Runs one SQL statement; returns its rows as objects. */
  async query(sql, params) {
    return toRows(await this.#call("query", { sql, params: params ?? null }));
  }

  /** The events (about one item, or all), in replay order. */
  events({ item } = {}) {
    return this.#call("events", item === undefined ? {} : { item: String(item) });
  }

  /** The ids of the DAG's leaves. */
  heads() {
    return this.#call("heads");
  }

  /** { peer: highest seq held }. */
  versionVector() {
    return this.#call("versionVector");
  }

  /** A batch of the events a replica holding vv lacks. */
  async exportSince(vv = {}) {
    return await this.#call("exportSince", { vv });
  }

  /** Imports a batch; returns { added, pending, duplicates, skipped, dropped }. */
  import(bytes) {
    if (!(bytes instanceof Uint8Array)) return Promise.reject(toError({ code: "INVALID_ARGUMENT", message: "import takes a Uint8Array" }));
    // Copy: the buffer is transferred to the Worker, and it is the caller's.
    return this.#call("import", {}, bytes.slice());
  }

  /** Events waiting for missing parents: { events, bytes, missing }. */
  pending() {
    return this.#call("pending");
  }

  /** Re-reads the whole log with another schema and materializers. */
  reinterpret({ schema = "", materializers = {} } = {}, onProgress) {
    this.#setProgress(onProgress || null);
    return this.#call("reinterpret", { schema, materializers, progress: this.#progress });
  }

  /**
   * Calls callback with the query's rows now and whenever a table it reads
   * changes. Returns a function that stops the watch.
   */
  watch(sql, params, callback, onError) {
    if (typeof params === "function") [params, callback, onError] = [undefined, params, callback];
    let stopped = false;
    const key = ++keys;
    // Listen first: the first rows may come before the call returns.
    const off = this.#e.on("watch", key, (res) => {
      if (stopped) return;
      if (res.error) onError ? onError(toError(res.error)) : console.error("factlog watch:", res.error.message);
      else callback(toRows(res));
    });
    const stop = () => {
      if (stopped) return;
      stopped = true;
      this.#stops.delete(stop);
      off();
      if (!this.#closed) this.#e.call("unwatch", { watch: key }).catch(() => {});
    };
    this.#stops.add(stop);
    this.#call("watch", { sql, params: params ?? null, watch: key }).catch((err) => {
      this.#stops.delete(stop);
      stopped = true;
      off();
      if (onError) onError(err);
      else console.error("factlog watch:", err.message);
    });
    return stop;
  }

  /**
   * Keeps this store in sync with a room of a relay until close(): it
   * joins from where it left off, receives what the room holds, publishes
   * what the room lacks, and reconnects with backoff after faults. url is
   * ws[s]://host/v1/rooms/ROOM (http[s] works too).
   */
  connect(url, { token, onStatus, WebSocket } = {}) {
    if (this.#closed) throw closedError();
    const key = ++keys;
    const forget = this.#e.webSocket(key, WebSocket);
    const link = new Link(this.#e, key, onStatus, forget);
    const wsURL = String(url).replace(/^http/, "ws");
    this.#links.add(link);
    link._started = this.#call("connect", { url: wsURL, token: token || "", link: key }).catch((err) => {
      this.#links.delete(link);
      link._fail(err);
    });
    return link;
  }

  /** Closes the store. Later calls reject with code CLOSED. */
  async close() {
    if (this.#closed) return;
    for (const stop of [...this.#stops]) stop();
    await Promise.all([...this.#links].map((l) => l.close()));
    this.#closed = true;
    this.#offProgress();
    await this.#e.call("close", { db: this.#db }, undefined, persistentName(this.name));
  }
}

/** A live link between a store and a relay room; see Database.connect. */
class Link {
  #e;
  #key;
  #listeners = new Set();
  #off;
  #forget;
  #closed = false;

  constructor(engine, key, onStatus, forget) {
    this.#e = engine;
    this.#key = key;
    this.#forget = forget;
    /** The latest status: { state, error?, notice?, cursor }. */
    this.status = { state: "connecting", cursor: 0 };
    if (onStatus) this.#listeners.add(onStatus);
    this.#off = engine.on("link", key, (st) => {
      if (this.#closed) return;
      this.status = st;
      for (const fn of this.#listeners) fn(st);
    });
  }

  _fail(err) {
    this.#off();
    this.#forget();
    this.status = { state: "closed", error: err.message, cursor: 0 };
    for (const fn of this.#listeners) fn(this.status);
  }

  /** Calls fn with every status change; returns a function that stops it. */
  onStatus(fn) {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Ends the link. */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    await this._started;
    this.#off();
    await this.#e.call("disconnect", { link: this.#key }).catch(() => {});
    this.#forget();
    this.status = { ...this.status, state: "closed" };
    for (const fn of this.#listeners) fn(this.status);
  }
}
