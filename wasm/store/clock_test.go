package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/factlog/factlog/wasm/replay"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
)

// clockSchema is an interpretation that passes what events carry to
// SQLite's date functions — pure, unless an event carries 'now',
// 'localtime' or 'utc', which would make each replica read its own clock
// or time zone.
var (
	clockSchema = `CREATE TABLE t (k TEXT PRIMARY KEY, d TEXT, e TEXT)`
	clockMats   = map[string]string{
		"due":    `INSERT OR REPLACE INTO t (k, d) VALUES (:item, datetime(:value))`,
		"nested": `INSERT OR REPLACE INTO t (k, d) VALUES (:item, datetime(json_extract(:value, '$.at'), json_extract(:value, '$.mod')))`,
		"raw":    `INSERT OR REPLACE INTO t (k, e) VALUES (:item, :value)`,
		"derive": `UPDATE t SET d = strftime('%Y-%m-%d', e) WHERE k = :item`,
		"blob":   `INSERT OR REPLACE INTO t (k, d) VALUES (:item, date(CAST(:value AS BLOB)))`,
	}
)

// openClock opens a store of the clock interpretation as peer i; the test
// closes it.
func openClock(t *testing.T, i int) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{Schema: clockSchema, Materializers: clockMats, Now: fakeClock(), Rand: peerSeed(i)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func clockState(t *testing.T, s *store.Store) string {
	t.Helper()
	rows, err := s.Query(context.Background(), `SELECT k, d, e FROM t ORDER BY k`)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(rows.Values)
}

// TestClockFromEvents: a date function given 'now', 'localtime' or 'utc'
// by an event — directly, inside its JSON, or through a column — would
// read each replica's clock or time zone. A local append of such an event
// is refused (ErrImpure) and changes nothing; such an event from another
// replica is kept and has no effect, on every replica alike. Dates that
// events carry work as SQLite's functions do, and queries may still ask
// for 'now'.
func TestClockFromEvents(t *testing.T) {
	ctx := context.Background()
	s := openClock(t, 6)

	for _, in := range []struct{ item, typ, value, want string }{
		{"a", "due", `"2026-11-25 10:00:00"`, "2026-11-25 10:00:00"},
		{"b", "nested", `{"at": "2026-01-31", "mod": "+1 month"}`, "2026-03-03 00:00:00"},
		{"c", "due", `2461000.5`, "2025-11-21 00:00:00"},
	} {
		if _, err := s.Append(ctx, in.item, in.typ, []byte(in.value)); err != nil {
			t.Fatalf("append %s %s: %v", in.typ, in.value, err)
		}
		rows, err := s.Query(ctx, `SELECT d FROM t WHERE k = ?`, in.item)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(rows.Values); got != "[["+in.want+"]]" {
			t.Errorf("%s %s: d = %s; want %s", in.typ, in.value, got, in.want)
		}
	}
	if _, err := s.Append(ctx, "d", "raw", []byte(`"2026-07-04 12:00"`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "d", "derive", []byte(`null`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "e", "raw", []byte(`"now"`)); err != nil {
		t.Fatal(err) // storing the word is fine; reading the clock with it is not
	}

	before := clockState(t, s)
	n := eventCount(t, s)
	for _, in := range []struct{ item, typ, value string }{
		{"a", "due", `"now"`},
		{"a", "due", `" NOW "`},
		{"b", "nested", `{"at": "2026-01-31", "mod": "localtime"}`},
		{"b", "nested", `{"at": "2026-01-31", "mod": "utc"}`},
		{"e", "derive", `null`},
		{"f", "blob", `"now"`},
	} {
		_, err := s.Append(ctx, in.item, in.typ, []byte(in.value))
		var me *replay.MaterializeError
		if !errors.Is(err, replay.ErrImpure) || !errors.As(err, &me) || store.Code(err) != store.CodeMaterializer {
			t.Errorf("append %s %s: %v (code %s); want ErrImpure, MATERIALIZER", in.typ, in.value, err, store.Code(err))
		}
	}
	if got := clockState(t, s); got != before {
		t.Errorf("refused appends changed the state:\n%s\nnow\n%s", before, got)
	}
	if got := eventCount(t, s); got != n {
		t.Errorf("refused appends stored events: %d, then %d", n, got)
	}

	// Queries are not interpretations: the clock is theirs to read.
	rows, err := s.Query(ctx, `SELECT datetime('now') IS NOT NULL, date('2026-01-01', '+1 day', 'weekday 0')`)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(rows.Values); got != "[[1 2026-01-04]]" {
		t.Errorf("query: %s", got)
	}

	// From a replica that reads those events otherwise (an older version
	// of the application, without the date), they arrive: kept, without
	// effect, whatever the order — two replicas end equal.
	other, err := store.Open(ctx, store.Options{Schema: clockSchema, Materializers: map[string]string{
		"due": "", "nested": "", "raw": clockMats["raw"], "derive": "", "blob": "",
	}, Now: fakeClock(), Rand: peerSeed(7)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, in := range []struct{ item, typ, value string }{
		{"x", "due", `"now"`}, {"y", "nested", `{"at": "now"}`}, {"z", "raw", `"now"`}, {"z", "derive", `null`}, {"w", "due", `"2026-02-02"`},
	} {
		if _, err := other.Append(ctx, in.item, in.typ, []byte(in.value)); err != nil {
			t.Fatal(err)
		}
	}
	batch, err := other.ExportSince(ctx, sync.VersionVector{})
	if err != nil {
		t.Fatal(err)
	}
	mine, err := s.ExportSince(ctx, sync.VersionVector{})
	if err != nil {
		t.Fatal(err)
	}
	third := openClock(t, 8)
	for _, step := range []struct {
		into  *store.Store
		batch []byte
	}{{s, batch}, {third, batch}, {third, mine}} {
		if _, err := step.into.Import(ctx, step.batch); err != nil {
			t.Fatalf("import: %v", err)
		}
	}
	got, want := clockState(t, third), clockState(t, s)
	if got != want {
		t.Fatalf("replicas differ:\n%s\n%s", want, got)
	}
	const wantState = "[[a 2026-11-25 10:00:00 <nil>] [b 2026-03-03 00:00:00 <nil>] [c 2025-11-21 00:00:00 <nil>] [d 2026-07-04 2026-07-04 12:00] [e <nil> now] [w 2026-02-02 00:00:00 <nil>] [z <nil> now]]"
	if got != wantState {
		t.Fatalf("state:\n%s\nwant\n%s", got, wantState)
	}
}

func eventCount(t *testing.T, s *store.Store) int64 {
	t.Helper()
	rows, err := s.Query(context.Background(), `SELECT count(*) FROM event`)
	if err != nil {
		t.Fatal(err)
	}
	return rows.Values[0][0].(int64)
}

// TestClockInSchemaExpressions: date functions in an index, a generated
// column and a CHECK work on the dates events carry, and 'now' reaching
// them from an event fails the event, as in a materializer.
func TestClockInSchemaExpressions(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/clock.db"
	opts := store.Options{
		Path: path,
		Schema: `CREATE TABLE t (k TEXT PRIMARY KEY, d TEXT CHECK (d IS NULL OR date(d) IS NOT NULL), day TEXT AS (date(d)));
			CREATE INDEX t_month ON t (strftime('%Y-%m', d))`,
		Materializers: map[string]string{"set": `INSERT OR REPLACE INTO t (k, d) VALUES (:item, :value)`},
		Now:           fakeClock(),
	}
	s, err := store.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "a", "set", []byte(`"2026-11-25 10:00"`)); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{`"now"`, `"NOW"`} {
		if _, err := s.Append(ctx, "b", "set", []byte(v)); store.Code(err) != store.CodeMaterializer {
			t.Errorf("append %s: %v; want a MATERIALIZER error", v, err)
		}
	}
	s.Close()
	if s, err = store.Open(ctx, opts); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	rows, err := s.Query(ctx, `SELECT k, day FROM t WHERE strftime('%Y-%m', d) = '2026-11'`)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(rows.Values); got != "[[a 2026-11-25]]" {
		t.Errorf("state: %s", got)
	}
}

// TestClockAfterRefusedReinterpret: an interpretation that is refused, or
// whose rebuild is cancelled, leaves the previous one in force — with its
// guard on the date functions and its undo log — not a half-installed
// copy of the one refused.
func TestClockAfterRefusedReinterpret(t *testing.T) {
	ctx := context.Background()
	s := openClock(t, 10)
	if _, err := s.Append(ctx, "a", "due", []byte(`"2026-11-25"`)); err != nil {
		t.Fatal(err)
	}
	impure := map[string]string{"due": `INSERT OR REPLACE INTO t (k, d) VALUES (:item, random())`}
	if err := s.Reinterpret(ctx, clockSchema, impure, nil); !errors.Is(err, replay.ErrImpure) {
		t.Fatalf("reinterpret with random(): %v; want ErrImpure", err)
	}
	if _, err := s.Append(ctx, "a", "due", []byte(`"now"`)); !errors.Is(err, replay.ErrImpure) {
		t.Errorf("append 'now' after a refused reinterpret: %v; want ErrImpure", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	other := map[string]string{"due": `INSERT OR REPLACE INTO t (k, e) VALUES (:item, datetime(:value))`}
	err := s.Reinterpret(cancelled, clockSchema+`;`, other, func(done, total int) { cancel() })
	if err == nil {
		t.Fatal("a reinterpret cancelled during its rebuild succeeded")
	}
	before := clockState(t, s)
	if _, err := s.Append(ctx, "a", "due", []byte(`"now"`)); !errors.Is(err, replay.ErrImpure) {
		t.Errorf("append 'now' after a cancelled reinterpret: %v; want ErrImpure", err)
	}
	if got := clockState(t, s); got != before {
		t.Errorf("state changed: %s, then %s", before, got)
	}
	// The undo log still records: a late event rewinds to what a replay
	// from scratch gives.
	late := openClock(t, 9)
	if _, err := late.Append(ctx, "a", "raw", []byte(`"early"`)); err != nil {
		t.Fatal(err)
	}
	b, err := late.ExportSince(ctx, sync.VersionVector{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, b); err != nil {
		t.Fatal(err)
	}
	merged := clockState(t, s)
	if err := s.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := clockState(t, s); got != merged || got == before {
		t.Fatalf("after the late event: %s; replayed from scratch: %s", merged, got)
	}
}
