package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/ncruces/go-sqlite3"
)

// Rows is the result of a query.
type Rows struct {
	Columns []string
	// Values holds one slice per row, with int64, float64, string, []byte
	// or nil per column.
	Values [][]any
}

// Query runs one SQL statement with positional arguments (?, ?1) and
// returns its rows. It reads the state tables, the event log and anything
// else in the database; it may write the application's own local tables,
// but never the log or the state, which change only by appending events.
func (s *Store) Query(ctx context.Context, sql string, args ...any) (*Rows, error) {
	return s.query(ctx, sql, positional(args))
}

// QueryNamed is Query with named arguments (:name, @name or $name); a key
// may be given with or without its prefix.
func (s *Store) QueryNamed(ctx context.Context, sql string, args map[string]any) (*Rows, error) {
	return s.query(ctx, sql, named(args))
}

// binder binds a statement's arguments.
type binder func(stmt *sqlite3.Stmt) error

// positional binds ?, ?NNN (and, by position, named) parameters. SQLite
// binds what is not given as NULL; a forgotten argument is a bug that
// would read as an empty result, so the count must match.
func positional(args []any) binder {
	return func(stmt *sqlite3.Stmt) error {
		if n := stmt.BindCount(); len(args) != n {
			what := "an array (for ?) or an object (for :name)"
			if len(args) > 0 {
				what = "one value for each"
			}
			return fmt.Errorf("%w: the statement has %d parameter(s) and %d value(s) were given: pass %s", ErrArgument, n, len(args), what)
		}
		for i, a := range args {
			if err := db.BindValue(stmt, i+1, a); err != nil {
				return fmt.Errorf("%w: %v", ErrArgument, err)
			}
		}
		return nil
	}
}

// named binds :name, @name and $name parameters; every one the statement
// has must be given.
func named(args map[string]any) binder {
	return func(stmt *sqlite3.Stmt) error {
		for i := 1; i <= stmt.BindCount(); i++ {
			name := stmt.BindName(i)
			if name == "" {
				return fmt.Errorf("%w: the statement has ? parameters: pass an array, not an object", ErrArgument)
			}
			_, long := args[name]
			_, short := args[name[1:]]
			if !long && !short {
				return fmt.Errorf("%w: parameter %s is missing from the object", ErrArgument, name)
			}
		}
		for k, v := range args {
			i := stmt.BindIndex(k)
			for _, prefix := range []string{":", "@", "$"} {
				if i == 0 {
					i = stmt.BindIndex(prefix + k)
				}
			}
			if i == 0 {
				return fmt.Errorf("%w: the statement has no parameter named %q", ErrArgument, k)
			}
			if err := db.BindValue(stmt, i, v); err != nil {
				return fmt.Errorf("%w: %v", ErrArgument, err)
			}
		}
		return nil
	}
}

// binderOf accepts nil, []any or map[string]any.
func binderOf(args any) (binder, error) {
	switch a := args.(type) {
	case nil:
		return positional(nil), nil
	case []any:
		return positional(a), nil
	case map[string]any:
		return named(a), nil
	default:
		return nil, fmt.Errorf("%w: arguments must be a list or a map, not %T", ErrArgument, args)
	}
}

func (s *Store) query(ctx context.Context, sql string, bind binder) (*Rows, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// The policy stays in force while the statement runs: SQLite may
	// prepare it again as it runs.
	restore := s.c.Enforce(queries{s.r})
	defer restore()
	stmt, tail, err := s.c.Raw().Prepare(sql)
	if err != nil {
		return nil, fmt.Errorf("query: %w", s.c.Denial(err))
	}
	if stmt == nil {
		return nil, fmt.Errorf("%w: query: the SQL holds no statement", ErrArgument)
	}
	defer stmt.Close()
	if strings.TrimSpace(tail) != "" {
		return nil, fmt.Errorf("%w: query: one statement at a time; found more after %.60q", ErrArgument, stmt.SQL())
	}
	if err := bind(stmt); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	rows := &Rows{Columns: make([]string, stmt.ColumnCount())}
	for i := range rows.Columns {
		rows.Columns[i] = stmt.ColumnName(i)
	}
	for stmt.Step() {
		row := make([]any, len(rows.Columns))
		for i := range row {
			row[i] = db.Column(stmt, i)
		}
		rows.Values = append(rows.Values, row)
	}
	if err := stmt.Err(); err != nil {
		return nil, fmt.Errorf("query: %w", s.c.Denial(err))
	}
	return rows, nil
}
