package replay

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/ncruces/go-sqlite3"
)

// ErrHorizon is returned by Rewind for a clock older than the undo log
// reaches: the caller rebuilds the state from the whole log instead.
var ErrHorizon = errors.New("the undo log does not reach back that far")

// ErrRolledBack reports a statement that ended the transaction it ran in.
// Open refuses the statements that can (ROLLBACK conflict resolution); if
// one does anyway, the whole call fails, and nothing of it is stored.
var ErrRolledBack = errors.New("a statement rolled back factlog's transaction")

// Apply runs e's materializers, inside a savepoint when there are several
// or one can fail halfway: if one fails, the event's changes are undone
// and a *MaterializeError returned; the caller
// decides whether that fails its operation (a local append) or only
// leaves the event without effect (a merge, where every replica makes the
// same decision). Errors that are not the statement's own — the call was
// interrupted, memory or the disk ran out — are returned as they are: they
// could differ between replicas, so they must fail the whole operation.
func (e *Engine) Apply(ev *event.Event) error {
	ms := slices.Concat(e.materializers(ev.Type)...)
	if len(ms) == 0 {
		return nil
	}
	// Below the horizon, no rewind undoes an event: nothing is recorded,
	// and the triggers that would record are dropped for as long as that
	// lasts (a rebuild, a long catch-up).
	if err := e.record(ev.Clock >= e.horizon); err != nil {
		return fmt.Errorf("apply %s: %w", ev.ID, err)
	}
	clock := int64(ev.Clock)
	if ev.Clock < e.horizon {
		clock = 0
	} else if ev.Clock > maxUndoClock {
		return fmt.Errorf("apply %s: clock %d is beyond what the undo log can record (%d)", ev.ID, ev.Clock, maxUndoClock)
	}
	e.clock = clock
	defer func() { e.clock = 0 }() // a write outside replay is not an event's
	// A single statement that fails undoes itself; several, or one that
	// fails after changing rows (OR FAIL), need a savepoint to leave the
	// event entirely without effect.
	atomic := len(ms) > 1 || ms[0].partial
	if atomic {
		if err := e.c.Exec(`SAVEPOINT factlog_event`); err != nil {
			return fmt.Errorf("apply %s: %w", ev.ID, err)
		}
	}
	failed, err := e.run(ms, ev)
	if e.undoErr != nil {
		err, e.undoErr = e.undoErr, nil
		return fmt.Errorf("apply %s: %w", ev.ID, err)
	}
	if err == nil {
		if atomic {
			if err := e.c.Exec(`RELEASE factlog_event`); err != nil {
				return fmt.Errorf("apply %s: %w", ev.ID, err)
			}
		}
		return nil
	}
	if e.c.Raw().GetAutocommit() {
		return fmt.Errorf("apply %s: %w: %v", ev.ID, ErrRolledBack, err)
	}
	if atomic {
		if rerr := e.c.Script(`ROLLBACK TO factlog_event; RELEASE factlog_event`); rerr != nil {
			return fmt.Errorf("apply %s: %w (after %v)", ev.ID, rerr, err)
		}
	}
	if !ownFailure(err) {
		return fmt.Errorf("apply %s: %w", ev.ID, err)
	}
	if e.clockRefused != nil {
		err = e.clockRefused // the rule, for errors.Is, rather than SQLite's text of it
	}
	return &MaterializeError{Event: ev.ID, Type: ev.Type, SQL: failed.stmt.SQL(), Err: err}
}

// run runs ms on ev under the interpretation's policy, and returns the
// one that failed. The policy is lifted however run ends: the driver
// panics when SQLite runs out of memory, and a policy left in force would
// refuse every statement of factlog's own from then on — the rollback
// first, which would leave the transaction open and the store refusing
// every call until it is reopened.
func (e *Engine) run(ms []*materializer, ev *event.Event) (failed *materializer, err error) {
	restore := e.c.Enforce(&e.purity) // a statement may be prepared again as it runs
	e.applying, e.clockRefused = true, nil
	defer func() {
		e.applying = false
		restore()
	}()
	for _, m := range ms {
		if err := m.run(ev); err != nil {
			return m, err
		}
	}
	return nil, nil
}

// ownFailure reports whether a statement failed because of what it does
// with the state (a constraint, a type, malformed JSON), which is the same
// on every replica, rather than because of the machine it runs on.
func ownFailure(err error) bool {
	for _, code := range []sqlite3.ErrorCode{sqlite3.INTERRUPT, sqlite3.NOMEM, sqlite3.IOERR, sqlite3.CORRUPT,
		sqlite3.FULL, sqlite3.BUSY, sqlite3.LOCKED, sqlite3.CANTOPEN, sqlite3.NOTADB, sqlite3.READONLY, sqlite3.ABORT} {
		if errors.Is(err, code) {
			return false
		}
	}
	return db.IsSQL(err)
}

func (m *materializer) run(ev *event.Event) error {
	s := m.stmt
	s.ClearBindings()
	for i, f := range m.fields {
		var err error
		switch f {
		case fieldID:
			err = s.BindText(i+1, ev.ID.String())
		case fieldPeer:
			err = s.BindText(i+1, ev.Peer.String())
		case fieldSeq:
			err = db.BindValue(s, i+1, ev.Seq)
		case fieldClock:
			err = db.BindValue(s, i+1, ev.Clock)
		case fieldTime:
			err = s.BindInt64(i+1, ev.Time)
		case fieldItem:
			err = s.BindText(i+1, ev.Item)
		case fieldType:
			err = s.BindText(i+1, ev.Type)
		case fieldValue:
			err = db.BindJSON(s, i+1, ev.Value)
		}
		if err != nil {
			return err
		}
	}
	err := s.Exec()
	s.Reset()
	return err
}

// record installs or drops the recording triggers. Dropping them costs
// the materializers a new compilation each, once per switch; replays
// switch once (on at the horizon), not per event.
func (e *Engine) record(on bool) error {
	if on != e.unrecorded {
		return nil
	}
	var sql strings.Builder
	for _, t := range e.tables {
		if on {
			sql.WriteString(t.triggers())
		} else {
			sql.WriteString(t.untriggers())
		}
	}
	if err := e.c.Script(sql.String()); err != nil {
		return fmt.Errorf("switch the undo log %v: %w", on, err)
	}
	e.unrecorded = !on
	return nil
}

// Rewind undoes the effects of every event with a clock >= clock. The
// caller then re-applies the events from that clock on. A clock below the
// horizon (see Trim) returns ErrHorizon and changes nothing.
func (e *Engine) Rewind(clock uint64) error {
	if clock < e.horizon {
		return fmt.Errorf("rewind to clock %d: %w (clock %d)", clock, ErrHorizon, e.horizon)
	}
	e.clock = restoring
	defer func() { e.clock = 0 }()
	for _, t := range e.tables {
		for _, sql := range t.restore(false) {
			if err := e.c.Exec(sql, undoFrom(clock)); err != nil {
				return fmt.Errorf("rewind %s to clock %d: %w", t.name, clock, err)
			}
		}
		if err := t.undo.load(e.c, t); err != nil {
			return fmt.Errorf("rewind %s to clock %d: %w", t.name, clock, err)
		}
	}
	return nil
}

// itemsDDL is the list RewindItems fills: a row's key (its rowid in a
// rowid table) and the first undo entry of the row's to undo.
const itemsDDL = `CREATE TEMP TABLE IF NOT EXISTS _factlog_items (k NOT NULL PRIMARY KEY, lo INTEGER NOT NULL) WITHOUT ROWID`

// RewindItems undoes, for each item, the changes that events with a clock
// >= its clock made to the rows keyed by the item (see Reach). The caller
// then re-applies exactly those events (every event about the item from
// its clock on), whose clocks are clocks, and must have checked that they
// are all of types that reach only their row (ReachRow), and that from the
// smallest clock on no event reaches further than its item (ReachItem):
// then the other rows are as those events leave them, rowids included,
// and the state is the one a full rewind would give. A clock below the
// horizon returns ErrHorizon and changes nothing.
func (e *Engine) RewindItems(items map[string]uint64, clocks []uint64) error {
	if len(items) == 0 {
		return nil
	}
	from := uint64(maxUndoClock)
	for _, clock := range items {
		from = min(from, clock)
	}
	if from < e.horizon {
		return fmt.Errorf("rewind items to clock %d: %w (clock %d)", from, ErrHorizon, e.horizon)
	}
	e.clock = restoring
	defer func() { e.clock = 0 }()
	for _, t := range e.tables {
		if t.key == "" {
			continue
		}
		add := `INSERT INTO temp._factlog_items (k, lo) VALUES (?1, ?2)`
		if t.rowid {
			add = fmt.Sprintf(`INSERT INTO temp._factlog_items (k, lo) SELECT %s, ?2 FROM main.%s WHERE %s = ?1`, quote(t.keys[0]), quote(t.name), quote(t.key))
		}
		if err := e.c.Exec(`DELETE FROM temp._factlog_items`); err != nil {
			return fmt.Errorf("rewind items of %s: %w", t.name, err)
		}
		for item, clock := range items {
			if err := e.c.Exec(add, item, undoFrom(clock)); err != nil {
				return fmt.Errorf("rewind items of %s: %w", t.name, err)
			}
		}
		for _, sql := range t.restore(true) {
			if err := e.c.Exec(sql, undoFrom(from)); err != nil {
				return fmt.Errorf("rewind items of %s to clock %d: %w", t.name, from, err)
			}
		}
	}
	// The re-applied events record their changes after those of their
	// clocks that stay (see undoNext).
	for _, t := range e.tables {
		if err := t.undo.loadOlder(e.c, t, clocks); err != nil {
			return fmt.Errorf("rewind items of %s: %w", t.name, err)
		}
	}
	return e.c.Exec(`DELETE FROM temp._factlog_items`)
}

// Reset puts the state tables back as the schema creates them (with any
// rows the schema itself inserts), for a replay of the whole log. The
// events applied next are recorded in the undo log from clock horizon on.
func (e *Engine) Reset(horizon uint64) error {
	if err := e.recreate(); err != nil {
		return err
	}
	if err := e.load(true); err != nil {
		return err
	}
	return e.SetHorizon(horizon)
}

// Trim forgets the undo entries of the events with a clock below clock,
// which becomes the horizon: Rewind cannot go further back.
func (e *Engine) Trim(clock uint64) error {
	if clock <= e.horizon {
		return nil
	}
	for _, t := range e.tables {
		if err := t.trim(e.c, clock); err != nil {
			return fmt.Errorf("trim the undo log of %s: %w", t.name, err)
		}
	}
	return e.SetHorizon(clock)
}

// Horizon returns the oldest clock Rewind can go back to.
func (e *Engine) Horizon() uint64 { return e.horizon }

// SetHorizon sets the clock from which the events applied next are
// recorded in the undo log, on empty state tables (after Reset, or an
// Open that created them).
func (e *Engine) SetHorizon(clock uint64) error {
	if err := e.c.SetMeta(metaHorizon, strconv.FormatUint(clock, 10)); err != nil {
		return err
	}
	e.horizon = clock
	return nil
}
