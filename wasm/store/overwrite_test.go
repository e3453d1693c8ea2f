package store_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/todo"
	"pgregory.net/rapid"
)

// TestOverwrites: an import skips the edits that later edits of the same
// fields overwrite (replay.Engine.Superseded) — and leaves the state, and
// the failures it reports, as a store that skips nothing: its
// interpretation has a type (never used) that reads every column, so no
// column is blind. The log holds edits that fail (null content, which the
// todo table refuses) and edits of rows that do not exist. Each case has
// items of its own in the same two stores, one author's chain going on
// from case to case; at the end, a rebuild must give the same state.
func TestOverwrites(t *testing.T) {
	ctx := context.Background()
	open := func(i int, materializers map[string]string) *store.Store {
		s, err := store.Open(ctx, store.Options{Schema: todo.Schema, Materializers: materializers, Rand: peerSeed(i), Now: fakeClock()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	reads := maps.Clone(todo.LastWriterWins)
	reads["peek"] = `INSERT INTO churn (event, item, time) SELECT content, id, completed FROM todo WHERE id = :item`
	plain, all := open(1, reads), open(2, todo.LastWriterWins)
	failed := func(res *store.ImportResult) (ids []event.ID) {
		for _, m := range res.Skipped {
			ids = append(ids, m.Event)
		}
		return ids
	}
	var last *event.Event
	cases := 0
	rapid.Check(t, func(rt *rapid.T) {
		cases++
		var evs []event.Event
		for range rapid.IntRange(1, 40).Draw(rt, "events") {
			e := event.Event{Peer: author(101), Seq: 1, Clock: 1, Time: 1_700_000_000_000,
				Item:  fmt.Sprintf("%s%d", rapid.SampledFrom([]string{"x", "y"}).Draw(rt, "item"), cases),
				Type:  rapid.SampledFrom([]string{"create", "set_content", "set_content", "set_completed", "delete"}).Draw(rt, "type"),
				Value: []byte(rapid.SampledFrom([]string{`"a"`, `"b"`, `1`, `true`, `null`}).Draw(rt, "value"))}
			if last != nil {
				e.Parents, e.Seq, e.Clock = []event.ID{last.ID}, last.Seq+1, last.Clock+1
			}
			e.ID = e.Hash()
			evs = append(evs, e)
			last = &evs[len(evs)-1]
		}
		batch := encode(rt, evs...)
		res, err := plain.Import(ctx, batch)
		if err != nil {
			rt.Fatal(err)
		}
		want := failed(res)
		if res, err = all.Import(ctx, batch); err != nil {
			rt.Fatal(err)
		}
		if got := failed(res); !slices.Equal(got, want) {
			rt.Fatalf("the import reports %d failed events, the store that skips nothing %d:\n%v\n%v", len(got), len(want), got, want)
		}
		rows := func(s *store.Store) string {
			r, err := s.Query(ctx, `SELECT * FROM todo WHERE id IN (?, ?) ORDER BY id`, fmt.Sprint("x", cases), fmt.Sprint("y", cases))
			if err != nil {
				rt.Fatal(err)
			}
			return fmt.Sprint(r.Values)
		}
		if got, want := rows(all), rows(plain); got != want {
			rt.Fatalf("with skips:\n%s\nwithout:\n%s", got, want)
		}
	})
	if err := all.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := stateDump(t, all), stateDump(t, plain); got != want {
		t.Fatalf("rebuilt:\n%s\nwithout skips:\n%s", got, want)
	}
}

// TestOverwriteOfMovedRow: a statement that gives a row another key
// carries its columns to another item without reading them. An edit of
// an item, then the move, then another edit of the item (which finds no
// row): the first edit is not superseded — it moved along. A replica
// that imports all of it at once, and a rebuild, must keep it.
func TestOverwriteOfMovedRow(t *testing.T) {
	opts := func(i int) store.Options {
		return store.Options{Schema: `CREATE TABLE t (k TEXT PRIMARY KEY NOT NULL, v ANY)`, Materializers: map[string]string{
			"ins":  `INSERT INTO t (k) VALUES (:item)`,
			"set":  `UPDATE t SET v = :value WHERE k = :item`,
			"move": `UPDATE t SET k = :value WHERE k = :item`,
		}, Rand: peerSeed(i), Now: fakeClock()}
	}
	appendImportRebuild(t, opts, [][3]string{{"a", "ins", `0`}, {"a", "set", `"x"`}, {"a", "move", `"b"`}, {"a", "set", `"y"`}},
		`SELECT k, v FROM t`, "[[b x]]")
}

// TestOverwriteOfIndexedColumn: a statement that reads no column of a
// table can still see its values through an index's order — "the first
// row" without ORDER BY scans an index on the column when that covers
// it. An edit of the column, a pick of the first row, another edit of
// the column: the first edit decides what is picked, so it is not
// superseded. A replica that imports all of it at once, and a rebuild,
// must pick what the author picked.
func TestOverwriteOfIndexedColumn(t *testing.T) {
	opts := func(i int) store.Options {
		return store.Options{Schema: `CREATE TABLE t (k TEXT PRIMARY KEY NOT NULL, v ANY); CREATE INDEX t_v ON t (v); CREATE TABLE pick (x)`, Materializers: map[string]string{
			"ins":  `INSERT INTO t (k, v) VALUES (:item, :value)`,
			"set":  `UPDATE t SET v = :value WHERE k = :item`,
			"pick": `INSERT INTO pick (x) SELECT rowid FROM t LIMIT 1`,
		}, Rand: peerSeed(i), Now: fakeClock()}
	}
	appendImportRebuild(t, opts, [][3]string{{"a", "ins", `1`}, {"b", "ins", `2`}, {"a", "set", `5`}, {"p", "pick", `0`}, {"a", "set", `0`}},
		`SELECT x FROM pick`, "[[2]]") // b's row: a's v was 5 when the pick ran
}

// appendImportRebuild appends evs (item, type, value) one by one to a
// store opened with opts(1), imports them at once into one opened with
// opts(2), rebuilds the first, and requires query to read want from each.
func appendImportRebuild(t *testing.T, opts func(int) store.Options, evs [][3]string, query, want string) {
	t.Helper()
	ctx := context.Background()
	a, err := store.Open(ctx, opts(1))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, e := range evs {
		if _, err := a.Append(ctx, e[0], e[1], []byte(e[2])); err != nil {
			t.Fatal(err)
		}
	}
	b, err := store.Open(ctx, opts(2))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sendAll(t, a, b)
	state := func(s *store.Store) string {
		rows, err := s.Query(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(rows.Values)
	}
	if got := state(a); got != want {
		t.Fatalf("appended one by one: %s, want %s", got, want)
	}
	if got := state(b); got != want {
		t.Errorf("imported at once: %s, want %s", got, want)
	}
	if err := a.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := state(a); got != want {
		t.Errorf("rebuilt: %s, want %s", got, want)
	}
}
