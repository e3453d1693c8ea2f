package store_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/factlog/factlog/wasm/store"
)

// next waits (boundedly) for the watch's next result.
func next(t *testing.T, results chan *store.Rows) *store.Rows {
	t.Helper()
	select {
	case rows := <-results:
		return rows
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not fire")
		return nil
	}
}

func TestWatch(t *testing.T) {
	ctx := context.Background()
	before := runtime.NumGoroutine()
	s := openTest(t, 1)
	results := make(chan *store.Rows, 100)
	stop, err := s.Watch(ctx, `SELECT id, content FROM open_todo ORDER BY id`, nil, func(rows *store.Rows, err error) {
		if err != nil {
			t.Errorf("watch: %v", err)
		}
		results <- rows
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows := next(t, results); len(rows.Values) != 0 {
		t.Fatalf("first result %v, want no rows", rows.Values)
	}
	// A burst of appends is seen whole, in fewer results than appends.
	for i := range 50 {
		if _, err := s.Append(ctx, fmt.Sprint(i), "create", []byte(`"x"`)); err != nil {
			t.Fatal(err)
		}
	}
	calls := 0
	for rows := next(t, results); ; rows = next(t, results) {
		calls++
		if len(rows.Values) == 50 {
			break
		}
	}
	if calls >= 50 {
		t.Errorf("%d results for a burst of 50 appends; want them coalesced", calls)
	}
	// A change to a table the query does not read does not re-run it.
	if _, err := s.Append(ctx, "x", "label", []byte(`"l"`)); err != nil {
		t.Fatal(err)
	}
	// An import does, through the view's table.
	other := openTest(t, 2)
	defer other.Close()
	other.Append(ctx, "z", "create", []byte(`"from elsewhere"`))
	sendAll(t, other, s)
	if rows := next(t, results); len(rows.Values) != 51 || rows.Values[50][0] != "z" {
		t.Fatalf("after import: %v", rows.Values)
	}
	select {
	case rows := <-results:
		t.Fatalf("an extra result %v", rows.Values)
	default:
	}
	stop()
	s.Append(ctx, "y", "create", []byte(`"after stop"`))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case rows := <-results:
		t.Fatalf("a result after stop: %v", rows.Values)
	default:
	}
	other.Close()
	// Close ended the watcher's goroutine.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after close, %d before", n, before)
	}
}

func TestWatchRejects(t *testing.T) {
	s := openTest(t, 1)
	defer s.Close()
	ctx := context.Background()
	for sql, want := range map[string]string{
		`DELETE FROM todo`:             "state derived",
		`INSERT INTO local VALUES (1)`: "no such table",
		`SELECT 1; SELECT 2`:           "one statement",
		`CREATE TABLE local (x)`:       "only read",
	} {
		_, err := s.Watch(ctx, sql, nil, func(*store.Rows, error) {})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Watch(%q) error = %v, want one that says %q", sql, err, want)
		}
	}
	if _, err := s.Watch(ctx, `SELECT 1`, 42, func(*store.Rows, error) {}); store.Code(err) != store.CodeArgument {
		t.Errorf("Watch with bad arguments: %v", err)
	}
}

// TestWatchReinterpret: a new interpretation drops and creates the state
// tables, which no row change reports; the watches re-run all the same.
func TestWatchReinterpret(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, 1)
	defer s.Close()
	s.Append(ctx, "1", "create", []byte(`"a"`))
	s.Append(ctx, "1", "set_completed", []byte(`true`))
	s.Append(ctx, "1", "set_completed", []byte(`false`))
	results := make(chan *store.Rows, 10)
	stop, err := s.Watch(ctx, `SELECT count(*) FROM churn`, nil, func(r *store.Rows, err error) { results <- r })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if r := next(t, results); r.Values[0][0] != int64(1) {
		t.Fatalf("churn %v, want 1", r.Values)
	}
	mats := maps.Clone(testMaterializers)
	mats["set_completed"] = `UPDATE todo SET completed = :value WHERE id = :item`
	if err := s.Reinterpret(ctx, testSchema, mats, nil); err != nil {
		t.Fatal(err)
	}
	if r := next(t, results); r.Values[0][0] != int64(0) {
		t.Fatalf("churn after reinterpretation %v, want 0", r.Values)
	}
}

// TestWatchFollowsViews: a watch on a view follows the tables the view
// reads under the current interpretation — after a reinterpretation that
// points the view at other tables, a change to those re-runs it.
func TestWatchFollowsViews(t *testing.T) {
	ctx := context.Background()
	mats := map[string]string{"a": `INSERT INTO a VALUES (:item)`, "b": `INSERT INTO b VALUES (:item)`}
	s, err := store.Open(ctx, store.Options{Schema: `CREATE TABLE a (x); CREATE TABLE b (x); CREATE VIEW v AS SELECT x FROM a`, Materializers: mats, Now: fakeClock(), Rand: peerSeed(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Append(ctx, "1", "b", nil); err != nil {
		t.Fatal(err)
	}
	results := make(chan *store.Rows, 10)
	stop, err := s.Watch(ctx, `SELECT count(*) FROM v`, nil, func(r *store.Rows, err error) {
		if err != nil {
			t.Errorf("watch: %v", err)
		}
		results <- r
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if r := next(t, results); r.Values[0][0] != int64(0) {
		t.Fatalf("first result %v", r.Values)
	}
	if err := s.Reinterpret(ctx, `CREATE TABLE a (x); CREATE TABLE b (x); CREATE VIEW v AS SELECT x FROM b`, mats, nil); err != nil {
		t.Fatal(err)
	}
	if r := next(t, results); r.Values[0][0] != int64(1) {
		t.Fatalf("after the reinterpretation %v, want 1", r.Values)
	}
	if _, err := s.Append(ctx, "2", "b", nil); err != nil {
		t.Fatal(err)
	}
	if r := next(t, results); r.Values[0][0] != int64(2) {
		t.Fatalf("after an append to the view's new table %v, want 2", r.Values)
	}
}

// TestWatchFollowsQueryDDL: the application's own tables and views,
// made, dropped and altered through Query, are followed as a
// reinterpretation's are: a watch re-runs, on the tables its query reads
// now.
func TestWatchFollowsQueryDDL(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Schema: `CREATE TABLE a (x)`, Materializers: map[string]string{"a": `INSERT INTO a VALUES (:item)`}, Now: fakeClock(), Rand: peerSeed(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	query := func(sql string) {
		t.Helper()
		if _, err := s.Query(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	query(`CREATE TABLE mine (x)`)
	query(`CREATE VIEW v AS SELECT x FROM a`)
	results := make(chan string, 10)
	stop, err := s.Watch(ctx, `SELECT * FROM v`, nil, func(r *store.Rows, err error) {
		if err != nil {
			results <- "error"
			return
		}
		results <- fmt.Sprint(r.Columns, r.Values)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	step := func(want string) {
		t.Helper()
		select {
		case got := <-results:
			if got != want {
				t.Fatalf("the watch said %s, want %s", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the watch did not fire; want %s", want)
		}
	}
	step("[x] []")
	query(`DROP VIEW v`)
	step("error")
	query(`CREATE VIEW v AS SELECT x FROM mine`)
	step("[x] []")
	query(`INSERT INTO mine VALUES (7)`)
	step("[x] [[7]]")
	query(`ALTER TABLE mine ADD COLUMN y DEFAULT 'y'`)
	query(`DROP VIEW v`)
	step("error")
	query(`CREATE VIEW v AS SELECT * FROM mine`)
	step("[x y] [[7 y]]")
	query(`DROP TABLE mine`)
	step("error")
}

// TestWatchCallbackCloses: a watch's fn may close the store (an
// application that stops when its data says so). Close waited for the
// watcher's goroutine, which was waiting for fn to return: it hung, and
// the file stayed open and locked.
func TestWatchCallbackCloses(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, 1)
	closed := make(chan error, 1)
	if _, err := s.Watch(ctx, `SELECT count(*) FROM open_todo`, nil, func(rows *store.Rows, err error) {
		if rows != nil && rows.Values[0][0] == int64(1) {
			closed <- s.Close()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "1", "create", []byte(`"the last"`)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("close from a watch: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close called from a watch's fn did not return")
	}
	if _, err := s.Append(ctx, "2", "create", []byte(`"x"`)); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("append after close: %v, want ErrClosed", err)
	}
}
