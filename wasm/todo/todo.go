// Package todo holds the seed's todo example as factlog interpretations:
// one event log of todo edits, read in several ways. They are nothing but
// SQL; an application writes its own the same way.
//
// The events: "create" (value: the text), "set_content" (value: the text),
// "set_completed" (value: true or false) and "delete", each about an item,
// the todo's id.
package todo

// Schema is the state of every interpretation here: the todo list, and the
// list of un-completions that Churn fills.
const Schema = `
CREATE TABLE todo (
	id        TEXT PRIMARY KEY NOT NULL,
	content   TEXT NOT NULL DEFAULT '',
	completed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE churn (
	event TEXT PRIMARY KEY NOT NULL, -- the set_completed event that un-completed
	item  TEXT NOT NULL,
	time  INTEGER NOT NULL
);`

// LastWriterWins is the plain reading: the last edit in replay order wins.
var LastWriterWins = map[string]string{
	"create":        `INSERT OR IGNORE INTO todo (id, content) VALUES (:item, :value)`,
	"set_content":   `UPDATE todo SET content = :value WHERE id = :item`,
	"set_completed": `UPDATE todo SET completed = :value WHERE id = :item`,
	"delete":        `DELETE FROM todo WHERE id = :item`,
}

// StaysCompleted is the seed's second reading: a completed todo cannot be
// un-completed, whatever was edited later.
var StaysCompleted = map[string]string{
	"create":        LastWriterWins["create"],
	"set_content":   LastWriterWins["set_content"],
	"set_completed": `UPDATE todo SET completed = max(completed, :value) WHERE id = :item`,
	"delete":        LastWriterWins["delete"],
}

// Churn is last-writer-wins that also lists every un-completion, the "task
// churn" the seed says registers cannot tell.
var Churn = map[string]string{
	"create":      LastWriterWins["create"],
	"set_content": LastWriterWins["set_content"],
	"set_completed": `
		INSERT INTO churn (event, item, time)
			SELECT :id, :item, :time FROM todo WHERE id = :item AND completed = 1 AND :value = 0;
		UPDATE todo SET completed = :value WHERE id = :item`,
	"delete": LastWriterWins["delete"],
}

// FieldSchema and Fields are the generic last-writer-wins view: the latest
// value of every (item, event type), whatever the types are.
const FieldSchema = `CREATE TABLE field (item TEXT NOT NULL, type TEXT NOT NULL, value ANY, PRIMARY KEY (item, type)) WITHOUT ROWID`

// Fields materializes FieldSchema from every event.
var Fields = map[string]string{
	"*": `INSERT INTO field (item, type, value) VALUES (:item, :type, :value)
		ON CONFLICT (item, type) DO UPDATE SET value = excluded.value`,
}
