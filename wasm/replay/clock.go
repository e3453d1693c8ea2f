package replay

import (
	"fmt"
	"strings"
	"sync"

	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/ncruces/go-sqlite3"
)

// The check at open (checkProgram) sees the words 'now', 'localtime' and
// 'utc' only where they are written in a materializer. An event can carry
// them too — `datetime(:value)` with the value "now", or a column that
// holds it — and then each replica would read its own clock or time zone.
// So while an event is applied, SQLite's date and time functions are
// factlog's: they refuse those words (the event is then without effect,
// on every replica alike, as for any failing materializer) and otherwise
// give what SQLite's own give, computed by SQLite on a connection of its
// own. Outside replay (an application's queries) they pass everything on.
//
// (Where SQLite itself compiles a schema's expression — a generated
// column, a CHECK, an index — it uses its own functions, which refuse
// 'now' there by themselves.)

// clockGuard is the connection that computes the date and time functions
// for every store of the process; a statement holds it for one call.
var clockGuard struct {
	sync.Mutex
	c     *sqlite3.Conn
	stmts map[string]*sqlite3.Stmt // "name/nargs" → SELECT name(?, …)
}

// Activate makes e the engine its connection's functions answer for:
// factlog_clock(), which the undo triggers read, and the guarded date and
// time functions. Open activates the engine it returns; a caller that goes
// on with an older engine on the connection after a failed Open, or after
// a transaction that installed a newer one rolled back, activates the
// older one again.
func (e *Engine) Activate() error {
	// DIRECTONLY keeps it out of a schema's expressions; the undo triggers
	// are TEMP, where SQLite allows it, and purity refuses it in
	// materializers.
	err := e.c.Raw().CreateFunction("factlog_clock", 0, sqlite3.DIRECTONLY, func(ctx sqlite3.Context, _ ...sqlite3.Value) {
		ctx.ResultInt64(e.clock)
	})
	if err != nil {
		return fmt.Errorf("open replay: factlog_clock: %w", err)
	}
	// factlog_undo(table) is the rowid of the undo entry the triggers of
	// e.tables[table] record next. Where the bookkeeping cannot place it
	// (which would be a bug), it gives NULL — SQLite then picks a rowid —
	// and Apply fails the whole operation.
	err = e.c.Raw().CreateFunction("factlog_undo", 1, sqlite3.DIRECTONLY, func(ctx sqlite3.Context, args ...sqlite3.Value) {
		if e.clock <= 0 { // not an event's change (an application's query)
			ctx.ResultNull()
			return
		}
		if i := args[0].Int(); i >= 0 && i < len(e.tables) {
			if v, ok := e.tables[i].undo.rowid(e.clock); ok {
				ctx.ResultInt64(v)
				return
			}
		}
		e.undoErr = fmt.Errorf("no place in the undo log for a change at clock %d (table %d)", e.clock, args[0].Int())
		ctx.ResultNull()
	})
	if err != nil {
		return fmt.Errorf("open replay: factlog_undo: %w", err)
	}
	for name, before := range clockFunctions {
		fn := func(ctx sqlite3.Context, args ...sqlite3.Value) {
			if e.applying {
				if why := clockArgs(name, args, e.bySchema); why != "" {
					e.clockRefused = fmt.Errorf("%w: %s", ErrImpure, why)
					ctx.ResultError(e.clockRefused)
					return
				}
			}
			callBuiltin(ctx, name, args)
		}
		// Defined apart for the count of arguments that gives no time, so
		// that a program shows such a call (checkProgram).
		for _, n := range []int{-1, before} {
			if err := e.c.Raw().CreateFunction(name, n, sqlite3.DETERMINISTIC|sqlite3.INNOCUOUS, fn); err != nil {
				return fmt.Errorf("open replay: %s: %w", name, err)
			}
		}
	}
	return nil
}

// clockArgs says why a date function's arguments would read the clock or
// the time zone, or "".
func clockArgs(name string, args []sqlite3.Value, bySchema bool) string {
	from := "from the event"
	if bySchema {
		from = "computed by the schema"
	}
	if len(args) == clockFunctions[name] {
		return noTime(name)
	}
	for _, a := range args {
		var text string
		switch a.Type() {
		case sqlite3.TEXT:
			text = a.Text()
		case sqlite3.BLOB: // SQLite reads a blob as its text
			text = string(a.RawBlob())
		default:
			continue
		}
		word := strings.ToLower(strings.TrimSpace(text))
		if why, ok := clockWords[word]; ok {
			return fmt.Sprintf("%s with '%s' %s %s", name, word, from, why)
		}
	}
	return ""
}

// callBuiltin gives ctx what SQLite's own function name gives for args.
func callBuiltin(ctx sqlite3.Context, name string, args []sqlite3.Value) {
	clockGuard.Lock()
	defer clockGuard.Unlock()
	if clockGuard.c == nil {
		c, err := sqlite3.Open(":memory:")
		if err != nil {
			ctx.ResultError(fmt.Errorf("%s: %w", name, err))
			return
		}
		clockGuard.c, clockGuard.stmts = c, map[string]*sqlite3.Stmt{}
	}
	key := fmt.Sprintf("%s/%d", name, len(args))
	s := clockGuard.stmts[key]
	if s == nil {
		var err error
		s, _, err = clockGuard.c.Prepare("SELECT " + name + "(" + strings.TrimSuffix(strings.Repeat("?,", len(args)), ",") + ")")
		if err != nil {
			ctx.ResultError(err)
			return
		}
		clockGuard.stmts[key] = s
	}
	defer s.Reset()
	for i, a := range args {
		if err := db.BindValue(s, i+1, db.ValueOf(a)); err != nil {
			ctx.ResultError(err)
			return
		}
	}
	if !s.Step() {
		if err := s.Err(); err != nil {
			ctx.ResultError(err)
		} else {
			ctx.ResultNull()
		}
		return
	}
	db.Result(ctx, db.Column(s, 0))
}
