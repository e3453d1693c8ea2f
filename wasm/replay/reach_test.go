package replay

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/db"
)

// TestReach holds the proof that a statement reaches only its item's row
// to the shapes it accepts, on the tables it accepts, and to nothing that
// merely looks like them.
func TestReach(t *testing.T) {
	const schema = `
		CREATE TABLE todo (id TEXT PRIMARY KEY NOT NULL, content TEXT NOT NULL DEFAULT '', completed INTEGER NOT NULL DEFAULT 0, twice INTEGER AS (completed * 2));
		CREATE TABLE note (item NOT NULL, body ANY, PRIMARY KEY (item)) WITHOUT ROWID;
		CREATE TABLE nocase (id TEXT PRIMARY KEY COLLATE NOCASE, v ANY);
		CREATE TABLE numeric (id NUMERIC PRIMARY KEY, v ANY);
		CREATE TABLE counted (id INTEGER PRIMARY KEY, v ANY);
		CREATE TABLE twokeys (a TEXT, b TEXT, v ANY, PRIMARY KEY (a, b));
		CREATE TABLE uniquev (id TEXT PRIMARY KEY, v ANY UNIQUE);
		CREATE TABLE indexed (id TEXT PRIMARY KEY, v ANY);
		CREATE UNIQUE INDEX indexed_v ON indexed (lower(v));
		CREATE TABLE plain (id TEXT, v ANY);
		CREATE VIEW open_todo AS SELECT id FROM todo WHERE completed = 0;`
	for _, tc := range []struct {
		sql  string
		want Reach
	}{
		{``, ReachNone},
		{`-- nothing`, ReachNone},
		// The row's own.
		{`UPDATE todo SET content = :value WHERE id = :item`, ReachRow},
		{`UPDATE todo SET completed = max(completed, :value) WHERE id = :item`, ReachRow},
		{`update "todo" set "content" = :value || ' (' || :peer || ')' where :item == id;`, ReachRow},
		{`UPDATE OR IGNORE todo SET (content, completed) = (:value, completed + 1) WHERE [id] = @item`, ReachRow},
		{`UPDATE todo SET content = CASE WHEN json_valid(:value) THEN json_extract(:value, '$.text') ELSE content END WHERE id = $item`, ReachRow},
		{`UPDATE note SET body = json_set(coalesce(body, '{}'), '$.' || :type, :value) WHERE item = :item`, ReachRow},
		{"UPDATE todo SET content = 'where id = :item' /* where */ WHERE id = :item -- done", ReachRow},
		// The item's own row, created or deleted.
		{`INSERT INTO todo (id, content) VALUES (:item, :value)`, ReachItem},
		{`INSERT OR IGNORE INTO main.todo (content, "id") VALUES (upper(:value), :item);`, ReachItem},
		{`REPLACE INTO note (item, body) VALUES (:item, x'00ff')`, ReachItem},
		{`DELETE FROM todo WHERE id = :item`, ReachItem},
		{`DELETE FROM note WHERE :item = item`, ReachItem},
		// Other rows, or rows that move.
		{`UPDATE todo SET id = :value WHERE id = :item`, ReachAll},
		{`UPDATE todo SET rowid = 7 WHERE id = :item`, ReachAll},
		{`UPDATE todo SET content = :value WHERE id = :value`, ReachAll},
		{`UPDATE todo SET content = :value WHERE id = :item OR 1`, ReachAll},
		{`UPDATE todo SET content = :value WHERE id = :item AND completed = 0`, ReachAll},
		{`UPDATE todo SET content = :value WHERE id IN (:item)`, ReachAll},
		{`UPDATE todo SET content = :value WHERE content = :item`, ReachAll},
		{`UPDATE todo SET completed = 1`, ReachAll},
		{`UPDATE todo SET content = (SELECT body FROM note WHERE item = :item) WHERE id = :item`, ReachAll},
		{`UPDATE todo SET content = (SELECT content FROM todo WHERE id = 'x') WHERE id = :item`, ReachAll},
		{`UPDATE todo SET content = n.body FROM note n WHERE n.item = todo.id AND todo.id = :item`, ReachAll},
		{`WITH x AS (SELECT 1) UPDATE todo SET content = :value WHERE id = :item`, ReachAll},
		{`UPDATE todo SET content = :value WHERE id = :item RETURNING id`, ReachAll},
		{`INSERT INTO todo (id, content) VALUES (:item || '!', :value)`, ReachAll},
		{`INSERT INTO todo (id, content) VALUES (:item, :value), ('other', :value)`, ReachAll},
		{`INSERT INTO todo (id, content) SELECT :item, :value`, ReachAll},
		{`INSERT INTO todo (content) VALUES (:value)`, ReachAll},
		{`INSERT INTO todo DEFAULT VALUES`, ReachAll},
		{`INSERT INTO todo (id, content) VALUES (:item, :value) ON CONFLICT (id) DO UPDATE SET content = excluded.content`, ReachAll},
		{`DELETE FROM todo WHERE id = :item OR completed = 1`, ReachAll},
		{`DELETE FROM todo`, ReachAll},
		// Tables where a key is not one item's alone.
		{`UPDATE nocase SET v = :value WHERE id = :item`, ReachAll},
		{`UPDATE numeric SET v = :value WHERE id = :item`, ReachAll},
		{`UPDATE counted SET v = :value WHERE id = :item`, ReachAll},
		{`UPDATE twokeys SET v = :value WHERE a = :item`, ReachAll},
		{`UPDATE uniquev SET v = :value WHERE id = :item`, ReachAll},
		{`UPDATE indexed SET v = :value WHERE id = :item`, ReachAll},
		{`UPDATE plain SET v = :value WHERE id = :item`, ReachAll},
		{`INSERT INTO plain (id, v) VALUES (:item, :value)`, ReachAll},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			_, e := openEngine(t, Interpretation{Schema: schema, Materializers: map[string]string{"t": tc.sql}})
			if got := e.Reach("t"); got != tc.want {
				t.Errorf("Reach = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestReachOfTypes: a type reaches as far as its farthest statement, and
// the catch-all's statements count for every type.
func TestReachOfTypes(t *testing.T) {
	const schema = `CREATE TABLE todo (id TEXT PRIMARY KEY, content TEXT, done INTEGER);`
	row := `UPDATE todo SET content = :value WHERE id = :item`
	item := `DELETE FROM todo WHERE id = :item`
	all := `UPDATE todo SET done = 0`
	for _, tc := range []struct {
		name string
		mats map[string]string
		typ  string
		want Reach
	}{
		{"one row statement", map[string]string{"t": row}, "t", ReachRow},
		{"row, then item", map[string]string{"t": row + ";" + item}, "t", ReachItem},
		{"row, then all", map[string]string{"t": row + ";" + all}, "t", ReachAll},
		{"undeclared type", map[string]string{"t": row}, "other", ReachNone},
		{"empty materializer", map[string]string{"t": ""}, "t", ReachNone},
		{"catch-all reaches the row", map[string]string{"t": "", "*": row}, "t", ReachRow},
		{"catch-all reaches all", map[string]string{"t": row, "*": all}, "other", ReachAll},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, e := openEngine(t, Interpretation{Schema: schema, Materializers: tc.mats})
			if got := e.Reach(tc.typ); got != tc.want {
				t.Errorf("Reach(%q) = %v, want %v", tc.typ, got, tc.want)
			}
		})
	}
}

// FuzzTokenize: the tokenizer never panics, and every word it returns is
// one of the text's.
func FuzzTokenize(f *testing.F) {
	for _, s := range []string{
		`UPDATE todo SET content = :value WHERE id = :item`,
		`INSERT INTO "a""b" ([c], ` + "`d`" + `) VALUES (x'00', 1.5e-3)`,
		`/* unterminated`, `'unterminated`, `-- comment`, `?1 ?`, `a->>'$.b'`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		toks, ok := tokenize(sql)
		if !ok {
			return
		}
		for _, tok := range toks {
			if tok.kind == wordToken && (tok.text == "" || !strings.Contains(sql, tok.text)) {
				t.Fatalf("word %q is not one of %q", tok.text, sql)
			}
		}
	})
}

// FuzzReach checks the proof against what a statement does: a statement
// proven to reach no further than its item's row, applied for item "a",
// leaves every other row of every table as it was — and, if it reaches
// only the row, the item's row where it was.
func FuzzReach(f *testing.F) {
	for _, s := range []string{
		`UPDATE todo SET content = :value WHERE id = :item`,
		`UPDATE note SET body = json_set(coalesce(body, '{}'), '$.x', :value) WHERE item = :item`,
		`INSERT OR REPLACE INTO todo (id, content) VALUES (:item, :value)`,
		`DELETE FROM note WHERE :item = item`,
		`UPDATE todo SET content = :value WHERE id = :item OR 1`,
		`UPDATE todo SET completed = completed + 1 WHERE "id" == @item; -- x`,
	} {
		f.Add(s)
	}
	const schema = `
		CREATE TABLE todo (id TEXT PRIMARY KEY NOT NULL, content TEXT NOT NULL DEFAULT '', completed INTEGER NOT NULL DEFAULT 0);
		CREATE TABLE note (item NOT NULL, body ANY, PRIMARY KEY (item)) WITHOUT ROWID;
		CREATE TABLE other (k TEXT, v ANY);`
	f.Fuzz(func(t *testing.T, sql string) {
		c, err := db.Open(context.Background(), ":memory:", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		e, _, err := Open(c, Interpretation{Schema: schema, Materializers: map[string]string{"t": sql}})
		if err != nil {
			return // refused, or not SQL
		}
		defer e.Close()
		reach := e.Reach("t")
		if reach == ReachAll || reach == ReachNone {
			return
		}
		err = c.Script(`
			INSERT INTO todo (rowid, id, content) VALUES (5, 'a', 'x'), (3, 'b', 'y'), (9, 'c', 'z');
			INSERT INTO note (item, body) VALUES ('a', 1), ('b', 2);
			INSERT INTO other (k, v) VALUES ('a', 1), ('b', 2);`)
		if err != nil {
			t.Fatal(err)
		}
		rows := func(where string) string {
			return dumpQueries(t, c,
				`SELECT rowid, * FROM todo WHERE `+where+` ORDER BY rowid`,
				`SELECT * FROM note WHERE `+strings.ReplaceAll(where, "id", "item")+` ORDER BY item`,
				`SELECT rowid, * FROM other ORDER BY rowid`)
		}
		others, mine := rows(`id IS NOT 'a'`), rows(`id = 'a'`)
		ev := event.Event{Peer: event.PeerID{1}, Seq: 1, Clock: 1, Item: "a", Type: "t", Value: []byte(`"v"`)}
		ev.ID = ev.Hash()
		var mat *MaterializeError
		if err := c.Tx(func() error { return e.Apply(&ev) }); err != nil && !errors.As(err, &mat) {
			t.Fatal(err)
		}
		if got := rows(`id IS NOT 'a'`); got != others {
			t.Fatalf("%q reaches %v, but changed other rows:\n%s\nwere:\n%s", sql, reach, got, others)
		}
		if reach == ReachRow {
			got := rows(`id = 'a'`)
			if strings.Split(got, " ")[0] != strings.Split(mine, " ")[0] {
				t.Fatalf("%q reaches its row, but moved it:\n%s\nwas:\n%s", sql, got, mine)
			}
		}
	})
}
