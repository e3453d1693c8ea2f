// Package db is factlog's thin layer over a SQLite connection
// (github.com/ncruces/go-sqlite3): a cache of prepared statements,
// argument binding, row scanning and transactions. It holds no factlog
// logic; packages dag, replay and store do.
//
// A Conn is not safe for concurrent use; its owner serializes calls.
package db

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"syscall"

	"github.com/ncruces/go-sqlite3"
)

// Conn is a SQLite connection with a statement cache.
type Conn struct {
	raw    *sqlite3.Conn
	stmts  map[string]*sqlite3.Stmt
	policy Policy // nil: the caller's own SQL, trusted
	denied string // why the policy last refused something
	failed uint64 // transactions Tx ended without committing
}

// Failed counts the transactions Tx ended without committing. A cache of
// rows written inside transactions keeps it beside what it caches, and
// drops everything once it changes: what a failed transaction wrote is
// gone, and its row numbers may be given again to other rows.
func (c *Conn) Failed() uint64 { return c.failed }

// DefaultMaxMemory caps the memory of one connection (its page cache, and
// the whole database if it is in memory): 1 GiB, or 256 MiB where
// pointers have 32 bits (WebAssembly), since a browser tab has less room.
var DefaultMaxMemory int64 = 1 << 30

func init() {
	if bits.UintSize < 64 {
		DefaultMaxMemory = 256 << 20
	}
}

// Open opens the database at name ("" or ":memory:" for a private
// in-memory database) through the given VFS ("" for the default one),
// using at most maxMemory bytes (0 for DefaultMaxMemory).
func Open(ctx context.Context, name, vfs string, maxMemory int64) (*Conn, error) {
	if maxMemory <= 0 {
		maxMemory = DefaultMaxMemory
	}
	ctx = sqlite3.WithMaxMemory(ctx, maxMemory)
	uri := name
	switch {
	case InMemory(name):
		uri = ":memory:"
	case vfs != "":
		uri = "file:" + escapePath(name) + "?vfs=" + vfs
	}
	raw, err := sqlite3.OpenContext(ctx, uri)
	if err != nil {
		return nil, fmt.Errorf("open database %q: %w", name, err)
	}
	c := &Conn{raw: raw, stmts: map[string]*sqlite3.Stmt{}}
	if err := raw.SetAuthorizer(c.authorize); err != nil {
		raw.Close()
		return nil, fmt.Errorf("open database %q: %w", name, err)
	}
	return c, nil
}

func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// Raw returns the underlying connection, for hooks and functions.
func (c *Conn) Raw() *sqlite3.Conn { return c.raw }

// Close finalizes every cached statement and closes the connection.
func (c *Conn) Close() error {
	for _, s := range c.stmts {
		s.Close()
	}
	c.stmts = nil
	return c.raw.Close()
}

// Script runs one or more statements without arguments (schema changes).
func (c *Conn) Script(sql string) error {
	return c.raw.Exec(sql)
}

// Prepared returns the cached statement for sql, reset, preparing it on
// first use. sql must hold a single statement. Bindings are left as they
// were: callers bind every parameter.
func (c *Conn) Prepared(sql string) (*sqlite3.Stmt, error) {
	if s, ok := c.stmts[sql]; ok {
		s.Reset()
		return s, nil
	}
	s, tail, err := c.raw.Prepare(sql)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(tail) != "" {
		s.Close()
		return nil, fmt.Errorf("prepare %.60q: more than one statement", sql)
	}
	c.stmts[sql] = s
	return s, nil
}

// Forget finalizes the cached statements, which must happen before tables
// they read are dropped.
func (c *Conn) Forget() {
	for k, s := range c.stmts {
		s.Close()
		delete(c.stmts, k)
	}
}

// Exec runs a cached single statement with positional arguments.
func (c *Conn) Exec(sql string, args ...any) error {
	s, err := c.Prepared(sql)
	if err != nil {
		return err
	}
	if err := Bind(s, args...); err != nil {
		return err
	}
	return s.Exec()
}

// Query runs a cached single statement with positional arguments and calls
// row for each result row. The statement is only valid inside row.
func (c *Conn) Query(sql string, args []any, row func(*sqlite3.Stmt) error) error {
	s, err := c.Prepared(sql)
	if err != nil {
		return err
	}
	if err := Bind(s, args...); err != nil {
		return err
	}
	defer s.Reset()
	for s.Step() {
		if err := row(s); err != nil {
			return err
		}
	}
	return s.Err()
}

// Int64 runs a query that returns one integer; ok is false without a row.
func (c *Conn) Int64(sql string, args ...any) (v int64, ok bool, err error) {
	err = c.Query(sql, args, func(s *sqlite3.Stmt) error {
		v, ok = s.ColumnInt64(0), true
		return nil
	})
	return v, ok, err
}

// Text runs a query that returns one text; ok is false without a row.
func (c *Conn) Text(sql string, args ...any) (v string, ok bool, err error) {
	err = c.Query(sql, args, func(s *sqlite3.Stmt) error {
		v, ok = s.ColumnText(0), true
		return nil
	})
	return v, ok, err
}

// Bind binds positional arguments 1..n by their Go type.
func Bind(s *sqlite3.Stmt, args ...any) error {
	for i, a := range args {
		if err := BindValue(s, i+1, a); err != nil {
			return err
		}
	}
	return nil
}

// BindValue binds one argument: nil, bool, integers, float64, string,
// []byte, or anything with a String method (ids).
func BindValue(s *sqlite3.Stmt, i int, a any) error {
	switch v := a.(type) {
	case nil:
		return s.BindNull(i)
	case bool:
		return s.BindBool(i, v)
	case int:
		return s.BindInt64(i, int64(v))
	case int64:
		return s.BindInt64(i, v)
	case uint64:
		if v > math.MaxInt64 {
			return fmt.Errorf("bind parameter %d: %d does not fit SQLite's 64-bit signed integers", i, v)
		}
		return s.BindInt64(i, int64(v))
	case float64:
		return s.BindFloat(i, v)
	case string:
		return s.BindText(i, v)
	case []byte:
		if v == nil {
			return s.BindNull(i)
		}
		return s.BindBlob(i, v)
	case fmt.Stringer:
		return s.BindText(i, v.String())
	default:
		return fmt.Errorf("bind parameter %d: unsupported type %T", i, a)
	}
}

// Column returns a result column as a Go value: int64, float64, string,
// []byte (copied) or nil.
func Column(s *sqlite3.Stmt, i int) any {
	switch s.ColumnType(i) {
	case sqlite3.INTEGER:
		return s.ColumnInt64(i)
	case sqlite3.FLOAT:
		return s.ColumnFloat(i)
	case sqlite3.TEXT:
		return s.ColumnText(i)
	case sqlite3.BLOB:
		return s.ColumnBlob(i, nil)
	default:
		return nil
	}
}

// ValueOf returns a function's argument as Column returns a column.
func ValueOf(v sqlite3.Value) any {
	switch v.Type() {
	case sqlite3.INTEGER:
		return v.Int64()
	case sqlite3.FLOAT:
		return v.Float()
	case sqlite3.TEXT:
		return v.Text()
	case sqlite3.BLOB:
		return v.Blob(nil)
	default:
		return nil
	}
}

// Result sets a function's result to a value of the types Column returns.
func Result(ctx sqlite3.Context, v any) {
	switch v := v.(type) {
	case int64:
		ctx.ResultInt64(v)
	case float64:
		ctx.ResultFloat(v)
	case string:
		ctx.ResultText(v)
	case []byte:
		ctx.ResultBlob(v)
	default:
		ctx.ResultNull()
	}
}

// ErrLocked reports a database file that another tab, worker, process or
// handle holds.
var ErrLocked = errors.New("the store is open elsewhere (another Store, process, tab or worker); a store has one writer")

// ErrLinked reports a database file with more than one name (hard links):
// each name would get a lock and a WAL of its own, so two writers could
// share the file, and one's acknowledged writes be lost.
var ErrLinked = errors.New("the file has more than one name (hard links), and a store has one writer by one name")

// Tables returns the names of the database's tables and views, sorted,
// SQLite's own left out: what a store or a table of registers checks a
// file holds before it writes anything to it.
func (c *Conn) Tables() ([]string, error) {
	var names []string
	err := c.Query(`SELECT name FROM main.sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`, nil, func(s *sqlite3.Stmt) error {
		names = append(names, s.ColumnText(0))
		return nil
	})
	return names, err
}

// FewNames lists names for a message: the first five, and "…" for more.
func FewNames(names []string) string {
	if len(names) > 5 {
		names = append(names[:5:5], "…")
	}
	return strings.Join(names, ", ")
}

// FileError says what is wrong with the file at path, when opening a
// database there failed for a reason of the file's — the caller's to fix,
// as an error wrapping invalid (its package's ErrArgument) — and returns
// nil when err is not one. A store and a table of registers share it.
func FileError(invalid error, path string, err error) error {
	switch {
	case errors.Is(err, ErrLinked):
		return fmt.Errorf("%w: cannot open %q: %v", invalid, path, err)
	case errors.Is(err, syscall.EISDIR) || strings.Contains(err.Error(), "EISDIR"): // (Node's errors carry their code as text)
		return fmt.Errorf("%w: cannot open %q: a directory is where the store keeps a file (%[2]s, %[2]s-wal or %[2]s-lock): move it, or choose another name (%[3]v)", invalid, path, err)
	case errors.Is(err, sqlite3.CANTOPEN):
		return fmt.Errorf("%w: cannot open %q: its directory must exist and be writable (%v)", invalid, path, err)
	case errors.Is(err, sqlite3.NOTADB):
		return fmt.Errorf("%w: %q exists and is not an SQLite database: open a new name, or delete it (%v)", invalid, path, err)
	case errors.Is(err, sqlite3.CORRUPT):
		// Not a query SQLite refused: nothing the caller runs can help.
		return fmt.Errorf("%w: %q is damaged: cut short or overwritten, or a %s-wal beside it is another database's; "+
			"restore it from a backup, or open a new store and sync it from a replica: %w", invalid, path, path, err)
	}
	return nil
}

// ErrNoMemory reports that SQLite reached the connection's memory limit.
var ErrNoMemory = errors.New("database out of memory")

// Tx runs fn in a write transaction: committed if fn returns nil, rolled
// back otherwise (and on panic). SQLite running out of memory, which the
// driver reports by panicking, is returned as ErrNoMemory.
//
// The rollback runs whatever state the connection's interrupt context is
// in: a call cancelled halfway leaves nothing of its work behind, and the
// connection ready for the next transaction.
func (c *Conn) Tx(fn func() error) (err error) {
	if !c.raw.GetAutocommit() {
		// Only a rollback that failed (an I/O error) leaves a
		// transaction open; finish it before starting anew.
		if err := c.rollback(); err != nil {
			return fmt.Errorf("begin: a previous transaction could not be rolled back: %w", err)
		}
	}
	if err := c.Exec("BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		p := recover()
		if p != nil || err != nil {
			c.failed++
		}
		if p != nil {
			_ = c.rollback() // what the panic says matters more
			if outOfMemory(p) {
				err = fmt.Errorf("%w: the transaction was rolled back; give the store more memory (MaxMemory) or keep it in a file", ErrNoMemory)
				return
			}
			panic(p)
		}
		if err != nil {
			if rerr := c.rollback(); rerr != nil {
				err = fmt.Errorf("%w (and the rollback failed: %v)", err, rerr)
			}
		}
	}()
	if err = fn(); err != nil {
		return err
	}
	if err = c.Exec("COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// outOfMemory reports whether a panic is the driver's for SQLite
// running out of memory.
func outOfMemory(p any) bool {
	e, ok := p.(error)
	return ok && e.Error() == "sqlite3: out of memory"
}

// NoMemory, deferred, turns the driver's panic for SQLite running out of
// memory into an error wrapping ErrNoMemory in *err, for calls outside Tx
// (a query); any other panic goes on.
func NoMemory(err *error) {
	p := recover()
	if p == nil {
		return
	}
	if !outOfMemory(p) {
		panic(p)
	}
	*err = fmt.Errorf("%w: give the store more memory (MaxMemory), or ask for less at once", ErrNoMemory)
}

// rollback ends the open transaction, if any. It runs with an interrupt
// context of its own: the caller's may be what ended the transaction.
func (c *Conn) rollback() error {
	if c.raw.GetAutocommit() {
		return nil
	}
	old := c.raw.SetInterrupt(context.Background())
	defer c.raw.SetInterrupt(old)
	return c.raw.Exec("ROLLBACK")
}

// IsSQL reports whether err came from SQLite itself.
func IsSQL(err error) bool {
	var e *sqlite3.Error
	return errors.As(err, &e)
}

// InMemory reports whether name opens a private in-memory database.
func InMemory(name string) bool { return name == "" || name == ":memory:" }

// RowidName returns a name that reaches the rowid of a table: rowid,
// _rowid_ or oid, whichever no column hides. ok is false for WITHOUT ROWID
// tables, views, and tables whose columns hide all three.
func (c *Conn) RowidName(table string) (name string, ok bool, err error) {
	var columns []string
	err = c.Query(`SELECT lower(x.name) FROM pragma_table_list l LEFT JOIN pragma_table_xinfo(l.name) x
		WHERE l.schema = 'main' AND l.name = ? AND l.type = 'table' AND NOT l.wr`, []any{table}, func(s *sqlite3.Stmt) error {
		columns = append(columns, s.ColumnText(0))
		return nil
	})
	if err != nil || len(columns) == 0 {
		return "", false, err
	}
	for _, n := range []string{"rowid", "_rowid_", "oid"} {
		if !slices.Contains(columns, n) {
			return n, true, nil
		}
	}
	return "", false, nil
}
