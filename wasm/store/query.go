package store

import (
	"context"
	"errors"
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

// MaxResultBytes bounds what one query (or a watch's run of it) returns:
// its values and, once per row, its column names, about as the JSON a
// browser receives them in would hold them. A larger result is refused with
// ErrResultTooLarge before it is read: it would take the memory of every
// store open in the engine, and no JavaScript string holds much more.
const MaxResultBytes = 128 << 20

// ErrResultTooLarge rejects a query whose result is over MaxResultBytes.
var ErrResultTooLarge = errors.New("query result too large")

// Query runs one SQL statement with positional arguments (?, ?1) and
// returns its rows. It reads the state tables, the event log and anything
// else in the database; it may write the application's own local tables,
// but never the log or the state, which change only by appending events.
func (s *Store) Query(ctx context.Context, sql string, args ...any) (*Rows, error) {
	rows, err := s.query(ctx, sql, positional(args))
	return rows, cancelled(ctx, err)
}

// QueryNamed is Query with named arguments (:name, @name or $name); a key
// may be given with or without its prefix.
func (s *Store) QueryNamed(ctx context.Context, sql string, args map[string]any) (*Rows, error) {
	rows, err := s.query(ctx, sql, named(args))
	return rows, cancelled(ctx, err)
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

func (s *Store) query(ctx context.Context, sql string, bind binder) (_ *Rows, err error) {
	// SQLite running out of memory panics in the driver: the statement
	// and the store's lock are let go by the deferred calls below, and
	// the caller gets NO_MEMORY, not a crash.
	defer db.NoMemory(&err)
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// The policy stays in force while the statement runs: SQLite may
	// prepare it again as it runs.
	var ddl bool
	restore := s.c.Enforce(reshaping{queries{s.r}, &ddl})
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
	size := 0
	for stmt.Step() {
		row := make([]any, len(rows.Columns))
		for i := range row {
			size += len(rows.Columns[i]) + valueSize(stmt, i)
			if size > MaxResultBytes {
				return nil, fmt.Errorf("%w: query: the result is over %d MiB after %d rows; read it in pages (LIMIT … OFFSET, or WHERE key > the last one read) or select shorter values", ErrResultTooLarge, MaxResultBytes>>20, len(rows.Values))
			}
			row[i] = db.Column(stmt, i)
		}
		rows.Values = append(rows.Values, row)
	}
	if err := stmt.Err(); err != nil {
		return nil, fmt.Errorf("query: %w", s.c.Denial(err))
	}
	if ddl && s.watcher != nil {
		// The pre-update hook sees rows change, not tables and views
		// dropped, made or altered: a watched view may now read others.
		s.watcher.everything(s.reads)
	}
	return rows, nil
}

// reshaping is the query policy, noting whether a statement drops,
// creates or alters a table or view.
type reshaping struct {
	queries
	ddl *bool
}

func (r reshaping) Allow(action sqlite3.AuthorizerActionCode, name3, name4, schema, inner string) string {
	switch action {
	case sqlite3.AUTH_CREATE_TABLE, sqlite3.AUTH_CREATE_TEMP_TABLE, sqlite3.AUTH_CREATE_VIEW, sqlite3.AUTH_CREATE_TEMP_VIEW,
		sqlite3.AUTH_CREATE_VTABLE, sqlite3.AUTH_DROP_TABLE, sqlite3.AUTH_DROP_TEMP_TABLE, sqlite3.AUTH_DROP_VIEW,
		sqlite3.AUTH_DROP_TEMP_VIEW, sqlite3.AUTH_DROP_VTABLE, sqlite3.AUTH_ALTER_TABLE:
		*r.ddl = true
	}
	return r.queries.Allow(action, name3, name4, schema, inner)
}

// valueSize is about what a column's value takes in the JSON it travels
// in, without reading it into Go: a string with its escapes (a control
// character, a quote, <, > or & takes up to six bytes), a blob in base64.
func valueSize(stmt *sqlite3.Stmt, i int) int {
	switch stmt.ColumnType(i) {
	case sqlite3.TEXT:
		text := stmt.ColumnRawText(i)
		n := len(text)
		for _, c := range text {
			if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				n += 5
			}
		}
		return n
	case sqlite3.BLOB:
		return (len(stmt.ColumnRawBlob(i))+2)/3*4 + 12
	default:
		return 24
	}
}
