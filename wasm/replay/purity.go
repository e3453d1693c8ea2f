package replay

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/ncruces/go-sqlite3"
)

// ErrImpure rejects an interpretation that is not a pure function of the
// events: it reads the clock, draws random numbers, reads the log or
// tables the schema did not create, or writes outside its own tables.
var ErrImpure = errors.New("the interpretation is not a pure function of the events")

// ErrParameter rejects a materializer with a parameter that is not an
// event field.
var ErrParameter = errors.New("unknown parameter")

// purity is the policy in force while the application's schema and
// materializers are prepared and run (db.Policy). It is what makes an
// interpretation a pure function of the events — and so the same state on
// every replica — and it decides by what SQLite reports a statement
// touches, never by the names the application chose, except to keep them
// out of factlog's own.
type purity struct {
	e *Engine
	// schema is set while the schema runs: it may create, alter and drop
	// its own tables, and read or write nothing else. foreign holds, in
	// lower case, the objects that existed before it ran.
	schema  bool
	foreign map[string]bool
	// statement is the text of the schema's statement being run.
	statement string
	// rule is the rule the last refusal broke.
	rule error
	// seen, if not nil, collects what the statements being prepared touch
	// (apart from factlog's own triggers), for Reach.
	seen *[]access
}

func (p *purity) deny(rule error, format string, args ...any) string {
	p.rule = rule
	return fmt.Sprintf(format, args...)
}

// Allow implements db.Policy.
func (p *purity) Allow(action sqlite3.AuthorizerActionCode, name3, name4, schema, inner string) string {
	if inner != "" && p.e.own[inner] {
		return "" // the body of one of factlog's undo triggers
	}
	if p.seen != nil {
		*p.seen = append(*p.seen, access{action, name3, name4, inner})
	}
	switch action {
	case sqlite3.AUTH_SELECT, sqlite3.AUTH_RECURSIVE, sqlite3.AUTH_REINDEX:
		return "" // (CREATE INDEX reindexes)
	case sqlite3.AUTH_READ:
		return p.table(name3, schema, false, name4)
	case sqlite3.AUTH_INSERT, sqlite3.AUTH_UPDATE, sqlite3.AUTH_DELETE:
		return p.table(name3, schema, true, name4)
	case sqlite3.AUTH_FUNCTION:
		return p.function(name4)
	case sqlite3.AUTH_CREATE_TABLE, sqlite3.AUTH_CREATE_VIEW, sqlite3.AUTH_CREATE_INDEX:
		if !p.schema {
			return p.deny(ErrImpure, "only the schema creates tables, views and indexes")
		}
		return p.name(name3)
	case sqlite3.AUTH_CREATE_TRIGGER:
		return p.deny(ErrSchema, "the schema creates trigger %s; rewinds would run it again, so put its logic in a materializer", name3)
	case sqlite3.AUTH_CREATE_TEMP_TABLE, sqlite3.AUTH_CREATE_TEMP_VIEW, sqlite3.AUTH_CREATE_TEMP_INDEX, sqlite3.AUTH_CREATE_TEMP_TRIGGER:
		return p.deny(ErrImpure, "TEMP object %s lasts as long as one connection, so the state would differ after a reopen; create it without TEMP", name3)
	case sqlite3.AUTH_CREATE_VTABLE:
		return p.deny(ErrSchema, "virtual table %s cannot be rewound", name3)
	case sqlite3.AUTH_DROP_TABLE, sqlite3.AUTH_DROP_VIEW, sqlite3.AUTH_DROP_INDEX, sqlite3.AUTH_DROP_TRIGGER:
		if !p.schema || p.foreign[strings.ToLower(name3)] {
			return p.deny(ErrImpure, "drops %s, which the schema did not create", name3)
		}
		return ""
	case sqlite3.AUTH_ALTER_TABLE:
		if !p.schema || p.foreign[strings.ToLower(name4)] {
			return p.deny(ErrImpure, "alters %s, which the schema did not create", name4)
		}
		return ""
	case sqlite3.AUTH_TRANSACTION, sqlite3.AUTH_SAVEPOINT:
		return p.deny(ErrSchema, "materializers and the schema run inside factlog's transaction and may not control it")
	default: // PRAGMA, ATTACH, DETACH, ANALYZE, DROP VIRTUAL TABLE
		return p.deny(ErrImpure, "%s may change how the store works; interpretations only create and change their own tables", actionName(action, name3))
	}
}

// tableFunctions are the table-valued functions an interpretation may
// read: they compute from their arguments alone.
var tableFunctions = map[string]bool{"json_each": true, "json_tree": true, "generate_series": true}

// table decides whether the statement may read (or write) a table.
func (p *purity) table(name, schema string, write bool, column string) string {
	lower := strings.ToLower(name)
	switch {
	case p.schema && schema == "temp" && strings.HasPrefix(lower, "sqlite_temp_") && strings.HasPrefix(strings.ToUpper(strings.TrimSpace(statementText(p.statement))), "ALTER"):
		// A rename reads the temporary catalog to rewrite what names
		// the table: factlog's undo triggers live there.
		return p.deny(ErrSchema, "the schema renames a table or column (ALTER TABLE … RENAME), which would rename it under factlog's own triggers too; create tables and columns under their final names (the events are read again under a new schema)")
	case schema != "" && schema != "main":
		return p.deny(ErrImpure, "%s.%s is not one of the schema's tables; the state derives from events alone", schema, name)
	case lower == "event" || lower == "event_dag" || strings.HasPrefix(lower, "_factlog_"):
		return p.deny(ErrImpure, "%s is part of the event log; an interpretation sees the event it applies through its parameters (:id, :value, …), never the log, whose contents differ between replicas until they sync", name)
	case lower == "sqlite_master" || lower == "sqlite_schema":
		if p.schema && p.ownsCatalog(write, column) {
			return ""
		}
		if p.schema {
			return p.deny(ErrImpure, "%s lists factlog's own objects too, which differ with the store's history; the state derives from events alone", name)
		}
	case tableFunctions[lower] && !write:
		return ""
	case p.schema && !p.foreign[lower] && !strings.HasPrefix(lower, "sqlite_"):
		return ""
	case !p.schema && p.e.state[lower]:
		return ""
	}
	return p.deny(ErrImpure, "%s is not one of the schema's tables; the state derives from events alone (an application's own tables may be read and written by queries, not by the interpretation)", name)
}

// ownsCatalog reports whether a statement of the schema may touch
// SQLite's catalog (sqlite_schema) as it does: DDL writes it, and to
// drop or alter an object reads it; creating reads only the rowid of
// the entry it made. Anything else read there would make the state
// depend on the store's history (factlog's own objects, their order),
// not on the events: CREATE TABLE … AS SELECT … FROM sqlite_schema.
func (p *purity) ownsCatalog(write bool, column string) bool {
	text := statementText(p.statement)
	end := strings.IndexFunc(text, func(r rune) bool { return !unicode.IsLetter(r) })
	if end < 0 {
		end = len(text)
	}
	verb := strings.ToUpper(text[:end])
	switch {
	case verb == "DROP" || verb == "ALTER":
		return true
	case verb == "CREATE":
		return write || strings.EqualFold(column, "rowid")
	}
	return false
}

// impureFunctions give different results on different replicas, or in
// different runs on one.
var impureFunctions = map[string]string{
	"random":                    "draws random numbers",
	"randomblob":                "draws random numbers",
	"changes":                   "depends on how factlog runs statements",
	"total_changes":             "depends on how factlog runs statements",
	"last_insert_rowid":         "depends on how factlog runs statements",
	"sqlite_offset":             "depends on where rows are stored",
	"sqlite_version":            "depends on the SQLite build",
	"sqlite_source_id":          "depends on the SQLite build",
	"sqlite_compileoption_used": "depends on the SQLite build",
	"sqlite_compileoption_get":  "depends on the SQLite build",
	"load_extension":            "loads code",
	"factlog_clock":             "is factlog's own bookkeeping",
	"factlog_undo":              "is factlog's own bookkeeping",
	"current_date":              "reads the clock; use :time, the author's clock, which the event carries",
	"current_time":              "reads the clock; use :time, the author's clock, which the event carries",
	"current_timestamp":         "reads the clock; use :time, the author's clock, which the event carries",
}

func (p *purity) function(name string) string {
	if why, ok := impureFunctions[strings.ToLower(name)]; ok {
		return p.deny(ErrImpure, "%s %s, so replicas would compute different states from the same events", name, why)
	}
	return ""
}

// name keeps the schema's objects out of factlog's names.
func (p *purity) name(name string) string {
	if lower := strings.ToLower(name); strings.HasPrefix(lower, "_factlog_") || lower == "event" || lower == "event_dag" {
		return p.deny(ErrSchema, "the name %s belongs to factlog; choose another", name)
	}
	return ""
}

func actionName(action sqlite3.AuthorizerActionCode, name string) string {
	switch action {
	case sqlite3.AUTH_PRAGMA:
		return "PRAGMA " + name
	case sqlite3.AUTH_ATTACH:
		return "ATTACH (or VACUUM)"
	case sqlite3.AUTH_DETACH:
		return "DETACH"
	case sqlite3.AUTH_ANALYZE:
		return "ANALYZE"
	case sqlite3.AUTH_REINDEX:
		return "REINDEX"
	default:
		return fmt.Sprintf("this statement (authorizer action %d)", action)
	}
}

// clockFunctions are SQLite's date and time functions, each with the
// number of its arguments that come before the time (strftime's format).
// Given 'now', or no time at all, they read the clock; given 'localtime'
// or 'utc', the machine's time zone. The authorizer sees the functions a
// statement calls but not their arguments, so the compiled program is
// read instead.
var clockFunctions = map[string]int{
	"date": 0, "time": 0, "datetime": 0, "julianday": 0,
	"unixepoch": 0, "strftime": 1, "timediff": 0,
}

// noTime says why a call of a clock function without a time is refused.
func noTime(name string) string {
	if clockFunctions[name] > 0 {
		return fmt.Sprintf("%s(format) without a time %s", name, clockWords["now"])
	}
	return fmt.Sprintf("%s() without a time %s", name, clockWords["now"])
}

var clockWords = map[string]string{
	"now":       "reads the clock; use :time, the author's clock, which the event carries",
	"localtime": "depends on the replica's time zone; keep times in UTC",
	"utc":       "depends on the replica's time zone; keep times in UTC",
}

// checkProgram reads the program SQLite compiled for sql (EXPLAIN) for
// what the authorizer cannot see: a conflict resolved by ROLLBACK, which
// would end factlog's own transaction halfway through a batch, and date
// functions that read the clock. It also says whether the statement can
// fail after changing rows (a conflict resolved by FAIL), which only a
// savepoint undoes. sql must hold one statement; the caller keeps the
// policy in force.
func (p *purity) checkProgram(sql string) (why string, partial bool, err error) {
	s, _, err := p.e.c.Raw().Prepare("EXPLAIN " + statementText(sql))
	if err != nil {
		return "", false, err
	}
	defer s.Close()
	var calls []string
	var word string
	for s.Step() {
		op, p1, p2, p4 := s.ColumnText(1), s.ColumnInt(2), s.ColumnInt(3), s.ColumnText(5)
		switch op {
		case "Halt":
			const onErrorRollback, onErrorFail = 1, 3 // OE_Rollback, OE_Fail
			if p1 != 0 && p2 == onErrorRollback {
				return p.deny(ErrSchema, "a constraint conflict here is resolved by ROLLBACK (INSERT OR ROLLBACK, UPDATE OR ROLLBACK, or a table's ON CONFLICT ROLLBACK), which would end factlog's transaction; use ABORT, FAIL, IGNORE, REPLACE or an upsert"), false, nil
			}
			partial = partial || (p1 != 0 && p2 == onErrorFail)
		case "Vacuum":
			return p.deny(ErrSchema, "VACUUM cannot run inside a transaction, and factlog applies every event inside one"), false, nil
		case "Function", "PureFunc":
			// P4 is name(n), n the arguments of the function called: the
			// engine defines each clock function for the count that gives
			// no time, and for any other count (-1).
			name, arity, _ := strings.Cut(strings.TrimSuffix(p4, ")"), "(")
			if before, ok := clockFunctions[strings.ToLower(name)]; ok {
				if arity == strconv.Itoa(before) {
					return p.deny(ErrImpure, "%s", noTime(name)), false, nil
				}
				calls = append(calls, name)
			}
		case "String8":
			if _, ok := clockWords[strings.ToLower(p4)]; ok {
				word = p4
			}
		}
	}
	if err := s.Err(); err != nil {
		return "", false, err
	}
	if len(calls) > 0 && word != "" {
		return p.deny(ErrImpure, "%s with '%s' %s", calls[0], strings.ToLower(word), clockWords[strings.ToLower(word)]), false, nil
	}
	return "", partial, nil
}

// statementText drops what SQLite keeps before a statement's text when it
// was prepared from the middle of a script: empty statements, spaces and
// comments.
func statementText(sql string) string {
	for {
		trimmed := strings.TrimLeft(sql, "; \t\r\n\f")
		switch {
		case strings.HasPrefix(trimmed, "--"):
			_, trimmed, _ = strings.Cut(trimmed, "\n")
		case strings.HasPrefix(trimmed, "/*"):
			_, trimmed, _ = strings.Cut(trimmed, "*/")
		}
		if trimmed == sql {
			return sql
		}
		sql = trimmed
	}
}
