// Package lww is the seed's first system, for comparison with the event
// log: a table whose every column of every row is a last-write-wins
// register with its own Lamport clock, stored in SQLite.
//
// A local write to a column moves its clock one past the clock it has. A
// merge keeps, column by column, the higher clock; on a tie the bigger
// value, comparing the values' canonical JSON bytewise (a total order every
// replica computes alike). Merging is commutative, associative and
// idempotent, so replicas that exchange states converge — but only the
// winning values survive: what was overwritten, and by whom, is gone.
//
// A Registers is safe for concurrent use; calls are serialized.
package lww

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	gosync "sync"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/ncruces/go-sqlite3"
)

// Options configure Open.
type Options struct {
	// Path and VFS place the database, as in store.Options; "" or
	// ":memory:" keeps it in memory.
	Path, VFS string
	// Table names the table of rows ("todo"); Columns its columns besides
	// id ("content", "completed"). A table made before with fewer columns
	// gets the others.
	Table   string
	Columns []string
}

// ErrArgument rejects bad options or arguments; the message says which.
var ErrArgument = errors.New("invalid argument")

// Registers is one replica's LWW table.
type Registers struct {
	mu    gosync.Mutex
	c     *db.Conn
	table string
	cols  []string
}

// ident reports whether s is a plain SQL identifier: a letter or _, then
// letters, digits or _, at most 63 in all. (Not a regexp: the browser
// build need not carry the regexp package for this.)
func ident(s string) bool {
	if s == "" || len(s) > 63 || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func quote(s string) string { return `"` + s + `"` }

// Open opens (or creates) the table: Table holds the values, readable
// with SQL like any table (strings, numbers, 1/0 for booleans, JSON text
// for objects), and Table__lww the registers (value as canonical JSON,
// clock) that merges compare.
func Open(ctx context.Context, opts Options) (*Registers, error) {
	// SQLite's names ignore ASCII case: "A" is column "a", "TODO__LWW"
	// table todo's registers.
	lower := strings.ToLower(opts.Table)
	switch {
	case !ident(opts.Table):
		return nil, fmt.Errorf("%w: table name %q: letters, digits and _, not starting with a digit", ErrArgument, opts.Table)
	case strings.HasPrefix(lower, "_factlog") || strings.HasPrefix(lower, "sqlite_") || strings.HasSuffix(lower, lwwSuffix):
		return nil, fmt.Errorf("%w: table name %q: names starting with _factlog or sqlite_, or ending in %s, are reserved", ErrArgument, opts.Table, lwwSuffix)
	}
	if len(opts.Columns) == 0 {
		return nil, fmt.Errorf("%w: a table needs columns", ErrArgument)
	}
	for i, c := range opts.Columns {
		same := func(o string) bool { return strings.EqualFold(o, c) }
		if !ident(c) || same("id") || slices.ContainsFunc(opts.Columns[:i], same) {
			return nil, fmt.Errorf("%w: column name %q: letters, digits and _, unique (ignoring case), not id", ErrArgument, c)
		}
	}
	c, err := db.Open(ctx, opts.Path, opts.VFS, 0)
	if err != nil {
		return nil, err
	}
	// As a store does: Node's and the browser's file systems have no
	// shared memory for a WAL index but a connection's own, which
	// EXCLUSIVE mode keeps — so that a store's file (in WAL mode) is
	// read, and refused below, rather than failing to open.
	if !db.InMemory(opts.Path) {
		if err := c.Exec(`PRAGMA locking_mode = EXCLUSIVE`); err != nil {
			c.Close()
			return nil, fmt.Errorf("open %s: %w", opts.Table, err)
		}
	}
	if err := foreign(c, opts.Path); err != nil {
		c.Close()
		return nil, err
	}
	r := &Registers{c: c, table: opts.Table, cols: slices.Clone(opts.Columns)}
	defs := make([]string, len(r.cols))
	for i, col := range r.cols {
		defs[i] = quote(col)
	}
	schema := fmt.Sprintf(`
		CREATE TABLE IF NOT EXISTS %[1]s (id TEXT PRIMARY KEY NOT NULL, %[2]s);
		CREATE TABLE IF NOT EXISTS %[3]s ( -- keep in step with foreign
			id    TEXT NOT NULL,
			col   TEXT NOT NULL,
			value TEXT NOT NULL,    -- canonical JSON
			clock INTEGER NOT NULL, -- Lamport clock of this register
			PRIMARY KEY (id, col)
		) WITHOUT ROWID;`, quote(r.table), strings.Join(defs, ", "), quote(r.table+lwwSuffix))
	if err := c.Script(schema); err != nil {
		c.Close()
		return nil, fmt.Errorf("open %s: %w", r.table, err)
	}
	if err := r.addColumns(); err != nil {
		c.Close()
		return nil, fmt.Errorf("open %s: %w", r.table, err)
	}
	return r, nil
}

// lwwSuffix names a table's registers: table todo's are in todo__lww.
const lwwSuffix = "__lww"

// foreign refuses a database that holds more than tables of registers —
// an event store (whose state tables Open would write rows into that no
// event made, and add columns to), another application's — and a file
// that is not a database. It runs before Open writes anything.
func foreign(c *db.Conn, path string) error {
	names, err := c.Tables()
	if err != nil {
		if ferr := db.FileError(ErrArgument, path, err); ferr != nil {
			return ferr
		}
		return fmt.Errorf("open %q: %w", path, err)
	}
	have := map[string]bool{}
	for _, n := range names {
		have[strings.ToLower(n)] = true
	}
	var theirs []string
	for _, n := range names {
		// A table of registers is a pair: todo and todo__lww.
		base, _ := strings.CutSuffix(strings.ToLower(n), lwwSuffix)
		if !have[base] || !have[base+lwwSuffix] {
			theirs = append(theirs, n)
		}
	}
	if len(theirs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %q is not a database of registers: it holds %s, which are not (an event store's, or another application's); open a new name", ErrArgument, path, db.FewNames(theirs))
}

// addColumns adds to a table made before with fewer columns (by an
// earlier version of the application) the columns it lacks: their
// registers start unwritten, as in a new row.
func (r *Registers) addColumns() error {
	have := map[string]bool{}
	err := r.c.Query(`SELECT name FROM pragma_table_info(?)`, []any{r.table}, func(s *sqlite3.Stmt) error {
		have[s.ColumnText(0)] = true
		return nil
	})
	for _, col := range r.cols {
		if err == nil && !have[col] {
			err = r.c.Exec(`ALTER TABLE ` + quote(r.table) + ` ADD COLUMN ` + quote(col))
		}
	}
	return err
}

// Close closes the database.
func (r *Registers) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.c.Close()
}

// Register is one column of one row.
type Register struct {
	ID     string
	Column string
	Value  []byte // canonical JSON
	Clock  uint64 // 1 to MaxClock
}

// MaxClock bounds a register's clock: a JavaScript number holds it
// exactly, and writes, one tick each, never reach it. A merged register
// beyond it is refused; a register at it takes no more writes.
const MaxClock = 1<<53 - 1

// Set writes value (JSON) to a column of a row, moving its clock forward.
func (r *Registers) Set(ctx context.Context, id, column string, value []byte) (Register, error) {
	return r.set(ctx, id, column, value, false)
}

// SetAgain is Set sent again after its answer was lost (a tab's leader
// went away with it): where the column holds value already, the first
// Set is taken to have been applied, and the register is returned as it
// is rather than written again with a later clock, which would win over
// concurrent writes the first one did not.
func (r *Registers) SetAgain(ctx context.Context, id, column string, value []byte) (Register, error) {
	return r.set(ctx, id, column, value, true)
}

func (r *Registers) set(ctx context.Context, id, column string, value []byte, again bool) (Register, error) {
	if !slices.Contains(r.cols, column) {
		return Register{}, fmt.Errorf("%w: %s has no column %q (it has %s)", ErrArgument, r.table, column, strings.Join(r.cols, ", "))
	}
	v, err := event.CanonicalValue(value)
	if err != nil {
		return Register{}, fmt.Errorf("set %s.%s: %w", id, column, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	reg := Register{ID: id, Column: column, Value: v}
	err = r.c.Tx(func() error {
		old, ok, err := r.get(id, column)
		if err != nil {
			return err
		}
		reg.Clock = 1
		if ok && again && bytes.Equal(old.Value, v) {
			reg = old
			return nil
		}
		if ok {
			if old.Clock >= MaxClock {
				return fmt.Errorf("%w: %s.%s is at the largest clock, %d, and takes no more writes", ErrArgument, id, column, uint64(MaxClock))
			}
			reg.Clock = old.Clock + 1
		}
		return r.put(reg)
	})
	return reg, err
}

func (r *Registers) get(id, column string) (reg Register, ok bool, err error) {
	err = r.c.Query(`SELECT value, clock FROM `+quote(r.table+lwwSuffix)+` WHERE id = ? AND col = ?`, []any{id, column}, func(s *sqlite3.Stmt) error {
		reg, ok = Register{ID: id, Column: column, Value: []byte(s.ColumnText(0)), Clock: uint64(s.ColumnInt64(1))}, true
		return nil
	})
	return reg, ok, err
}

// put stores a register and its value in the table.
func (r *Registers) put(reg Register) error {
	err := r.c.Exec(`INSERT OR REPLACE INTO `+quote(r.table+lwwSuffix)+` (id, col, value, clock) VALUES (?, ?, ?, ?)`,
		reg.ID, reg.Column, string(reg.Value), reg.Clock)
	if err == nil {
		err = r.c.Exec(`INSERT INTO `+quote(r.table)+` (id) VALUES (?) ON CONFLICT (id) DO NOTHING`, reg.ID)
	}
	if err == nil {
		s, perr := r.c.Prepared(`UPDATE ` + quote(r.table) + ` SET ` + quote(reg.Column) + ` = ? WHERE id = ?`)
		if perr != nil {
			return perr
		}
		if err = db.BindJSON(s, 1, reg.Value); err == nil {
			s.BindText(2, reg.ID)
			err = s.Exec()
		}
	}
	if err != nil {
		return fmt.Errorf("write %s.%s: %w", reg.ID, reg.Column, err)
	}
	return nil
}

// wins reports whether register a beats b: the higher clock, or on a tie
// the bigger canonical JSON, bytewise.
func wins(a, b Register) bool {
	if a.Clock != b.Clock {
		return a.Clock > b.Clock
	}
	return bytes.Compare(a.Value, b.Value) > 0
}

// State returns every register, ordered by row and column: the table's
// internal state, values with their clocks.
func (r *Registers) State(ctx context.Context) ([]Register, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var regs []Register
	err := r.c.Query(`SELECT id, col, value, clock FROM `+quote(r.table+lwwSuffix)+` ORDER BY id, col`, nil, func(s *sqlite3.Stmt) error {
		regs = append(regs, Register{ID: s.ColumnText(0), Column: s.ColumnText(1), Value: []byte(s.ColumnText(2)), Clock: uint64(s.ColumnInt64(3))})
		return nil
	})
	return regs, err
}

// Merge takes in registers from another replica, keeping per column the
// winner, in one transaction, and returns how many registers changed.
func (r *Registers) Merge(ctx context.Context, regs []Register) (changed int, err error) {
	for _, reg := range regs {
		if !slices.Contains(r.cols, reg.Column) {
			return 0, fmt.Errorf("%w: merge: %s has no column %q", ErrArgument, r.table, reg.Column)
		}
		if v, err := event.CanonicalValue(reg.Value); err != nil || !bytes.Equal(v, reg.Value) {
			return 0, fmt.Errorf("%w: merge: %s.%s holds a value that is not canonical JSON", ErrArgument, reg.ID, reg.Column)
		}
		if reg.Clock == 0 || reg.Clock > MaxClock {
			return 0, fmt.Errorf("%w: merge: %s.%s has clock %d, outside 1 to %d", ErrArgument, reg.ID, reg.Column, reg.Clock, uint64(MaxClock))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	err = r.c.Tx(func() error {
		for _, in := range regs {
			old, ok, err := r.get(in.ID, in.Column)
			if err != nil {
				return err
			}
			if ok && !wins(in, old) {
				continue
			}
			if err := r.put(in); err != nil {
				return err
			}
			changed++
		}
		return nil
	})
	return changed, err
}

// Rows returns the table: id and the columns, as SQLite holds them.
func (r *Registers) Rows(ctx context.Context) (columns []string, rows [][]any, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	columns = append([]string{"id"}, r.cols...)
	q := `SELECT id, ` + strings.Join(mapQuote(r.cols), ", ") + ` FROM ` + quote(r.table) + ` ORDER BY id`
	err = r.c.Query(q, nil, func(s *sqlite3.Stmt) error {
		row := make([]any, len(columns))
		for i := range row {
			row[i] = db.Column(s, i)
		}
		rows = append(rows, row)
		return nil
	})
	return columns, rows, err
}

func mapQuote(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = quote(n)
	}
	return out
}
