package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/store"
)

// TestNames: item ids and types are stored once and named by their row,
// so names that a lookup could confuse must stay apart — case, a NUL
// byte inside, numbers written differently ("1", "01", "1.0"), the empty
// item, an item named like a type, the longest item allowed — through
// the log's reads, the seed's view, an export and an import.
func TestNames(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("é", event.MaxItemBytes/2)
	items := []string{"", "a", "A", "a\x00b", "a\x00c", "create", "ß", "ss", "1", "01", "1.0", long}
	s := openTest(t, 1)
	defer s.Close()
	want := map[string][]event.ID{}
	for i, item := range items {
		e := mustAppend(t, s, item, "create", `"c"`)
		want[item] = append(want[item], e.ID)
		typ := items[(i+1)%len(items)] // a type named like another item
		if typ == "" || typ == "create" || len(typ) > event.MaxTypeBytes {
			typ = "a"
		}
		e = mustAppend(t, s, item, typ, `1`)
		want[item] = append(want[item], e.ID)
	}
	fresh := openTest(t, 2)
	defer fresh.Close()
	sendAll(t, s, fresh)
	for _, r := range []struct {
		name string
		s    *store.Store
	}{{"appender", s}, {"replica", fresh}} {
		for _, item := range items {
			evs, err := r.s.Events(ctx, &item)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != len(want[item]) {
				t.Fatalf("%s: item %q has %d events, want %d", r.name, item, len(evs), len(want[item]))
			}
			for i, e := range evs {
				if e.ID != want[item][i] || e.Item != item {
					t.Errorf("%s: event %d of item %q is %s about %q", r.name, i, item, e.ID, e.Item)
				}
			}
		}
	}
	for _, item := range items {
		rows, err := fresh.Query(ctx, `SELECT item_id, type FROM event WHERE item_id = ? ORDER BY clock`, item)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows.Values) != 2 || rows.Values[0][0] != item || rows.Values[0][1] != "create" || rows.Values[1][1] == "create" {
			t.Errorf("the event view's rows of item %q: %q", item, rows.Values)
		}
	}
	if got, want := snapshot(t, fresh), snapshot(t, s); got != want {
		t.Fatalf("replica:\n%s\nwant:\n%s", got, want)
	}
}

// TestNamesAfterFailedWrite: an append that fails takes the names it
// added with it, and the rows they had go to the next new names; no name
// may still be known by a row it lost.
func TestNamesAfterFailedWrite(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, 1)
	defer s.Close()
	mustAppend(t, s, "a", "create", `"a"`)
	// The second create of "a" fails (a plain INSERT), and the call with it.
	_, err := s.AppendMany(ctx, []store.Input{{Item: "lost", Type: "create", Value: []byte(`"l"`)}, {Item: "a", Type: "create", Value: []byte(`"again"`)}})
	if err == nil {
		t.Fatal("the second create of an item was accepted")
	}
	mustAppend(t, s, "taker", "create", `"t"`) // may get the row "lost" had
	mustAppend(t, s, "lost", "create", `"l"`)
	for _, item := range []string{"a", "taker", "lost"} {
		evs, err := s.Events(ctx, &item)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Item != item {
			t.Fatalf("the events of %q: %v", item, evs)
		}
	}
	rows, err := s.Query(ctx, `SELECT item_id FROM event ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(rows.Values); got != "[[a] [taker] [lost]]" {
		t.Fatalf("the log's items: %s", got)
	}
}
