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

// shadowPrefix names the undo table of each state table.
const shadowPrefix = "_factlog_undo_"

// table is a state table and the SQL that keeps it rewindable.
type table struct {
	name    string
	keys    []string // rowid, or the primary key of a WITHOUT ROWID table
	columns []string // stored columns (generated ones are derived, not stored)
}

func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

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
	type pk struct {
		n    int
		name string
	}
	var pks []pk
	err = c.Query(`SELECT name, pk, hidden FROM pragma_table_xinfo(?)`, []any{name}, func(s *sqlite3.Stmt) error {
		if s.ColumnInt(2) != 0 {
			return nil // generated column
		}
		t.columns = append(t.columns, s.ColumnText(0))
		if n := s.ColumnInt(1); n > 0 {
			pks = append(pks, pk{n, s.ColumnText(0)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("inspect table %s: %w", name, err)
	}
	if withoutRowid == 0 {
		t.keys = []string{"rowid"}
		return t, nil
	}
	t.keys = make([]string, len(pks))
	for _, p := range pks {
		t.keys[p.n-1] = p.name
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
// (op 0), and the row's key. Changes are appended in the order events are
// applied, which is replay order, so the changes of the events from a
// clock on are a suffix of the table, by rowid: no index is needed.
func (t *table) shadowDDL() string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (a INTEGER NOT NULL, op INTEGER NOT NULL, %s, %s);`,
		t.shadow(), numbered("k", len(t.keys)), numbered("c", len(t.columns)))
}

// triggers record changes while an event is applied, reading its clock from
// temp._factlog_now (0 or less: do not record). They are TEMP, like that
// table: made anew on every open, so a database opened by other software
// carries none of factlog's machinery.
func (t *table) triggers() string {
	k, c := numbered("k", len(t.keys)), numbered("c", len(t.columns))
	keyChanged := make([]string, len(t.keys))
	for i, key := range t.keys {
		keyChanged[i] = fmt.Sprintf("new.%s IS NOT old.%s", quote(key), quote(key))
	}
	name := func(op string) string { return quote(shadowPrefix + t.name + "_" + op) }
	return fmt.Sprintf(`
CREATE TEMP TRIGGER IF NOT EXISTS %[1]s AFTER INSERT ON main.%[4]s BEGIN
	INSERT INTO main.%[5]s (a, op, %[6]s) SELECT clock, 0, %[8]s FROM temp._factlog_now WHERE clock > 0;
END;
CREATE TEMP TRIGGER IF NOT EXISTS %[2]s AFTER UPDATE ON main.%[4]s BEGIN
	INSERT INTO main.%[5]s (a, op, %[6]s, %[7]s) SELECT clock, 1, %[9]s, %[10]s FROM temp._factlog_now WHERE clock > 0;
	INSERT INTO main.%[5]s (a, op, %[6]s) SELECT clock, 0, %[8]s FROM temp._factlog_now WHERE clock > 0 AND (%[11]s);
END;
CREATE TEMP TRIGGER IF NOT EXISTS %[3]s AFTER DELETE ON main.%[4]s BEGIN
	INSERT INTO main.%[5]s (a, op, %[6]s, %[7]s) SELECT clock, 1, %[9]s, %[10]s FROM temp._factlog_now WHERE clock > 0;
END;`,
		name("i"), name("u"), name("d"), quote(t.name), t.shadow(), k, c,
		list("new.", t.keys), list("old.", t.keys), list("old.", t.columns),
		strings.Join(keyChanged, " OR "))
}

// since returns the first undo entry made by an event with a clock >= clock,
// walking back from the newest entry: the cost is the number of entries
// undone. ok is false if there is none.
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
	if t.keys[0] == "rowid" {
		target, source = "rowid, "+target, "k0, "+c
	}
	return []string{
		fmt.Sprintf(`DELETE FROM main.%s WHERE (%s) IN (SELECT %s FROM main.%s WHERE rowid >= ?1)`, quote(t.name), list("", t.keys), k, t.shadow()),
		fmt.Sprintf(`INSERT INTO main.%s (%s) SELECT %s FROM main.%s WHERE op = 1 AND rowid IN (SELECT min(rowid) FROM main.%s WHERE rowid >= ?1 GROUP BY %s)`,
			quote(t.name), target, source, t.shadow(), t.shadow(), k),
		fmt.Sprintf(`DELETE FROM main.%s WHERE rowid >= ?1`, t.shadow()),
	}
}
