package store_test

import (
	"context"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/factlog/factlog/wasm/store"
	"github.com/ncruces/go-sqlite3"
)

// format2Schema is the interpretation testdata/format2.db was made with:
// the test tables and an application's view over the seed's event view.
const format2Schema = testSchema + `;
CREATE VIEW history AS SELECT item_id, type, value FROM event`

// TestFormat2 opens stores made by the factlog of the format before item
// ids and types were interned (testdata/format2.db, made at commit
// 2f65058, and format2-absolute.db, its first version, whose links were
// the parents' row numbers, made at ce78da3; testdata/README.md says how),
// holding the same events: two authors' edits of the same
// items, names with spaces, quotes and non-ASCII letters, an item named
// like a type, a fork (a copy of the store's file appending as the
// store), two events waiting for a missing parent, and the application's
// view over the seed's. Everything the old factlog showed of it
// (testdata/format2.dump: the seed's views, the DAG's bookkeeping, the
// pending events, the state, the application's view and the whole
// export, byte for byte) must read the same after the upgrade and after
// a second opening; and the upgraded store must go on like any other.
func TestFormat2(t *testing.T) {
	want, err := os.ReadFile("testdata/format2.dump")
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{"format2.db", "format2-absolute.db"} {
		t.Run(db, func(t *testing.T) { testFormat2(t, db, string(want)) })
	}
}

// format2Options open a store of format2Schema, as peerSeed(seed).
func format2Options(path string, seed int) store.Options {
	author(seed)
	return store.Options{Path: path, Schema: format2Schema, Materializers: testMaterializers, Rand: peerSeed(seed), Now: fakeClock()}
}

func testFormat2(t *testing.T, fixture, want string) {
	ctx := context.Background()
	path := testdataCopy(t, fixture)
	open := func(path string, seed int) *store.Store {
		t.Helper()
		s, err := store.Open(ctx, format2Options(path, seed))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	shown := func(s *store.Store) string {
		t.Helper()
		exp, err := s.ExportSince(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var h strings.Builder
		if err := s.Dump(ctx, &h, "history"); err != nil {
			t.Fatal(err)
		}
		return storedDump(t, s) + h.String() + "export " + hex.EncodeToString(exp) + "\n"
	}
	old := open(path, 1)
	if got := shown(old); got != want {
		t.Fatalf("the upgraded store shows\n%s\nwant (the old factlog's)\n%s", got, want)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	old = open(path, 1)
	if got := shown(old); got != want {
		t.Fatalf("reopened, the upgraded store shows\n%s\nwant\n%s", got, want)
	}

	// The third author's first events, which the pending two wait for:
	// the same keys and clock make the same events.
	c := open("", 3)
	for _, e := range [][3]string{{"c", "create", `"c"`}, {"c", "set_content", `"c1"`}, {"c", "set_content", `"c2"`}, {"zz", "create", `"z"`}} {
		mustAppend(t, c, e[0], e[1], e[2])
	}
	if res := sendAll(t, c, old); res.Added != 4 || res.Pending != 0 {
		t.Fatalf("c's events: added %d, %d pending; want the 2 missing and the 2 pending stored", res.Added, res.Pending)
	}
	mustAppend(t, old, "a", "set_content", `"after"`)
	mustAppend(t, old, "new item", "create", `"new"`)
	mustAppend(t, old, "ünï ☃", "set_completed", `true`)
	fresh := open("", 9)
	sendAll(t, old, fresh)
	if got, want := snapshot(t, old), snapshot(t, fresh); got != want {
		t.Fatalf("the upgraded store:\n%s\nwant (a fresh replica of it):\n%s", got, want)
	}
	if got, want := storedDump(t, old), storedDump(t, fresh); strings.Count(got, `INSERT INTO "event" `) != strings.Count(want, `INSERT INTO "event" `) {
		t.Fatalf("the upgraded store holds\n%s\nthe fresh replica\n%s", got, want)
	}
	mustRebuildSame(t, old, "the upgraded store")
	for _, item := range []string{"ünï ☃", "create", "c", "nothing"} {
		a, err := old.Events(ctx, &item)
		if err != nil {
			t.Fatal(err)
		}
		b, err := fresh.Events(ctx, &item)
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != len(b) || (item == "nothing") != (len(a) == 0) {
			t.Fatalf("events of %q: %d in the upgraded store, %d in the fresh one", item, len(a), len(b))
		}
		for i := range a {
			if a[i].ID != b[i].ID || a[i].Item != item {
				t.Fatalf("events of %q differ at %d: %v / %v", item, i, a[i], b[i])
			}
		}
	}
}

// TestFormat2UpgradeFails: an upgrade that cannot finish (here a link the
// old factlog could not have written) fails the opening with what went
// wrong and leaves the store as it was; once the store is mended, it
// opens.
func TestFormat2UpgradeFails(t *testing.T) {
	ctx := context.Background()
	for _, fixture := range []string{"format2.db", "format2-absolute.db"} {
		t.Run(fixture, func(t *testing.T) {
			path := testdataCopy(t, fixture)
			raw := func(sql string) string {
				t.Helper()
				c, err := sqlite3.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				st, _, err := c.Prepare(sql)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				var out []string
				for st.Step() {
					out = append(out, st.ColumnText(0))
				}
				if err := st.Err(); err != nil {
					t.Fatal(err)
				}
				return strings.Join(out, " ")
			}
			links := raw(`SELECT quote(parents) FROM _factlog_event WHERE n = 9`)
			raw(`UPDATE _factlog_event SET parents = '[1,' WHERE n = 9`)
			layout := `SELECT name || ':' || (SELECT group_concat(name) FROM pragma_table_info(m.name)) FROM sqlite_schema m WHERE name LIKE '\_factlog\_%' ESCAPE '\' ORDER BY name`
			before, events := raw(layout), raw(`SELECT group_concat(n || coalesce(parents, '')) FROM _factlog_event`)
			s, err := store.Open(ctx, format2Options(path, 1))
			if err == nil {
				s.Close()
				t.Fatal("a store whose upgrade cannot finish opened")
			}
			if !strings.Contains(err.Error(), "format 2 to 3") {
				t.Errorf("the error does not say the upgrade failed: %v", err)
			}
			if got := raw(layout); got != before {
				t.Fatalf("after the failed upgrade the tables are\n%s\nwant\n%s", got, before)
			}
			if got := raw(`SELECT group_concat(n || coalesce(parents, '')) FROM _factlog_event`); got != events {
				t.Fatalf("after the failed upgrade the log is\n%s\nwant\n%s", got, events)
			}
			raw(`UPDATE _factlog_event SET parents = ` + links + ` WHERE n = 9`)
			s, err = store.Open(ctx, format2Options(path, 1))
			if err != nil {
				t.Fatalf("the mended store: %v", err)
			}
			s.Close()
		})
	}
}
