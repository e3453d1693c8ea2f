// The demo's interpretations of one log of todo edits. Each is nothing but
// SQL: a schema for the state tables, and the statements that apply an
// event of each type, with the event bound as :id :peer :seq :clock :time
// :item :type :value. Switching between them rebuilds the state from the
// same events.

export const schema = `
CREATE TABLE todo (
  id        TEXT PRIMARY KEY NOT NULL,
  content   TEXT NOT NULL DEFAULT '',
  completed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE churn (
  event TEXT PRIMARY KEY NOT NULL, -- the set_completed that un-completed a todo
  item  TEXT NOT NULL,
  time  INTEGER NOT NULL
);`;

const create = `INSERT OR IGNORE INTO todo (id, content) VALUES (:item, :value)`;
const setContent = `UPDATE todo SET content = :value WHERE id = :item`;
// A deletion is a fact like any other: the todo's events stay in the log,
// and an edit that comes after it in replay order finds no row to change.
const remove = `DELETE FROM todo WHERE id = :item`;

export const interpretations = {
  lww: {
    label: "Last write wins",
    about: "The latest edit in replay order wins, field by field: what registers do, but every edit is kept.",
    materializers: {
      create,
      set_content: setContent,
      set_completed: `UPDATE todo SET completed = :value WHERE id = :item`,
      delete: remove,
    },
  },
  completed: {
    label: "Completed stays completed",
    about: "A todo that was completed once stays completed, whatever happened after.",
    materializers: {
      create,
      set_content: setContent,
      set_completed: `UPDATE todo SET completed = max(completed, :value) WHERE id = :item`,
      delete: remove,
    },
  },
  churn: {
    label: "Task churn",
    about: "Last write wins, and every un-completion is listed: the churn registers cannot see.",
    materializers: {
      create,
      set_content: setContent,
      set_completed: `
        INSERT INTO churn (event, item, time)
          SELECT :id, :item, :time FROM todo WHERE id = :item AND completed = 1 AND :value = 0;
        UPDATE todo SET completed = :value WHERE id = :item`,
      delete: remove,
    },
  },
};
