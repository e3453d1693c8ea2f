package dag

import (
	"fmt"
	"slices"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/sync"
	"github.com/ncruces/go-sqlite3"
)

const eventColumns = `id, peer, seq, clock, time, item_id, type, value`

// scanEvent reads the eventColumns of a row; Parents are left empty.
func scanEvent(s *sqlite3.Stmt) (event.Event, error) {
	var e event.Event
	var err error
	if e.ID, err = event.ParseID(s.ColumnText(0)); err != nil {
		return e, err
	}
	if e.Peer, err = event.ParsePeerID(s.ColumnText(1)); err != nil {
		return e, err
	}
	e.Seq, e.Clock, e.Time = uint64(s.ColumnInt64(2)), uint64(s.ColumnInt64(3)), s.ColumnInt64(4)
	e.Item, e.Type, e.Value = s.ColumnText(5), s.ColumnText(6), []byte(s.ColumnText(7))
	return e, nil
}

// scanPage is how many events Scan reads before it calls fn on them.
const scanPage = 1000

// Scan calls fn for every stored event with clock >= from, in replay
// order, without its Parents (replay does not need them).
//
// It reads a page of events, then calls fn on each, so that no statement
// of its own is running while fn writes: a savepoint rolled back after a
// schema change (a rebuild drops and creates the state tables) would abort
// it.
func (g *Graph) Scan(from uint64, fn func(*event.Event) error) error {
	page := make([]event.Event, 0, scanPage)
	read := func(s *sqlite3.Stmt) error {
		e, err := scanEvent(s)
		page = append(page, e)
		return err
	}
	err := g.c.Query(`SELECT `+eventColumns+` FROM event WHERE clock >= ? ORDER BY clock, id LIMIT ?`, []any{from, scanPage}, read)
	for err == nil && len(page) > 0 {
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		if len(page) < scanPage {
			return nil
		}
		last := page[len(page)-1]
		page = page[:0]
		err = g.c.Query(`SELECT `+eventColumns+` FROM event WHERE (clock, id) > (?, ?) ORDER BY clock, id LIMIT ?`, []any{last.Clock, last.ID, scanPage}, read)
	}
	if err != nil {
		return fmt.Errorf("scan events: %w", err)
	}
	return nil
}

// Events returns the stored events about item (all of them if item is
// nil), in replay order, with their parents.
func (g *Graph) Events(item *string) ([]event.Event, error) {
	q, args := `SELECT `+eventColumns+` FROM event ORDER BY clock, id`, []any(nil)
	if item != nil {
		q, args = `SELECT `+eventColumns+` FROM event WHERE item_id = ? ORDER BY clock, id`, []any{*item}
	}
	var evs []event.Event
	err := g.c.Query(q, args, func(s *sqlite3.Stmt) error {
		e, err := scanEvent(s)
		evs = append(evs, e)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return evs, g.withParents(evs)
}

// Since returns the stored events that vv lacks, in replay order, with
// their parents: what a replica holding vv needs to catch up. The work
// grows with what is missing, not with the log.
func (g *Graph) Since(vv sync.VersionVector) ([]event.Event, error) {
	have, err := g.VersionVector()
	if err != nil {
		return nil, err
	}
	var evs []event.Event
	for peer, top := range have {
		if top <= vv[peer] {
			continue
		}
		err := g.c.Query(`SELECT `+eventColumns+` FROM event WHERE peer = ? AND seq > ?`, []any{peer, vv[peer]}, func(s *sqlite3.Stmt) error {
			e, err := scanEvent(s)
			evs = append(evs, e)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("read events since: %w", err)
		}
	}
	slices.SortFunc(evs, func(a, b event.Event) int { return event.Compare(&a, &b) })
	return evs, g.withParents(evs)
}

func (g *Graph) withParents(evs []event.Event) error {
	for i := range evs {
		e := &evs[i]
		err := g.c.Query(`SELECT parent_id FROM event_dag WHERE event_id = ? AND parent_id <> 'ROOT' ORDER BY parent_id`, []any{e.ID}, func(s *sqlite3.Stmt) error {
			p, err := event.ParseID(s.ColumnText(0))
			e.Parents = append(e.Parents, p)
			return err
		})
		if err != nil {
			return fmt.Errorf("read parents of %s: %w", e.ID, err)
		}
	}
	return nil
}
