package replay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/ncruces/go-sqlite3"
	"pgregory.net/rapid"
)

// shapes has a table of every shape the undo log handles.
var shapes = Interpretation{
	Schema: `
		CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0, twice INTEGER AS (n * 2));
		CREATE TABLE named (name TEXT PRIMARY KEY, note TEXT, weight REAL);
		CREATE TABLE pair (a TEXT NOT NULL, b INTEGER NOT NULL, v ANY, PRIMARY KEY (b, a)) WITHOUT ROWID;
		CREATE TABLE bag (v ANY);
		CREATE UNIQUE INDEX named_note ON named (note);`,
	Materializers: map[string]string{
		"inc":     `INSERT INTO counter (id, n) VALUES (:value % 3, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1`,
		"name":    `INSERT OR REPLACE INTO named (name, note, weight) VALUES (:item, :value, :clock / 3.0)`,
		"rename":  `UPDATE named SET name = :value WHERE name = :item`,
		"unname":  `DELETE FROM named WHERE name = :item`,
		"pair":    `INSERT INTO pair (a, b, v) VALUES (:item, :value % 2, :id) ON CONFLICT DO UPDATE SET v = excluded.v`,
		"repair":  `UPDATE pair SET b = b + 1 WHERE a = :item; DELETE FROM bag WHERE rowid = :value`,
		"bag":     `INSERT INTO bag (v) VALUES (:value); INSERT INTO bag (v) VALUES (x'00ff')`,
		"unbag":   `DELETE FROM bag WHERE rowid % 3 = :value % 3`,
		"counter": `UPDATE counter SET id = id + 10 WHERE id = :value % 3`,
	},
}

// openEngine opens an engine on a connection of its own, both closed when
// the test ends.
func openEngine(t testing.TB, in Interpretation) (*db.Conn, *Engine) {
	t.Helper()
	c, e := openOwnEngine(t, in)
	t.Cleanup(func() { c.Close() })
	t.Cleanup(e.Close)
	return c, e
}

// openOwnEngine is openEngine whose caller closes both, as one case of a
// property test does: thousands of cases must not hold their connections
// until the test ends.
func openOwnEngine(t interface {
	Helper()
	Fatal(...any)
}, in Interpretation) (*db.Conn, *Engine) {
	t.Helper()
	c, err := db.Open(context.Background(), ":memory:", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := Open(c, in)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c, e
}

func dumpState(t testing.TB, c *db.Conn) string {
	t.Helper()
	return dumpQueries(t, c,
		`SELECT id, n, twice FROM counter ORDER BY id`,
		`SELECT rowid, name, note, weight FROM named ORDER BY rowid`,
		`SELECT a, b, v FROM pair ORDER BY b, a`,
		`SELECT rowid, quote(v) FROM bag ORDER BY rowid`)
}

// dumpQueries is the rows of each query, a line each, the queries ended
// by "--".
func dumpQueries(t testing.TB, c *db.Conn, queries ...string) string {
	t.Helper()
	var b strings.Builder
	for _, q := range queries {
		err := c.Query(q, nil, func(s *sqlite3.Stmt) error {
			for i := range s.ColumnCount() {
				fmt.Fprintf(&b, "%v ", db.Column(s, i))
			}
			b.WriteByte('\n')
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("--\n")
	}
	return b.String()
}

// TestRewind: rewinding to any clock and re-applying the events from there
// gives back the state, and so does a reset and a full replay.
func TestRewind(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c, e := openOwnEngine(rt, shapes)
		defer c.Close()
		defer e.Close()
		if err := c.Tx(func() error { return e.Reset(0) }); err != nil {
			rt.Fatal(err)
		}
		var evs []event.Event
		clock := uint64(1)
		for i := range rapid.IntRange(1, 40).Draw(rt, "events") {
			clock += uint64(rapid.IntRange(0, 1).Draw(rt, "tick"))
			ev := event.Event{
				Peer: event.PeerID{1}, Seq: uint64(i + 1), Clock: clock,
				Item:  rapid.SampledFrom([]string{"x", "y", "z"}).Draw(rt, "item"),
				Type:  rapid.SampledFrom([]string{"inc", "name", "rename", "unname", "pair", "repair", "bag", "unbag", "counter", "none"}).Draw(rt, "type"),
				Value: fmt.Append(nil, rapid.IntRange(0, 5).Draw(rt, "value")),
			}
			if rapid.Bool().Draw(rt, "text") {
				ev.Value = fmt.Appendf(nil, `"%s"`, rapid.SampledFrom([]string{"x", "y", "w"}).Draw(rt, "text"))
			}
			ev.ID = ev.Hash()
			evs = append(evs, ev)
		}
		apply := func(from uint64) {
			err := c.Tx(func() error {
				for i := range evs {
					if evs[i].Clock >= from {
						var mat *MaterializeError
						if err := e.Apply(&evs[i]); err != nil && !errors.As(err, &mat) {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				rt.Fatal(err)
			}
		}
		apply(0)
		want := dumpState(t, c)
		to := uint64(rapid.IntRange(1, int(clock)+1).Draw(rt, "rewind to"))
		if err := c.Tx(func() error { return e.Rewind(to) }); err != nil {
			rt.Fatal(err)
		}
		apply(to)
		if got := dumpState(t, c); got != want {
			rt.Fatalf("after rewinding to clock %d and re-applying:\n%s\nwant:\n%s", to, got, want)
		}
		if err := c.Tx(func() error { return e.Reset(0) }); err != nil {
			rt.Fatal(err)
		}
		apply(0)
		if got := dumpState(t, c); got != want {
			rt.Fatalf("after a reset and a full replay:\n%s\nwant:\n%s", got, want)
		}
	})
}

func TestOpenRejects(t *testing.T) {
	tests := []struct {
		name  string
		in    Interpretation
		match string
	}{
		{"autoincrement", Interpretation{Schema: `CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT)`}, "AUTOINCREMENT"},
		{"trigger", Interpretation{Schema: `CREATE TABLE t (id INTEGER PRIMARY KEY); CREATE TRIGGER t_i AFTER INSERT ON t BEGIN SELECT 1; END`}, "trigger t_i"},
		{"unknown parameter", Interpretation{Schema: `CREATE TABLE t (v)`, Materializers: map[string]string{"x": `INSERT INTO t VALUES (:who)`}}, `parameter ":who"`},
		{"positional parameter", Interpretation{Schema: `CREATE TABLE t (v)`, Materializers: map[string]string{"x": `INSERT INTO t VALUES (?)`}}, `parameter "?"`},
		{"bad SQL", Interpretation{Materializers: map[string]string{"x": `INSERT INTO nowhere VALUES (1)`}}, "no such table"},
		{"bad schema", Interpretation{Schema: `CREATE TABLE (`}, "schema: sqlite3: SQL logic error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := db.Open(context.Background(), ":memory:", "", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, _, err = Open(c, tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.match) {
				t.Fatalf("Open() error = %v, want one that says %q", err, tt.match)
			}
		})
	}
}

// TestReinterpret: a changed interpretation drops the old state tables and
// asks for a rebuild; the same one does not.
func TestReinterpret(t *testing.T) {
	c, err := db.Open(context.Background(), ":memory:", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	first := Interpretation{Schema: `CREATE TABLE old (v); CREATE VIEW old_view AS SELECT * FROM old`}
	for i, step := range []struct {
		in      Interpretation
		rebuild bool
		tables  string
	}{
		{first, true, "[old old_view]"},
		{first, false, "[old old_view]"},
		{Interpretation{Schema: `CREATE TABLE new (v)`}, true, "[new]"},
	} {
		e, rebuild, err := Open(c, step.in)
		if err != nil {
			t.Fatal(err)
		}
		if rebuild != step.rebuild || fmt.Sprint(e.Tables()) != step.tables {
			t.Fatalf("step %d: rebuild %v, tables %v; want %v, %s", i, rebuild, e.Tables(), step.rebuild, step.tables)
		}
		e.Close()
	}
	if _, ok, _ := c.Int64(`SELECT 1 FROM sqlite_schema WHERE name IN ('old', 'old_view', '_factlog_undo_old')`); ok {
		t.Fatal("the old state tables are still there")
	}
}
