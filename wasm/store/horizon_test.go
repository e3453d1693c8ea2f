package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/factlog/factlog/wasm/store"
)

// undoRows counts what the undo log holds, across the state tables.
func undoRows(t testing.TB, s *store.Store) int64 {
	t.Helper()
	ctx := context.Background()
	names, err := s.Query(ctx, `SELECT name FROM sqlite_schema WHERE name LIKE '\_factlog\_undo\_%' ESCAPE '\' AND type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	if len(names.Values) == 0 {
		t.Fatal("no undo tables")
	}
	var n int64
	for _, row := range names.Values {
		rows, err := s.Query(ctx, fmt.Sprintf(`SELECT count(*) FROM "%s"`, row[0]))
		if err != nil {
			t.Fatal(err)
		}
		n += rows.Values[0][0].(int64)
	}
	return n
}

// TestUndoHorizon: the undo log keeps what it takes to rewind the last
// UndoHorizon events, not more; an event that sorts further into the past
// rebuilds the state from the whole log, reporting progress, and every
// replica still agrees.
func TestUndoHorizon(t *testing.T) {
	ctx := context.Background()
	const horizon = 50
	var progress []string
	open := func(i int) *store.Store {
		s, err := store.Open(ctx, store.Options{
			Schema: testSchema, Materializers: testMaterializers, Rand: peerSeed(i), Now: fakeClock(),
			UndoHorizon: horizon,
			Progress:    func(done, total int) { progress = append(progress, fmt.Sprintf("%d/%d", done, total)) },
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(1), open(2)
	for i := range 600 {
		if _, err := a.Append(ctx, fmt.Sprint(i%7), "label", fmt.Appendf(nil, `"%d"`, i)); err != nil {
			t.Fatal(err)
		}
	}
	// Each label event changes two rows (label and tally); the log may
	// run up to twice the horizon before it is trimmed.
	if n := undoRows(t, a); n > 2*2*horizon {
		t.Fatalf("%d undo rows after 600 events with a horizon of %d events", n, horizon)
	}
	// b's event will be late, but well within the horizon.
	if _, err := b.Append(ctx, "x", "label", []byte(`"b"`)); err != nil {
		t.Fatal(err)
	}
	sendAll(t, a, b)
	progress = nil
	// A late event past the horizon: a full rebuild, with progress.
	c := open(3)
	if _, err := c.Append(ctx, "1", "label", []byte(`"c"`)); err != nil {
		t.Fatal(err)
	}
	sendAll(t, c, a)
	if len(progress) == 0 || !strings.HasSuffix(progress[len(progress)-1], "/601") {
		t.Fatalf("progress %v, want a rebuild of 601 events reported", progress)
	}
	sendAll(t, b, a) // b's event is within a's horizon: a rewind
	sendAll(t, a, c)
	sendAll(t, a, b)
	fresh := open(4)
	sendAll(t, a, fresh)
	want := stateDump(t, fresh)
	for name, s := range map[string]*store.Store{"a": a, "b": b, "c": c} {
		if got := stateDump(t, s); got != want {
			t.Fatalf("replica %s differs from a fresh import:\n%s\nwant:\n%s", name, got, want)
		}
	}
	// Within the horizon: a rewind, no rebuild.
	progress = nil
	if _, err := c.Append(ctx, "2", "label", []byte(`"c2"`)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, "3", "label", []byte(`"a2"`)); err != nil {
		t.Fatal(err)
	}
	sendAll(t, c, a)
	if len(progress) != 0 {
		t.Fatalf("a late event within the horizon rebuilt the state: %v", progress)
	}
}
