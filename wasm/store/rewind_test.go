package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/replay"
	"github.com/factlog/factlog/wasm/store"
)

// pair is two replicas of one interpretation. What b appends while a
// appends is concurrent with it, and sorts into the middle of a's log
// when it arrives: a must rewind its state to take it in.
type pair struct {
	t                  *testing.T
	schema             string
	materializers      map[string]string
	a, b               *store.Store
	skippedA, skippedB int
}

func newPair(t *testing.T, schema string, materializers map[string]string) *pair {
	t.Helper()
	p := &pair{t: t, schema: schema, materializers: materializers}
	p.a, p.b = p.open(1), p.open(2)
	return p
}

func (p *pair) open(i int) *store.Store {
	p.t.Helper()
	s, err := store.Open(context.Background(), store.Options{
		Schema: p.schema, Materializers: p.materializers, Rand: peerSeed(i), Now: fakeClock(),
	})
	if err != nil {
		p.t.Fatalf("open: %v", err)
	}
	p.t.Cleanup(func() { s.Close() })
	return s
}

// append appends to s, which may refuse it when a materializer fails.
func (p *pair) append(s *store.Store, item, typ, value string) {
	p.t.Helper()
	if _, err := s.Append(context.Background(), item, typ, []byte(value)); err != nil && store.Code(err) != store.CodeMaterializer {
		p.t.Fatalf("append %s %s %s: %v", item, typ, value, err)
	}
}

// merge sends each replica what the other lacks, and checks that both
// reach the state a fresh replica gets from importing the whole log at
// once, which applies every event in order without rewinding.
func (p *pair) merge() string {
	p.t.Helper()
	sendAll(p.t, p.b, p.a)
	sendAll(p.t, p.a, p.b)
	fresh := p.open(3)
	sendAll(p.t, p.a, fresh)
	want := stateDump(p.t, fresh)
	for name, s := range map[string]*store.Store{"a": p.a, "b": p.b} {
		if got := stateDump(p.t, s); got != want {
			p.t.Fatalf("replica %s after merging:\n%s\nwant (a fresh import of the log):\n%s", name, got, want)
		}
	}
	return want
}

// TestRewindNoCaseKey: a WITHOUT ROWID table keyed by a NOCASE column,
// whose key changes only in case before a late event rewinds past it.
func TestRewindNoCaseKey(t *testing.T) {
	p := newPair(t, `CREATE TABLE user (email TEXT PRIMARY KEY COLLATE NOCASE, name TEXT) WITHOUT ROWID`, map[string]string{
		"signup": `INSERT INTO user (email, name) VALUES (:item, :value)`,
		"email":  `UPDATE user SET email = :value WHERE email = :item`,
		"name":   `UPDATE user SET name = :value WHERE email = :item`,
	})
	p.append(p.a, "ann@example.com", "signup", `"Ann"`)
	p.append(p.a, "ann@example.com", "email", `"Ann@Example.com"`)
	p.append(p.a, "ann@example.com", "name", `"Ann B."`)
	p.append(p.a, "ann@example.com", "name", `"Ann C."`)
	p.append(p.b, "bob@example.com", "signup", `"Bob"`)
	if want := p.merge(); !strings.Contains(want, "Ann C.") || !strings.Contains(want, "Bob") {
		t.Fatalf("unexpected state:\n%s", want)
	}
	// And again: a later late event rewinds past the same rows.
	p.append(p.a, "ann@example.com", "email", `"ANN@EXAMPLE.COM"`)
	p.append(p.b, "bob@example.com", "name", `"Bob D."`)
	p.merge()
}

// TestRewindCompositeCollations: a composite key mixing collations.
func TestRewindCompositeCollations(t *testing.T) {
	p := newPair(t, `CREATE TABLE tag (owner TEXT COLLATE NOCASE, tag TEXT COLLATE RTRIM, n INTEGER, PRIMARY KEY (owner, tag)) WITHOUT ROWID`, map[string]string{
		"tag":    `INSERT INTO tag VALUES (:item, :value, 1) ON CONFLICT DO UPDATE SET n = n + 1`,
		"retag":  `UPDATE tag SET owner = upper(owner), tag = tag || ' ' WHERE owner = :item`,
		"untag":  `DELETE FROM tag WHERE owner = :item AND tag = :value`,
		"rename": `UPDATE tag SET tag = :value WHERE owner = :item`,
	})
	p.append(p.a, "x", "tag", `"red"`)
	p.append(p.a, "x", "retag", `null`)
	p.append(p.a, "X", "tag", `"red"`)
	p.append(p.a, "x", "rename", `"blue"`)
	p.append(p.b, "x", "tag", `"red  "`)
	p.append(p.b, "x", "untag", `"red"`)
	p.merge()
}

// TestRewindColumnNamedRowid: columns may be named rowid or oid; the
// undo log then reaches the row id by the name left over.
func TestRewindColumnNamedRowid(t *testing.T) {
	for _, schema := range []string{
		`CREATE TABLE t (rowid TEXT, v TEXT)`,
		`CREATE TABLE t (rowid TEXT, oid TEXT, v TEXT)`,
		`CREATE TABLE t ("_ROWID_" TEXT, "OID" TEXT, v TEXT)`,
	} {
		t.Run(schema, func(t *testing.T) {
			p := newPair(t, schema, map[string]string{
				"add": `INSERT INTO t (v) VALUES (:value)`,
				"del": `DELETE FROM t WHERE v = :value`,
				"set": `UPDATE t SET v = :value || '!' WHERE v = :item`,
			})
			for i := range 5 {
				p.append(p.a, "", "add", fmt.Sprintf(`"a%d"`, i))
			}
			p.append(p.a, "", "del", `"a1"`)
			p.append(p.a, "a2", "set", `"a2"`)
			p.append(p.b, "", "add", `"b0"`)
			p.append(p.b, "", "add", `"b1"`)
			want := p.merge()
			if strings.Count(want, "INSERT") != 6 {
				t.Fatalf("want 6 rows:\n%s", want)
			}
		})
	}
}

// TestRowidUnreachable: a table whose columns hide every name of its row
// id cannot be rewound, and is refused at open.
func TestRowidUnreachable(t *testing.T) {
	_, err := store.Open(context.Background(), store.Options{Schema: `CREATE TABLE t (rowid, oid, _rowid_)`})
	if !errors.Is(err, replay.ErrSchema) || store.Code(err) != store.CodeSchema || !strings.Contains(err.Error(), "rowid") {
		t.Fatalf("open: %v (code %s), want a SCHEMA error about the row id", err, store.Code(err))
	}
}

// TestInsertOrFailHasNoPartialEffect: an event whose materializer fails
// halfway through a multi-row INSERT OR FAIL has no effect at all.
func TestInsertOrFailHasNoPartialEffect(t *testing.T) {
	p := newPair(t, `CREATE TABLE t (v INTEGER UNIQUE)`, map[string]string{
		"many": `INSERT OR FAIL INTO t (v) SELECT value FROM json_each(:value)`,
	})
	p.append(p.b, "", "many", `[1, 2, 3, 2, 4]`) // refused locally: b's log stays empty
	if rows, _ := p.b.Query(context.Background(), `SELECT count(*) FROM event`); rows.Values[0][0] != int64(0) {
		t.Fatalf("the failed append was stored")
	}
	// Arriving from elsewhere, the same event stays in the log without effect.
	p.append(p.a, "", "many", `[10]`)
	e := event0(t, p.a)
	e.Value = []byte(`[1,2,3,2,4]`)
	e.ID = e.Hash()
	res, err := p.b.Import(context.Background(), encode(t, e))
	if err != nil || len(res.Skipped) != 1 {
		t.Fatalf("import: %+v, %v; want the event skipped", res, err)
	}
	if got := stateDump(t, p.b); got != "" {
		t.Fatalf("an event without effect left rows:\n%s", got)
	}
}

// authored builds a chain of events by one author, as a replica with
// another interpretation could have appended them: (type, value) pairs.
func authored(peer byte, steps ...string) []event.Event {
	var evs []event.Event
	for i := 0; i < len(steps); i += 2 {
		e := event.Event{Peer: author(int(peer)), Seq: uint64(i/2 + 1), Clock: uint64(i/2 + 1), Time: 1, Type: steps[i], Value: []byte(steps[i+1])}
		if i > 0 {
			e.Parents = []event.ID{evs[len(evs)-1].ID}
		}
		e.ID = e.Hash()
		evs = append(evs, e)
	}
	return evs
}

// TestLargestRowid: once a table holds the largest rowid, SQLite would
// pick the next rowids at random; factlog refuses to store that rowid, so
// that every replica picks the same ones.
func TestLargestRowid(t *testing.T) {
	p := newPair(t, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`, map[string]string{
		"put": `INSERT INTO t (id, v) VALUES (:value, 'put')`,
		"add": `INSERT INTO t (v) VALUES (:value)`,
	})
	if _, err := p.a.Append(context.Background(), "", "put", []byte(`"9223372036854775807"`)); store.Code(err) != store.CodeMaterializer {
		t.Fatalf("appending the largest rowid: %v, want a materializer error", err)
	}
	evs := authored(7, "put", `"9223372036854775807"`, "add", `"1"`, "add", `"2"`, "add", `"3"`)
	var want string
	for range 3 {
		s := p.open(9)
		res, err := s.Import(context.Background(), encode(t, evs...))
		if err != nil || len(res.Skipped) != 1 {
			t.Fatalf("import: %+v, %v; want the put skipped", res, err)
		}
		got := stateDump(t, s)
		if strings.Contains(got, "9223372036854775807") || strings.Count(got, "INSERT") != 3 {
			t.Fatalf("state:\n%s", got)
		}
		if want != "" && got != want {
			t.Fatalf("two imports of one log differ:\n%s\n%s", got, want)
		}
		want = got
	}
}

// TestLargestRowidByUpdate: an UPDATE may move a row to the largest rowid
// by any name of the rowid — its INTEGER PRIMARY KEY, rowid, _rowid_ or
// oid, in any case, or an upsert's DO UPDATE — and is refused by each; an
// UPDATE that sets other columns changes its row.
func TestLargestRowidByUpdate(t *testing.T) {
	const largest = `"9223372036854775807"`
	for _, tt := range []struct{ schema, move string }{
		{`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`, `UPDATE t SET id = :value`},
		{`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`, `UPDATE t SET "ID" = :value`},
		{`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`, `UPDATE t SET ROWID = :value`},
		{`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`, `UPDATE t SET _rowid_ = :value`},
		{`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`, `UPDATE t SET oid = :value`},
		{`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`, `INSERT INTO t (id, v) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET id = :value`},
		{`CREATE TABLE t (id INTEGER, v TEXT, PRIMARY KEY (id))`, `UPDATE t SET id = :value`},
		{`CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT)`, `UPDATE t SET rowid = :value`},
		{`CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT)`, `UPDATE t SET Oid = :value`},
		{`CREATE TABLE t (rowid TEXT, v TEXT)`, `UPDATE t SET _rowid_ = :value`},
	} {
		t.Run(tt.move, func(t *testing.T) {
			p := newPair(t, tt.schema, map[string]string{
				"add":  `INSERT INTO t (v) VALUES (:value)`,
				"set":  `UPDATE t SET v = :value`,
				"move": tt.move,
			})
			p.append(p.a, "", "add", `"x"`)
			before := stateDump(t, p.a)
			if _, err := p.a.Append(context.Background(), "", "move", []byte(largest)); store.Code(err) != store.CodeMaterializer {
				t.Fatalf("moving a row to the largest rowid: %v, want a materializer error\n%s", err, stateDump(t, p.a))
			}
			if after := stateDump(t, p.a); after != before {
				t.Fatalf("the state changed:\n%s\nwas\n%s", after, before)
			}
			p.append(p.a, "", "set", `"y"`)
			if got := stateDump(t, p.a); !strings.Contains(got, "'y'") {
				t.Fatalf("an UPDATE of another column did not change the row:\n%s", got)
			}
		})
	}
}

// TestQueryRefusesVacuum: VACUUM renumbers implicit rowids, which the
// undo log keys rows by; Query refuses it (Backup is the way to compact).
func TestQueryRefusesVacuum(t *testing.T) {
	p := newPair(t, `CREATE TABLE t (v TEXT)`, map[string]string{
		"add": `INSERT INTO t (v) VALUES (:value)`,
		"del": `DELETE FROM t WHERE v = :value`,
	})
	for i := range 20 {
		p.append(p.a, "", "add", fmt.Sprintf(`"%d"`, i))
	}
	for i := range 10 {
		p.append(p.a, "", "del", fmt.Sprintf(`"%d"`, 2*i))
	}
	for _, sql := range []string{`VACUUM`, `vacuum main`, `/* compact */ VACUUM`} {
		if _, err := p.a.Query(context.Background(), sql); err == nil || !strings.Contains(err.Error(), "VACUUM") {
			t.Fatalf("Query(%q) = %v, want a refusal that names VACUUM", sql, err)
		}
	}
	p.append(p.b, "", "add", `"late"`)
	p.merge()
}

func event0(t *testing.T, s *store.Store) event.Event {
	t.Helper()
	evs, err := s.Events(context.Background(), nil)
	if err != nil || len(evs) == 0 {
		t.Fatalf("events: %v", err)
	}
	return evs[0]
}

// TestRewindKeyCollation: a key column may compare by another collation
// than its primary key (k COLLATE NOCASE, PRIMARY KEY (k COLLATE BINARY):
// 'a' and 'A' are two rows). A rewind must restore rows by the key's
// collation — by the column's, it deleted 'A' when it undid the insert of
// 'a' — and the item rewind must not take k = :item for the item's row
// alone.
func TestRewindKeyCollation(t *testing.T) {
	const schema = `CREATE TABLE t (k TEXT COLLATE NOCASE NOT NULL, n INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (k COLLATE BINARY)) WITHOUT ROWID`
	type step struct{ peer, item, typ string } // peer "0>1": send
	for _, tc := range []struct {
		name, inc string
		steps     []step
	}{
		{"full rewind", `UPDATE t SET n = n + 1 WHERE k = :item AND 1`, []step{ // reaches beyond its row: no item rewind
			{"0", "A", "ins"}, {"0", "y1", "ins"}, {"0", "y2", "ins"}, {"0", "y3", "ins"}, {"0", "y4", "ins"}, {"0", "y5", "ins"},
			{"0>1", "", ""}, {"1", "a", "ins"}, {"1", "b", "ins"}, {"0", "x", "ins"}, {"0>1", "", ""}, {"1>0", "", ""}}},
		{"item rewind", `UPDATE t SET n = n + 1 WHERE k = :item`, []step{
			{"0", "a", "ins"}, {"0>1", "", ""}, {"1", "A", "ins"}, {"1", "A", "inc"}, {"0", "a", "inc"}, {"0>1", "", ""}, {"1>0", "", ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			open := func(i int) *store.Store {
				author(i)
				s, err := store.Open(ctx, store.Options{Schema: schema, Materializers: map[string]string{
					"ins": `INSERT INTO t (k) VALUES (:item)`, "inc": tc.inc}, Rand: peerSeed(i), Now: fakeClock()})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			p := []*store.Store{open(1), open(2)}
			for _, st := range tc.steps {
				switch st.peer {
				case "0>1":
					sendAll(t, p[0], p[1])
				case "1>0":
					sendAll(t, p[1], p[0])
				default:
					if _, err := p[st.peer[0]-'0'].Append(ctx, st.item, st.typ, nil); err != nil {
						t.Fatal(err)
					}
				}
			}
			fresh := open(3)
			sendAll(t, p[0], fresh)
			want := stateDump(t, fresh)
			for i, s := range p {
				if got := stateDump(t, s); got != want {
					t.Errorf("replica %d differs from a fresh replay:\n%s\nwant\n%s", i, got, want)
				}
			}
		})
	}
}
