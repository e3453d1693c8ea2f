// tabs.js: one store, many tabs. Every tab of an origin that opens the
// same named store joins one coordinator per store name:
//
//   - Leader election by a Web Lock ("factlog:<name>"): the tab holding it
//     runs the store in its Worker (which keeps the OPFS access handle);
//     every other tab queues for the lock and is a follower meanwhile.
//   - Followers send their calls to the leader over a BroadcastChannel and
//     get the same results, errors and codes; the leader runs them in its
//     engine as it runs its own tab's.
//   - Watches live in the leader's engine, one per watch of any tab, and
//     their rows go to the tab that asked.
//   - Links are shared: one per (relay URL, token), run by the leader,
//     with its status sent to every tab that connected.
//   - Handoff: when the leader closes, crashes or is discarded, its lock is
//     released, the next tab in the queue opens the store and announces
//     itself, and every tab sends it again what the old leader had not
//     answered, and its watches and links. Appends carry a request key
//     that makes the retry idempotent (wasm/jsapi/requests.go): an append
//     is applied once, and an acknowledged one is never lost.
//
// Each tab holds a Web Lock of its own ("factlog-tab:<id>") while it
// lives; the leader queues for the locks of its followers, and so learns
// when one goes away without saying so, and drops its watches and links.
//
// A page that navigates away may be kept, frozen, in the browser's
// back/forward cache, where it runs nothing: a leader frozen with the lock
// and its Worker's file handle would keep every other tab waiting. So a
// page that leaves stops its Worker (pagehide) if it leads or is opening a
// store, and every one of its stores stops queueing for the lead and leaves;
// if the page comes back (pageshow), its stores join again as at the start
// and send what was in flight to whoever leads.
//
// Messages on the channel "factlog:<name>" carry {t, from, to}: hello (who
// leads?), leader {term} (I do, since term), call {id, method, args, bytes}, cancel {id},
// reply {id, result, bytes} or {id, error}, notify {kind, key, value},
// interpretation {schema, materializers} (after a reinterpret), leave.
import { FactlogError, toError } from "./errors.js";
import { engine, aborted, stopEngine, loadFailed } from "./engine.js";

/** shareable reports whether a named store can be shared between tabs here. */
export function shareable(name) {
  return (
    name !== ":memory:" &&
    typeof navigator === "object" &&
    !!navigator.locks &&
    typeof BroadcastChannel === "function" &&
    !!(navigator.storage && navigator.storage.getDirectory)
  );
}

const tab = typeof crypto === "object" && crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2);
let tabLock;

/** holdTabLock takes this tab's lifetime lock, once. */
function holdTabLock() {
  tabLock ??= new Promise((held) => navigator.locks.request(`factlog-tab:${tab}`, () => (held(), new Promise(() => {}))));
  return tabLock;
}

const coordinators = new Map(); // lock name → Coordinator

if (typeof window === "object" && typeof window.addEventListener === "function") {
  window.addEventListener("pagehide", (ev) => {
    if (!ev.persisted) return; // unloaded: the browser releases everything
    let held = false;
    for (const c of coordinators.values()) held = c.freeze() || held;
    if (held) stopEngine();
  });
  window.addEventListener("pageshow", (ev) => {
    if (ev.persisted) for (const c of coordinators.values()) c.thaw();
  });
}

/**
 * join opens a store (or a table of registers) shared with the other tabs,
 * and returns the port the Database talks through.
 * @param {{ open: string, close: string, handle: string }} kind the methods that open and close it, and the handle's argument
 * @param {string} name
 * @param {object} args the open call's arguments (name, interpretation…)
 * @param {{ onProgress?: Function, signal?: AbortSignal | null }} opts
 */
export async function join(kind, name, args, { onProgress, signal } = {}) {
  await holdTabLock();
  const lock = `factlog:${name}`;
  let c = coordinators.get(lock);
  if (!c || c.closed) {
    c = new Coordinator(lock, kind, args);
    coordinators.set(lock, c);
  }
  return c.attach(args, onProgress, signal);
}

/** fingerprint is the interpretation part of an open call's arguments, to compare two. */
const fingerprint = (a) => JSON.stringify([a.schema ?? "", Object.entries(a.materializers ?? {}).sort(), a.table ?? "", a.columns ?? []]);

/** differs says how an open call's arguments differ from those the store is open with. */
function differs(args, open) {
  const what = (a) => (a.table === undefined ? "an event store" : `registers of table "${a.table}" with columns ${JSON.stringify(a.columns)}`);
  if (args.table === undefined && open.table === undefined) return "with a different schema or materializers";
  return `as ${what(open)}, not ${what(args)}`;
}

class Coordinator {
  closed = false; // closing or closed: an open in this tab makes a new Coordinator
  #finishing = false; // closing as a follower, its writes in flight not yet answered: it still follows a new leader, or leads
  #gone = false; // closed: the channel is no longer read
  role = "follower";
  #reported = "follower"; // the role onRole last reported
  #term = null; // the leader's term: its tab id and a count, new each time a tab takes the lead
  #lock;
  #kind;
  #args; // the open call's arguments, kept current (reinterpret changes them)
  #channel = null; // open unless the page is frozen or the store closed
  #users = new Set(); // the ports of this tab on this store
  #inflight = new Map(); // call id → { msg, signal, settled, resolve, reject }
  #sticky = new Map(); // "kind:key" → the call that registered a watch or link, resent to a new leader
  #registered = new Set(); // "kind:key" of the watches and links this Coordinator registered: what its leave drops
  #listeners = new Map(); // "kind:key" → fn, this tab's notifications
  #leaderTab = null; // the leader's tab id
  #terms = 0; // this tab's terms as leader
  #release = null; // releases the election lock while this tab holds it (leading, or opening the store to lead)
  #opening = null; // aborts the store's open while this tab opens it to lead
  #queued = new AbortController(); // the election lock request
  #service = null; // when leader
  #opened = null; // { peer, persisted, warning }
  #dead = null; // why this tab can no longer reach the store
  #hidden = false; // the page is in the back/forward cache
  #rejoin = false; // back from the back/forward cache: the next leader checks this tab's interpretation again

  constructor(lock, kind, args) {
    this.#lock = lock;
    this.#kind = kind;
    this.#args = args;
    this.#listen();
    this.#queue();
    this.#post({ t: "hello", from: tab });
    // A follower starts its engine too, so that a handoff does not wait
    // for the wasm to compile and start.
    engine().catch(() => {});
  }

  /** attach is one open() of this tab: it waits for a leader and joins. */
  async attach(args, onProgress, signal) {
    if (this.#dead) throw this.#dead;
    if (fingerprint(args) !== fingerprint(this.#args)) {
      throw new FactlogError("LOCKED", `store "${args.name}" is open in this page ${differs(args, this.#args)}; close it first`);
    }
    const port = new Port(this, onProgress);
    this.#users.add(port);
    try {
      const { result } = await this.call("join", args, { signal });
      this.#opened = result;
      return port;
    } catch (err) {
      this.#users.delete(port);
      port.stop();
      if (this.#users.size === 0) await this.#shutdown();
      throw err;
    }
  }

  get opened() {
    return this.#opened;
  }

  /** args are the open call's arguments, with the current interpretation. */
  get args() {
    return this.#args;
  }

  key() {
    return ++keys;
  }

  /** on listens to this tab's notifications of one key. */
  on(kind, key, fn) {
    const k = kind + ":" + key;
    this.#listeners.set(k, fn);
    return () => this.#listeners.get(k) === fn && this.#listeners.delete(k);
  }

  #deliver(kind, key, value) {
    const fn = this.#listeners.get(kind + ":" + key);
    if (!fn) return;
    try {
      fn(value);
    } catch (err) {
      console.error(`factlog: a ${kind} callback threw:`, err);
    }
  }

  /**
   * call sends a call to the leader (itself, when this tab leads), and
   * sends it again to the next leader if this one goes away first.
   */
  call(method, args, { bytes, signal } = {}) {
    if (this.#dead) return Promise.reject(this.#dead);
    if (signal && signal.aborted) return Promise.reject(aborted(method));
    const id = ++calls;
    // A follower's append carries a request key, which makes its retry
    // by the next leader idempotent (at the price of a journal write).
    // The leader's own appends need none: its tab goes with its engine.
    if (method === "append" && this.role !== "leader") args = { ...args, request: `${tab}:${id}` };
    const msg = { t: "call", from: tab, id, method, args, bytes };
    const sticky = stickyKey(method, args);
    if (sticky) this.#sticky.set(sticky, msg), this.#registered.add(sticky);
    for (const k of unsticks(method, args)) this.#sticky.delete(k), this.#registered.delete(k);
    const p = new Promise((resolve, reject) => {
      const onAbort = () => this.#cancel(id);
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => {
        this.#inflight.delete(id);
        signal?.removeEventListener("abort", onAbort);
      };
      this.#inflight.set(id, { msg, signal, resolve: (v) => (done(), resolve(v)), reject: (e) => (done(), reject(e)) });
      this.#send(msg);
    });
    const c = this.#inflight.get(id);
    if (c) c.settled = p.then(() => {}, () => {});
    return p;
  }

  /** #listen opens the store's channel: a frozen page keeps none, as a message to it would make the browser discard it. */
  #listen() {
    this.#channel = new BroadcastChannel(this.#lock);
    this.#channel.onmessage = ({ data }) => this.#receive(data);
  }

  /** #post sends a message to the store's other tabs, unless this page is frozen or the store closed. */
  #post(msg) {
    this.#channel?.postMessage(msg);
  }

  #send(msg) {
    const c = this.#inflight.get(msg.id);
    if (c && (this.role === "leader" || this.#term)) c.sent = true;
    if (this.role === "leader") {
      // The engine takes the bytes (transferred to its Worker): a copy,
      // as the call is sent again if the Worker dies first.
      this.#service.handle(tab, msg.bytes ? { ...msg, bytes: msg.bytes.slice() } : msg);
    } else if (this.#term) {
      this.#post({ ...msg, to: this.#leaderTab });
    } // else: sent when a leader announces itself
  }

  #cancel(id) {
    const c = this.#inflight.get(id);
    if (!c) return;
    if (this.role === "leader") this.#service.cancel(tab, id);
    else if (this.#term) this.#post({ t: "cancel", from: tab, to: this.#leaderTab, id });
    else if (!mayBeApplied(c)) c.reject(aborted(c.msg.method)); // nobody runs it yet
    // else: a write a leader that went away may have applied; the next
    // leader's answer (a retry) says what was done.
  }

  #answer(id, error, result, bytes) {
    const c = this.#inflight.get(id);
    if (!c) return;
    if (error) c.reject(toError(error));
    else c.resolve({ result, bytes: bytes ?? null });
  }

  /**
   * #resend sends a new leader what the last one did not answer, and
   * re-registers watches and links. A call aborted meanwhile (its cancel
   * went to the leader that went away) is not sent: it rejects — but a
   * write the last leader may have applied (an append, an import, a
   * reinterpret) goes as a retry, which answers what was done: ABORTED
   * would say that nothing was kept.
   */
  #resend() {
    if (this.#rejoin && this.role !== "leader") {
      // Frozen, this tab missed what the channel said: the store may have
      // been reinterpreted (another version of the application, or a
      // reinterpret in another tab). The leader checks its
      // interpretation again before its other calls, and refuses them if
      // it differs.
      this.call("join", this.#args).catch((err) => {
        if (err.code === "LOCKED") this.#refused(err);
      });
    }
    this.#rejoin = false;
    const pending = new Set();
    // Joins first: a leader refuses the calls of a tab whose join it refused.
    const inflight = [...this.#inflight.values()].sort((a, b) => (b.msg.method === "join") - (a.msg.method === "join"));
    for (const c of inflight) {
      if (c.signal?.aborted && !c.msg.args.request && !mayBeApplied(c)) {
        c.reject(aborted(c.msg.method));
        continue;
      }
      // A keyed append is answered from its journal; a register set again
      // is not set anew where it holds the value already.
      if (c.msg.args.request || c.msg.method === "registers.set") c.msg.args = { ...c.msg.args, retry: true };
      pending.add(c.msg);
      this.#send(c.msg);
    }
    for (const msg of this.#sticky.values()) if (!pending.has(msg)) this.#send({ ...msg, id: ++calls });
  }

  /**
   * #refused: the leader refused this tab's interpretation when it came
   * back from the back/forward cache. Its calls in flight reject (sent
   * before it was frozen, they may or may not have been applied), and so
   * do later ones; an open() in this tab starts afresh.
   */
  #refused(err) {
    if (this.#dead) return;
    this.#dead = new FactlogError(
      "LOCKED",
      `store "${this.#args.name}" was opened another way (another schema or materializers) while this page was in the back/forward cache; reload the page (${err.message})`,
      { cause: err },
    );
    for (const c of [...this.#inflight.values()]) c.reject(this.#dead);
    for (const p of this.#users) p.died(this.#dead);
    this.#shutdown();
  }

  #receive(m) {
    // Closing, a tab still reads its channel: its calls' answers come, and
    // as a leader it finishes its followers' calls, which they may cancel.
    if (this.#gone || (m.to && m.to !== tab)) return;
    switch (m.t) {
      case "hello":
        if (this.role === "leader" && !this.closed) this.#post({ t: "leader", from: tab, term: this.#term });
        break;
      case "leader":
        // A new term (even of the same tab, which lost its Worker and
        // opened the store again) has not seen what the last one had.
        if (m.term !== this.#term && this.role !== "leader" && (!this.closed || this.#finishing)) {
          this.#term = m.term;
          this.#leaderTab = m.from;
          this.#resend();
          this.#roleChanged();
        }
        break;
      case "call":
        if (this.role === "leader") this.#service.handle(m.from, m);
        break; // a leader that is closing does not answer: the caller resends to the next
      case "cancel":
        if (this.role === "leader") this.#service.cancel(m.from, m.id);
        break;
      case "reply":
        this.#answer(m.id, m.error, m.result, m.bytes);
        break;
      case "notify":
        this.#deliver(m.kind, m.key, m.value);
        break;
      case "interpretation":
        this.#args = { ...this.#args, schema: m.schema, materializers: m.materializers };
        break;
      case "leave":
        if (this.role === "leader") this.#service.drop(m.from, new Set(m.keys));
        break;
    }
  }

  /** #reply answers a call of tab from (this tab's own, or a follower's). */
  reply(from, msg) {
    if (from === tab) this.#answer(msg.id, msg.error, msg.result, msg.bytes);
    else this.#post({ t: "reply", to: from, ...msg });
  }

  /** notify sends a notification to a tab. */
  notify(to, kind, key, value) {
    if (to === tab) this.#deliver(kind, key, value);
    else this.#post({ t: "notify", to, kind, key, value });
  }

  /** interpretationChanged tells every tab the store now reads its log another way. */
  interpretationChanged(schema, materializers) {
    this.#args = { ...this.#args, schema, materializers };
    this.#post({ t: "interpretation", from: tab, schema, materializers });
  }

  /**
   * #queue queues for the lock: granted now if no tab holds it, else when
   * the leader goes away. The lock is held until #letGo.
   */
  #queue() {
    this.#queued = new AbortController();
    navigator.locks
      .request(this.#lock, { signal: this.#queued.signal }, () => new Promise((release) => {
        this.#release = release;
        this.#lead(release);
      }))
      .catch(() => {}); // aborted when this tab closes the store or its page is frozen
  }

  /** #letGo releases the lock, if this tab holds it. */
  #letGo() {
    const release = this.#release;
    this.#release = null;
    release?.();
  }

  /**
   * #lead runs when this tab is granted the lock: it opens the store and
   * serves every tab. release is this grant's: a page frozen and back may
   * hold a newer one by the time an older #lead ends.
   */
  async #lead(release) {
    const mine = () => this.#release === release;
    const stale = () => (this.closed && !this.#finishing) || this.#hidden || !mine();
    if (stale()) return mine() && this.#letGo();
    let e, handle, opened;
    const opening = (this.#opening = new AbortController());
    try {
      ({ e, handle, opened } = await openRetrying(this.#kind, this.#args, stale, opening.signal, (p) => {
        for (const port of this.#users) port.progress(p);
      }));
    } catch (err) {
      if (!mine()) return; // the page was frozen: it joins again if it comes back
      // This tab cannot run the store: what waits here fails with why,
      // and the lock goes to the next tab.
      this.#letGo();
      this.#dead = toError(err);
      for (const c of [...this.#inflight.values()]) c.reject(this.#dead);
      for (const p of this.#users) p.died(this.#dead);
      this.#shutdown();
      return;
    }
    if (this.#opening === opening) this.#opening = null;
    if (stale()) {
      await e.call(this.#kind.close, { [this.#kind.handle]: handle }).catch(() => {});
      if (mine()) this.#letGo();
      return;
    }
    this.#service = new Service(this, e, this.#kind, handle, opened);
    this.role = "leader";
    this.#term = `${tab}:${++this.#terms}`;
    this.#leaderTab = tab;
    e.onDeath((err) => this.#engineDied(err));
    this.#post({ t: "leader", from: tab, term: this.#term });
    this.#resend();
    this.#roleChanged();
  }

  /**
   * freeze: the page is going into the back/forward cache. This store
   * stops queueing for the lead and leaves its leader; if it holds the
   * lock it lets it go, and returns true: then the caller stops the page's
   * Worker, whose file handle the next leader needs.
   */
  freeze() {
    if (this.closed && !this.#finishing) return false;
    this.#hidden = true;
    this.#queued.abort();
    if (this.role !== "leader" && this.#term) this.#post({ t: "leave", from: tab, to: this.#leaderTab, keys: [...this.#registered] });
    this.#channel.close();
    this.#channel = null;
    const held = this.#release !== null;
    this.#letGo();
    return held;
  }

  /** thaw: the page is back; this store joins again, as when it opened. */
  thaw() {
    if ((this.closed && !this.#finishing) || !this.#hidden) return;
    this.#hidden = false;
    this.#term = this.#leaderTab = null; // the next leader's announce resends what is in flight
    this.#rejoin = true;
    this.#listen();
    this.#queue();
    this.#post({ t: "hello", from: tab });
  }

  /**
   * #engineDied: the leader's Worker stopped. This tab gives up the lead
   * (another tab, or this one with a new Worker, takes it) and sends its
   * calls again to whoever leads next.
   */
  #engineDied(err) {
    if (this.role !== "leader") return;
    // This tab's own appends had no request key: whether the engine
    // applied them before it died is unknown, so they are not retried.
    for (const c of [...this.#inflight.values()]) {
      if (c.msg.method === "append" && !c.msg.args.request) {
        c.reject(new FactlogError("UNAVAILABLE", `factlog's Worker stopped during this append, which may or may not have been applied (${err.message})`));
      }
    }
    this.#service.stop();
    this.#service = null;
    this.role = "follower";
    this.#term = this.#leaderTab = null;
    this.#letGo();
    if (!this.#hidden) this.#queue();
    this.#roleChanged();
  }

  /** #roleChanged tells this tab's ports of a new role: not of a new leader, to a follower that stays one. */
  #roleChanged() {
    if (this.role === this.#reported) return;
    this.#reported = this.role;
    for (const p of this.#users) p.roleChanged(this.role);
  }

  /** detach ends one open() of this tab. */
  async detach(port) {
    this.#users.delete(port);
    for (const k of port.keys) this.#sticky.delete(k);
    if (this.#users.size === 0) await this.#shutdown();
  }

  async #shutdown() {
    if (this.closed) return;
    this.closed = true;
    coordinators.delete(this.#lock);
    if (this.role !== "leader") {
      // A write in flight is answered first: rejected as CLOSED while
      // the leader applies it, it would be written again by an
      // application that retries. Reads stop now. Until the writes are
      // answered this tab stays in the queue for the lead and follows a
      // new leader: if the leader goes meanwhile, the writes go to the
      // next one as retries — this tab, if it is the last.
      const writes = [];
      for (const c of [...this.#inflight.values()]) {
        if (closeWaitsFor.has(c.msg.method)) {
          writes.push(c.settled);
        } else {
          if (this.#term) this.#post({ t: "cancel", from: tab, to: this.#leaderTab, id: c.msg.id });
          c.reject(new FactlogError("CLOSED", "the store is closed"));
        }
      }
      if (writes.length) {
        this.#finishing = true;
        await Promise.race([Promise.all(writes), new Promise((r) => setTimeout(r, 30000))]);
        this.#finishing = false;
      }
      // Opening the store to lead (every open() of it here was aborted, or
      // failed): the open stops, and what it did is undone — a rebuild
      // for a new interpretation is not kept.
      this.#opening?.abort();
    }
    this.#queued.abort();
    if (this.role === "leader") {
      // In-flight calls finish and are answered; new ones wait for the
      // next leader. Then the store closes, and the lock goes.
      await this.#service.close();
      this.#letGo();
    } else {
      this.#letGo(); // granted while the writes were answered, and not yet leading
      if (this.#term) this.#post({ t: "leave", from: tab, to: this.#leaderTab, keys: [...this.#registered] });
    }
    this.#gone = true;
    this.#dead ??= new FactlogError("CLOSED", "the store is closed");
    for (const c of [...this.#inflight.values()]) c.reject(this.#dead);
    this.#channel?.close();
    this.#channel = null;
  }
}

let keys = 0; // notification keys of this tab
// Call ids of this tab, across its Coordinators: a follower's append key
// is the tab's id and its call's, and a key used twice would answer a new
// append with the journaled result of an old one (wasm/jsapi/requests.go).
let calls = 0;

/** closeWaitsFor are the methods whose answers a closing follower waits for: writes. */
const closeWaitsFor = new Set(["append", "import", "reinterpret", "registers.set", "registers.merge"]);

/** mayBeApplied: a write sent to a leader, which may have applied it before it went away unheard. */
const mayBeApplied = (c) => !!c.sent && closeWaitsFor.has(c.msg.method);

/** stickyKey names a call that registers something a new leader must know: a watch or a link. */
function stickyKey(method, args) {
  if (method === "watch") return "watch:" + args.watch;
  if (method === "connect") return "link:" + args.link;
  return null;
}

function unsticks(method, args) {
  if (method === "unwatch") return ["watch:" + args.watch];
  if (method === "disconnect") return ["link:" + args.link];
  return [];
}

/**
 * openRetrying opens the store in this tab's engine. Right after a
 * handoff the old leader's Worker may still hold the file (OPFS grants one
 * access handle per file), and this tab's Worker may have died too:
 * LOCKED and UNAVAILABLE are retried, with backoff, for a minute — but not
 * a file of the package that did not load, which a new Worker would not
 * load either.
 */
async function openRetrying(kind, args, gaveUp, signal, onProgress) {
  let wait = 20;
  const start = Date.now();
  const end = start + 60000;
  let warned = false;
  for (;;) {
    let off = () => {};
    try {
      const e = await engine();
      const key = e.key();
      off = e.on("progress", key, onProgress);
      const { result } = await e.call(kind.open, { ...args, progress: key }, { signal });
      const { [kind.handle]: handle, ...opened } = result;
      return { e, handle, opened };
    } catch (err) {
      // LOCKED: the old Worker still has the file; UNAVAILABLE: this
      // tab's Worker died too (a new one starts).
      if ((err.code !== "LOCKED" && err.code !== "UNAVAILABLE") || loadFailed(err) || Date.now() > end || gaveUp()) throw err;
      if (!warned && Date.now() - start > 5000) {
        warned = true;
        console.warn(`factlog: store "${args.name}" has been busy for 5 s (${err.code}: ${err.message}); retrying until ${new Date(end).toLocaleTimeString()}`);
      }
    } finally {
      off();
    }
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 500);
  }
}

/**
 * Service is the leader's side: it runs the calls of every tab on the
 * store in this tab's engine, with the store's handle, and keeps what each
 * tab registered.
 */
class Service {
  #c;
  #e;
  #kind;
  #handle;
  #running = new Map(); // "tab:id" → AbortController
  #watches = new Map(); // "tab:key" → { key: engine key, off }
  #links = new Map(); // url + token → { key, off, status, subs: Map "tab:key" → { tab, key } }
  #tabs = new Map(); // follower tab → AbortController of its lifetime lock request
  #opened; // what the store's open said: { peer, persisted, warning }
  #refused = new Set(); // tabs whose join was refused: their calls that follow it are too
  #stopped = false;

  constructor(c, e, kind, handle, opened) {
    this.#c = c;
    this.#e = e;
    this.#kind = kind;
    this.#handle = handle;
    this.#opened = opened;
  }

  cancel(from, id) {
    this.#running.get(from + ":" + id)?.abort();
  }

  handle(from, msg) {
    if (this.#stopped) return; // the next leader answers
    if (msg.method !== "join" && this.#refused.has(from)) {
      this.#c.reply(from, { id: msg.id, error: { code: "LOCKED", message: "this tab reads the store another way (another schema or materializers)" } });
      return;
    }
    const run = new AbortController();
    const k = from + ":" + msg.id;
    this.#running.set(k, run);
    if (from !== tab) this.#watchTab(from);
    this.#run(from, msg, run.signal).then(
      ({ result, bytes }) => ({ id: msg.id, result, bytes }),
      (err) => ({ id: msg.id, error: { code: err.code || "INTERNAL", message: err.message } }),
    ).then((reply) => {
      this.#running.delete(k);
      // An engine that died does not answer: the call goes to the next leader.
      if (reply.error && reply.error.code === "UNAVAILABLE" && this.#e.dead) return;
      this.#c.reply(from, reply);
    });
  }

  async #run(from, { method, args, bytes }, signal) {
    const e = this.#e;
    const h = { [this.#kind.handle]: this.#handle };
    switch (method) {
      case "join":
        // Two interpretations of one store in two tabs would rebuild it
        // back and forth: an application updated in one tab only.
        if (fingerprint(args) !== fingerprint(this.#c.args)) {
          if (from !== tab) this.#refused.add(from);
          throw new FactlogError("LOCKED", `store "${args.name}" is open in another tab ${differs(args, this.#c.args)} (another version of the application?); reload or close that tab`);
        }
        this.#refused.delete(from);
        return { result: this.#opened };
      case "watch": {
        const key = e.key();
        const off = e.on("watch", key, (v) => this.#c.notify(from, "watch", args.watch, v));
        this.#watches.get(from + ":" + args.watch)?.off();
        this.#watches.set(from + ":" + args.watch, { key, off });
        try {
          await e.call("watch", { ...args, ...h, watch: key });
        } catch (err) {
          off();
          this.#watches.delete(from + ":" + args.watch);
          throw err;
        }
        return { result: { watch: args.watch } };
      }
      case "unwatch": {
        const w = this.#watches.get(from + ":" + args.watch);
        if (w) {
          this.#watches.delete(from + ":" + args.watch);
          w.off();
          await e.call("unwatch", { watch: w.key });
        }
        return { result: null };
      }
      case "connect":
        return this.#connect(from, args);
      case "disconnect":
        await this.#disconnect(from + ":" + args.link);
        return { result: null };
      case "reinterpret": {
        const key = e.key();
        const off = args.progress ? e.on("progress", key, (v) => this.#c.notify(from, "progress", args.progress, v)) : () => {};
        try {
          const out = await e.call(method, { ...args, ...h, progress: args.progress ? key : 0 }, { signal });
          this.#c.interpretationChanged(args.schema, args.materializers);
          return out;
        } finally {
          off();
        }
      }
      default:
        return e.call(method, { ...args, ...h }, { bytes, signal });
    }
  }

  async #connect(from, args) {
    const id = args.url + "\n" + args.token;
    let l = this.#links.get(id);
    if (!l) {
      const key = this.#e.key();
      l = { key, status: { state: "connecting", cursor: 0 }, subs: new Map() };
      l.off = this.#e.on("link", key, (st) => {
        l.status = st;
        for (const s of l.subs.values()) this.#c.notify(s.tab, "link", s.key, st);
      });
      this.#links.set(id, l);
      const link = l;
      l.started = this.#e.call("connect", { ...args, [this.#kind.handle]: this.#handle, link: key }).catch((err) => {
        link.off();
        if (this.#links.get(id) === link) this.#links.delete(id);
        throw err;
      });
    }
    // A connect to the same URL while the first starts shares its fate:
    // joined before the engine refused the URL, it was left "connecting".
    await l.started;
    l.subs.set(from + ":" + args.link, { tab: from, key: args.link });
    this.#c.notify(from, "link", args.link, l.status);
    return { result: { link: args.link } };
  }

  async #disconnect(sub) {
    for (const [id, l] of this.#links) {
      if (!l.subs.delete(sub) || l.subs.size > 0) continue;
      this.#links.delete(id);
      l.off();
      await this.#e.call("disconnect", { link: l.key }).catch(() => {});
    }
  }

  /** #watchTab learns when a follower tab goes away without saying so. */
  #watchTab(other) {
    if (this.#tabs.has(other)) return;
    const gone = new AbortController();
    this.#tabs.set(other, gone);
    navigator.locks
      .request(`factlog-tab:${other}`, { signal: gone.signal }, () => this.drop(other, null))
      .catch(() => {});
  }

  /**
   * drop forgets a tab's watches and links: those of keys ("kind:key"),
   * when one of its stores leaves — another store of the tab, opened again
   * meanwhile, keeps its own — or all, when the tab died (keys null).
   */
  drop(other, keys) {
    const mine = (kind, sub) => sub.startsWith(other + ":") && (!keys || keys.has(kind + ":" + sub.slice(other.length + 1)));
    for (const [k, w] of this.#watches) {
      if (!mine("watch", k)) continue;
      this.#watches.delete(k);
      w.off();
      this.#e.call("unwatch", { watch: w.key }).catch(() => {});
    }
    for (const l of [...this.#links.values()]) for (const sub of [...l.subs.keys()]) if (mine("link", sub)) this.#disconnect(sub);
    // Its lifetime lock is no longer waited for, unless it has more here (a
    // frozen page whose lock another page waits for is discarded from the
    // back/forward cache); its next call waits for it again.
    const left = (sub) => sub.startsWith(other + ":");
    if (!keys || (![...this.#watches.keys()].some(left) && ![...this.#links.values()].some((l) => [...l.subs.keys()].some(left)))) {
      this.#tabs.get(other)?.abort();
      this.#tabs.delete(other);
    }
  }

  /** stop: the engine died; nothing more is answered here. */
  stop() {
    this.#stopped = true;
    for (const t of this.#tabs.values()) t.abort();
  }

  /** close finishes the running calls, then closes the links and the store. */
  async close() {
    this.#stopped = true;
    for (const t of this.#tabs.values()) t.abort();
    while (this.#running.size) await new Promise((r) => setTimeout(r, 5));
    for (const l of this.#links.values()) {
      l.off();
      await this.#e.call("disconnect", { link: l.key }).catch(() => {});
    }
    for (const w of this.#watches.values()) w.off();
    await this.#e.call(this.#kind.close, { [this.#kind.handle]: this.#handle }).catch(() => {});
  }
}

/** Port is one open() of a shared store, as a Database sees it (factlog.js has the same for a store of this tab only). */
class Port {
  #c;
  #onProgress;
  #offProgress;
  #onRole = new Set();
  #onDeath = new Set();
  keys = new Set(); // sticky keys this port registered
  /** progressKey is where reinterpret's progress comes. */
  progressKey;

  constructor(c, onProgress) {
    this.#c = c;
    this.#onProgress = onProgress;
    this.progressKey = c.key();
    this.#offProgress = c.on("progress", this.progressKey, (p) => this.progress(p));
  }

  /** progress reports a rebuild's progress. */
  progress(p) {
    if (this.#onProgress) this.#onProgress(p.done, p.total);
  }

  setProgress(fn) {
    this.#onProgress = fn;
  }

  get opened() {
    return this.#c.opened;
  }

  get role() {
    return this.#c.role;
  }

  onRole(fn) {
    this.#onRole.add(fn);
    return () => this.#onRole.delete(fn);
  }

  roleChanged(role) {
    for (const fn of this.#onRole) fn(role);
  }

  onDeath(fn) {
    this.#onDeath.add(fn);
    return () => this.#onDeath.delete(fn);
  }

  died(err) {
    for (const fn of this.#onDeath) fn(err);
  }

  key() {
    return this.#c.key();
  }

  on(kind, key, fn) {
    return this.#c.on(kind, key, fn);
  }

  call(method, args, opts) {
    const k = stickyKey(method, args);
    if (k) this.keys.add(k);
    return this.#c.call(method, args, opts);
  }

  webSocket() {
    return () => {}; // the leader's Worker has the browser's WebSocket
  }

  stop() {
    this.#offProgress();
  }

  async close() {
    this.stop();
    await this.#c.detach(this);
  }
}
