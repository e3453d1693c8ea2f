package store

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// guard is the SQLite authorizer that keeps SQL from the application
// inside its lane: queries may not change the log or the state tables (the
// state changes only by appending events), and the interpretation (schema
// and materializers) may not touch the log nor call functions whose result
// differs between replicas.
type guard struct {
	mode   guardMode
	state  []string        // the state tables and views
	denied string          // why the last statement was refused
	reads  map[string]bool // if set, collects the tables a statement reads
}

type guardMode int

const (
	trusted        guardMode = iota // factlog's own statements
	query                           // an application query
	interpretation                  // the application's schema or materializers
)

// interpretation switches to (or back from) interpretation mode; replay
// calls it around the preparation of the application's SQL.
func (g *guard) interpretation(on bool) {
	g.mode = trusted
	if on {
		g.mode = interpretation
	}
}

// nondeterministic functions would make replicas compute different states
// from the same events. (date and time functions are only so with 'now',
// which an authorizer cannot see; the README warns about them.)
var nondeterministic = []string{"random", "randomblob", "changes", "total_changes", "last_insert_rowid", "sqlite_offset"}

func (g *guard) authorize(action sqlite3.AuthorizerActionCode, name3, name4, schema, inner string) sqlite3.AuthorizerReturnCode {
	if g.mode == trusted || strings.HasPrefix(inner, "_factlog_") {
		return sqlite3.AUTH_OK
	}
	var table string
	switch action {
	case sqlite3.AUTH_READ:
		if g.reads != nil {
			g.reads[name3] = true
		}
		return sqlite3.AUTH_OK
	case sqlite3.AUTH_INSERT, sqlite3.AUTH_UPDATE, sqlite3.AUTH_DELETE, sqlite3.AUTH_DROP_TABLE, sqlite3.AUTH_DROP_VIEW:
		table = name3
	case sqlite3.AUTH_ALTER_TABLE, sqlite3.AUTH_CREATE_INDEX, sqlite3.AUTH_DROP_INDEX,
		sqlite3.AUTH_CREATE_TRIGGER, sqlite3.AUTH_CREATE_TEMP_TRIGGER, sqlite3.AUTH_DROP_TRIGGER:
		table = name4
	case sqlite3.AUTH_FUNCTION:
		if g.mode == interpretation && slices.Contains(nondeterministic, strings.ToLower(name4)) {
			return g.deny("%s() gives different results on different replicas; materializers must be deterministic", name4)
		}
		return sqlite3.AUTH_OK
	case sqlite3.AUTH_PRAGMA:
		if name4 != "" && !slices.Contains(readPragmas, strings.ToLower(name3)) {
			return g.deny("PRAGMA %s with an argument may change how the store works; factlog sets its own pragmas", name3)
		}
		return sqlite3.AUTH_OK
	case sqlite3.AUTH_TRANSACTION, sqlite3.AUTH_SAVEPOINT:
		if g.mode == interpretation {
			return g.deny("materializers run inside factlog's transaction and may not control it")
		}
		return g.deny("factlog runs every write in its own transaction; send statements one at a time")
	default:
		return sqlite3.AUTH_OK
	}
	switch {
	case table == "event" || table == "event_dag" || strings.HasPrefix(table, "_factlog_"):
		return g.deny("table %s belongs to factlog: events are added with append and import, never changed", table)
	case g.mode == query && slices.Contains(g.state, table):
		return g.deny("table %s is state derived from the event log: change it by appending an event", table)
	}
	return sqlite3.AUTH_OK
}

// readPragmas may take an argument without changing anything.
var readPragmas = []string{"table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check"}

func (g *guard) deny(format string, args ...any) sqlite3.AuthorizerReturnCode {
	g.denied = fmt.Sprintf(format, args...)
	return sqlite3.AUTH_DENY
}

// explain adds the reason of a refusal to SQLite's "not authorized".
func (g *guard) explain(err error) error {
	if err == nil || g.denied == "" {
		return err
	}
	defer func() { g.denied = "" }()
	return fmt.Errorf("%s: %w", g.denied, err)
}
