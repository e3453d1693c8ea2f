package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/factlog/factlog/wasm/store"
)

// TestQueryGuard: Query reads everything and writes the application's own
// tables, but nothing it sends can change the log or the state, nor
// change how the interpretation runs — whatever names it picks.
func TestQueryGuard(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, 1)
	defer s.Close()
	for i, item := range []string{"1", "2", "3"} {
		if _, err := s.Append(ctx, item, "create", []byte(`"todo"`)); err != nil {
			t.Fatal(err)
		}
		_ = i
	}
	if _, err := s.Query(ctx, `CREATE TABLE mine (v)`); err != nil {
		t.Fatal(err)
	}
	before := storedDump(t, s)
	refused := []struct{ sql, match string }{
		{`CREATE TEMP TRIGGER _factlog_x AFTER INSERT ON mine BEGIN DELETE FROM event; DELETE FROM todo; END`, "_factlog_"},
		{`CREATE TRIGGER _factlog_y AFTER INSERT ON mine BEGIN SELECT 1; END`, "_factlog_"},
		{`CREATE TABLE _factlog_z (v)`, "_factlog_"},
		{`CREATE TEMP TRIGGER on_todo AFTER INSERT ON todo BEGIN INSERT INTO mine VALUES (1); END`, "todo"},
		{`CREATE TEMP TABLE todo (id TEXT, content TEXT, completed INTEGER)`, "todo"},
		{`CREATE TEMP VIEW event AS SELECT 1`, "event"},
		{`CREATE VIEW tally AS SELECT 1`, "tally"},
		{`CREATE INDEX todo_content ON todo (content)`, "todo"},
		{`ALTER TABLE todo ADD COLUMN extra`, "todo"},
		{`DROP TABLE todo`, "todo"},
		{`DELETE FROM todo`, "todo"},
		{`UPDATE event SET value = 'null'`, "event"},
		{`INSERT INTO event_dag VALUES ('a', 'b')`, "event_dag"},
		{`DELETE FROM _factlog_head`, "_factlog_head"},
		{`ANALYZE`, "ANALYZE"},
		{`PRAGMA optimize`, "optimize"},
		{`PRAGMA user_version = 7`, "user_version"},
		{`PRAGMA recursive_triggers = OFF`, "recursive_triggers"},
		{`ATTACH ':memory:' AS other`, "ATTACH"},
		{`VACUUM`, "VACUUM"},
		{`BEGIN`, "transaction"},
		{`SAVEPOINT x`, "transaction"},
	}
	for _, tt := range refused {
		_, err := s.Query(ctx, tt.sql)
		if err == nil || !strings.Contains(err.Error(), tt.match) {
			t.Errorf("Query(%q) = %v, want a refusal naming %s", tt.sql, err, tt.match)
		}
	}
	// A trigger of the application's own, whatever its body, cannot
	// reach further than a query: its body is held to the same rules.
	if _, err := s.Query(ctx, `CREATE TEMP TRIGGER sneaky AFTER INSERT ON mine BEGIN DELETE FROM event; DELETE FROM todo; END`); err != nil {
		t.Fatalf("a trigger on an application table: %v", err)
	}
	if _, err := s.Query(ctx, `INSERT INTO mine VALUES (1)`); err == nil {
		t.Fatal("an insert whose trigger empties the log succeeded")
	}
	if got := storedDump(t, s); got != before {
		t.Fatalf("queries changed the log or the state:\n%s\nwas:\n%s", got, before)
	}
	// What the application may do.
	for _, sql := range []string{
		`DROP TRIGGER sneaky`,
		`INSERT INTO mine VALUES (1)`,
		`CREATE TEMP TABLE scratch AS SELECT * FROM todo`,
		`CREATE INDEX mine_v ON mine (v)`,
		`SELECT t.id, e.type FROM todo t JOIN event e ON e.item_id = t.id`,
		`PRAGMA table_info(todo)`,
		`PRAGMA integrity_check`,
		`SELECT datetime('now'), random()`,
	} {
		if _, err := s.Query(ctx, sql); err != nil {
			t.Errorf("Query(%q): %v", sql, err)
		}
	}
	if _, err := s.Append(ctx, "4", "create", []byte(`"after"`)); err != nil {
		t.Fatal(err)
	}
	mustRebuildSame(t, s, "after the refused statements")
}

// TestWatchGuard: a watch is a query and is held to the same rules.
func TestWatchGuard(t *testing.T) {
	s := openTest(t, 1)
	defer s.Close()
	_, err := s.Watch(context.Background(), `DELETE FROM todo RETURNING *`, nil, func(*store.Rows, error) {})
	if err == nil {
		t.Fatal("a watch that writes was accepted")
	}
}
