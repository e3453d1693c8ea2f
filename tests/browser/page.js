// The page the Chromium tests (tests/browser_test.go, tests/tabs_test.go)
// drive: it imports the built library the way an application does and
// gives the test a few handles on window.
import { open, FactlogError } from "../factlog.js";

const todo = {
  schema: `CREATE TABLE todo (id TEXT PRIMARY KEY, content TEXT NOT NULL DEFAULT '', completed INTEGER NOT NULL DEFAULT 0)`,
  materializers: {
    create: `INSERT OR IGNORE INTO todo (id, content) VALUES (:item, :value)`,
    set_content: `UPDATE todo SET content = :value WHERE id = :item`,
    set_completed: `UPDATE todo SET completed = :value WHERE id = :item`,
  },
};

window.factlog = { open, FactlogError };
window.openTodo = (name) => open({ name, ...todo });
window.show = (value) => {
  document.getElementById("out").textContent = JSON.stringify(value, null, 2);
  return value;
};

// watchCount keeps the latest todo count a watch reported in
// window.counts[name], and every count it reported in window.seen[name].
window.counts = {};
window.seen = {};
window.watchCount = (db, name) => {
  window.seen[name] = [];
  return db.watch("SELECT count(*) AS n FROM todo", (rows) => {
    window.counts[name] = rows[0].n;
    window.seen[name].push(rows[0].n);
  });
};

// burst appends n todos one after another, recording in window.acked the
// items whose append was acknowledged, and in window.failed the errors.
window.acked = [];
window.failed = [];
window.burst = async (db, prefix, n) => {
  for (let i = 0; i < n; i++) {
    const item = `${prefix}-${i}`;
    try {
      await db.append(item, "create", item);
      window.acked.push(item);
    } catch (err) {
      window.failed.push(`${item}: ${err.code} ${err.message}`);
    }
  }
  return window.acked.length;
};
document.getElementById("status").textContent = "ready";
