package store

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// Dump writes the rows of the named tables (the state tables if none are
// named) as SQL INSERT statements, tables by name and rows sorted, so that
// two replicas in the same state write the same text. Rowid tables include
// their rowid, which replay keeps deterministic too. Every value is
// written whole: a text with a NUL in it as CAST(X'…' AS TEXT).
func (s *Store) Dump(ctx context.Context, w io.Writer, tables ...string) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if len(tables) == 0 {
		tables = s.r.Tables()
	}
	tables = slices.Sorted(slices.Values(tables))
	for _, t := range tables {
		if err := s.dumpTable(w, t); err != nil {
			return fmt.Errorf("dump %s: %w", t, cancelled(ctx, err))
		}
	}
	return nil
}

func (s *Store) dumpTable(w io.Writer, table string) error {
	var cols []string
	err := s.c.Query(`SELECT name FROM pragma_table_info(?)`, []any{table}, func(st *sqlite3.Stmt) error {
		cols = append(cols, dumpValue(quoteIdent(st.ColumnText(0))))
		return nil
	})
	if err != nil {
		return err
	}
	if len(cols) == 0 {
		return fmt.Errorf("no such table")
	}
	rowid, ok, err := s.c.RowidName(table)
	if err != nil {
		return err
	}
	if ok {
		cols = append([]string{rowid}, cols...)
	}
	q := fmt.Sprintf(`SELECT 'INSERT INTO %s VALUES(' || %s || ');' FROM main.%s ORDER BY 1`,
		strings.ReplaceAll(quoteIdent(table), "'", "''"), strings.Join(cols, ` || ',' || `), quoteIdent(table))
	stmt, _, err := s.c.Raw().Prepare(q)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for stmt.Step() {
		if _, err := fmt.Fprintln(w, stmt.ColumnText(0)); err != nil {
			return err
		}
	}
	return stmt.Err()
}

// dumpValue is the SQL literal of column col's value. quote() ends a text
// at its first NUL, so that texts that differ after one would dump alike
// (and two replicas that differ would look the same): such a text is
// written as its bytes, cast to text.
func dumpValue(col string) string {
	return fmt.Sprintf(`CASE WHEN typeof(%[1]s) = 'text' AND instr(%[1]s, char(0)) THEN 'CAST(' || quote(CAST(%[1]s AS BLOB)) || ' AS TEXT)' ELSE quote(%[1]s) END`, col)
}

func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }
