package store_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/todo"
)

// TestMergeItems: a late edit re-applies only the events about its item
// when every event from its place on reaches only its own item's rows,
// and everything from its place on otherwise — with the same state either
// way, the one a fresh replica computes.
func TestMergeItems(t *testing.T) {
	ctx := context.Background()
	const items, rounds = 10, 5
	for _, tc := range []struct {
		name          string
		schema        string
		materializers map[string]string
		extra         string // what A appends in the late event's past, besides the edits
		reapplied     int    // here a full replay rebuilds: everything before is re-applied
	}{
		{"last writer wins", todo.Schema, todo.LastWriterWins, "", rounds},
		{"stays completed", todo.Schema, todo.StaysCompleted, "", rounds},
		{"appending", todo.Schema, appending, "", rounds},
		{"another item deleted", todo.Schema, todo.LastWriterWins, "delete x5", rounds},
		{"another item created", todo.Schema, todo.LastWriterWins, "create y1", rounds},
		{"the item deleted", todo.Schema, todo.LastWriterWins, "delete x3", items*(rounds+1) + 1},
		{"an event that reads other rows", todo.Schema, todo.Churn, "set_completed x5", items*(rounds+1) + 1},
		{"keys that ignore case", `CREATE TABLE todo (id TEXT PRIMARY KEY COLLATE NOCASE, content TEXT, completed INTEGER)`, todo.LastWriterWins, "", items * (rounds + 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open := func(i int) *store.Store {
				s, err := store.Open(ctx, store.Options{Schema: tc.schema, Materializers: tc.materializers, Rand: peerSeed(i), Now: fakeClock()})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			a, b := open(1), open(2)
			for i := range items {
				mustAppend(t, a, fmt.Sprintf("x%d", i), "create", `"todo"`)
			}
			sendAll(t, a, b)
			for r := range rounds {
				for i := range items {
					mustAppend(t, a, fmt.Sprintf("x%d", i), "set_content", fmt.Sprintf(`"a%d"`, r))
				}
			}
			if tc.extra != "" {
				var typ, item string
				fmt.Sscan(tc.extra, &typ, &item)
				mustAppend(t, a, item, typ, `0`)
			}
			late := mustAppend(t, b, "x3", "set_content", `"from b"`)
			if res := sendAll(t, b, a); res.Added != 1 || res.Reapplied != tc.reapplied {
				t.Errorf("added %d, re-applied %d events; want 1, %d", res.Added, res.Reapplied, tc.reapplied)
			}
			fresh := open(3)
			sendAll(t, a, fresh)
			if got, want := snapshot(t, a), snapshot(t, fresh); got != want {
				t.Fatalf("after the late event %s:\n%s\nwant (a fresh import):\n%s", late.ID, got, want)
			}
		})
	}
}

func mustAppend(t *testing.T, s *store.Store, item, typ, value string) event.Event {
	t.Helper()
	e, err := s.Append(context.Background(), item, typ, []byte(value))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestUndoLogOfEarlierFormat opens a store whose undo log an earlier
// factlog recorded (its entries numbered in the order they were made:
// testdata/undo-rowid.db, 54 events of a todo list read by appending),
// and merges late
// events that rewind through those entries — the rows of one item
// (testdata/undo-rowid-row.batch), or the whole state, for a late edit of
// an item deleted since (-deleted.batch). The state must be a fresh
// replica's.
func TestUndoLogOfEarlierFormat(t *testing.T) {
	ctx := context.Background()
	open := func(path string, seed int) *store.Store {
		s, err := store.Open(ctx, store.Options{Path: path, Schema: todo.Schema, Materializers: appending, Rand: peerSeed(seed), Now: fakeClock()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	for _, tc := range []struct{ batch string }{{"row"}, {"deleted"}} {
		t.Run(tc.batch, func(t *testing.T) {
			late, err := os.ReadFile("testdata/undo-rowid-" + tc.batch + ".batch")
			if err != nil {
				t.Fatal(err)
			}
			old := open(testdataCopy(t, "undo-rowid.db"), 1)
			res, err := old.Import(ctx, late)
			if err != nil {
				t.Fatal(err)
			}
			// Fewer than all 54: a rewind through the undo log, not a rebuild.
			if res.Added == 0 || res.Reapplied == 0 || res.Reapplied >= 54 {
				t.Fatalf("the late batch added %d events and re-applied %d; the fixture should make it rewind", res.Added, res.Reapplied)
			}
			fresh := open("", 9)
			sendAll(t, old, fresh)
			if got, want := stateDump(t, old), stateDump(t, fresh); got != want {
				t.Fatalf("after merging into the old undo log:\n%s\nwant (a fresh import):\n%s", got, want)
			}
		})
	}
}

// appending reads the todo list's edits as additions (the content grows,
// completions count in binary), so that an edit applied twice, or to the
// wrong image of its row, shows.
var appending = map[string]string{
	"create":        todo.LastWriterWins["create"],
	"set_content":   `UPDATE todo SET content = content || ' ' || :value WHERE id = :item`,
	"set_completed": `UPDATE todo SET completed = completed * 2 + :value WHERE id = :item`,
	"delete":        todo.LastWriterWins["delete"],
}

// TestUndoFunctionFromQuery: the undo log's own function, called from an
// application's query, gives nothing and disturbs nothing.
func TestUndoFunctionFromQuery(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Schema: todo.Schema, Materializers: appending, Rand: peerSeed(1), Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustAppend(t, s, "x", "create", `"a"`)
	rows, err := s.Query(ctx, `SELECT factlog_undo(0) AS u, factlog_undo(99) AS v`)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(rows.Values); got != "[[<nil> <nil>]]" {
		t.Errorf("factlog_undo from a query = %s, want NULLs", got)
	}
	mustAppend(t, s, "x", "set_content", `"b"`)
	if got := stateDump(t, s); !strings.Contains(got, "a b") {
		t.Errorf("after the query, the append did not apply:\n%s", got)
	}
}

// TestDumpTextWithNul: items and values may hold NUL characters, and rows
// that differ only after one are different rows: Dump, which tells
// whether two replicas hold the same state, must write them apart.
func TestDumpTextWithNul(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Schema: `CREATE TABLE t (k TEXT PRIMARY KEY NOT NULL, v ANY)`,
		Materializers: map[string]string{"put": `INSERT INTO t (k, v) VALUES (:item, :value)`}, Rand: peerSeed(1), Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, e := range [][2]string{{"a\x00x", `"v\u0000x"`}, {"a\x00y", `"v\u0000y"`}, {"b", `"w"`}} {
		if _, err := s.Append(ctx, e[0], "put", []byte(e[1])); err != nil {
			t.Fatal(err)
		}
	}
	const want = `INSERT INTO "t" VALUES(1,CAST(X'610078' AS TEXT),CAST(X'760078' AS TEXT));
INSERT INTO "t" VALUES(2,CAST(X'610079' AS TEXT),CAST(X'760079' AS TEXT));
INSERT INTO "t" VALUES(3,'b','w');
`
	if got := stateDump(t, s); got != want {
		t.Fatalf("dump:\n%s\nwant:\n%s", got, want)
	}
}
