package replay

import (
	"strings"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/ncruces/go-sqlite3"
)

// An overwrite is a statement that sets columns of its item's row to
// constants or to the event's fields, and does nothing else: UPDATE t SET
// c = :value, d = 1 WHERE key = :item, on a keyed table (see ReachRow)
// where no such write can fail. Its effect on a column is gone once a
// later overwrite of the same column of the same row has run; if nothing
// reads the column (it is blind), nothing saw it meanwhile either. So of a
// run of events that only overwrite blind columns, only the last write of
// each row and column needs to run (Superseded) — the merge of long
// concurrent branches that edit the same items then applies one event per
// edited field instead of every edit.
//
// Why skipping is safe where the undo log is concerned: a skipped event
// records no undo entry, so an entry recorded after it holds a row whose
// column still has the value from before the skipped write. A rewind that
// restores such an image to a clock after the skipped write re-applies
// the events from that clock on, and among them the later overwrite that
// made the write skippable (Rewind is followed by every event from its
// clock on, RewindItems by every event about the items, and the overwrite
// is about the same item): the stale value is overwritten before anything
// could read it, because nothing reads the column.
type overwrite struct {
	table int          // in Engine.tables
	set   []assignment // what the statement sets
}

// assignment is one column = value of an overwrite.
type assignment struct {
	column string // in lower case
	// field is the event field assigned, or -1 for a constant.
	field field
	// notNull: the column is NOT NULL, so that an event whose value is
	// null does not overwrite it (the statement fails).
	notNull bool
	// blind: no statement of the interpretation reads the column, and
	// no index orders the table's rows by it.
	blind bool
}

// overwriteOf returns the overwrite a prepared statement is, or nil. sql
// is its text, seen what the authorizer reported while it was prepared,
// and reach how far it reaches.
func (e *Engine) overwriteOf(sql string, seen []access, reach Reach) *overwrite {
	if reach != ReachRow {
		return nil
	}
	var t *table
	for _, a := range seen {
		if a.action == sqlite3.AUTH_UPDATE {
			t = e.table(a.table)
		}
	}
	if t == nil || !t.overwritable {
		return nil
	}
	// Reads: the key, in WHERE; anything else might make a value.
	set := map[string]bool{}
	for _, a := range seen {
		switch {
		case a.action == sqlite3.AUTH_UPDATE:
			set[strings.ToLower(a.field)] = true
		case a.action == sqlite3.AUTH_READ && strings.EqualFold(a.field, t.key):
		default:
			return nil
		}
	}
	toks, ok := tokenize(sql)
	if !ok {
		return nil
	}
	start, end := -1, -1
	for i, tok := range toks {
		switch {
		case tok.is("set") && start < 0:
			start = i + 1
		case tok.is("where"):
			end = i
		}
	}
	if start < 0 || end < start {
		return nil
	}
	o := &overwrite{table: t.index}
	for _, as := range split(toks[start:end]) {
		if len(as) < 3 || (as[0].kind != wordToken && as[0].kind != quotedToken) || !as[1].is("=") {
			return nil
		}
		a := assignment{column: strings.ToLower(as[0].text), field: -1, notNull: t.notNull[strings.ToLower(as[0].text)]}
		switch v := as[2:]; {
		case len(v) == 1 && v[0].kind == paramToken:
			a.field = fieldNames[v[0].text] // prepare refuses other names
		case len(v) == 1 && (v[0].kind == numberToken || v[0].kind == stringToken || v[0].is("true") || v[0].is("false")):
		case len(v) == 2 && (v[0].is("-") || v[0].is("+")) && v[1].kind == numberToken:
		default:
			return nil // an expression, NULL, or a word SQLite may read as a column
		}
		if !set[a.column] {
			return nil
		}
		delete(set, a.column)
		o.set = append(o.set, a)
	}
	if len(set) > 0 || len(o.set) == 0 {
		return nil
	}
	return o
}

// columnKey names a table's column in Engine.reads.
func columnKey(table, column string) string {
	return strings.ToLower(table) + "\x00" + strings.ToLower(column)
}

// markBlind tells each overwrite's assignments whether their column is
// blind, once every materializer is prepared (and e.reads complete). A
// column an index holds is not: a statement that reads no column of the
// table (SELECT rowid FROM t LIMIT 1) may scan that index, and then which
// row it finds first depends on the column's values, which the
// authorizer does not report as read.
func (e *Engine) markBlind() {
	for _, ms := range e.mats {
		for _, m := range ms {
			if m.over == nil {
				continue
			}
			t := e.tables[m.over.table]
			for i, a := range m.over.set {
				m.over.set[i].blind = !e.reads[columnKey(t.name, a.column)] && !t.indexed[a.column]
			}
		}
	}
}

// split splits tokens at their commas.
func split(toks []token) (parts [][]token) {
	start := 0
	for i, tok := range toks {
		if tok.is(",") {
			parts = append(parts, toks[start:i])
			start = i + 1
		}
	}
	return append(parts, toks[start:])
}

// overwritable reports whether no write of constants to t's columns can
// fail, so that an overwrite surely writes: t is not STRICT (no type
// errors), has no CHECK constraint, no generated column and no index on
// an expression or with a WHERE clause (whose expressions may raise
// errors). NOT NULL is left to each event's value (assignment.notNull).
// keyed (one key, no other UNIQUE index) rules out the other failures.
// indexed are the columns the table's indexes hold (see markBlind).
func overwritable(c *db.Conn, t *table, sql string) (ok bool, notNull, indexed map[string]bool, err error) {
	strict, _, err := c.Int64(`SELECT strict FROM pragma_table_list WHERE schema = 'main' AND name = ?`, t.name)
	if err != nil || strict != 0 {
		return false, nil, nil, err
	}
	toks, ok := tokenize(sql)
	if !ok {
		return false, nil, nil, nil
	}
	for _, tok := range toks {
		if tok.is("check") {
			return false, nil, nil, nil
		}
	}
	odd, _, err := c.Int64(`SELECT (SELECT count(*) FROM pragma_table_xinfo(?1) WHERE hidden != 0)
		+ (SELECT count(*) FROM pragma_index_list(?1) l WHERE l.partial OR EXISTS (SELECT 1 FROM pragma_index_xinfo(l.name) WHERE cid = -2))`, t.name)
	if err != nil || odd != 0 {
		return false, nil, nil, err
	}
	notNull = map[string]bool{}
	err = c.Query(`SELECT name FROM pragma_table_info(?) WHERE "notnull"`, []any{t.name}, func(s *sqlite3.Stmt) error {
		notNull[strings.ToLower(s.ColumnText(0))] = true
		return nil
	})
	if err != nil {
		return false, nil, nil, err
	}
	indexed = map[string]bool{}
	err = c.Query(`SELECT x.name FROM pragma_index_list(?1) l, pragma_index_xinfo(l.name) x WHERE x.cid >= 0`, []any{t.name}, func(s *sqlite3.Stmt) error {
		indexed[strings.ToLower(s.ColumnText(0))] = true
		return nil
	})
	return err == nil, notNull, indexed, err
}

// cell is a column of an item's row.
type cell struct {
	table        int
	item, column string
}

// overwrites returns the overwrites an event of type typ runs if that is
// all it runs, or nil.
func (e *Engine) overwrites(typ string) (ows []*overwrite) {
	for _, ms := range e.materializers(typ) {
		for _, m := range ms {
			if m.over == nil {
				return nil
			}
			ows = append(ows, m.over)
		}
	}
	return ows
}

// Superseded reports which of evs need not be applied: evs are events in
// replay order that the caller applies one after another, and an event is
// superseded when it only overwrites blind columns (see overwrite), and a
// later event of evs overwrites each of them on the same row. The events
// are checked as a whole: whether an event surely writes depends on its
// value (null in a NOT NULL column fails), and one that might fail is
// neither skipped nor counted as overwriting, so no failure goes unseen.
func (e *Engine) Superseded(evs []event.Event) []bool {
	skip := make([]bool, len(evs))
	written := map[cell]bool{}
	byType := map[string][]*overwrite{} // (a run has a few types)
	for i := len(evs) - 1; i >= 0; i-- {
		ev := &evs[i]
		ows, ok := byType[ev.Type]
		if !ok {
			ows = e.overwrites(ev.Type)
			byType[ev.Type] = ows
		}
		if ows == nil || !surely(ows, ev) {
			continue
		}
		skip[i] = true
		for _, o := range ows {
			for _, a := range o.set {
				c := cell{o.table, ev.Item, a.column}
				skip[i] = skip[i] && a.blind && written[c]
				written[c] = true
			}
		}
	}
	return skip
}

// surely reports whether every write of ev's overwrites succeeds.
func surely(ows []*overwrite, ev *event.Event) bool {
	for _, o := range ows {
		for _, a := range o.set {
			if a.notNull && a.field == fieldValue && string(ev.Value) == "null" {
				return false
			}
		}
	}
	return true
}
