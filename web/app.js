// The factlog demo: the seed's interactive todo examples, on factlog.
// Two examples — last-write-wins registers and the event log — each with
// three replicas (three stores, three peers) that work alone until synced,
// and, when the page is served by a relay, a live replica linked to a room.
// Every store is shared by the tabs of the page's origin: a second tab
// shows the same replicas.
import { open, openRegisters } from "factlog";
import { schema, interpretations } from "./interpretations.js";
import { h, newId, short, show, clockTime } from "./dom.js";
import { TodoList } from "./todolist.js";
import { dagSVG } from "./dag.js";

const names = ["A", "B", "C"];
const colors = ["#2563eb", "#db2777", "#16a34a", "#ea580c", "#7c3aed", "#0891b2"];

// Authors get a color by the order a page first sees them.
const peerColors = new Map();
function peerStyle(peer, local) {
  if (!peerColors.has(peer)) peerColors.set(peer, colors[peerColors.size % colors.length]);
  const name = local.get(peer) || short(peer, 4);
  return { color: peerColors.get(peer), name };
}
const localPeers = new Map(); // peer id → "A", "B", "C", "live"
const logReplicas = new Set(); // every started event-log replica, to redraw when a name is learned

// The registers have no watch: a tab that changes them tells the others.
const lwwChannel = typeof BroadcastChannel === "function" ? new BroadcastChannel("factlog-demo-lww") : null;

function fail(where, err) {
  console.error(where, err);
  const box = document.getElementById("errors");
  box.hidden = false;
  box.append(h("p", {}, `${where}: ${err.message || err}${err.code ? ` (${err.code})` : ""}`));
}

/**
 * Opens a persisted store — shared with this page's other tabs — or an
 * in-memory one where it cannot be (no Web Locks, or another tab reads it
 * another way).
 */
async function openShared(openFn, options, notice) {
  try {
    return await openFn(options);
  } catch (err) {
    if (err.code !== "LOCKED") throw err;
    notice(`Replica ${options.name}: ${err.message}. This tab shows an in-memory copy.`);
    return openFn({ ...options, name: ":memory:" });
  }
}

function notice(text) {
  const box = document.getElementById("notices");
  box.hidden = false;
  box.append(h("p", {}, text));
}

// ---------------------------------------------------------------------------
// Example 1: last-write-wins registers.

class LwwReplica {
  constructor(i) {
    this.i = i;
    this.name = names[i];
    this.offline = false;
    this.head = h("div.head");
    this.list = new TodoList({
      label: `LWW replica ${this.name}`,
      onAdd: (text) => this.do(async () => {
        const id = newId();
        await this.regs.set(id, "content", text);
        await this.regs.set(id, "completed", false);
      }),
      onEdit: (id, text) => this.do(() => this.regs.set(id, "content", text)),
      onToggle: (id, done) => this.do(() => this.regs.set(id, "completed", done)),
      // Registers cannot forget a row (a merge would bring it back): a
      // deletion is a register of its own, a tombstone that stays.
      onDelete: (id) => this.do(() => this.regs.set(id, "deleted", true)),
    });
    this.table = h("div.state-box");
    this.el = h("section.replica", { dataset: { replica: i }, "aria-label": `LWW replica ${this.name}` },
      this.head, this.list.el,
      h("details.internals", { open: true }, h("summary", {}, "Internal state: values and clocks"), this.table));
  }

  async start() {
    this.regs = await openShared(openRegisters, { name: `demo-lww-${this.name}`, table: "todo", columns: ["content", "completed", "deleted"] }, notice);
    this.regs.onRole(() => this.render());
    await this.refresh();
  }

  async do(fn) {
    try {
      await fn();
      await this.refresh();
      lwwChannel?.postMessage("changed");
      return true;
    } catch (err) {
      fail(`LWW ${this.name}`, err);
      return false;
    }
  }

  async refresh() {
    const [rows, state] = await Promise.all([this.regs.rows(), this.regs.state()]);
    this.rows = rows;
    this.state = state;
    this.render();
  }

  render() {
    const byRow = new Map();
    for (const r of this.state) {
      if (!byRow.has(r.id)) byRow.set(r.id, {});
      byRow.get(r.id)[r.column] = r;
    }
    const cell = (r) => (r ? h("td", {}, h("span.value", {}, show(r.value)), h("span.clock", { title: "this register's Lamport clock" }, r.clock)) : h("td", {}, "—"));
    this.head.replaceChildren(header(this, `Replica ${this.name}`, colors[this.i]));
    this.list.update(this.rows.filter((r) => !r.deleted).map((r) => ({ id: r.id, content: r.content ?? "", completed: r.completed })));
    this.table.replaceChildren(h("table.state", {},
      h("thead", {}, h("tr", {}, h("th", {}, "id"), h("th", {}, "content"), h("th", {}, "completed"), h("th", {}, "deleted"))),
      h("tbody", {}, [...byRow].map(([id, cols]) => h("tr", {}, h("td.id", {}, id), cell(cols.content), cell(cols.completed), cell(cols.deleted)))),
    ));
  }
}

// ---------------------------------------------------------------------------
// Example 2: the event log.

class LogReplica {
  constructor(i, name, color, storeName) {
    this.i = i;
    this.name = name;
    this.color = color;
    this.storeName = storeName;
    this.offline = false;
    this.todos = [];
    this.events = [];
    this.edges = [];
    this.heads = new Set();
    this.churn = [];
    this.head = h("div.head");
    this.list = new TodoList({
      label: `Event log replica ${name}`,
      onAdd: (text) => this.do(() => this.db.append(newId(), "create", text)),
      onEdit: (id, text) => this.do(() => this.db.append(id, "set_content", text)),
      onToggle: (id, done) => this.do(() => this.db.append(id, "set_completed", done)),
      onDelete: (id) => this.do(() => this.db.append(id, "delete")), // a new fact: the todo's events stay
      onHistory: (id) => {
        this.historyOf = this.historyOf === id ? null : id;
        this.render();
      },
    });
    this.extra = h("div");
    this.summary = h("summary");
    this.internals = h("div");
    this.el = h("section.replica", { dataset: { replica: i }, "aria-label": `Event log replica ${name}` },
      this.head, this.list.el, this.extra, h("details.internals", { open: true }, this.summary, this.internals));
  }

  async start(interpretation) {
    this.db = await openShared(open, { name: this.storeName, schema, materializers: interpretations[interpretation].materializers }, notice);
    this.db.onRole(() => this.render());
    localPeers.set(this.db.peer, this.name);
    peerColors.set(this.db.peer, this.color);
    logReplicas.add(this);
    for (const r of logReplicas) if (r !== this) r.render(); // they may show this peer's events by id
    const watch = (sql, fn) => this.db.watch(sql, [], (rows) => {
      fn(rows);
      this.render();
    }, (err) => fail(`replica ${this.name}`, err));
    watch(`SELECT id, content, completed FROM todo ORDER BY rowid`, (r) => (this.todos = r));
    watch(`SELECT id, peer, seq, clock, time, item_id AS item, type, value FROM event ORDER BY clock, id`, (r) => {
      this.events = r.map((e) => ({ ...e, value: JSON.parse(e.value) }));
    });
    watch(`SELECT parent_id, event_id FROM event_dag ORDER BY event_id, parent_id`, (r) => (this.edges = r));
    // The seed's own query for the DAG's leaves.
    watch(`SELECT DISTINCT l.event_id AS id FROM event_dag AS l
           WHERE NOT EXISTS (SELECT NULL FROM event_dag AS r WHERE r.parent_id = l.event_id)`, (r) => (this.heads = new Set(r.map((x) => x.id))));
    watch(`SELECT item, time FROM churn ORDER BY time`, (r) => (this.churn = r));
  }

  async do(fn) {
    try {
      await fn();
      return true;
    } catch (err) {
      fail(`replica ${this.name}`, err);
      return false;
    }
  }

  render() {
    const style = (p) => peerStyle(p, localPeers);
    const history = this.historyOf ? this.events.filter((e) => e.item === this.historyOf) : null;
    this.head.replaceChildren(header(this, this.name === "live" ? "Live replica" : `Replica ${this.name}`, this.color));
    this.list.update(this.todos);
    this.extra.replaceChildren(...[
      history && h("div.history", { role: "region", "aria-label": "History" },
        h("h4", {}, "History of ", h("code", {}, this.historyOf), h("button.close", { type: "button", "aria-label": "Close history", onclick: () => { this.historyOf = null; this.render(); } }, "×")),
        h("ol", {}, history.map((e) => h("li", {},
          h("time", {}, clockTime(e.time)), " ",
          h("span.peer", { style: { color: style(e.peer).color } }, style(e.peer).name), " ",
          h("code", {}, e.type), " ", show(e.value)))),
      ),
      this.churn.length > 0 && h("div.churn", {}, h("h4", {}, "Task churn"), h("ul", {}, this.churn.map((c) => h("li", {}, `${clockTime(c.time)}: `, h("code", {}, c.item), " un-completed")))),
    ].filter(Boolean));
    this.summary.textContent = `The DAG: ${this.events.length} events, ${this.heads.size} ${this.heads.size === 1 ? "head" : "heads"}`;
    this.internals.replaceChildren(
      h("div.dag-box", {}, dagSVG(this.events, this.edges, this.heads, style)),
      h("h4", {}, "event"),
      h("div.scroll", {}, h("table.events", {},
        h("thead", {}, h("tr", {}, ["id", "peer", "seq", "clock", "item_id", "type", "value"].map((c) => h("th", {}, c)))),
        h("tbody", {}, this.events.map((e) => h("tr", {},
          h("td.id", { title: e.id }, short(e.id)),
          h("td", {}, h("span.peer", { style: { color: style(e.peer).color } }, style(e.peer).name)),
          h("td", {}, e.seq), h("td", {}, e.clock), h("td.id", {}, e.item),
          h("td", {}, e.type.replaceAll("_", "_\u200b")), // it may wrap after an underscore
          h("td", {}, show(e.value))))),
      )),
      h("h4", {}, "event_dag"),
      h("div.scroll", {}, h("table.dag-rows", {},
        h("thead", {}, h("tr", {}, h("th", {}, "parent_id"), h("th", {}, "event_id"))),
        h("tbody", {}, this.edges.map((d) => h("tr", {}, h("td.id", {}, short(d.parent_id)), h("td.id", {}, short(d.event_id))))),
      )),
      h("p.heads", {}, "Leaves: ", [...this.heads].map((id) => h("code", {}, short(id))).flatMap((c, i) => (i ? [", ", c] : [c]))),
    );
  }
}

// The header of a replica: its name, its peer, and its offline switch.
function header(replica, title, color) {
  const box = h("input.offline", {
    type: "checkbox",
    checked: replica.offline,
    onchange: () => {
      replica.offline = box.checked;
      replica.el.classList.toggle("is-offline", box.checked);
    },
  });
  const shared = replica.db || replica.regs;
  return h("header", { style: { borderColor: color } },
    h("h3", { style: { color } }, title),
    replica.db && h("code.peer-id", { title: replica.db.peer }, short(replica.db.peer, 8)),
    shared && shared.role === "follower" && h("span.role", { title: "another tab of this page runs this store; this one calls through it" }, "via another tab"),
    replica.link ? linkBadge(replica.link.status) : h("label.offline-switch", {}, box, " offline"));
}

function linkBadge(st) {
  const text = { online: "online", "catching-up": "catching up", connecting: "connecting", offline: "offline", closed: "closed" }[st.state] || st.state;
  return h("span.link", { dataset: { state: st.state }, title: st.error || "" }, text);
}

// ---------------------------------------------------------------------------

async function syncAll(replicas, pair) {
  const online = replicas.filter((r) => !r.offline);
  for (const from of online) for (const to of online) if (from !== to) await pair(from, to);
}

async function lwwExample(root) {
  const replicas = names.map((_, i) => new LwwReplica(i));
  await Promise.all(replicas.map((r) => r.start()));
  const sync = h("button.sync", {
    type: "button",
    onclick: async () => {
      sync.disabled = true;
      try {
        await syncAll(replicas, async (from, to) => to.regs.merge(await from.regs.exportState()));
        await Promise.all(replicas.map((r) => r.refresh()));
        lwwChannel?.postMessage("changed");
      } catch (err) {
        fail("sync", err);
      } finally {
        sync.disabled = false;
      }
    },
  }, "Sync nodes ⇄");
  root.querySelector(".replicas").replaceChildren(...replicas.map((r) => r.el));
  root.querySelector(".actions").replaceChildren(sync);
  if (lwwChannel) lwwChannel.onmessage = () => Promise.all(replicas.map((r) => r.refresh())).catch((err) => fail("LWW", err));
  return replicas;
}

const interpretationKey = "factlog-demo-interpretation";

async function logExample(root) {
  const replicas = names.map((n, i) => new LogReplica(i, n, colors[i], `demo-log-${n}`));
  // The chosen reading is the stores' own (they are rebuilt with it), so
  // it outlives a reload, and every tab shows the same.
  const saved = localStorage.getItem(interpretationKey);
  let current = saved in interpretations ? saved : "lww";
  await Promise.all(replicas.map((r) => r.start(current)));
  const sync = h("button.sync", {
    type: "button",
    onclick: async () => {
      sync.disabled = true;
      try {
        await syncAll(replicas, async (from, to) => to.db.import(await from.db.exportSince(await to.db.versionVector())));
      } catch (err) {
        fail("sync", err);
      } finally {
        sync.disabled = false;
      }
    },
  }, "Sync nodes ⇄");
  const about = h("p.about", {}, interpretations[current].about);
  const progress = h("span.progress", { "aria-live": "polite" });
  const choices = Object.entries(interpretations).map(([key, it]) =>
    h("label", {}, h("input", {
      type: "radio",
      name: "interpretation",
      value: key,
      checked: key === current,
      onchange: async () => {
        current = key;
        about.textContent = it.about;
        progress.textContent = "rebuilding…";
        try {
          await Promise.all(replicas.map((r) => r.db.reinterpret({ schema, materializers: it.materializers }, (done, total) => {
            progress.textContent = `rebuilding: ${done} of ${total} events`;
          })));
          localStorage.setItem(interpretationKey, key);
          if (current === key) progress.textContent = `rebuilt from the same events`;
        } catch (err) {
          progress.textContent = "";
          fail("reinterpret", err);
        }
      },
    }), " ", it.label));
  // Another tab chose another reading: its stores are these.
  addEventListener("storage", (e) => {
    if (e.key !== interpretationKey || !(e.newValue in interpretations)) return;
    current = e.newValue;
    about.textContent = interpretations[current].about;
    for (const input of root.querySelectorAll('input[name="interpretation"]')) input.checked = input.value === current;
    progress.textContent = "rebuilt in another tab";
  });
  root.querySelector(".replicas").replaceChildren(...replicas.map((r) => r.el));
  root.querySelector(".actions").replaceChildren(sync, h("fieldset.interpretation", {}, h("legend", {}, "Interpretation"), choices, progress), about);
  return replicas;
}

// The relay's rule for a room name (relay/PROTOCOL.md): connect ends at
// once, closed, for another. The demo checks it first, as the room also
// names a store.
const validRoom = (room) => /^[A-Za-z0-9._~-]{1,128}$/.test(room) && room !== "." && room !== "..";

async function liveExample(root) {
  const room = new URLSearchParams(location.search).get("room") || "demo";
  const valid = validRoom(room);
  const status = root.querySelector(".live-status");
  // A static host answers 404 (no relay here: no link); a relay that is
  // down does not answer at all (link anyway: it retries, and the stored
  // todos show meanwhile).
  let relay = "down";
  try {
    relay = (await fetch("./healthz", { cache: "no-store" })).ok ? "up" : "none";
  } catch {}
  // One store per room, shared by every tab of this browser; none for a
  // room that cannot be, whose name may not even make a file name.
  const r = new LogReplica(0, "live", colors[3], valid ? `demo-live-${room}` : ":memory:");
  await r.start("lww");
  root.querySelector(".replicas").replaceChildren(r.el);
  if (!valid) {
    const shown = room.length > 60 ? room.slice(0, 60) + "…" : room;
    status.replaceChildren("The room ", h("code", {}, shown), ` in the address (?room=) cannot be used: a room name is 1 to 128 letters, digits and . _ ~ -, not . or .. (this one has ${room.length} characters). This replica works in this tab's memory only, not synced.`);
    r.render();
    return r;
  }
  if (relay === "none") {
    status.textContent = "No relay serves this page (static hosting): this replica stays on this device. Run the relay with -web to sync.";
    r.render();
    return r;
  }
  const url = new URL(`v1/rooms/${encodeURIComponent(room)}`, location.href).href.replace(/^http/, "ws");
  const show = (st) => status.replaceChildren("Room ", h("code", {}, room), ": ", linkBadge(st), st.error ? ` (${st.error})` : "");
  r.link = r.db.connect(url, {
    onStatus: (st) => {
      show(st);
      r.render();
    },
  });
  show(r.link.status);
  r.render();
  return r;
}

function offlineBanner() {
  const banner = document.getElementById("offline");
  const update = () => (banner.hidden = navigator.onLine);
  addEventListener("online", update);
  addEventListener("offline", update);
  update();
}

async function main() {
  offlineBanner();
  const status = document.getElementById("status");
  // Each example on its own: one that cannot start leaves the others.
  const examples = { lww: lwwExample, log: logExample, live: liveExample };
  const started = await Promise.allSettled(Object.entries(examples).map(([id, start]) => start(document.getElementById(id))));
  window.demo = {}; // for the tests, and for the curious in the console
  Object.keys(examples).forEach((id, i) => {
    if (started[i].status === "fulfilled") window.demo[id] = started[i].value;
    else fail(`start ${id}`, started[i].reason);
  });
  status.textContent = started.every((s) => s.status === "fulfilled") ? "ready" : "failed";
  // Registered once the site has loaded: the worker caches its files as
  // it installs, and they are in the browser's HTTP cache by now, rather
  // than downloaded twice at once (the wasm is megabytes).
  if ("serviceWorker" in navigator && location.protocol !== "file:") {
    navigator.serviceWorker.register("./sw.js").catch((err) => console.warn("no offline support:", err.message));
  }
}

main();
