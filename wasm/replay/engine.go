package replay

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/ncruces/go-sqlite3"
)

// Keys in the _factlog_meta table.
const (
	metaFingerprint = "fingerprint"
	metaTables      = "state_tables"
	metaHorizon     = "undo_horizon"
)

// restoring, as the clock (factlog_clock()), tells the undo triggers that a
// rewind is restoring rows, which must not be recorded.
const restoring = -1

// Engine applies events to the state tables of one database.
type Engine struct {
	c       *db.Conn
	in      Interpretation
	tables  []*table
	state   map[string]bool // the state tables and views, in lower case
	own     map[string]bool // the undo triggers factlog made on this connection
	purity  purity
	mats    map[string][]*materializer
	reach   map[string]Reach // by event type (see Reach)
	reads   map[string]bool  // the columns the materializers read (columnKey)
	undoErr error            // why factlog_undo() could not place an entry
	horizon uint64           // the undo log holds the changes of the events from this clock on
	// clock is what the undo triggers tag a change with (factlog_clock()):
	// the clock of the event being applied, or 0 (do not record) or
	// restoring.
	clock int64
	// unrecorded: the recording triggers are dropped (a replay below
	// the horizon).
	unrecorded bool
	// applying: an event's materializers, or the schema's statements
	// (bySchema), run; clockRefused: why a date function refused what it
	// was given (clock.go).
	applying, bySchema bool
	clockRefused       error
}

// materializer is one prepared statement and which event field each of its
// parameters takes.
type materializer struct {
	stmt   *sqlite3.Stmt
	fields []field // fields[i] binds parameter i+1
	// partial: the statement can fail after changing rows (a conflict
	// resolved by FAIL); SQLite undoes a failed statement otherwise.
	partial bool
	// over, if not nil: the statement is an overwrite (see Superseded).
	over *overwrite
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

// InterpretationError rejects an interpretation when it is installed: which
// statement, of the schema or of which event type's materializer, and the
// rule it breaks.
type InterpretationError struct {
	// Type is the event type whose materializer is at fault; "" for the
	// schema.
	Type string
	// SQL is the offending statement.
	SQL string
	// Rule is ErrImpure, ErrSchema, ErrParameter, or the error SQLite gave.
	Rule error
	// Detail says what is wrong and what to do instead.
	Detail string
}

func (e *InterpretationError) Error() string {
	where := "schema"
	if e.Type != "" {
		where = fmt.Sprintf("materializer for %q", e.Type)
	}
	if e.Detail == "" {
		return fmt.Sprintf("%s: %v (in %.120q)", where, e.Rule, e.SQL)
	}
	return fmt.Sprintf("%s: %v: %s (in %.120q)", where, e.Rule, e.Detail, e.SQL)
}

// Unwrap returns the rule, for errors.Is.
func (e *InterpretationError) Unwrap() error { return e.Rule }

// Open prepares in on c. If in differs from the interpretation the state
// tables were built with, Open drops them, runs in.Schema and reports
// rebuild = true: the caller must then set the horizon (SetHorizon) and
// apply every event.
//
// The application's SQL is held to the rules of an interpretation (see
// README.md): what would make replicas differ is an *InterpretationError
// here, not a surprise later.
func Open(c *db.Conn, in Interpretation) (e *Engine, rebuild bool, err error) {
	e = &Engine{c: c, in: in, mats: map[string][]*materializer{}, reach: map[string]Reach{}, reads: map[string]bool{}, own: map[string]bool{}}
	e.purity.e = e
	if err := c.InitMeta(); err != nil {
		return nil, false, err
	}
	// REPLACE must fire the delete triggers that record what it removes.
	if err := c.Exec(`PRAGMA recursive_triggers = ON`); err != nil {
		return nil, false, fmt.Errorf("open replay: %w", err)
	}
	if err := e.Activate(); err != nil {
		return nil, false, err
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
	if err := e.load(rebuild); err != nil {
		return nil, false, err
	}
	for _, typ := range slices.Sorted(maps.Keys(in.Materializers)) {
		if err := e.prepare(typ, in.Materializers[typ]); err != nil {
			e.Close()
			return nil, false, err
		}
	}
	e.markBlind()
	return e, rebuild, nil
}

// materializers returns the statements an event of type typ runs: its
// type's, then the catch-all's ("*"), once for an event whose type is
// "*" itself.
func (e *Engine) materializers(typ string) [][]*materializer {
	if typ == "*" {
		return [][]*materializer{e.mats["*"]}
	}
	return [][]*materializer{e.mats[typ], e.mats["*"]}
}

// Declares reports whether the interpretation knows the event type: it
// has a materializer for it (perhaps an empty one) or for every type ("*"),
// or it has none at all (the store is a plain log).
func (e *Engine) Declares(typ string) bool {
	if len(e.in.Materializers) == 0 {
		return true
	}
	_, ok := e.in.Materializers[typ]
	_, all := e.in.Materializers["*"]
	return ok || all
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
	if err := e.runSchema(before); err != nil {
		return err
	}
	after, err := e.objects()
	if err != nil {
		return err
	}
	var created []string
	for _, o := range after {
		if !slices.Contains(before, o) && (o.kind == "table" || o.kind == "view") {
			created = append(created, o.name)
		}
	}
	list, _ := json.Marshal(created)
	if err := e.c.SetMeta(metaTables, string(list)); err != nil {
		return err
	}
	if err := e.c.SetMeta(metaHorizon, "0"); err != nil {
		return err
	}
	return e.c.SetMeta(metaFingerprint, e.in.Fingerprint())
}

// runSchema runs the schema one statement at a time, each held to the
// rules of an interpretation; before are the objects that exist already,
// which it may not touch.
func (e *Engine) runSchema(before []object) error {
	e.purity.schema, e.purity.foreign = true, map[string]bool{}
	for _, o := range before {
		e.purity.foreign[strings.ToLower(o.name)] = true
	}
	restore := e.c.Enforce(&e.purity)
	defer func() {
		restore()
		e.purity.schema, e.purity.foreign = false, nil
	}()
	for rest := e.in.Schema; strings.TrimSpace(rest) != ""; {
		e.purity.statement = rest // (and the statements after it, which ownsCatalog does not read)
		stmt, tail, err := e.c.Raw().Prepare(rest)
		if err != nil {
			return e.refuse("", firstStatement(rest), err)
		}
		rest = tail
		if stmt == nil {
			continue // a comment or a lone semicolon
		}
		_, err = e.check("", stmt.SQL())
		if err == nil {
			// The clock functions refuse 'now' as they do for events: a
			// row the schema inserts may compute it ('no' || 'w').
			e.applying, e.clockRefused, e.bySchema = true, nil, true
			err = stmt.Exec()
			e.applying, e.bySchema = false, false
			switch {
			case e.clockRefused != nil:
				err = &InterpretationError{SQL: stmt.SQL(), Rule: ErrImpure, Detail: strings.TrimPrefix(e.clockRefused.Error(), ErrImpure.Error()+": ")}
			case err != nil:
				err = e.refuse("", stmt.SQL(), err)
			}
		}
		stmt.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// check refuses a statement whose program breaks a rule (checkProgram),
// and reports whether it can fail after changing rows.
func (e *Engine) check(typ, sql string) (partial bool, err error) {
	why, partial, err := e.purity.checkProgram(sql)
	if err != nil {
		return false, e.refuse(typ, sql, err)
	}
	if why != "" {
		rule := e.purity.rule
		e.purity.rule = nil
		return false, &InterpretationError{Type: typ, SQL: sql, Rule: rule, Detail: why}
	}
	return partial, nil
}

// refuse turns an error preparing or running the application's SQL into
// an *InterpretationError, with the rule the purity policy saw broken.
func (e *Engine) refuse(typ, sql string, err error) error {
	why := e.c.Denied()
	rule := e.purity.rule
	e.purity.rule = nil
	if why == "" || rule == nil {
		return &InterpretationError{Type: typ, SQL: sql, Rule: err}
	}
	return &InterpretationError{Type: typ, SQL: sql, Rule: rule, Detail: why}
}

// firstStatement is the start of SQL that failed to prepare, for the
// error message.
func firstStatement(sql string) string {
	sql = strings.TrimSpace(sql)
	if i := strings.IndexByte(sql, ';'); i >= 0 {
		return sql[:i+1]
	}
	return sql
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

// Has reports whether name is one of the state tables or views.
func (e *Engine) Has(name string) bool { return e.state[strings.ToLower(name)] }

// Reload reads the engine's bookkeeping from the database again, after a
// transaction that changed it rolled back.
func (e *Engine) Reload() error {
	e.clock, e.unrecorded = 0, false
	return e.load(false)
}

// Tables returns the names of the state tables and views.
func (e *Engine) Tables() []string {
	names, _ := e.stateTables()
	return names
}

// load inspects the state tables and installs their undo tables and
// triggers; created, it also checks their column defaults (the tables of
// an interpretation whose fingerprint is stored were checked when the
// schema made them).
func (e *Engine) load(created bool) error {
	e.tables, e.state = nil, map[string]bool{}
	names, err := e.stateTables()
	if err != nil {
		return err
	}
	horizon, _, err := e.c.Meta(metaHorizon)
	if err != nil {
		return err
	}
	if e.horizon, err = strconv.ParseUint(cmp.Or(horizon, "0"), 10, 64); err != nil {
		return fmt.Errorf("read the undo horizon: %w", err)
	}
	for _, name := range names {
		e.state[strings.ToLower(name)] = true
	}
	if err := e.c.Exec(itemsDDL); err != nil {
		return fmt.Errorf("create the list of items to rewind: %w", err)
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
			return &InterpretationError{SQL: sql, Rule: ErrSchema, Detail: strings.TrimPrefix(err.Error(), ErrSchema.Error()+": ")}
		}
		if t.key, err = keyed(e.c, t); err != nil {
			return fmt.Errorf("inspect the key of %s: %w", name, err)
		}
		if t.key != "" {
			if t.overwritable, t.notNull, t.indexed, err = overwritable(e.c, t, sql); err != nil {
				return fmt.Errorf("inspect the constraints of %s: %w", name, err)
			}
		}
		if created {
			if err := e.checkDefaults(t, sql); err != nil {
				return err
			}
		}
		t.index = len(e.tables)
		if err := e.c.Script(t.shadowDDL() + t.triggers() + t.guards()); err != nil {
			return fmt.Errorf("install undo log of %s: %w", name, err)
		}
		if err := t.renumber(e.c); err != nil {
			return fmt.Errorf("renumber the undo log of %s: %w", name, err)
		}
		if err := t.undo.load(e.c, t); err != nil {
			return fmt.Errorf("read the undo log of %s: %w", name, err)
		}
		for _, n := range slices.Concat(t.triggerNames(), t.guardNames()) {
			e.own[n] = true
		}
		e.tables = append(e.tables, t)
	}
	return nil
}

// checkDefaults holds a table's column defaults, which its inserts
// evaluate, to the rules of the statements that run them.
func (e *Engine) checkDefaults(t *table, sql string) error {
	var defaults []string
	err := e.c.Query(`SELECT dflt_value FROM pragma_table_xinfo(?) WHERE dflt_value IS NOT NULL`, []any{t.name}, func(s *sqlite3.Stmt) error {
		defaults = append(defaults, s.ColumnText(0))
		return nil
	})
	if err != nil {
		return fmt.Errorf("inspect defaults of %s: %w", t.name, err)
	}
	restore := e.c.Enforce(&e.purity)
	defer restore()
	for _, d := range defaults {
		if _, err := e.check("", "SELECT ("+d+")"); err != nil {
			var ie *InterpretationError
			if errors.As(err, &ie) {
				ie.SQL = sql
			}
			return err
		}
	}
	return nil
}

// prepare compiles the statements of one event type's materializer, held
// to the rules of an interpretation.
func (e *Engine) prepare(typ, sql string) error {
	restore := e.c.Enforce(&e.purity)
	defer restore()
	e.mats[typ] = nil // an empty materializer declares the type
	e.reach[typ] = ReachNone
	for rest := sql; strings.TrimSpace(rest) != ""; {
		var seen []access
		e.purity.seen = &seen
		stmt, tail, err := e.c.Raw().Prepare(rest)
		e.purity.seen = nil
		if err != nil {
			return e.refuse(typ, firstStatement(rest), err)
		}
		text := rest[:len(rest)-len(tail)] // (stmt.SQL() may go on with the statements after)
		rest = tail
		if stmt == nil {
			continue // a comment or a lone semicolon
		}
		m := &materializer{stmt: stmt}
		e.mats[typ] = append(e.mats[typ], m)
		reach := e.reachOf(text, seen)
		e.reach[typ] = max(e.reach[typ], reach)
		for _, a := range seen {
			if a.action == sqlite3.AUTH_READ {
				e.reads[columnKey(a.table, a.field)] = true
			}
			// A statement that gives a row another key carries its
			// columns to another item unread: none is blind (overwrite).
			if t := e.table(a.table); a.action == sqlite3.AUTH_UPDATE && t != nil && t.key != "" && strings.EqualFold(a.field, t.key) {
				for _, c := range t.columns {
					e.reads[columnKey(t.name, c)] = true
				}
			}
		}
		for i := 1; i <= stmt.BindCount(); i++ {
			name := stmt.BindName(i)
			f, ok := fieldNames[strings.TrimLeft(name, ":@$")]
			if name == "" || !ok {
				return &InterpretationError{Type: typ, SQL: stmt.SQL(), Rule: ErrParameter,
					Detail: fmt.Sprintf("parameter %q is not an event field; use :id :peer :seq :clock :time :item :type or :value", cmp.Or(name, "?"))}
			}
			m.fields = append(m.fields, f)
		}
		partial, err := e.check(typ, stmt.SQL())
		if err != nil {
			return err
		}
		m.partial = partial
		m.over = e.overwriteOf(text, seen, reach)
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
