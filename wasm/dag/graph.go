package dag

import (
	"fmt"
	"slices"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/factlog/factlog/wasm/sync"
	"github.com/ncruces/go-sqlite3"
)

// Graph is the persisted DAG of one store.
type Graph struct {
	c *db.Conn
}

// New returns the Graph kept in c's tables (see Init).
func New(c *db.Conn) *Graph { return &Graph{c: c} }

// node is what validation needs to know of a stored parent.
type node struct {
	clock uint64
	peer  event.PeerID
	seq   uint64
}

// parents looks up e's parents: those stored, and those missing.
func (g *Graph) parents(e *event.Event, b *batch) (stored []node, missing []event.ID, err error) {
	for _, p := range e.Parents {
		n, ok := b.nodes[p]
		if !ok {
			err := g.c.Query(`SELECT clock, peer, seq FROM event WHERE id = ?`, []any{p}, func(s *sqlite3.Stmt) (err error) {
				n.clock, n.seq, ok = uint64(s.ColumnInt64(0)), uint64(s.ColumnInt64(2)), true
				n.peer, err = event.ParsePeerID(s.ColumnText(1))
				return err
			})
			if err != nil {
				return nil, nil, fmt.Errorf("look up parent %s: %w", p, err)
			}
		}
		if ok {
			stored = append(stored, n)
		} else {
			missing = append(missing, p)
		}
	}
	return stored, missing, nil
}

// Has reports whether the event is stored (pending events are not).
func (g *Graph) Has(id event.ID) (bool, error) {
	_, ok, err := g.c.Int64(`SELECT 1 FROM event WHERE id = ?`, id)
	return ok, err
}

// at returns the id of the stored event (peer, seq), if any.
func (g *Graph) at(peer event.PeerID, seq uint64) (id event.ID, ok bool, err error) {
	err = g.c.Query(`SELECT id FROM event WHERE peer = ? AND seq = ?`, []any{peer, seq}, func(s *sqlite3.Stmt) error {
		ok = true
		id, err = event.ParseID(s.ColumnText(0))
		return err
	})
	return id, ok, err
}

// validate checks an event against its parents, all stored: its clock is
// derived from theirs and its seq follows its author's previous event,
// which must be one of them. (Equivocation is caught earlier, by held,
// when the event first arrives.)
func validate(e *event.Event, parents []node) error {
	var top uint64
	follows := e.Seq == 1
	for i, n := range parents {
		top = max(top, n.clock)
		if n.peer == e.Peer {
			if n.seq+1 != e.Seq {
				return e.Invalid(event.ErrSeq, "parent %s by the same author has seq %d; an event with seq %d may only link seq %d of its author", e.Parents[i], n.seq, e.Seq, e.Seq-1)
			}
			follows = true
		}
	}
	if e.Clock != top+1 {
		return e.Invalid(event.ErrClock, "clock is %d, but its parents' largest clock is %d, so it must be %d", e.Clock, top, top+1)
	}
	if !follows {
		return e.Invalid(event.ErrSeq, "seq %d does not link its author's event seq %d as a parent", e.Seq, e.Seq-1)
	}
	return nil
}

// batch keeps the bookkeeping of the events one call stores, and writes it
// once at the end: a batch of a thousand chained events then updates the
// heads and the author's seq once, not a thousand times.
type batch struct {
	nodes  map[event.ID]node       // the events stored, for their children's lookups
	heads  map[event.ID]bool       // stored events no stored event links yet
	linked map[event.ID]bool       // events stored before that stored events link: heads no more
	seqs   map[event.PeerID]uint64 // the authors' highest seqs
}

func newBatch() *batch {
	return &batch{nodes: map[event.ID]node{}, heads: map[event.ID]bool{}, linked: map[event.ID]bool{}, seqs: map[event.PeerID]uint64{}}
}

// insert stores a valid event whose parents are stored, and notes it in b;
// flush completes the bookkeeping.
func (g *Graph) insert(e *event.Event, b *batch) error {
	err := g.c.Exec(`INSERT INTO event (id, peer, seq, clock, time, item_id, type, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Peer, e.Seq, e.Clock, e.Time, e.Item, e.Type, string(e.Value))
	if err != nil {
		return fmt.Errorf("insert event %s: %w", e.ID, err)
	}
	if len(e.Parents) == 0 {
		if err := g.c.Exec(`INSERT INTO event_dag (parent_id, event_id) VALUES (?, ?)`, Root, e.ID); err != nil {
			return fmt.Errorf("insert event %s: %w", e.ID, err)
		}
	}
	for _, p := range e.Parents {
		if err := g.c.Exec(`INSERT INTO event_dag (parent_id, event_id) VALUES (?, ?)`, p, e.ID); err != nil {
			return fmt.Errorf("insert event %s: %w", e.ID, err)
		}
		if _, ok := b.nodes[p]; ok {
			delete(b.heads, p)
		} else {
			b.linked[p] = true
		}
	}
	b.nodes[e.ID] = node{clock: e.Clock, peer: e.Peer, seq: e.Seq}
	b.heads[e.ID] = true
	b.seqs[e.Peer] = max(b.seqs[e.Peer], e.Seq)
	return nil
}

// flush writes the heads and seqs of the events stored with b.
func (g *Graph) flush(b *batch) error {
	for p := range b.linked {
		if err := g.c.Exec(`DELETE FROM _factlog_head WHERE id = ?`, p); err != nil {
			return fmt.Errorf("update heads: %w", err)
		}
	}
	for h := range b.heads {
		if err := g.c.Exec(`INSERT INTO _factlog_head (id) VALUES (?)`, h); err != nil {
			return fmt.Errorf("update heads: %w", err)
		}
	}
	for p, seq := range b.seqs {
		err := g.c.Exec(`INSERT INTO _factlog_peer (peer, seq) VALUES (?, ?)
			ON CONFLICT (peer) DO UPDATE SET seq = max(seq, excluded.seq)`, p, seq)
		if err != nil {
			return fmt.Errorf("record seq of %s: %w", p, err)
		}
	}
	return nil
}

// Heads returns the ids of the DAG's leaves, sorted.
func (g *Graph) Heads() ([]event.ID, error) {
	var ids []event.ID
	err := g.c.Query(`SELECT id FROM _factlog_head ORDER BY id`, nil, func(s *sqlite3.Stmt) error {
		id, err := event.ParseID(s.ColumnText(0))
		ids = append(ids, id)
		return err
	})
	return ids, err
}

// VersionVector returns each author's highest stored seq.
func (g *Graph) VersionVector() (sync.VersionVector, error) {
	vv := sync.VersionVector{}
	err := g.c.Query(`SELECT peer, seq FROM _factlog_peer`, nil, func(s *sqlite3.Stmt) error {
		p, err := event.ParsePeerID(s.ColumnText(0))
		vv[p] = uint64(s.ColumnInt64(1))
		return err
	})
	return vv, err
}

// Last returns the position of the last event in replay order, which is
// where the state is: every stored event is applied.
func (g *Graph) Last() (pos event.Position, ok bool, err error) {
	err = g.c.Query(`SELECT clock, id FROM event ORDER BY clock DESC, id DESC LIMIT 1`, nil, func(s *sqlite3.Stmt) error {
		ok = true
		pos.Clock = uint64(s.ColumnInt64(0))
		pos.ID, err = event.ParseID(s.ColumnText(1))
		return err
	})
	return pos, ok, err
}

// ClockBack returns the clock of the n-th last event in replay order; ok is
// false if the log holds fewer than n events.
func (g *Graph) ClockBack(n int) (clock uint64, ok bool, err error) {
	if n <= 0 {
		return 0, false, nil
	}
	v, ok, err := g.c.Int64(`SELECT clock FROM event ORDER BY clock DESC, id DESC LIMIT 1 OFFSET ?`, n-1)
	return uint64(v), ok, err
}

// CountFrom returns the number of stored events with a clock >= clock.
func (g *Graph) CountFrom(clock uint64) (int, error) {
	n, _, err := g.c.Int64(`SELECT count(*) FROM event WHERE clock >= ?`, clock)
	return int(n), err
}

// Len returns the number of stored events.
func (g *Graph) Len() (int, error) {
	n, _, err := g.c.Int64(`SELECT count(*) FROM event`)
	return int(n), err
}

// Next returns what a local append by self links: its own previous event
// and the heads, the highest first, at most event.MaxParents in all; the
// clock that follows them; and self's next seq.
func (g *Graph) Next(self event.PeerID) (parents []event.ID, clock, seq uint64, err error) {
	var prev event.ID
	var hasPrev bool
	err = g.c.Query(`SELECT e.id, e.clock, e.seq FROM _factlog_peer p JOIN event e ON e.peer = p.peer AND e.seq = p.seq WHERE p.peer = ?`,
		[]any{self}, func(s *sqlite3.Stmt) error {
			prev, err = event.ParseID(s.ColumnText(0))
			clock, seq, hasPrev = uint64(s.ColumnInt64(1)), uint64(s.ColumnInt64(2)), true
			return err
		})
	if err != nil {
		return nil, 0, 0, fmt.Errorf("choose parents: %w", err)
	}
	if hasPrev {
		parents = append(parents, prev)
	}
	// CROSS JOIN keeps the (few) heads as the outer loop; without
	// statistics SQLite would rather walk the whole log in clock order.
	err = g.c.Query(`SELECT h.id, e.clock FROM _factlog_head h CROSS JOIN event e ON e.id = h.id ORDER BY e.clock DESC, e.id DESC`,
		nil, func(s *sqlite3.Stmt) error {
			if len(parents) == event.MaxParents {
				return nil
			}
			id, err := event.ParseID(s.ColumnText(0))
			if id != prev || !hasPrev {
				parents = append(parents, id)
				clock = max(clock, uint64(s.ColumnInt64(1)))
			}
			return err
		})
	if err != nil {
		return nil, 0, 0, fmt.Errorf("choose parents: %w", err)
	}
	slices.SortFunc(parents, event.ID.Compare)
	return parents, clock + 1, seq + 1, nil
}

// Append stores a local event built from Next: its parents are stored and
// its clock and seq follow them by construction.
func (g *Graph) Append(e *event.Event) error {
	b := newBatch()
	if err := g.insert(e, b); err != nil {
		return err
	}
	return g.flush(b)
}
