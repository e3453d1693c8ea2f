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
	// rowidNames are the names an UPDATE can change the rowid by: rowid,
	// _rowid_, oid and the primary key's columns (one of which may be
	// INTEGER PRIMARY KEY). Some may name other columns: that costs a
	// guard that need not run, never a guard that does not.
	rowidNames []string
	// key is the column that holds an event's item, if the table has
	// one (see keyed): a row per item, and an item's row alone.
	key string
	// overwritable: no write of a constant to a column can fail, but
	// for null in the notNull columns (see overwrite).
	overwritable bool
	notNull      map[string]bool
	// indexed are the columns (in lower case) that an index of the
	// table orders rows by: a statement that scans the index sees their
	// values in the order it visits rows, without reading them.
	indexed map[string]bool
	// index is the table's among the engine's, which its undo triggers
	// pass to factlog_undo(); undo is where their next entry goes.
	index int
	undo  undoNext
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
	t.rowidNames = []string{"rowid", "_rowid_", "oid"}
	err = c.Query(`SELECT name, hidden, pk FROM pragma_table_xinfo(?)`, []any{name}, func(s *sqlite3.Stmt) error {
		if s.ColumnInt(1) == 0 { // not generated
			t.columns = append(t.columns, s.ColumnText(0))
		}
		if s.ColumnInt(2) > 0 {
			t.rowidNames = append(t.rowidNames, s.ColumnText(0))
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

// collated is expr, a value of the i-th key column, compared with the
// key's collation: a column may have another (k COLLATE NOCASE, PRIMARY
// KEY (k COLLATE BINARY)), and SQLite compares by the column's, under
// which two rows' keys can be equal.
func (t *table) collated(i int, expr string) string {
	if t.colls[i] == "" {
		return expr
	}
	return expr + " COLLATE " + quote(t.colls[i])
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
// that changes only in case is one row under NOCASE). An entry's rowid is
// its clock × 2³² plus its place among that clock's entries (undoNext), so
// that the rowid order is clock order even when a selective rewind
// (RewindItems) records some rows' changes again after later clocks': the
// changes of the events from a clock on are a suffix of the table, by
// rowid, and no index is needed.
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

// undoBucket is the share of the undo table's rowids each clock has; clocks
// stay below maxUndoClock, so that clock × undoBucket is a rowid.
const (
	undoBucket   = 1 << 32
	maxUndoClock = 1<<31 - 1
)

// undoNext is where the undo entries of one table's next changes go
// (factlog_undo()): after the largest rowid, in the bucket of
// the clock being applied or a later one — or, while a selective rewind
// re-applies older clocks, after the largest of that clock's bucket.
type undoNext struct {
	next  int64           // above every rowid of the table
	older map[int64]int64 // clock → above every rowid of its bucket, for clocks below next's
}

// rowid returns the rowid of a new entry of an event with clock, or false
// if the table's bookkeeping cannot place it.
func (u *undoNext) rowid(clock int64) (int64, bool) {
	lo := clock * undoBucket
	switch {
	case clock <= 0 || clock > maxUndoClock:
		return 0, false
	case u.next <= lo: // every entry is older: the bucket is empty
		u.next = lo + 1
		return lo, true
	case u.next < lo+undoBucket: // the newest bucket
		u.next++
		return u.next - 1, true
	}
	v, ok := u.older[clock]
	if !ok {
		if u.older == nil {
			return 0, false // an older clock outside a selective rewind
		}
		v = lo // RewindItems found none of this clock's
	}
	u.older[clock] = v + 1
	return v, true
}

// load reads where the table's entries end.
func (u *undoNext) load(c *db.Conn, t *table) error {
	last, _, err := c.Int64(fmt.Sprintf(`SELECT max(rowid) FROM main.%s`, t.shadow()))
	u.next, u.older = last+1, nil
	return err
}

// loadOlder reads where the entries of each of clocks end.
func (u *undoNext) loadOlder(c *db.Conn, t *table, clocks []uint64) error {
	u.older = map[int64]int64{}
	for _, clock := range clocks {
		if _, ok := u.older[int64(clock)]; ok || int64(clock)*undoBucket >= u.next {
			continue
		}
		last, ok, err := c.Int64(fmt.Sprintf(`SELECT rowid FROM main.%s WHERE rowid BETWEEN ?1 AND ?1 + %d ORDER BY rowid DESC LIMIT 1`, t.shadow(), undoBucket-1), undoFrom(clock))
		if err != nil {
			return err
		}
		u.older[int64(clock)] = undoFrom(clock)
		if ok {
			u.older[int64(clock)] = last + 1
		}
	}
	return nil
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
		keyChanged[i] = fmt.Sprintf("new.%s IS NOT %s", quote(key), t.collated(i, "old."+quote(key)))
	}
	names := t.triggerNames()
	return fmt.Sprintf(`
CREATE TEMP TRIGGER IF NOT EXISTS %[1]s AFTER INSERT ON main.%[4]s WHEN factlog_clock() > 0 BEGIN
	INSERT INTO main.%[5]s (rowid, a, op, %[6]s) VALUES (%[12]s, factlog_clock(), 0, %[8]s);
END;
CREATE TEMP TRIGGER IF NOT EXISTS %[2]s AFTER UPDATE ON main.%[4]s WHEN factlog_clock() > 0 BEGIN
	INSERT INTO main.%[5]s (rowid, a, op, %[6]s, %[7]s) VALUES (%[12]s, factlog_clock(), 1, %[9]s, %[10]s);
	INSERT INTO main.%[5]s (rowid, a, op, %[6]s) SELECT %[12]s, factlog_clock(), 0, %[8]s WHERE %[11]s;
END;
CREATE TEMP TRIGGER IF NOT EXISTS %[3]s AFTER DELETE ON main.%[4]s WHEN factlog_clock() > 0 BEGIN
	INSERT INTO main.%[5]s (rowid, a, op, %[6]s, %[7]s) VALUES (%[12]s, factlog_clock(), 1, %[9]s, %[10]s);
END;`,
		quote(names[0]), quote(names[1]), quote(names[2]), quote(t.name), t.shadow(), k, c,
		list("new.", t.keys), list("old.", t.keys), list("old.", t.columns),
		strings.Join(keyChanged, " OR "), fmt.Sprintf("factlog_undo(%d)", t.index))
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
// the recording triggers they are always there. Their test is their WHEN,
// which SQLite evaluates in the writing statement: a trigger program runs
// only for the row refused, not for every row written. The UPDATE guard
// is tested only for an UPDATE that names the rowid (UPDATE OF).
func (t *table) guards() string {
	names := t.guardNames()
	if names == nil {
		return ""
	}
	when := fmt.Sprintf(`WHEN new.%s = %d BEGIN SELECT RAISE(ABORT, 'factlog: a state table may not hold rowid %d, after which SQLite would choose rowids at random'); END;`,
		quote(t.keys[0]), int64(maxRowid), int64(maxRowid))
	return fmt.Sprintf(`
CREATE TEMP TRIGGER IF NOT EXISTS %[1]s AFTER INSERT ON main.%[3]s %[4]s
CREATE TEMP TRIGGER IF NOT EXISTS %[2]s AFTER UPDATE OF %[5]s ON main.%[3]s %[4]s`,
		quote(names[0]), quote(names[1]), quote(t.name), when, list("", t.rowidNames))
}

// restore returns the statements that undo the changes recorded from
// rowid ?1 of the undo table on (the first of a clock's, see undoNext):
// delete the rows changed since, put back the oldest image of each (rows
// that did not exist stay deleted), and forget those changes. With items,
// only the changes of the rows whose keys temp._factlog_items lists, each
// from its own rowid (RewindItems).
func (t *table) restore(items bool) []string {
	k, c := numbered("u.k", len(t.keys)), numbered("u.c", len(t.columns))
	target := list("", t.columns)
	source := c
	if t.rowid {
		target, source = quote(t.keys[0])+", "+target, "u.k0, "+c
	}
	since := fmt.Sprintf(`main.%s AS u WHERE u.rowid >= ?1`, t.shadow())
	forget := fmt.Sprintf(`DELETE FROM main.%s WHERE rowid >= ?1`, t.shadow())
	if items {
		since = fmt.Sprintf(`main.%s AS u JOIN temp._factlog_items AS f ON f.k = u.k0 WHERE u.rowid >= ?1 AND u.rowid >= f.lo`, t.shadow())
		forget = fmt.Sprintf(`DELETE FROM main.%s WHERE rowid IN (SELECT u.rowid FROM %s)`, t.shadow(), since)
	}
	keys := make([]string, len(t.keys))
	for i, key := range t.keys {
		keys[i] = t.collated(i, quote(key))
	}
	return []string{
		fmt.Sprintf(`DELETE FROM main.%s WHERE (%s) IN (SELECT %s FROM %s)`, quote(t.name), strings.Join(keys, ", "), k, since),
		fmt.Sprintf(`INSERT INTO main.%s (%s) SELECT %s FROM main.%s AS u WHERE u.op = 1 AND u.rowid IN (SELECT min(u.rowid) FROM %s GROUP BY %s)`,
			quote(t.name), target, source, t.shadow(), since, k),
		forget,
	}
}

// trim forgets the undo entries of events with a clock below clock.
func (t *table) trim(c *db.Conn, clock uint64) error {
	return c.Exec(fmt.Sprintf(`DELETE FROM main.%s WHERE rowid < ?`, t.shadow()), undoFrom(clock))
}

// undoFrom is the first rowid of clock's undo entries (of the last bucket's
// for a clock beyond it, which Apply does not record).
func undoFrom(clock uint64) int64 { return int64(min(clock, maxUndoClock)) * undoBucket }

// renumber gives the entries an earlier factlog recorded (rowids in the
// order of recording, below undoBucket) the rowids factlog_undo() gives: their
// clock's bucket, keeping their order. Entries were recorded in clock
// order then, so the order of each row's entries is kept.
func (t *table) renumber(c *db.Conn) error {
	_, old, err := c.Int64(fmt.Sprintf(`SELECT 1 FROM main.%s WHERE rowid < %d`, t.shadow(), undoBucket))
	if err != nil || !old {
		return err
	}
	return c.Exec(fmt.Sprintf(`UPDATE main.%s SET rowid = a * %d + rowid WHERE rowid < %d`, t.shadow(), undoBucket, undoBucket))
}
