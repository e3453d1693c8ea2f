// factlog — an event log that is a CRDT, in SQLite, in the browser and in
// Node. factlog.d.ts is the API; README.md the tour.
//
// In a browser the WebAssembly runs in one dedicated Worker per page
// (engine.js, worker.js), and a named store is shared by every tab that
// opens it: one tab leads and runs it, the others call through it
// (tabs.js). In Node it runs in-process: Node loads node.js, which
// installs that engine and exports this API. Every argument is checked
// here (values.js) and every rejection is a FactlogError (errors.js).
import { FactlogError, toError, closedError } from "./errors.js";
import { engine, isNode } from "./engine.js";
import { shareable, join } from "./tabs.js";
import * as check from "./values.js";

export { FactlogError };

const storeKind = { open: "open", close: "close", handle: "db" };
const registersKind = { open: "openRegisters", close: "registers.close", handle: "registers" };

/**
 * openPort opens a store (or registers) and returns the port its object
 * calls through: shared with the other tabs for a named store in a
 * browser, this page's or process's own otherwise.
 */
async function openPort(kind, name, args, { onProgress, signal }) {
  if (!isNode && shareable(name)) return join(kind, name, args, { onProgress, signal });
  const e = await engine();
  const progressKey = e.key();
  const port = new DirectPort(e, kind, progressKey, onProgress);
  try {
    const { result } = await e.call(kind.open, { ...args, progress: progressKey }, { signal });
    port.attach(result);
    return port;
  } catch (err) {
    port.stop();
    throw err;
  }
}

/** DirectPort is a store of this page or process only (tabs.js has the shared one). */
class DirectPort {
  #e;
  #kind;
  #handle;
  #onProgress;
  #offProgress;
  role = "leader";
  opened = null;

  constructor(e, kind, progressKey, onProgress) {
    this.#e = e;
    this.#kind = kind;
    this.#onProgress = onProgress;
    this.progressKey = progressKey;
    this.#offProgress = e.on("progress", progressKey, (p) => this.#onProgress && this.#onProgress(p.done, p.total));
  }

  attach(result) {
    const { [this.#kind.handle]: handle, ...opened } = result;
    this.#handle = handle;
    this.opened = opened;
  }

  setProgress(fn) {
    this.#onProgress = fn;
  }

  key() {
    return this.#e.key();
  }

  on(kind, key, fn) {
    return this.#e.on(kind, key, fn);
  }

  call(method, args, opts) {
    return this.#e.call(method, { ...args, [this.#kind.handle]: this.#handle }, opts);
  }

  webSocket(key, ctor) {
    return this.#e.webSocket(key, ctor);
  }

  onRole() {
    return () => {};
  }

  onDeath(fn) {
    return this.#e.onDeath(fn);
  }

  stop() {
    this.#offProgress();
  }

  async close() {
    this.stop();
    if (this.#e.dead) return;
    await this.#e.call(this.#kind.close, { [this.#kind.handle]: this.#handle });
  }
}

function rows({ columns, rows }) {
  return rows.map((r) => {
    const o = {};
    columns.forEach((c, i) => {
      const v = r[i];
      o[c] = v === null || typeof v !== "object" ? v : "$blob" in v ? check.fromBase64(v.$blob) : BigInt(v.$int);
    });
    return o;
  });
}

/**
 * Opens a store. See factlog.d.ts.
 * @param {import("./factlog").OpenOptions} [options]
 */
export async function open(options) {
  const o = check.options(options, "open", ["name", "schema", "materializers", "onProgress", "signal"]);
  const { name = ":memory:", schema = "", materializers = {} } = o;
  check.storeName(name, "open");
  check.interpretation(schema, materializers, "open");
  const onProgress = check.callback(o.onProgress, "open", "onProgress");
  const signal = check.signal(o.signal, "open");
  const port = await openPort(storeKind, name, { name, schema, materializers }, { onProgress, signal });
  if (port.opened.warning) console.warn("factlog:", port.opened.warning);
  return new Database(port, name);
}

/**
 * Opens (or creates) a table of last-write-wins registers, the seed's
 * first system, for comparison with the event log. See factlog.d.ts.
 */
export async function openRegisters(options) {
  const o = check.options(options, "openRegisters", ["name", "table", "columns", "signal"]);
  const { name = ":memory:", table, columns } = o;
  check.storeName(name, "openRegisters");
  check.text(table, "openRegisters", "table");
  if (!Array.isArray(columns) || columns.some((c) => typeof c !== "string")) {
    throw new FactlogError("INVALID_ARGUMENT", `openRegisters: columns is ${check.describe(columns)}: pass an array of column names`);
  }
  const port = await openPort(registersKind, name, { name, table, columns }, { signal: check.signal(o.signal, "openRegisters") });
  if (port.opened.warning) console.warn("factlog:", port.opened.warning);
  return new Registers(port, name);
}

/** A handle on an open store or table of registers: its port, and closing. */
class Handle {
  #port;
  #closed = false;

  constructor(port, name) {
    this.#port = port;
    /** The name it was opened with (":memory:" for one that is not persisted). */
    this.name = name;
    /** Whether the data outlives the page or process. */
    this.persisted = port.opened.persisted;
    /** Why a named store is not persisted, if it is not. */
    this.warning = port.opened.warning || null;
  }

  /** "leader" if this tab (or process) runs the store, "follower" if it calls through another tab. */
  get role() {
    return this.#port.role;
  }

  /**
   * Calls fn with the new role whenever it changes (a follower leads when
   * the leader's tab goes); returns a function that stops it.
   */
  onRole(fn) {
    if (typeof fn !== "function") throw new FactlogError("INVALID_ARGUMENT", `onRole: pass a function, not ${check.describe(fn)}`);
    return this.#port.onRole((role) => {
      try {
        fn(role);
      } catch (err) {
        console.error("factlog: an onRole callback threw:", err);
      }
    });
  }

  get _port() {
    return this.#port;
  }

  get _closed() {
    return this.#closed;
  }

  async _call(method, args = {}, opts) {
    if (this.#closed) throw closedError();
    const { result, bytes } = await this.#port.call(method, args, opts);
    return bytes ?? result;
  }

  /** Closes it; later calls reject with code CLOSED. Closing twice is fine. */
  async close() {
    if (this.#closed) return;
    await this._beforeClose();
    this.#closed = true;
    await this.#port.close();
  }

  async _beforeClose() {}

  /** `await using db = await open(…)` closes it at the end of the block. */
  async [Symbol.asyncDispose ?? Symbol.for("Symbol.asyncDispose")]() {
    await this.close();
  }
}

class Database extends Handle {
  #stops = new Set();
  #links = new Set();

  constructor(port, name) {
    super(port, name);
    /** This replica's id. */
    this.peer = port.opened.peer;
  }

  /** Appends an event; returns it. */
  async append(item, type, ...value) {
    if (value.length > 1) throw new FactlogError("INVALID_ARGUMENT", "append takes (item, type, value): pass one value (an object or array for several fields)");
    const v = value.length ? check.jsonValue(value[0], "append") : null;
    const [event] = await this._call("append", { events: [{ item: check.item(item, "append"), type: check.text(type, "append", "type"), value: v }] });
    return event;
  }

  /** Appends several events in one transaction; returns them. */
  async appendMany(events) {
    if (!Array.isArray(events)) throw new FactlogError("INVALID_ARGUMENT", `appendMany takes an array of { item, type, value }, not ${check.describe(events)}`);
    const list = Array.from(events, (e, i) => { // not map, which skips an array's holes
      const where = `appendMany: event ${i}`;
      if (typeof e !== "object" || e === null) throw new FactlogError("INVALID_ARGUMENT", `${where} is ${check.describe(e)}: pass { item, type, value }`);
      const o = check.options(e, where, ["item", "type", "value"]);
      return { item: check.item(o.item, where), type: check.text(o.type, where, "type"), value: "value" in o ? check.jsonValue(o.value, where) : null };
    });
    if (list.length === 0) return [];
    return this._call("append", { events: list });
  }

  /** Runs one SQL statement; returns its rows as objects. */
  async query(sql, params, options) {
    const o = check.options(options, "query", ["signal"]);
    return rows(await this._call("query", { sql: check.text(sql, "query", "sql"), params: check.sqlParams(params, "query") }, { signal: check.signal(o.signal, "query") }));
  }

  /** The events (about one item, or all), in replay order. */
  async events(filter, options) {
    const f = check.options(filter, "events", ["item"]);
    const o = check.options(options, "events", ["signal"]);
    const args = f.item === undefined ? {} : { item: check.item(f.item, "events") };
    return this._call("events", args, { signal: check.signal(o.signal, "events") });
  }

  /** The ids of the DAG's leaves. */
  heads() {
    return this._call("heads");
  }

  /** { "<peer>:<tip id>": seq }: the tips of every author's chains held. */
  versionVector() {
    return this._call("versionVector");
  }

  /** A batch of the events a replica holding vv lacks. */
  async exportSince(vv, options) {
    const o = check.options(options, "exportSince", ["signal"]);
    return this._call("exportSince", { vv: check.versionVector(vv, "exportSince") }, { signal: check.signal(o.signal, "exportSince") });
  }

  /** Imports a batch; returns { added, pending, duplicates, refused, reapplied, skipped, dropped }. */
  async import(batch, options) {
    const o = check.options(options, "import", ["signal"]);
    // A copy: the buffer may be transferred to the Worker, and it is the caller's.
    return this._call("import", {}, { bytes: check.bytes(batch, "import"), signal: check.signal(o.signal, "import") });
  }

  /** Events waiting for missing parents or a signature: { events, bytes, unsigned, missing }. */
  pending() {
    return this._call("pending");
  }

  /** The forks held: [{ peer, seq, ids }], an author's seq held by more than one event. */
  forks() {
    return this._call("forks");
  }

  /** Re-reads the whole log with another schema and materializers. */
  async reinterpret(interpretation, options) {
    const i = check.options(interpretation, "reinterpret", ["schema", "materializers"]);
    const { schema = "", materializers = {} } = i;
    check.interpretation(schema, materializers, "reinterpret");
    const o = typeof options === "function" ? { onProgress: options } : check.options(options, "reinterpret", ["onProgress", "signal"]);
    const port = this._port;
    port.setProgress(check.callback(o.onProgress, "reinterpret", "onProgress"));
    await this._call("reinterpret", { schema, materializers, progress: port.progressKey }, { signal: check.signal(o.signal, "reinterpret") });
  }

  /**
   * Calls callback with the query's rows now and whenever a table it
   * reads changes. Returns a function that stops the watch.
   */
  watch(sql, params, callback, onError) {
    if (typeof params === "function") [params, callback, onError] = [undefined, params, callback];
    if (this._closed) throw closedError();
    check.text(sql, "watch", "sql");
    const p = check.sqlParams(params, "watch");
    if (typeof callback !== "function") throw new FactlogError("INVALID_ARGUMENT", `watch: the callback is ${check.describe(callback)}: pass a function of the rows`);
    check.callback(onError, "watch", "onError");
    const port = this._port;
    const key = port.key();
    let stopped = false;
    const fail = (err) => (onError ? onError(err) : console.error("factlog watch:", err.message));
    // Listen first: the first rows may come before the call returns.
    const off = port.on("watch", key, (res) => {
      if (stopped) return;
      if (res.error) fail(toError(res.error));
      else callback(rows(res));
    });
    const offDeath = port.onDeath((err) => !stopped && fail(err));
    const stop = () => {
      if (stopped) return;
      stopped = true;
      this.#stops.delete(stop);
      off();
      offDeath();
      if (!this._closed) port.call("unwatch", { watch: key }).catch(() => {});
    };
    this.#stops.add(stop);
    port.call("watch", { sql, params: p, watch: key }).catch((err) => {
      if (stopped) return;
      stop();
      fail(err);
    });
    return stop;
  }

  /**
   * Keeps this store in sync with a room of a relay until close(): it
   * joins from where it left off, receives what the room holds, publishes
   * what the room lacks, and reconnects with backoff after faults. url is
   * ws[s]://host/v1/rooms/ROOM (http[s] works too). In a browser, every
   * tab of a store shares one link per URL and token. A URL that names no
   * room (link.Start), or a token the relay refuses, ends the link:
   * "closed", with the code INVALID_ARGUMENT.
   */
  connect(url, options) {
    if (this._closed) throw closedError();
    const o = check.options(options, "connect", ["token", "onStatus", "WebSocket"]);
    if (typeof url !== "string" || !/^(wss?|https?):\/\/./i.test(url)) {
      throw new FactlogError("INVALID_ARGUMENT", `connect: the URL is ${check.describe(url)}: pass ws[s]://host/v1/rooms/ROOM`);
    }
    if (o.token !== undefined && typeof o.token !== "string") throw new FactlogError("INVALID_ARGUMENT", `connect: token is ${check.describe(o.token)}: pass a string`);
    const onStatus = check.callback(o.onStatus, "connect", "onStatus");
    if (o.WebSocket !== undefined && typeof o.WebSocket !== "function") throw new FactlogError("INVALID_ARGUMENT", `connect: WebSocket is ${check.describe(o.WebSocket)}: pass a WebSocket class (such as ws's)`);
    const port = this._port;
    const key = port.key();
    const forget = port.webSocket(key, o.WebSocket);
    const link = new Link(port, key, onStatus, forget, () => this.#links.delete(link));
    this.#links.add(link);
    link._started = port.call("connect", { url: url.replace(/^http/i, "ws"), token: o.token || "", link: key }).then(
      () => {},
      (err) => link._fail(err),
    );
    return link;
  }

  async _beforeClose() {
    for (const stop of [...this.#stops]) stop();
    await Promise.all([...this.#links].map((l) => l.close()));
  }
}

/** A live link between a store and a relay room; see Database.connect. */
class Link {
  #port;
  #key;
  #listeners = new Set();
  #off;
  #forget;
  #gone;
  #closed = false;
  #released = null; // the release under way, once closed

  constructor(port, key, onStatus, forget, gone) {
    this.#port = port;
    this.#key = key;
    this.#forget = forget;
    this.#gone = gone;
    /** The latest status: { state, error?, code?, notice?, cursor }. */
    this.status = { state: "connecting", cursor: 0 };
    if (onStatus) this.#listeners.add(onStatus);
    this.#off = port.on("link", key, (st) => {
      if (this.#closed) return;
      this.#set(st);
      // The engine ended the link for good (the relay refused its token):
      // released as by close(), its status kept.
      if (st.state === "closed") this.#release();
    });
  }

  #set(st) {
    this.status = st;
    for (const fn of this.#listeners) {
      try {
        fn(st);
      } catch (err) {
        console.error("factlog: an onStatus callback threw:", err);
      }
    }
  }

  _fail(err) {
    this.#closed = true;
    this.#off();
    this.#forget();
    this.#gone();
    this.#set({ state: "closed", error: err.message, code: err.code, cursor: this.status.cursor });
  }

  /** Calls fn with every status change; returns a function that stops it. */
  onStatus(fn) {
    if (typeof fn !== "function") throw new FactlogError("INVALID_ARGUMENT", `onStatus: pass a function, not ${check.describe(fn)}`);
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Ends the link (in a browser: this tab's share of it). */
  async close() {
    if (this.#closed) return this.#released;
    await this.#release();
    this.#set({ ...this.status, state: "closed" });
  }

  #release() {
    this.#closed = true;
    this.#released = (async () => {
      await this._started;
      this.#off();
      await this.#port.call("disconnect", { link: this.#key }).catch(() => {});
      this.#forget();
      this.#gone();
    })();
    return this.#released;
  }
}

class Registers extends Handle {
  /** Writes a column of a row; returns the register { id, column, value, clock }. */
  async set(id, column, ...value) {
    const v = value.length ? check.jsonValue(value[0], "set") : null;
    return this._call("registers.set", { id: check.item(id, "set"), column: check.text(column, "set", "column"), value: v });
  }

  /** The rows as objects: { id, ...columns }. */
  async rows() {
    return rows(await this._call("registers.rows"));
  }

  /** Every register: [{ id, column, value, clock }], by row and column. */
  state() {
    return this._call("registers.state");
  }

  /** The whole state, to merge into another replica. */
  exportState() {
    return this._call("registers.export");
  }

  /** Merges another replica's state; returns { changed }. */
  async merge(state) {
    return this._call("registers.merge", {}, { bytes: check.bytes(state, "merge") });
  }
}
