package replay

import (
	"fmt"
	"slices"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/db"
)

// Apply runs e's materializers. If one fails, the event's changes are
// undone and a *MaterializeError returned; the caller decides whether that
// fails its operation (a local append) or only leaves the event without
// effect (a merge, where every replica makes the same decision).
func (e *Engine) Apply(ev *event.Event) error {
	ms := slices.Concat(e.mats[ev.Type], e.mats["*"])
	if len(ms) == 0 {
		return nil
	}
	e.clock = int64(ev.Clock)
	defer func() { e.clock = idle }()
	// One statement undoes itself when it fails; several need a savepoint
	// so that the event applies entirely or not at all.
	atomic := len(ms) > 1
	if atomic {
		if err := e.c.Exec(`SAVEPOINT factlog_event`); err != nil {
			return fmt.Errorf("apply %s: %w", ev.ID, err)
		}
	}
	for _, m := range ms {
		if err := m.run(ev); err != nil {
			if atomic {
				if rerr := e.c.Script(`ROLLBACK TO factlog_event; RELEASE factlog_event`); rerr != nil {
					return fmt.Errorf("apply %s: %w (after %v)", ev.ID, rerr, err)
				}
			}
			return &MaterializeError{Event: ev.ID, Type: ev.Type, SQL: m.stmt.SQL(), Err: err}
		}
	}
	if atomic {
		if err := e.c.Exec(`RELEASE factlog_event`); err != nil {
			return fmt.Errorf("apply %s: %w", ev.ID, err)
		}
	}
	return nil
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
			err = bindValue(s, i+1, ev.Value)
		}
		if err != nil {
			return err
		}
	}
	err := s.Exec()
	s.Reset()
	return err
}

// Rewind undoes the effects of every event with a clock >= clock. The
// caller then re-applies the events from that clock on.
func (e *Engine) Rewind(clock uint64) error {
	e.clock = restoring
	defer func() { e.clock = idle }()
	for _, t := range e.tables {
		for _, sql := range t.restore() {
			if err := e.c.Exec(sql, clock); err != nil {
				return fmt.Errorf("rewind %s to clock %d: %w", t.name, clock, err)
			}
		}
	}
	return nil
}

// Reset empties the state tables and their undo logs, for a rebuild.
func (e *Engine) Reset() error {
	e.clock = restoring
	defer func() { e.clock = idle }()
	for _, t := range e.tables {
		if err := e.c.Script(fmt.Sprintf(`DELETE FROM main.%s; DELETE FROM main.%s`, quote(t.name), t.shadow())); err != nil {
			return fmt.Errorf("reset %s: %w", t.name, err)
		}
	}
	return nil
}
