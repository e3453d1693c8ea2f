// LiveStore 0.4, its Node adapter (SQLite wasm, files on disk): events with
// JavaScript materializers into a SQLite todo table. Its merge is not
// peer-to-peer: every client pushes its events to a sync server, which
// orders them; a client with unpushed events pulls the others', rebases
// its own on top and replays. The server here is a small one in this
// process (makeServer below); LiveStore's real ones run on Cloudflare or
// Postgres. So its import is "a new client pulls the log
// from the server", and its bytes are the JSON of the events a client
// pushes (its WebSocket sync sends JSON).
import { readFileSync } from "node:fs";
import { join } from "node:path";

let L, Adapter, Common, SeqNum, E, Effect;

const schemas = {};

function makeSchemas() {
  const { Events, makeSchema, Schema, State } = L;
  const payload = (value) => Schema.Struct({ item: Schema.String, value });
  const events = {
    create: Events.synced({ name: "create", schema: payload(Schema.String) }),
    set_content: Events.synced({ name: "set_content", schema: payload(Schema.String) }),
    set_completed: Events.synced({ name: "set_completed", schema: payload(Schema.Boolean) }),
  };
  const make = (changed) => {
    const columns = {
      id: State.SQLite.text({ primaryKey: true }),
      content: State.SQLite.text({ default: "" }),
      completed: State.SQLite.boolean({ default: false }),
    };
    // The rebuild workload reads the events another way (a completed todo
    // stays completed); LiveStore rebuilds its state from the eventlog
    // when the tables change, so the changed reading adds a column too.
    if (changed) columns.note = State.SQLite.text({ default: "" });
    const todos = State.SQLite.table({ name: "todo", columns });
    const materializers = State.SQLite.materializers(events, {
      create: ({ item, value }) => todos.insert({ id: item, content: value }).onConflict("id", "ignore"),
      set_content: ({ item, value }) => todos.update({ content: value }).where({ id: item }),
      set_completed: changed
        ? ({ item, value }, ctx) => {
            const [row] = ctx.query(todos.where({ id: item }));
            return todos.update({ completed: (row?.completed ?? false) || value }).where({ id: item });
          }
        : ({ item, value }) => todos.update({ completed: value }).where({ id: item }),
    });
    return { todos, schema: makeSchema({ events, state: State.SQLite.makeState({ tables: { todos }, materializers }) }) };
  };
  Object.assign(schemas, { events, plain: make(false), changed: make(true) });
}

// A sync server in this process, on LiveStore's SyncBackend interface:
// it keeps the events in the order it accepted them, refuses a push that
// is not based on its head (the client then pulls, rebases and pushes
// again), and streams to every client what it lacks, then what others
// push. (LiveStore's own test server, makeMockSyncBackend, hands each
// event to one client only, so it cannot serve three.) No network, no
// simulated latency. It counts what each client pushes, as JSON — the
// form its WebSocket servers carry.
async function makeServer() {
  const { Option, PubSub, Stream, SubscriptionRef } = E;
  const { SyncBackend, validatePushPayload } = Common;
  const root = SeqNum.Client.ROOT.global;
  const log = [];
  let head = root;
  const pubsub = await Effect.runPromise(PubSub.unbounded());
  const lock = await Effect.runPromise(Effect.makeSemaphore(1));
  const server = { events: 0, pushedBytes: new Map() };
  const items = (events) => events.map((eventEncoded) => ({ eventEncoded, metadata: Option.none() }));
  const backlog = (after) => {
    const slice = log.filter((e) => e.seqNum > after);
    const out = [];
    for (let i = 0; i < slice.length || out.length === 0; i += 1000)
      out.push({
        batch: items(slice.slice(i, i + 1000)),
        pageInfo: slice.length > i + 1000 ? SyncBackend.pageInfoMoreKnown(slice.length - i - 1000) : SyncBackend.pageInfoNoMore,
      });
    return out;
  };
  server.backend = (client) => () =>
    Effect.gen(function* () {
      const isConnected = yield* SubscriptionRef.make(true);
      return SyncBackend.of({
        isConnected,
        connect: Effect.void,
        ping: Effect.void,
        pull: (cursor, options) => {
          const after = Option.match(cursor, { onNone: () => root, onSome: (c) => c.eventSequenceNumber });
          if (!options?.live) return Stream.suspend(() => Stream.fromIterable(backlog(after)));
          // Subscribe before reading the backlog, so that nothing pushed
          // in between is missed; then skip what the backlog had.
          return Stream.unwrapScoped(
            Effect.gen(function* () {
              const sub = yield* PubSub.subscribe(pubsub);
              const past = backlog(after);
              let last = past.at(-1).batch.at(-1)?.eventEncoded.seqNum ?? after;
              const live = Stream.fromQueue(sub).pipe(
                Stream.chunks,
                Stream.map((chunk) => {
                  const fresh = [...chunk].filter((e) => e.seqNum > last);
                  if (fresh.length) last = fresh.at(-1).seqNum;
                  return { batch: items(fresh), pageInfo: SyncBackend.pageInfoNoMore };
                }),
              );
              return Stream.concat(Stream.fromIterable(past), live);
            }),
          );
        },
        push: (batch) =>
          lock.withPermits(1)(
            Effect.gen(function* () {
              yield* validatePushPayload(batch, head);
              log.push(...batch);
              head = batch.at(-1).seqNum;
              server.events += batch.length;
              server.pushedBytes.set(client, (server.pushedBytes.get(client) ?? 0) + JSON.stringify(batch).length);
              yield* PubSub.publishAll(pubsub, batch);
            }),
          ),
        metadata: { name: "peerbench", description: "an in-process server for the benchmark" },
        supports: { pullPageInfoKnown: true, pullLive: true },
      });
    });
  return server;
}

async function openStore(dir, { client = "A", server, changed = false } = {}) {
  const { todos, schema } = changed ? schemas.changed : schemas.plain;
  const adapter = Adapter.makeAdapter({
    storage: { type: "fs", baseDirectory: dir },
    clientId: client,
    ...(server ? { sync: { backend: server.backend(client), onSyncError: "shutdown" } } : {}),
  });
  const store = await L.createStorePromise({ adapter, schema, storeId: "peerbench", disableDevtools: true });
  const { events } = schemas;
  const event = (e) => events[e.type]({ item: e.item, value: e.value });
  let current = store;
  // commit applies the events to the session's state and returns; its
  // leader (the same thread here) then writes them to the eventlog file.
  // An append counts as done when the leader has them (syncStatus), as
  // the other systems' appends are done when they are in their files —
  // and closing before that loses them.
  const persisted = async () => {
    while (!current.syncStatus().isSynced) await new Promise((r) => setImmediate(r));
  };
  return {
    async append(e) {
      current.commit(event(e));
      await persisted();
    },
    async appendMany(es) {
      current.commit(...es.map(event));
      await persisted();
    },
    count: async () => current.query(todos.count()),
    firstQuery: async () => current.query(todos.where({ id: "todo-0500" })),
    state: async () => current.query(todos.orderBy("id", "asc")),
    async rebuild() {
      await this.close();
      const next = await openStore(dir, { client, changed: true });
      await next.firstQuery();
      current = next.store;
    },
    store,
    async close() {
      await persisted();
      await current.shutdownPromise();
    },
  };
}

// Polls until cond() holds (LiveStore syncs in the background).
async function until(cond, what, limitMs = 30 * 60 * 1000) {
  if (process.env.PEERBENCH_DEBUG) console.error(`livestore: waiting for ${what}`);
  const end = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export default {
  name: "LiveStore",
  storage: "file (SQLite wasm: eventlog + state)",
  async load() {
    L = await import("@livestore/livestore");
    Adapter = await import("@livestore/adapter-node");
    Common = await import("@livestore/common");
    SeqNum = (await import("@livestore/common/schema")).EventSequenceNumber;
    E = await import("@livestore/utils/effect");
    Effect = E.Effect;
    makeSchemas();
    return JSON.parse(readFileSync(new URL("./node_modules/@livestore/livestore/package.json", import.meta.url))).version;
  },
  open: (dir) => openStore(dir),
  workloads: {
    // 3 (and 8, 7, 4): a client commits the log and pushes it to the
    // server (untimed); a new client opens an empty store and pulls it all
    // (timed: from its open until its state equals the first one's).
    async log(ctx) {
      const { sizes, log, appendAll, sameState, freshDir, du, now } = ctx;
      const n = sizes.log;
      const server = await makeServer();
      const src = await openStore(freshDir(), { client: "source", server });
      await appendAll(src, log(n));
      await until(() => server.events >= n, "the source's push");
      const want = sameState(await src.state());
      await src.close();

      const dir = freshDir();
      let t = now();
      let store = await openStore(dir, { client: "fresh", server });
      await until(async () => sameState(await store.state()) === want, "the pull");
      const figures = { import: { n, eventsPerSec: n / ((now() - t) / 1000), batchBytes: server.pushedBytes.get("source") } };
      await store.close();
      figures.size = { n, bytes: du(dir) };

      t = now();
      store = await openStore(dir, { client: "fresh" });
      await store.firstQuery();
      figures.reopen = { n, seconds: (now() - t) / 1000 };
      t = now();
      await store.rebuild();
      figures.rebuild = { n, eventsPerSec: n / ((now() - t) / 1000) };
      await store.close();
      return figures;
    },
    // 5 and 6: three clients share the 1,000 todos through the server, go
    // offline (open without sync), make n edits each, then open again
    // with sync. Timed: from the three opens until the server holds every
    // event and the three states are equal.
    async merge(ctx, n) {
      const { creates, edits, appendAll, sameState, freshDir, now } = ctx;
      const server = await makeServer();
      const dirs = [freshDir(), freshDir(), freshDir()];
      const clients = ["A", "B", "C"];
      let peers = [];
      for (const [i, dir] of dirs.entries()) peers.push(await openStore(dir, { client: clients[i], server }));
      await appendAll(peers[0], creates());
      await until(async () => (await peers[1].count()) === 1000 && (await peers[2].count()) === 1000, "the shared todos");
      for (const p of peers) await p.close();

      for (const [i, dir] of dirs.entries()) {
        const p = await openStore(dir, { client: clients[i] }); // offline
        await appendAll(p, edits(n, "ABC"[i], 11 + i));
        await p.close();
      }
      const before = new Map(server.pushedBytes);
      const total = 1000 + 3 * n;

      const t = now();
      peers = await Promise.all(dirs.map((dir, i) => openStore(dir, { client: clients[i], server })));
      await until(async () => {
        if (server.events < total) return false;
        const s = await Promise.all(peers.map(async (p) => sameState(await p.state())));
        return s[1] === s[0] && s[2] === s[0];
      }, "the merge");
      const seconds = (now() - t) / 1000;
      for (const p of peers) await p.close();
      const sent = clients.map((c) => server.pushedBytes.get(c) - (before.get(c) ?? 0));
      return { n, seconds, bytesSent: sent.reduce((a, b) => a + b, 0) / 3 };
    },
  },
  download: {
    // In a browser the page loads LiveStore and its web adapter, and starts
    // two workers (the leader, the shared one) that load wa-sqlite's wasm.
    // Bundled here as one file, their shared code counted once: a lower
    // bound of what the page and its workers fetch.
    entry: [
      `export * from "@livestore/livestore";`,
      `export * from "@livestore/adapter-web";`,
      `export * from "@livestore/adapter-web/worker";`,
      `export * from "@livestore/adapter-web/shared-worker";`,
    ].join(" "),
    extraFiles: ["node_modules/@livestore/wa-sqlite/dist/wa-sqlite.wasm"],
  },
};
