package store

import (
	"strings"

	"github.com/factlog/factlog/wasm/replay"
	"github.com/ncruces/go-sqlite3"
)

// queries is the policy in force while the application's queries (Query,
// Watch) are prepared and run: they read anything, and write the
// application's own tables, but never the log or the state — the state
// changes only by appending events — nor anything that changes how the
// interpretation runs. The bodies of the triggers and views a query runs
// are held to the same rules, whatever their names.
type queries struct {
	r *replay.Engine
}

// Allow implements db.Policy.
func (q queries) Allow(action sqlite3.AuthorizerActionCode, name3, name4, schema, inner string) string {
	switch action {
	case sqlite3.AUTH_SELECT, sqlite3.AUTH_READ, sqlite3.AUTH_FUNCTION, sqlite3.AUTH_RECURSIVE, sqlite3.AUTH_REINDEX:
		return ""
	case sqlite3.AUTH_INSERT, sqlite3.AUTH_UPDATE, sqlite3.AUTH_DELETE, sqlite3.AUTH_DROP_TABLE, sqlite3.AUTH_DROP_VIEW,
		sqlite3.AUTH_DROP_TEMP_TABLE, sqlite3.AUTH_DROP_TEMP_VIEW, sqlite3.AUTH_DROP_VTABLE:
		return q.protected(name3)
	case sqlite3.AUTH_CREATE_TABLE, sqlite3.AUTH_CREATE_TEMP_TABLE, sqlite3.AUTH_CREATE_VIEW, sqlite3.AUTH_CREATE_TEMP_VIEW, sqlite3.AUTH_CREATE_VTABLE:
		// A TEMP table or view named like a state table would hide it
		// from the materializers.
		return q.protected(name3)
	case sqlite3.AUTH_CREATE_INDEX, sqlite3.AUTH_CREATE_TEMP_INDEX, sqlite3.AUTH_DROP_INDEX, sqlite3.AUTH_DROP_TEMP_INDEX,
		sqlite3.AUTH_CREATE_TRIGGER, sqlite3.AUTH_CREATE_TEMP_TRIGGER, sqlite3.AUTH_DROP_TRIGGER, sqlite3.AUTH_DROP_TEMP_TRIGGER:
		// An index on a state table changes the materializers' plans; a
		// trigger on one would run with them, and again on rewinds.
		if why := q.protected(name3); why != "" {
			return why
		}
		return q.protected(name4)
	case sqlite3.AUTH_ALTER_TABLE:
		return q.protected(name4)
	case sqlite3.AUTH_PRAGMA:
		if pragmaReads[strings.ToLower(name3)] || (name4 == "" && pragmaSettings[strings.ToLower(name3)]) {
			return ""
		}
		return "PRAGMA " + name3 + " may change how the store works; factlog sets its own pragmas (reading a setting without an argument is fine)"
	case sqlite3.AUTH_TRANSACTION, sqlite3.AUTH_SAVEPOINT:
		return "factlog runs every write in a transaction of its own; send statements one at a time"
	case sqlite3.AUTH_ATTACH:
		if name3 == "" {
			return "VACUUM renumbers the row ids factlog's undo log keys rows by; use Backup to write a compacted copy"
		}
		return "ATTACH is not available through Query"
	case sqlite3.AUTH_DETACH:
		return "DETACH is not available through Query"
	case sqlite3.AUTH_ANALYZE:
		return "ANALYZE changes the plans the materializers run with, and the order in which they insert rows; the store does without statistics"
	default:
		return "this statement is not available through Query"
	}
}

// protected refuses writing (and shadowing, and triggering on) the log,
// factlog's bookkeeping, SQLite's own tables, and the state.
func (q queries) protected(name string) string {
	lower := strings.ToLower(name)
	switch {
	case name == "":
		return ""
	case lower == "event" || lower == "event_dag" || strings.HasPrefix(lower, "_factlog_"):
		return "the name " + name + " belongs to factlog's event log: events are added with append and import, never changed"
	case strings.HasPrefix(lower, "sqlite_stat"):
		return name + " holds the statistics that ANALYZE would make; the store does without them"
	case q.r != nil && q.r.Has(name):
		return name + " is state derived from the event log: change it by appending an event, or change the interpretation's schema"
	}
	return ""
}

// pragmaReads only read, with or without an argument.
var pragmaReads = map[string]bool{
	"table_info": true, "table_xinfo": true, "table_list": true, "index_list": true, "index_info": true,
	"index_xinfo": true, "foreign_key_list": true, "foreign_key_check": true, "integrity_check": true,
	"quick_check": true, "collation_list": true, "function_list": true, "module_list": true,
	"pragma_list": true, "compile_options": true, "database_list": true,
}

// pragmaSettings may be read (without an argument) but not set.
var pragmaSettings = map[string]bool{
	"user_version": true, "application_id": true, "schema_version": true, "data_version": true,
	"journal_mode": true, "synchronous": true, "locking_mode": true, "cache_size": true, "page_size": true,
	"page_count": true, "freelist_count": true, "max_page_count": true, "encoding": true,
	"foreign_keys": true, "recursive_triggers": true, "auto_vacuum": true, "temp_store": true,
	"busy_timeout": true, "mmap_size": true, "wal_autocheckpoint": true, "cache_spill": true,
}
