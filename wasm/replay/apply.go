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
	if err := e.setClock(int64(ev.Clock)); err != nil {
		return fmt.Errorf("apply %s: %w", ev.ID, err)
	}
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

// setClock tells the undo triggers which clock to tag changes with. It is
// written for every event rather than remembered, because a rolled-back
// transaction also rolls back the temp table.
func (e *Engine) setClock(clock int64) error {
	return e.c.Exec(`UPDATE temp._factlog_now SET clock = ?`, clock)
}

// Rewind undoes the effects of every event with a clock >= clock. The
// caller then re-applies the events from that clock on.
func (e *Engine) Rewind(clock uint64) error {
	if err := e.setClock(restoring); err != nil {
		return fmt.Errorf("rewind to clock %d: %w", clock, err)
	}
	for _, t := range e.tables {
		from, ok, err := t.since(e.c, clock)
		if err != nil {
			return fmt.Errorf("rewind %s to clock %d: %w", t.name, clock, err)
		}
		if !ok {
			continue
		}
		for _, sql := range t.restore() {
			if err := e.c.Exec(sql, from); err != nil {
				return fmt.Errorf("rewind %s to clock %d: %w", t.name, clock, err)
			}
		}
	}
	return nil
}

// Reset puts the state tables back as the schema creates them (with any
// rows the schema itself inserts), for a replay of the whole log.
func (e *Engine) Reset() error {
	if err := e.recreate(); err != nil {
		return err
	}
	return e.load()
}
