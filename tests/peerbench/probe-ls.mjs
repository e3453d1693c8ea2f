import { Events, makeSchema, Schema, State, createStorePromise, queryDb } from "@livestore/livestore";
import { makeAdapter } from "@livestore/adapter-node";
import { mkdtempSync } from "node:fs";
const todos = State.SQLite.table({ name: "todos", columns: { id: State.SQLite.text({ primaryKey: true }), content: State.SQLite.text({ default: "" }), completed: State.SQLite.boolean({ default: false }) } });
const events = {
  create: Events.synced({ name: "create", schema: Schema.Struct({ item: Schema.String, value: Schema.String }) }),
  set_content: Events.synced({ name: "set_content", schema: Schema.Struct({ item: Schema.String, value: Schema.String }) }),
};
const materializers = State.SQLite.materializers(events, {
  create: ({ item, value }) => todos.insert({ id: item, content: value }).onConflict("id", "ignore"),
  set_content: ({ item, value }) => todos.update({ content: value }).where({ id: item }),
});
const schema = makeSchema({ events, state: State.SQLite.makeState({ tables: { todos }, materializers }) });
const dir = mkdtempSync("/tmp/pbprobe/ls-");
let t = performance.now();
const store = await createStorePromise({ adapter: makeAdapter({ storage: { type: "fs", baseDirectory: dir } }), schema, storeId: "bench" });
console.log("open", performance.now() - t);
t = performance.now();
for (let i = 0; i < 200; i++) store.commit(events.create({ item: String(i), value: "x" + i }));
console.log("200 commits", performance.now() - t);
console.log(store.query(queryDb(todos.count())));
t = performance.now();
await store.shutdownPromise();
console.log("shutdown", performance.now() - t, dir);
