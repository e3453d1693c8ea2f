package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/factlog/factlog/wasm/replay"
	"github.com/factlog/factlog/wasm/store"
)

// TestImpureInterpretationsRefused: an interpretation must be a pure
// function of the events. Whatever would let two replicas compute
// different states from the same events is refused when the
// interpretation is installed — with a typed error that names the rule and
// the statement — rather than found out later by replicas that differ.
func TestImpureInterpretationsRefused(t *testing.T) {
	const table = `CREATE TABLE t (v ANY)`
	ins := func(expr string) map[string]string {
		return map[string]string{"x": `INSERT INTO t VALUES (` + expr + `)`}
	}
	tests := []struct {
		name          string
		schema        string
		materializers map[string]string
		rule          error
		code, match   string
	}{
		{"datetime now", table, ins(`datetime('now')`), replay.ErrImpure, store.CodeMaterializer, "'now'"},
		{"julianday NOW", table, ins(`julianday('NOW')`), replay.ErrImpure, store.CodeMaterializer, "'now'"},
		{"unixepoch()", table, ins(`unixepoch()`), replay.ErrImpure, store.CodeMaterializer, "unixepoch"},
		{"strftime now", table, ins(`strftime('%s', 'now')`), replay.ErrImpure, store.CodeMaterializer, "'now'"},
		{"strftime(format)", table, ins(`strftime('%Y-%m-%d %H:%M:%f')`), replay.ErrImpure, store.CodeMaterializer, "strftime(format) without a time"},
		{"strftime(:value)", table, ins(`strftime(:value)`), replay.ErrImpure, store.CodeMaterializer, "strftime(format) without a time"},
		{"date()", table, ins(`date()`), replay.ErrImpure, store.CodeMaterializer, "date() without a time"},
		{"timediff now", table, ins(`timediff(:time, 'now')`), replay.ErrImpure, store.CodeMaterializer, "'now'"},
		{"localtime", table, ins(`date(:time / 1000, 'unixepoch', 'localtime')`), replay.ErrImpure, store.CodeMaterializer, "localtime"},
		{"CURRENT_TIMESTAMP", table, ins(`CURRENT_TIMESTAMP`), replay.ErrImpure, store.CodeMaterializer, "CURRENT_TIMESTAMP"},
		{"current_date", table, ins(`current_date`), replay.ErrImpure, store.CodeMaterializer, "current_date"},
		{"CURRENT_TIME", table, ins(`CURRENT_TIME`), replay.ErrImpure, store.CodeMaterializer, "CURRENT_TIME"},
		{"DEFAULT CURRENT_TIMESTAMP", `CREATE TABLE t (v ANY, created_at TEXT DEFAULT CURRENT_TIMESTAMP)`, ins(`:value`), replay.ErrImpure, store.CodeSchema, "CURRENT_TIMESTAMP"},
		{"DEFAULT (datetime('now'))", `CREATE TABLE t (v ANY, created_at TEXT DEFAULT (datetime('now')))`, ins(`:value`), replay.ErrImpure, store.CodeSchema, "'now'"},
		{"random()", table, ins(`random()`), replay.ErrImpure, store.CodeMaterializer, "random"},
		{"randomblob", table, ins(`hex(randomblob(4))`), replay.ErrImpure, store.CodeMaterializer, "randomblob"},
		{"sqlite_version", table, ins(`sqlite_version()`), replay.ErrImpure, store.CodeMaterializer, "sqlite_version"},
		{"reads event", table, ins(`(SELECT count(*) FROM event)`), replay.ErrImpure, store.CodeMaterializer, "event"},
		{"reads event_dag", table, ins(`(SELECT count(*) FROM event_dag)`), replay.ErrImpure, store.CodeMaterializer, "event_dag"},
		{"reads factlog's tables", table, ins(`(SELECT value FROM _factlog_meta LIMIT 1)`), replay.ErrImpure, store.CodeMaterializer, "_factlog_meta"},
		{"writes a local table", table, map[string]string{"x": `INSERT INTO mine VALUES (:value)`}, replay.ErrImpure, store.CodeMaterializer, "mine"},
		{"reads a local table", table, ins(`(SELECT count(*) FROM mine)`), replay.ErrImpure, store.CodeMaterializer, "mine"},
		{"schema reads a local table", `CREATE TABLE t AS SELECT * FROM mine`, nil, replay.ErrImpure, store.CodeSchema, "mine"},
		{"schema reads the log", `CREATE TABLE t (v); INSERT INTO t SELECT id FROM event`, nil, replay.ErrImpure, store.CodeSchema, "event"},
		{"temp trigger", table + `; CREATE TEMP TRIGGER tt AFTER INSERT ON t BEGIN SELECT 1; END`, nil, replay.ErrImpure, store.CodeSchema, "TEMP"},
		{"temp table", table + `; CREATE TEMP TABLE scratch (v)`, nil, replay.ErrImpure, store.CodeSchema, "TEMP"},
		{"temp view", table + `; CREATE TEMP VIEW tv AS SELECT * FROM t`, nil, replay.ErrImpure, store.CodeSchema, "TEMP"},
		{"factlog's names", `CREATE TABLE _factlog_mine (v)`, nil, replay.ErrSchema, store.CodeSchema, "_factlog_"},
		{"INSERT OR ROLLBACK", `CREATE TABLE t (v UNIQUE)`, map[string]string{"x": `INSERT OR ROLLBACK INTO t VALUES (:value)`}, replay.ErrSchema, store.CodeMaterializer, "ROLLBACK"},
		{"UPDATE OR ROLLBACK", `CREATE TABLE t (v UNIQUE)`, map[string]string{"x": `UPDATE OR ROLLBACK t SET v = :value`}, replay.ErrSchema, store.CodeMaterializer, "ROLLBACK"},
		{"ON CONFLICT ROLLBACK", `CREATE TABLE t (k TEXT PRIMARY KEY ON CONFLICT ROLLBACK, v)`, map[string]string{"x": `INSERT INTO t VALUES (:item, :value)`}, replay.ErrSchema, store.CodeMaterializer, "ROLLBACK"},
		{"writes temp", table, map[string]string{"x": `INSERT INTO temp.sqlite_temp_master VALUES ('table', 'x', 'x', 0, '')`}, replay.ErrImpure, store.CodeMaterializer, "sqlite_temp_master"},
		{"factlog_clock()", table, ins(`factlog_clock()`), replay.ErrImpure, store.CodeMaterializer, "factlog_clock"},
		{"schema computes 'now'", table + `; INSERT INTO t VALUES (julianday('no' || 'w'))`, nil, replay.ErrImpure, store.CodeSchema, "'now'"},
		{"schema reads 'now' from JSON", table + `; INSERT INTO t SELECT julianday(value) FROM json_each('["now"]')`, nil, replay.ErrImpure, store.CodeSchema, "'now'"},
		{"schema reads SQLite's catalog", `CREATE TABLE meta AS SELECT type, name FROM sqlite_schema`, nil, replay.ErrImpure, store.CodeSchema, "sqlite_"},
		{"schema copies SQLite's catalog", table + `; INSERT INTO t SELECT name FROM sqlite_master`, nil, replay.ErrImpure, store.CodeSchema, "sqlite_master"},
		{"VACUUM", table, map[string]string{"x": `VACUUM`}, replay.ErrSchema, store.CodeMaterializer, "VACUUM"},
		{"schema renames a table", `CREATE TABLE draft (v ANY); ALTER TABLE draft RENAME TO t`, ins(`:value`), replay.ErrSchema, store.CodeSchema, "ALTER TABLE … RENAME"},
		{"schema renames a column", `CREATE TABLE t (w ANY); ALTER TABLE t RENAME COLUMN w TO v`, ins(`:value`), replay.ErrSchema, store.CodeSchema, "ALTER TABLE … RENAME"},
		{"DEFAULT (factlog_clock())", `CREATE TABLE t (v ANY, c INTEGER DEFAULT (factlog_clock()))`, ins(`:value`), replay.ErrImpure, store.CodeSchema, "factlog_clock"},
		{"factlog_undo()", table, ins(`factlog_undo(0)`), replay.ErrImpure, store.CodeMaterializer, "factlog_undo"},
		{"bad SQL", table, map[string]string{"x": `INSERT INTO t VALUES (`}, nil, store.CodeMaterializer, "incomplete input"},
		{"unknown parameter", table, map[string]string{"x": `INSERT INTO t VALUES (:who)`}, nil, store.CodeMaterializer, ":who"},
		{"bad schema", `CREATE TABLE t (v) WITH ROWID`, nil, nil, store.CodeSchema, "syntax error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := store.Open(ctx, store.Options{Schema: `CREATE TABLE kept (v)`, Materializers: map[string]string{"x": `INSERT INTO kept VALUES (:value)`}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Query(ctx, `CREATE TABLE mine (v)`); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Append(ctx, "1", "x", []byte(`1`)); err != nil {
				t.Fatal(err)
			}
			err = s.Reinterpret(ctx, tt.schema, tt.materializers, nil)
			var ie *replay.InterpretationError
			if !errors.As(err, &ie) {
				t.Fatalf("Reinterpret: %v, want an *InterpretationError", err)
			}
			if tt.rule != nil && !errors.Is(err, tt.rule) {
				t.Fatalf("Reinterpret: %v, want %v", err, tt.rule)
			}
			if store.Code(err) != tt.code || !strings.Contains(err.Error(), tt.match) {
				t.Fatalf("Reinterpret: %v (code %s), want code %s and a message naming %s", err, store.Code(err), tt.code, tt.match)
			}
			// The refused interpretation changed nothing: the previous one
			// goes on, and the local table is still there.
			if _, err := s.Append(ctx, "2", "x", []byte(`2`)); err != nil {
				t.Fatal(err)
			}
			rows, err := s.Query(ctx, `SELECT (SELECT count(*) FROM kept), (SELECT count(*) FROM mine)`)
			if err != nil || rows.Values[0][0] != int64(2) || rows.Values[0][1] != int64(0) {
				t.Fatalf("after the refusal: %v, %v", rows, err)
			}
			// Open refuses it the same way.
			if _, err := store.Open(ctx, store.Options{Schema: tt.schema, Materializers: tt.materializers}); store.Code(err) != tt.code {
				t.Fatalf("Open: %v (code %s), want code %s", err, store.Code(err), tt.code)
			}
		})
	}
}

// TestPureInterpretationsAccepted: what real interpretations do with
// dates, JSON, defaults and conflicts is accepted.
func TestPureInterpretationsAccepted(t *testing.T) {
	for name, in := range map[string]struct {
		schema string
		mats   map[string]string
	}{
		"dates from the event's time": {`CREATE TABLE t (day TEXT, year TEXT, jd REAL)`, map[string]string{
			"x": `INSERT INTO t VALUES (date(:time / 1000, 'unixepoch'), strftime('%Y', :time / 1000, 'unixepoch'), julianday(:time / 1000, 'unixepoch', 'start of month', '+1 day'))`}},
		"JSON": {`CREATE TABLE t (k TEXT, v ANY)`, map[string]string{
			"x": `INSERT INTO t SELECT key, value FROM json_each(:value); UPDATE t SET v = json_extract(:value, '$.a') WHERE k = 'b'`}},
		"defaults": {`CREATE TABLE t (v ANY, n INTEGER NOT NULL DEFAULT 0, s TEXT DEFAULT 'new', f REAL DEFAULT (1.5 * 2), now TEXT DEFAULT 'now')`, map[string]string{
			"x": `INSERT INTO t (v) VALUES (:value)`}},
		"conflicts": {`CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER)`, map[string]string{
			"x": `INSERT INTO t VALUES (:item, 1) ON CONFLICT (k) DO UPDATE SET n = n + 1; INSERT OR REPLACE INTO t VALUES (:item || '+', :seq); INSERT OR IGNORE INTO t VALUES (:item, 0)`}},
		"views and indexes": {`CREATE TABLE t (k TEXT, v ANY); CREATE INDEX t_k ON t (k); CREATE VIEW tv AS SELECT k, count(*) AS n FROM t GROUP BY k`, map[string]string{
			"x": `INSERT INTO t VALUES (:item, :value)`}},
		"DDL": {`CREATE TABLE a (k TEXT PRIMARY KEY, v); CREATE TABLE c AS SELECT k, v FROM a; CREATE INDEX c_v ON c (v);
			CREATE VIEW cv AS SELECT * FROM c; ALTER TABLE c ADD COLUMN w; DROP VIEW cv; CREATE VIEW cv AS SELECT k, w FROM c;
			CREATE TABLE d (v); DROP TABLE d`, map[string]string{
			"x": `INSERT INTO c (k, v) VALUES (:item, :value)`}},
		"update from": {`CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER); CREATE TABLE d (k TEXT, n INTEGER)`, map[string]string{
			"x": `INSERT INTO d VALUES (:item, :value); INSERT OR IGNORE INTO t VALUES (:item, 0); UPDATE t SET n = t.n + d.n FROM d WHERE d.k = t.k AND t.k = :item`}},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, err := store.Open(ctx, store.Options{Schema: in.schema, Materializers: in.mats, Now: fakeClock()})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer s.Close()
			if _, err := s.Append(ctx, "b", "x", []byte(`{"a": 1, "b": 2}`)); err != nil {
				t.Fatalf("append: %v", err)
			}
		})
	}
}
