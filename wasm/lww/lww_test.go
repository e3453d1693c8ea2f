package lww

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/todo"

	"pgregory.net/rapid"
)

func openTodo(t testing.TB) *Registers {
	t.Helper()
	r := open(t)
	t.Cleanup(func() { r.Close() })
	return r
}

func open(t interface{ Fatal(...any) }) *Registers {
	r, err := Open(context.Background(), Options{Table: "todo", Columns: []string{"content", "completed"}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSetAndMerge(t *testing.T) {
	ctx := context.Background()
	a, b := openTodo(t), openTodo(t)
	a.Set(ctx, "1", "content", []byte(`"make pasta"`))
	a.Set(ctx, "1", "completed", []byte(`true`))
	sync(t, a, b)
	// Concurrent: b renames once, a renames twice: a's clock is higher.
	b.Set(ctx, "1", "content", []byte(`"cook"`))
	a.Set(ctx, "1", "content", []byte(`"boil water"`))
	a.Set(ctx, "1", "content", []byte(`"boil"`))
	// Concurrent with equal clocks: the bigger value wins.
	a.Set(ctx, "1", "completed", []byte(`false`))
	b.Set(ctx, "1", "completed", []byte(`true`))
	sync(t, a, b)
	sync(t, b, a)
	for _, r := range []*Registers{a, b} {
		_, rows, err := r.Rows(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := [][]any{{"1", "boil", int64(1)}}; !reflect.DeepEqual(rows, want) {
			t.Fatalf("rows %v, want %v", rows, want)
		}
	}
	st, _ := a.State(ctx)
	if st[0].Column != "completed" || st[0].Clock != 2 || st[1].Clock != 3 {
		t.Fatalf("state %+v", st)
	}
}

// TestSetAgain: a set sent again after its answer was lost (a tab's
// leader went away) leaves a register that holds its value as it is: the
// first set was applied, and a later clock would win over a concurrent
// write it should tie with. Where the value differs (the first set was
// not applied, or another came after it), it is a set.
func TestSetAgain(t *testing.T) {
	ctx := context.Background()
	a, b := openTodo(t), openTodo(t)
	for _, step := range []struct {
		again bool
		value string
		clock uint64
	}{
		{false, `"cook"`, 1},
		{true, `"cook"`, 1},   // applied the first time: not again
		{true, ` "cook" `, 1}, // the same value, written otherwise
		{true, `"boil"`, 2},   // not applied: set
		{false, `"boil"`, 3},  // a set of the same value still moves on
	} {
		set := a.Set
		if step.again {
			set = a.SetAgain
		}
		reg, err := set(ctx, "1", "content", []byte(step.value))
		if err != nil {
			t.Fatal(err)
		}
		if reg.Clock != step.clock || string(reg.Value) != strings.TrimSpace(step.value) {
			t.Fatalf("set again %v of %s: %+v, want clock %d", step.again, step.value, reg, step.clock)
		}
	}
	// A register never set is set, again or not.
	if reg, err := a.SetAgain(ctx, "2", "content", []byte(`"new"`)); err != nil || reg.Clock != 1 {
		t.Fatalf("a first set, sent again: %+v, %v", reg, err)
	}
	// b's concurrent write at clock 3, with a bigger value, ties with a's
	// and wins; a's set sent again does not take it back.
	b.Set(ctx, "1", "content", []byte(`"a"`))
	b.Set(ctx, "1", "content", []byte(`"b"`))
	b.Set(ctx, "1", "content", []byte(`"zz"`))
	sync(t, b, a)
	if reg, err := a.SetAgain(ctx, "1", "content", []byte(`"zz"`)); err != nil || reg.Clock != 3 {
		t.Fatalf("set again of the value a merge brought: %+v, %v", reg, err)
	}
}

func sync(t interface{ Fatal(...any) }, from, to *Registers) {
	b, err := from.ExportState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := to.MergeState(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

// TestConvergence: 2–6 replicas write at random and merge each other's
// states in random order, some more than once; after everyone has merged
// everyone, all hold the same state. Merging is commutative, associative
// and idempotent.
func TestConvergence(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		n := rapid.IntRange(2, 6).Draw(rt, "replicas")
		rs := make([]*Registers, n)
		for i := range rs {
			rs[i] = open(rt)
			defer rs[i].Close()
		}
		for range rapid.IntRange(1, 40).Draw(rt, "steps") {
			i := rapid.IntRange(0, n-1).Draw(rt, "replica")
			if rapid.Bool().Draw(rt, "write") {
				col := rapid.SampledFrom([]string{"content", "completed"}).Draw(rt, "column")
				v := rapid.SampledFrom([]string{`"a"`, `"b"`, `true`, `false`, `null`, `1`, `{"x":[1]}`}).Draw(rt, "value")
				if _, err := rs[i].Set(ctx, rapid.SampledFrom([]string{"1", "2"}).Draw(rt, "row"), col, []byte(v)); err != nil {
					rt.Fatal(err)
				}
			} else {
				sync(rt, rs[rapid.IntRange(0, n-1).Draw(rt, "from")], rs[i])
			}
		}
		for range 2 {
			for _, from := range rs {
				for _, to := range rs {
					sync(rt, from, to)
				}
			}
		}
		want, _ := rs[0].State(ctx)
		_, wantRows, _ := rs[0].Rows(ctx)
		for i, r := range rs {
			got, _ := r.State(ctx)
			_, rows, _ := r.Rows(ctx)
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(rows, wantRows) {
				rt.Fatalf("replica %d: %v / %v, want %v / %v", i, got, rows, want, wantRows)
			}
		}
	})
}

func TestRejects(t *testing.T) {
	ctx := context.Background()
	r := openTodo(t)
	for name, err := range map[string]error{
		"unknown column": func() error { _, err := r.Set(ctx, "1", "title", []byte(`1`)); return err }(),
		"bad table":      func() error { _, err := Open(ctx, Options{Table: "x y", Columns: []string{"a"}}); return err }(),
		"column id":      func() error { _, err := Open(ctx, Options{Table: "t", Columns: []string{"id"}}); return err }(),
		"no columns":     func() error { _, err := Open(ctx, Options{Table: "t"}); return err }(),
		// SQLite's names ignore case: these would be SQL errors.
		"column ID":           func() error { _, err := Open(ctx, Options{Table: "t", Columns: []string{"ID"}}); return err }(),
		"columns a and A":     func() error { _, err := Open(ctx, Options{Table: "t", Columns: []string{"a", "A"}}); return err }(),
		"table sqlite_x":      func() error { _, err := Open(ctx, Options{Table: "SQLite_x", Columns: []string{"a"}}); return err }(),
		"table _FACTLOG_x":    func() error { _, err := Open(ctx, Options{Table: "_FACTLOG_x", Columns: []string{"a"}}); return err }(),
		"another's registers": func() error { _, err := Open(ctx, Options{Table: "todo__LWW", Columns: []string{"a"}}); return err }(),
	} {
		if !errors.Is(err, ErrArgument) {
			t.Errorf("%s: %v, want %v", name, err, ErrArgument)
		}
	}
	if _, err := r.MergeState(ctx, []byte("garbage")); !errors.Is(err, ErrState) {
		t.Errorf("merge garbage: %v", err)
	}
	// Clocks a write could never reach: refused, and nothing changes; at
	// the largest, a register takes no more writes (it would overflow).
	for _, clock := range []uint64{0, MaxClock + 1, 1<<63 - 1, 1<<64 - 1} {
		if _, err := r.Merge(ctx, []Register{{ID: "9", Column: "content", Value: []byte(`"x"`), Clock: clock}}); !errors.Is(err, ErrArgument) {
			t.Errorf("merge of clock %d: %v, want %v", clock, err, ErrArgument)
		}
	}
	if n, err := r.Merge(ctx, []Register{{ID: "9", Column: "content", Value: []byte(`"x"`), Clock: MaxClock}}); n != 1 || err != nil {
		t.Fatalf("merge of the largest clock: %d, %v", n, err)
	}
	if _, err := r.Set(ctx, "9", "content", []byte(`"y"`)); !errors.Is(err, ErrArgument) {
		t.Errorf("a write past the largest clock: %v, want %v", err, ErrArgument)
	}
	if st, _ := r.State(ctx); len(st) != 1 || st[0].Clock != MaxClock || string(st[0].Value) != `"x"` {
		t.Errorf("state %+v", st)
	}
	other, _ := Open(ctx, Options{Table: "notes", Columns: []string{"content"}})
	defer other.Close()
	other.Set(ctx, "1", "content", []byte(`"x"`))
	b, _ := other.ExportState(ctx)
	if _, err := r.MergeState(ctx, b); !errors.Is(err, ErrArgument) {
		t.Errorf("merge of another table: %v", err)
	}
}

// TestForeignDatabase: a file that holds more than registers — an event
// store, another application's database — or is no database is refused,
// and left as it was: registers would write rows into an event store's
// state that no event made, and its replicas would differ.
func TestForeignDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	log := dir + "/log.db"
	s, err := store.Open(ctx, store.Options{Path: log, Schema: todo.Schema, Materializers: todo.LastWriterWins})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "1", "create", []byte(`"make pasta"`)); err != nil {
		t.Fatal(err)
	}
	want := dump(t, s)
	s.Close()

	other := dir + "/other.db"
	c, err := db.Open(ctx, other, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Script(`CREATE TABLE todo (id TEXT PRIMARY KEY, content TEXT); INSERT INTO todo VALUES ('1', 'theirs')`); err != nil {
		t.Fatal(err)
	}
	c.Close()
	text := dir + "/text.db"
	if err := os.WriteFile(text, []byte("not a database, but long enough to be read as one: "+strings.Repeat("x", 200)), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, path := range []string{log, other, text} {
		before, _ := os.ReadFile(path)
		for _, table := range []string{"todo", "notes"} {
			r, err := Open(ctx, Options{Path: path, Table: table, Columns: []string{"content", "extra"}})
			if err == nil {
				r.Close()
			}
			if !errors.Is(err, ErrArgument) {
				t.Errorf("%s, table %s: %v, want %v", path, table, err, ErrArgument)
			}
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Errorf("%s changed", path)
		}
	}
	s, err = store.Open(ctx, store.Options{Path: log, Schema: todo.Schema, Materializers: todo.LastWriterWins})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := dump(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("the store's state is %v, was %v", got, want)
	}

	// A database of registers of several tables opens for each.
	regs := dir + "/regs.db"
	for _, table := range []string{"todo", "notes", "TODO"} {
		r, err := Open(ctx, Options{Path: regs, Table: table, Columns: []string{"content"}})
		if err != nil {
			t.Fatalf("table %s: %v", table, err)
		}
		r.Close()
	}
}

// dump is a store's todo table with its columns.
func dump(t *testing.T, s *store.Store) *store.Rows {
	t.Helper()
	rows, err := s.Query(context.Background(), "SELECT * FROM todo ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func FuzzDecodeState(f *testing.F) {
	r := openTodo(f)
	ctx := context.Background()
	r.Set(ctx, "1", "content", []byte(`"make pasta"`))
	r.Set(ctx, "2", "completed", []byte(`true`))
	b, _ := r.ExportState(ctx)
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte("x\x9c\x03\x00\x00\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		table, regs, err := DecodeState(b)
		if err != nil {
			return
		}
		for _, reg := range regs {
			if reg.ID == "" && reg.Column == "" {
				t.Fatal(fmt.Sprint("a register without a row or column from ", table))
			}
		}
	})
}

// TestAddedColumn: a table opened again with a column more (a newer
// version of the application) gets it, and keeps its registers.
func TestAddedColumn(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/regs.db"
	r, err := Open(ctx, Options{Path: path, Table: "todo", Columns: []string{"content", "completed"}})
	if err != nil {
		t.Fatal(err)
	}
	r.Set(ctx, "1", "content", []byte(`"make pasta"`))
	r.Close()
	r, err = Open(ctx, Options{Path: path, Table: "todo", Columns: []string{"content", "completed", "deleted"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Set(ctx, "1", "deleted", []byte(`true`)); err != nil {
		t.Fatalf("Set of the added column: %v", err)
	}
	state, err := r.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, reg := range state {
		got = append(got, fmt.Sprintf("%s.%s=%s@%d", reg.ID, reg.Column, reg.Value, reg.Clock))
	}
	if want := []string{`1.content="make pasta"@1`, `1.deleted=true@1`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("registers %v, want %v", got, want)
	}
}
