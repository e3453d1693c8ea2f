package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/factlog/factlog/wasm/store"
)

// TestQueryArguments: arguments must fit the statement's parameters as
// SQLite counts them. A parameter left unbound would read as NULL — a bug
// that looks like an empty result — so it is refused, as are extra values.
func TestQueryArguments(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, 1)
	defer s.Close()
	positional := []struct {
		sql  string
		args []any
		ok   bool
	}{
		{"SELECT 1", nil, true},
		{"SELECT ?", nil, false},
		{"SELECT ?", []any{1}, true},
		{"SELECT ?, ?", []any{1}, false},
		{"SELECT ?", []any{1, 2}, false},
		{"SELECT ?3, ?", []any{1, 2, 3, 4}, true},
		{"SELECT ?3, ?", []any{1, 2, 3}, false},
		{"SELECT '?', \"?\", `?`, [?], 'it''s ?', x'3f' FROM (SELECT 1 AS \"?\", 2 AS `?`, 3 AS [?])", nil, true},
		{"SELECT 1 -- ?\n, ? /* :a */", []any{2}, true},
		{"SELECT json_extract('{\"a\":1}', '$.a')", nil, true},
		{"SELECT :a, ?", []any{1, 2}, true},
	}
	for _, tt := range positional {
		_, err := s.Query(ctx, tt.sql, tt.args...)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, store.ErrArgument)) {
			t.Errorf("Query(%q, %v) = %v; want ok %v, or an ErrArgument", tt.sql, tt.args, err, tt.ok)
		}
	}
	named := []struct {
		sql  string
		args map[string]any
		ok   bool
	}{
		{"SELECT :a, @b, $c, :a", map[string]any{":a": 1, "b": 2, "$c": 3}, true},
		{"SELECT :a, @b", map[string]any{"a": 1}, false},
		{"SELECT ?", map[string]any{"a": 1}, false},
		{"SELECT :a", map[string]any{"a": 1, "z": 2}, false},
		{"SELECT :é", map[string]any{"é": 1}, true},
	}
	for _, tt := range named {
		_, err := s.QueryNamed(ctx, tt.sql, tt.args)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, store.ErrArgument)) {
			t.Errorf("QueryNamed(%q, %v) = %v; want ok %v, or an ErrArgument", tt.sql, tt.args, err, tt.ok)
		}
	}
}

// TestQueryErrorCodes: SQLite's refusals are SQL errors, whichever way
// SQLite reports them — a syntax error when the query is prepared, a
// value too big when its result is read.
func TestQueryErrorCodes(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, 1)
	defer s.Close()
	for _, sql := range []string{`SELEC 1`, `SELECT * FROM nowhere`, `SELECT zeroblob(2000000000)`} {
		if _, err := s.Query(ctx, sql); store.Code(err) != store.CodeSQL {
			t.Errorf("%s: %v (code %q), want code %s", sql, err, store.Code(err), store.CodeSQL)
		}
	}
}

// TestCatchAllOnce: the materializer of every type ("*") runs once for
// each event — also for an event whose type is "*" — when appended and
// when the log is replayed.
func TestCatchAllOnce(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, 1)
	defer s.Close()
	for _, typ := range []string{"*", "label", "*"} {
		if _, err := s.Append(ctx, "x", typ, []byte(`"l"`)); err != nil {
			t.Fatal(err)
		}
	}
	const want = "[[* 2] [label 1]]"
	for _, when := range []string{"appended", "rebuilt"} {
		if when == "rebuilt" {
			if err := s.Rebuild(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := s.Query(ctx, `SELECT type, n FROM tally ORDER BY type`)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(rows.Values); got != want {
			t.Errorf("%s: tally %s, want %s", when, got, want)
		}
	}
}

// TestQueryResultTooLarge: a result over MaxResultBytes is refused, with
// NO_MEMORY, before it is read into memory — rows of many short values
// as well as a few long ones — and the store goes on.
func TestQueryResultTooLarge(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, 1)
	defer s.Close()
	rows := func(n, length int) string {
		return fmt.Sprintf(`WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c LIMIT %d) SELECT n, printf('%%.*c', %d, 'x') AS s FROM c`, n, length)
	}
	for _, sql := range []string{
		rows(3, store.MaxResultBytes/2),
		rows(store.MaxResultBytes/100, 100),
		`SELECT zeroblob(` + fmt.Sprint(store.MaxResultBytes+1) + `) AS b`,
	} {
		_, err := s.Query(ctx, sql)
		if !errors.Is(err, store.ErrResultTooLarge) || store.Code(err) != store.CodeNoMemory {
			t.Errorf("Query(%.60q…): %v (code %s); want ErrResultTooLarge, NO_MEMORY", sql, err, store.Code(err))
		}
	}
	r, err := s.Query(ctx, rows(2, store.MaxResultBytes/4))
	if err != nil || len(r.Values) != 2 {
		t.Fatalf("a result under the bound: %v", err)
	}
}

// TestQueryResultTooLargeEscaped: the bound counts what a result takes as
// JSON: strings of characters JSON escapes count six bytes a character.
func TestQueryResultTooLargeEscaped(t *testing.T) {
	s := openTest(t, 1)
	defer s.Close()
	// 24 MiB of '<', which JSON writes as \u003c: 144 MiB.
	_, err := s.Query(context.Background(), fmt.Sprintf(`SELECT printf('%%.*c', %d, '<') AS s`, 24<<20))
	if !errors.Is(err, store.ErrResultTooLarge) {
		t.Fatalf("a result of 24 MiB that JSON writes in 144: %v, want ErrResultTooLarge", err)
	}
}

// TestQueryOutOfMemory: a query that needs more memory than the store has
// fails with NO_MEMORY (the driver panics; the store must not pass the
// panic on), and the store goes on serving queries and appends.
func TestQueryOutOfMemory(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Schema: `CREATE TABLE t (k)`, Materializers: map[string]string{"x": `INSERT INTO t (k) VALUES (:item)`}, MaxMemory: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A string of 32 MB, in a store of 16 MiB.
	if _, err := s.Query(ctx, `SELECT length(printf('%.*c', 32000000, 'x'))`); store.Code(err) != store.CodeNoMemory {
		t.Fatalf("a query that needs 32 MB: %v (%s), want %s", err, store.Code(err), store.CodeNoMemory)
	}
	if _, err := s.Append(ctx, "a", "x", nil); err != nil {
		t.Fatalf("append after a query ran out of memory: %v", err)
	}
	rows, err := s.Query(ctx, `SELECT k FROM t`)
	if err != nil || fmt.Sprint(rows.Values) != "[[a]]" {
		t.Fatalf("query after a query ran out of memory: %v, %v", rows, err)
	}
}
