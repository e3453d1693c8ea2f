// The page the Chromium tests (tests/browser_test.go) drive: it imports
// the built library the way an application does and gives the test a few
// handles on window.
import { open } from "../factlog.js";

const todo = {
  schema: `CREATE TABLE todo (id TEXT PRIMARY KEY, content TEXT NOT NULL DEFAULT '', completed INTEGER NOT NULL DEFAULT 0)`,
  materializers: {
    create: `INSERT OR IGNORE INTO todo (id, content) VALUES (:item, :value)`,
    set_content: `UPDATE todo SET content = :value WHERE id = :item`,
    set_completed: `UPDATE todo SET completed = :value WHERE id = :item`,
  },
};

window.factlog = { open };
window.openTodo = (name) => open({ name, ...todo });
window.show = (value) => {
  document.getElementById("out").textContent = JSON.stringify(value, null, 2);
  return value;
};
document.getElementById("status").textContent = "ready";
