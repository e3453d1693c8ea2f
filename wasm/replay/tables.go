package replay

import (
	"errors"
	"fmt"
	"strings"

	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/ncruces/go-sqlite3"
)

// ErrSchema rejects an interpretation whose schema factlog cannot keep
// rewindable; the error says which table and what to change.
var ErrSchema = errors.New("unsupported state schema")

// shadowPrefix names the undo table of each state table, and the triggers
// that fill it.
const shadowPrefix = "_factlog_undo_"

// maxRowid is the largest rowid. Once a table holds it, SQLite picks the
// rowids of later inserts at random, which would make replicas differ; the
// undo triggers refuse to store it.
const maxRowid = 1<<63 - 1

// table is a state table and the SQL that keeps it rewindable.
type table struct {
	name    string
	keys    []string // a name of the rowid, or the primary key of a WITHOUT ROWID table
	colls   []string // the collation of each key ("" for the rowid)
	columns []string // stored columns (generated ones are derived, not stored)
	rowid   bool
}

var quote = sqlite3.QuoteIdentifier

func (t *table) shadow() string { return quote(shadowPrefix + t.name) }

// inspect reads a state table's shape and checks that it can be rewound.
func inspect(c *db.Conn, name, sql string) (*table, error) {
	t := &table{name: name}
	if strings.Contains(strings.ToUpper(sql), "AUTOINCREMENT") {
		return nil, fmt.Errorf("%w: table %s uses AUTOINCREMENT, whose counter a rewind cannot restore; use INTEGER PRIMARY KEY", ErrSchema, name)
	}
	withoutRowid, ok, err := c.Int64(`SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?`, name)
	if err != nil || !ok {
		return nil, fmt.Errorf("inspect table %s: %v", name, err)
	}
	err = c.Query(`SELECT name, hidden FROM pragma_table_xinfo(?)`, []any{name}, func(s *sqlite3.Stmt) error {
		if s.ColumnInt(1) == 0 { // not generated
			t.columns = append(t.columns, s.ColumnText(0))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("inspect table %s: %w", name, err)
	}
	if withoutRowid == 0 {
		t.rowid = true
		n, ok, err := c.RowidName(name)
		if err != nil {
			return nil, fmt.Errorf("inspect table %s: %w", name, err)
		}
		if ok {
			t.keys, t.colls = []string{n}, []string{""}
			return t, nil
		}
		return nil, fmt.Errorf("%w: table %s has columns named rowid, _rowid_ and oid, which hide its row ids from the undo log; rename one of them, or make the table WITHOUT ROWID", ErrSchema, name)
	}
	// The primary key's own index says the key's columns, in key order,
	// with the collation each is compared with.
	err = c.Query(`SELECT x.name, x.coll FROM pragma_index_list(?1) l, pragma_index_xinfo(l.name) x
		WHERE l.origin = 'pk' AND x.key ORDER BY x.seqno`, []any{name}, func(s *sqlite3.Stmt) error {
		t.keys = append(t.keys, s.ColumnText(0))
		t.colls = append(t.colls, s.ColumnText(1))
		return nil
	})
	if err != nil || len(t.keys) == 0 {
		return nil, fmt.Errorf("inspect the primary key of table %s: %v", name, err)
	}
	return t, nil
}

func list(prefix string, names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + quote(n)
	}
	return strings.Join(out, ", ")
}

func numbered(prefix string, n int) string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return strings.Join(out, ", ")
}

// shadowDDL creates the undo table: per change, the clock of the event that
// made it, whether the row existed before (op 1, with its old image) or not
// (op 0), and the row's key, compared with the key's own collation (a key
// that changes only in case is one row under NOCASE). Changes are appended
// in the order events are applied, which is replay order, so the changes
// of the events from a clock on are a suffix of the table, by rowid: no
// index is needed.
func (t *table) shadowDDL() string {
	keys := make([]string, len(t.keys))
	for i, coll := range t.colls {
		keys[i] = fmt.Sprintf("k%d", i)
		if coll != "" {
			keys[i] += " COLLATE " + quote(coll)
		}
	}
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (a INTEGER NOT NULL, op INTEGER NOT NULL, %s, %s);`,
		t.shadow(), strings.Join(keys, ", "), numbered("c", len(t.columns)))
}

// triggerNames are the names of t's undo triggers.
func (t *table) triggerNames() []string {
	return []string{shadowPrefix + t.name + "_i", shadowPrefix + t.name + "_u", shadowPrefix + t.name + "_d"}
}

// guardNames are the names of t's guard triggers (rowid tables only).
func (t *table) guardNames() []string {
	if !t.rowid {
		return nil
	}
	return []string{shadowPrefix + t.name + "_gi", shadowPrefix + t.name + "_gu"}
}

// triggers record changes while an event is applied, tagged with its
// clock, which factlog_clock() returns (0 or less: do not record). They
// are TEMP: made anew on every open, so a database opened by other
// software carries none of factlog's machinery. A replay that records
// nothing (below the horizon) drops them (untriggers), for speed.
func (t *table) triggers() string {
	k, c := numbered("k", len(t.keys)), numbered("c", len(t.columns))
	keyChanged := make([]string, len(t.keys))
	for i, key := range t.keys {
		keyChanged[i] = fmt.Sprintf("new.%s IS NOT old.%s", quote(key), quote(key))
	}
	names := t.triggerNames()
	return fmt.Sprintf(`
CREATE TEMP TRIGGER IF NOT EXISTS %[1]s AFTER INSERT ON main.%[4]s WHEN factlog_clock() > 0 BEGIN
	INSERT INTO main.%[5]s (a, op, %[6]s) VALUES (factlog_clock(), 0, %[8]s);
END;
CREATE TEMP TRIGGER IF NOT EXISTS %[2]s AFTER UPDATE ON main.%[4]s WHEN factlog_clock() > 0 BEGIN
	INSERT INTO main.%[5]s (a, op, %[6]s, %[7]s) VALUES (factlog_clock(), 1, %[9]s, %[10]s);
	INSERT INTO main.%[5]s (a, op, %[6]s) SELECT factlog_clock(), 0, %[8]s WHERE %[11]s;
END;
CREATE TEMP TRIGGER IF NOT EXISTS %[3]s AFTER DELETE ON main.%[4]s WHEN factlog_clock() > 0 BEGIN
	INSERT INTO main.%[5]s (a, op, %[6]s, %[7]s) VALUES (factlog_clock(), 1, %[9]s, %[10]s);
END;`,
		quote(names[0]), quote(names[1]), quote(names[2]), quote(t.name), t.shadow(), k, c,
		list("new.", t.keys), list("old.", t.keys), list("old.", t.columns),
		strings.Join(keyChanged, " OR "))
}

// untriggers drops the recording triggers.
func (t *table) untriggers() string {
	var b strings.Builder
	for _, n := range t.triggerNames() {
		fmt.Fprintf(&b, "DROP TRIGGER IF EXISTS temp.%s;", quote(n))
	}
	return b.String()
}

// guards refuse the largest rowid (see maxRowid) on a rowid table; unlike
// the recording triggers they are always there.
func (t *table) guards() string {
	names := t.guardNames()
	if names == nil {
		return ""
	}
	raise := fmt.Sprintf(`SELECT RAISE(ABORT, 'factlog: a state table may not hold rowid %d, after which SQLite would choose rowids at random') WHERE new.%s = %d;`,
		int64(maxRowid), quote(t.keys[0]), int64(maxRowid))
	return fmt.Sprintf(`
CREATE TEMP TRIGGER IF NOT EXISTS %[1]s AFTER INSERT ON main.%[3]s BEGIN %[4]s END;
CREATE TEMP TRIGGER IF NOT EXISTS %[2]s AFTER UPDATE ON main.%[3]s BEGIN %[4]s END;`,
		quote(names[0]), quote(names[1]), quote(t.name), raise)
}

// since returns the first undo entry made by an event with a clock >= clock,
// walking back from the newest entry: the cost is the number of entries
// walked. ok is false if there is none.
func (t *table) since(c *db.Conn, clock uint64) (rowid int64, ok bool, err error) {
	s, err := c.Prepared(fmt.Sprintf(`SELECT rowid, a FROM main.%s ORDER BY rowid DESC`, t.shadow()))
	if err != nil {
		return 0, false, err
	}
	defer s.Reset()
	for s.Step() {
		if uint64(s.ColumnInt64(1)) < clock {
			break
		}
		rowid, ok = s.ColumnInt64(0), true
	}
	return rowid, ok, s.Err()
}

// restore returns the statements that undo the changes from rowid ?1 of
// the undo table on: delete the rows changed since, put back the oldest
// image of each (rows that did not exist stay deleted), and forget those
// changes.
func (t *table) restore() []string {
	k, c := numbered("k", len(t.keys)), numbered("c", len(t.columns))
	target := list("", t.columns)
	source := c
	if t.rowid {
		target, source = quote(t.keys[0])+", "+target, "k0, "+c
	}
	return []string{
		fmt.Sprintf(`DELETE FROM main.%s WHERE (%s) IN (SELECT %s FROM main.%s WHERE rowid >= ?1)`, quote(t.name), list("", t.keys), k, t.shadow()),
		fmt.Sprintf(`INSERT INTO main.%s (%s) SELECT %s FROM main.%s WHERE op = 1 AND rowid IN (SELECT min(rowid) FROM main.%s WHERE rowid >= ?1 GROUP BY %s)`,
			quote(t.name), target, source, t.shadow(), t.shadow(), k),
		fmt.Sprintf(`DELETE FROM main.%s WHERE rowid >= ?1`, t.shadow()),
	}
}

// trim forgets the undo entries of events with a clock below clock.
func (t *table) trim(c *db.Conn, clock uint64) error {
	first, ok, err := t.since(c, clock)
	if err != nil {
		return err
	}
	if !ok { // every entry is older
		return c.Exec(fmt.Sprintf(`DELETE FROM main.%s`, t.shadow()))
	}
	return c.Exec(fmt.Sprintf(`DELETE FROM main.%s WHERE rowid < ?`, t.shadow()), first)
}
