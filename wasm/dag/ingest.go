package dag

import (
	"fmt"
	"slices"
	"time"

	"github.com/factlog/factlog/wasm/event"
	"github.com/ncruces/go-sqlite3"
)

// PendingLimits bound the events that wait for missing parents. They are
// local settings: they decide how long a replica waits, never which events
// are valid.
type PendingLimits struct {
	// MaxEvents caps the pending events (default 10,000).
	MaxEvents int
	// MaxBytes caps their encoded size (default 16 MiB).
	MaxBytes int
	// MaxAge drops events that waited longer, at the next import
	// (default 7 days). They can be sent again.
	MaxAge time.Duration
}

// Defaults for PendingLimits.
const (
	DefaultPendingEvents = 10_000
	DefaultPendingBytes  = 16 << 20
	DefaultPendingAge    = 7 * 24 * time.Hour
)

func (l PendingLimits) withDefaults() PendingLimits {
	if l.MaxEvents <= 0 {
		l.MaxEvents = DefaultPendingEvents
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultPendingBytes
	}
	if l.MaxAge <= 0 {
		l.MaxAge = DefaultPendingAge
	}
	return l
}

// Ingested is what Ingest did.
type Ingested struct {
	// Added are the events stored, in the order they were stored: those
	// of the batch whose parents were present, and earlier pending events
	// they completed.
	Added []event.Event
	// Pending counts the events of the batch that still wait for parents.
	Pending int
	// Duplicates counts the events of the batch already held (stored or
	// pending).
	Duplicates int
	// Refused counts the events of the batch that would have waited, but
	// did not fit the pending set; they are not kept.
	Refused int
	// Dropped are pending events from earlier calls that turned out
	// invalid once their parents arrived; they are discarded without
	// failing the batch that completed them, so one bad event cannot block
	// good ones. (An invalid event of the batch itself fails the call.)
	Dropped []error
}

// Ingest adds events to the DAG: each one already held is skipped, each one
// whose parents are all stored is validated and stored, and the others wait
// in the pending set. An invalid event fails the whole call with an
// *event.InvalidError; the caller's transaction must then roll back, so
// that nothing stored changes. now is the local time, used only to expire
// pending events.
//
// Events must have passed event.Check (package sync's Decode does that).
func (g *Graph) Ingest(evs []event.Event, now time.Time, limits PendingLimits) (*Ingested, error) {
	limits = limits.withDefaults()
	if err := g.expire(now.Add(-limits.MaxAge)); err != nil {
		return nil, err
	}
	pending, err := g.Pending()
	if err != nil {
		return nil, err
	}
	evs = slices.Clone(evs)
	// In replay order every parent in the batch comes before its children.
	slices.SortFunc(evs, func(a, b event.Event) int { return event.Compare(&a, &b) })
	res := &Ingested{}
	b := newBatch()
	parked := map[event.ID]bool{} // the batch's events still waiting
	var order []event.ID          // the batch's events parked, in order
	for i := range evs {
		e := &evs[i]
		held, err := g.held(e, pending.Events > 0)
		if err != nil {
			return nil, err
		}
		if held {
			res.Duplicates++
			continue
		}
		parents, missing, err := g.parents(e, b)
		if err != nil {
			return nil, err
		}
		if len(missing) > 0 {
			if _, err := g.park(e, missing, now); err != nil {
				return nil, err
			}
			parked[e.ID] = true
			order = append(order, e.ID)
			pending.Events++
			continue
		}
		if err := validate(e, parents); err != nil {
			return nil, err
		}
		if err := g.insert(e, b); err != nil {
			return nil, err
		}
		res.Added = append(res.Added, *e)
		if pending.Events > 0 {
			if pending.Events, err = g.resolve(e.ID, res, b, parked, pending.Events); err != nil {
				return nil, err
			}
		}
	}
	if len(order) > 0 {
		if err := g.refuse(order, parked, limits, res); err != nil {
			return nil, err
		}
	}
	res.Pending = len(parked)
	return res, g.flush(b)
}

// refuse holds the pending set to its limits once the batch is in: what
// the batch completed makes room for what it left waiting, and the
// batch's latest orphans that still do not fit are taken out again —
// never its good events, never events that waited before it.
func (g *Graph) refuse(order []event.ID, parked map[event.ID]bool, limits PendingLimits, res *Ingested) error {
	st, err := g.Pending()
	if err != nil {
		return err
	}
	for i := len(order) - 1; i >= 0 && (st.Events > limits.MaxEvents || st.Bytes > limits.MaxBytes); i-- {
		id := order[i]
		if !parked[id] {
			continue // completed by a later event of the batch
		}
		e, err := g.unpark(id)
		if err != nil {
			return err
		}
		if err := g.c.Exec(`DELETE FROM _factlog_pending_need WHERE id = ?`, id); err != nil {
			return fmt.Errorf("refuse %s: %w", id, err)
		}
		delete(parked, id)
		res.Refused++
		st.Events--
		st.Bytes -= len(e.Encode())
	}
	return nil
}

// held reports whether e is stored or pending, and rejects an event that
// shares its (peer, seq) with a different one.
func (g *Graph) held(e *event.Event, anyPending bool) (bool, error) {
	other, ok, err := g.at(e.Peer, e.Seq)
	if err == nil && !ok && anyPending {
		err = g.c.Query(`SELECT id FROM _factlog_pending WHERE peer = ? AND seq = ?`, []any{e.Peer, e.Seq}, func(s *sqlite3.Stmt) error {
			ok = true
			other, err = event.ParseID(s.ColumnText(0))
			return err
		})
	}
	switch {
	case err != nil:
		return false, err
	case ok && other != e.ID:
		return false, e.Invalid(event.ErrEquivocation, "the log already holds %s with the same peer and seq", other)
	}
	return ok, nil
}

// park stores e in the pending set, waiting for missing, and returns the
// bytes it takes there.
func (g *Graph) park(e *event.Event, missing []event.ID, now time.Time) (int, error) {
	enc := e.Encode()
	err := g.c.Exec(`INSERT INTO _factlog_pending (id, peer, seq, enc, received) VALUES (?, ?, ?, ?, ?)`,
		e.ID, e.Peer, e.Seq, enc, now.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("park event %s: %w", e.ID, err)
	}
	for _, m := range missing {
		if err := g.c.Exec(`INSERT INTO _factlog_pending_need (need, id) VALUES (?, ?)`, m, e.ID); err != nil {
			return 0, fmt.Errorf("park event %s: %w", e.ID, err)
		}
	}
	return len(enc), nil
}

// resolve stores the pending events that were waiting only for id, and
// those waiting for them in turn, and returns how many remain pending. It
// uses a work list, not recursion: a chain of a million pending events
// resolves in constant stack.
func (g *Graph) resolve(id event.ID, res *Ingested, b *batch, parked map[event.ID]bool, pending int) (int, error) {
	work := []event.ID{id}
	for len(work) > 0 {
		id, work = work[len(work)-1], work[:len(work)-1]
		var waiting []event.ID
		err := g.c.Query(`SELECT id FROM _factlog_pending_need WHERE need = ?`, []any{id}, func(s *sqlite3.Stmt) error {
			w, err := event.ParseID(s.ColumnText(0))
			waiting = append(waiting, w)
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("resolve pending: %w", err)
		}
		if len(waiting) == 0 {
			continue
		}
		if err := g.c.Exec(`DELETE FROM _factlog_pending_need WHERE need = ?`, id); err != nil {
			return 0, fmt.Errorf("resolve pending: %w", err)
		}
		for _, w := range waiting {
			if _, still, err := g.c.Int64(`SELECT 1 FROM _factlog_pending_need WHERE id = ? LIMIT 1`, w); err != nil || still {
				if err != nil {
					return 0, fmt.Errorf("resolve pending: %w", err)
				}
				continue
			}
			e, err := g.unpark(w)
			if err != nil {
				return 0, err
			}
			pending--
			parents, missing, err := g.parents(&e, b)
			if err == nil && len(missing) > 0 {
				err = fmt.Errorf("unpark %s: parent %s is not stored", e.ID, missing[0])
			}
			if err != nil {
				return 0, err
			}
			if err := validate(&e, parents); err != nil {
				if parked[e.ID] {
					return 0, err // it came with this batch: the batch is bad
				}
				res.Dropped = append(res.Dropped, err)
				continue
			}
			if err := g.insert(&e, b); err != nil {
				return 0, err
			}
			res.Added = append(res.Added, e)
			delete(parked, e.ID)
			work = append(work, e.ID)
		}
	}
	return pending, nil
}

// unpark removes a pending event and returns it.
func (g *Graph) unpark(id event.ID) (event.Event, error) {
	var enc []byte
	err := g.c.Query(`SELECT enc FROM _factlog_pending WHERE id = ?`, []any{id}, func(s *sqlite3.Stmt) error {
		enc = s.ColumnBlob(0, nil)
		return nil
	})
	if err == nil {
		err = g.c.Exec(`DELETE FROM _factlog_pending WHERE id = ?`, id)
	}
	if err != nil {
		return event.Event{}, fmt.Errorf("unpark %s: %w", id, err)
	}
	e, err := event.Decode(enc)
	if err != nil {
		return e, fmt.Errorf("unpark %s: stored pending event is unreadable: %w", id, err)
	}
	return e, nil
}

// expire drops pending events received before cutoff.
func (g *Graph) expire(cutoff time.Time) error {
	err := g.c.Exec(`DELETE FROM _factlog_pending_need WHERE id IN (SELECT id FROM _factlog_pending WHERE received < ?)`, cutoff.UnixMilli())
	if err == nil {
		err = g.c.Exec(`DELETE FROM _factlog_pending WHERE received < ?`, cutoff.UnixMilli())
	}
	if err != nil {
		return fmt.Errorf("expire pending: %w", err)
	}
	return nil
}

// PendingStats describes the pending set.
type PendingStats struct {
	Events int
	Bytes  int
}

// Pending returns the size of the pending set.
func (g *Graph) Pending() (PendingStats, error) {
	var st PendingStats
	err := g.c.Query(`SELECT count(*), coalesce(sum(length(enc)), 0) FROM _factlog_pending`, nil, func(s *sqlite3.Stmt) error {
		st.Events, st.Bytes = s.ColumnInt(0), s.ColumnInt(1)
		return nil
	})
	return st, err
}

// Missing returns the ids pending events wait for that are held nowhere:
// what to ask other replicas for.
func (g *Graph) Missing() ([]event.ID, error) {
	var ids []event.ID
	err := g.c.Query(`SELECT DISTINCT need FROM _factlog_pending_need
		WHERE need NOT IN (SELECT id FROM _factlog_pending) ORDER BY need`, nil, func(s *sqlite3.Stmt) error {
		id, err := event.ParseID(s.ColumnText(0))
		ids = append(ids, id)
		return err
	})
	return ids, err
}
