package replay

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/ncruces/go-sqlite3"
)

// Keys in the _factlog_meta table.
const (
	metaFingerprint = "fingerprint"
	metaTables      = "state_tables"
)

// restoring, in temp._factlog_now, tells the undo triggers that a rewind is
// restoring rows, which must not be recorded.
const restoring = -1

// Engine applies events to the state tables of one database.
type Engine struct {
	c      *db.Conn
	in     Interpretation
	guard  func(user bool)
	tables []*table
	mats   map[string][]*materializer
}

// materializer is one prepared statement and which event field each of its
// parameters takes.
type materializer struct {
	stmt   *sqlite3.Stmt
	fields []field // fields[i] binds parameter i+1
}

type field int

const (
	fieldID field = iota
	fieldPeer
	fieldSeq
	fieldClock
	fieldTime
	fieldItem
	fieldType
	fieldValue
)

var fieldNames = map[string]field{
	"id": fieldID, "peer": fieldPeer, "seq": fieldSeq, "clock": fieldClock,
	"time": fieldTime, "item": fieldItem, "type": fieldType, "value": fieldValue,
}

// MaterializeError reports a materializer statement that failed on an
// event. Such an event stays in the log; its effect is left out, the same
// way on every replica, because the same statement fails on the same
// state.
type MaterializeError struct {
	Event event.ID
	Type  string
	SQL   string
	Err   error
}

func (e *MaterializeError) Error() string {
	return fmt.Sprintf("materializer for %q failed on event %s: %v (in %.80q)", e.Type, e.Event, e.Err, e.SQL)
}

func (e *MaterializeError) Unwrap() error { return e.Err }

// Open prepares in on c. If in differs from the interpretation the state
// tables were built with, Open drops them, runs in.Schema and reports
// rebuild = true: the caller must then call Rebuild.
//
// guard(true) and guard(false) bracket the preparation of in's own SQL
// (schema and materializers), so that the caller's authorizer can hold it
// to stricter rules; guard may be nil.
func Open(c *db.Conn, in Interpretation, guard func(user bool)) (e *Engine, rebuild bool, err error) {
	if guard == nil {
		guard = func(bool) {}
	}
	e = &Engine{c: c, in: in, guard: guard, mats: map[string][]*materializer{}}
	// The clock of the event being applied, for the undo triggers. REPLACE
	// must fire the delete triggers that record what it removes.
	err = c.Script(`
		CREATE TEMP TABLE IF NOT EXISTS _factlog_now (clock INTEGER NOT NULL);
		INSERT INTO temp._factlog_now SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM temp._factlog_now);
		PRAGMA recursive_triggers = ON;`)
	if err != nil {
		return nil, false, fmt.Errorf("open replay: %w", err)
	}
	stored, _, err := c.Meta(metaFingerprint)
	if err != nil {
		return nil, false, err
	}
	if stored != in.Fingerprint() {
		if err := e.recreate(); err != nil {
			return nil, false, err
		}
		rebuild = true
	}
	if err := e.load(); err != nil {
		return nil, false, err
	}
	e.guard(true)
	defer e.guard(false)
	for _, typ := range slices.Sorted(maps.Keys(in.Materializers)) {
		if err := e.prepare(typ, in.Materializers[typ]); err != nil {
			return nil, false, err
		}
	}
	return e, rebuild, nil
}

// recreate drops the state tables of the previous interpretation and
// creates those of the current one.
func (e *Engine) recreate() error {
	old, err := e.stateTables()
	if err != nil {
		return err
	}
	e.c.Forget() // cached statements may read the tables about to go
	objects, err := e.objects()
	if err != nil {
		return err
	}
	for _, o := range objects {
		if !slices.Contains(old, o.name) || (o.kind != "table" && o.kind != "view") {
			continue
		}
		drop := fmt.Sprintf(`DROP %s main.%s; DROP TABLE IF EXISTS main.%s`, strings.ToUpper(o.kind), quote(o.name), quote(shadowPrefix+o.name))
		if err := e.c.Script(drop); err != nil {
			return fmt.Errorf("drop old state %s %s: %w", o.kind, o.name, err)
		}
	}
	before, err := e.objects()
	if err != nil {
		return err
	}
	e.guard(true)
	err = e.c.Script(e.in.Schema)
	e.guard(false)
	if err != nil {
		return fmt.Errorf("run schema: %w", err)
	}
	after, err := e.objects()
	if err != nil {
		return err
	}
	var created []string
	for _, o := range after {
		if slices.Contains(before, o) {
			continue
		}
		switch o.kind {
		case "trigger":
			return fmt.Errorf("%w: the schema creates trigger %s; rewinds would run it again, so put its logic in a materializer", ErrSchema, o.name)
		case "table":
			if strings.HasPrefix(strings.ToUpper(o.sql), "CREATE VIRTUAL") {
				return fmt.Errorf("%w: virtual table %s cannot be rewound", ErrSchema, o.name)
			}
			fallthrough
		case "view":
			created = append(created, o.name)
		}
	}
	list, _ := json.Marshal(created)
	if err := e.c.SetMeta(metaTables, string(list)); err != nil {
		return err
	}
	return e.c.SetMeta(metaFingerprint, e.in.Fingerprint())
}

type object struct{ kind, name, sql string }

func (e *Engine) objects() ([]object, error) {
	var out []object
	err := e.c.Query(`SELECT type, name, coalesce(sql, '') FROM main.sqlite_schema WHERE name NOT LIKE 'sqlite_%'`, nil, func(s *sqlite3.Stmt) error {
		out = append(out, object{s.ColumnText(0), s.ColumnText(1), s.ColumnText(2)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list schema: %w", err)
	}
	return out, nil
}

// stateTables returns the tables and views the current schema created.
func (e *Engine) stateTables() ([]string, error) {
	raw, ok, err := e.c.Meta(metaTables)
	if err != nil || !ok {
		return nil, err
	}
	var names []string
	if err := json.Unmarshal([]byte(raw), &names); err != nil {
		return nil, fmt.Errorf("read state tables: %w", err)
	}
	return names, nil
}

// Tables returns the names of the state tables and views.
func (e *Engine) Tables() []string {
	names, _ := e.stateTables()
	return names
}

// load inspects the state tables and installs their undo tables and
// triggers.
func (e *Engine) load() error {
	e.tables = nil
	names, err := e.stateTables()
	if err != nil {
		return err
	}
	for _, name := range names {
		var kind, sql string
		err := e.c.Query(`SELECT type, sql FROM main.sqlite_schema WHERE name = ?`, []any{name}, func(s *sqlite3.Stmt) error {
			kind, sql = s.ColumnText(0), s.ColumnText(1)
			return nil
		})
		if err != nil {
			return fmt.Errorf("load state table %s: %w", name, err)
		}
		if kind != "table" {
			continue
		}
		t, err := inspect(e.c, name, sql)
		if err != nil {
			return err
		}
		if err := e.c.Script(t.shadowDDL() + t.triggers()); err != nil {
			return fmt.Errorf("install undo log of %s: %w", name, err)
		}
		e.tables = append(e.tables, t)
	}
	return nil
}

// prepare compiles the statements of one event type's materializer.
func (e *Engine) prepare(typ, sql string) error {
	for rest := sql; strings.TrimSpace(rest) != ""; {
		stmt, tail, err := e.c.Raw().Prepare(rest)
		if err != nil {
			return fmt.Errorf("materializer for %q: %w", typ, err)
		}
		rest = tail
		if stmt == nil {
			continue // a comment or a lone semicolon
		}
		m := &materializer{stmt: stmt}
		for i := 1; i <= stmt.BindCount(); i++ {
			name := stmt.BindName(i)
			f, ok := fieldNames[strings.TrimLeft(name, ":@$")]
			if name == "" || !ok {
				stmt.Close()
				return fmt.Errorf("materializer for %q: parameter %q is not an event field; use :id :peer :seq :clock :time :item :type or :value", typ, cmp.Or(name, "?"))
			}
			m.fields = append(m.fields, f)
		}
		e.mats[typ] = append(e.mats[typ], m)
	}
	return nil
}

// Close finalizes the materializers.
func (e *Engine) Close() {
	for _, ms := range e.mats {
		for _, m := range ms {
			m.stmt.Close()
		}
	}
	e.mats = nil
}
