package dag

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/sync"
	"github.com/ncruces/go-sqlite3"
)

// PendingLimits bound the events that wait for missing parents or for a
// signature. They are local settings: they decide how long a replica
// waits, never which events are valid.
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
	// of the batch whose parents were present and that a signature
	// covers, and earlier pending events they completed.
	Added []event.Event
	// Pending counts the events of the batch that still wait, for
	// parents or for a signature.
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

// Ingest adds a batch to the DAG. It verifies the batch's signatures (one
// that does not verify fails the call); an event joins once its parents
// are stored and a verified signature covers it — its own, or one over a
// later event of its author's chain, in this batch or a later one — and
// waits in the pending set until then. An invalid event fails the whole
// call with an *event.InvalidError; the caller's transaction must then
// roll back, so that nothing stored changes. now is the local time, used
// only to expire pending events.
//
// Events must have passed event.Check (package sync's Decode does that).
func (g *Graph) Ingest(in *sync.Batch, now time.Time, limits PendingLimits) (*Ingested, error) {
	g.tops = nil // the heads change, and self's tip may (its own events, back from another store)
	limits = limits.withDefaults()
	if err := g.expire(now.Add(-limits.MaxAge)); err != nil {
		return nil, err
	}
	pending, err := g.Pending()
	if err != nil {
		return nil, err
	}
	evs := slices.Clone(in.Events)
	// In replay order every parent in the batch comes before its children.
	slices.SortFunc(evs, event.ReplayOrder)
	evs = slices.CompactFunc(evs, func(a, b event.Event) bool { return a.ID == b.ID })
	res := &Ingested{}
	b := g.newBatch(len(evs))

	// The new events, by id.
	held, err := g.heldOf(evs, pending.Events > 0)
	if err != nil {
		return nil, err
	}
	fresh := make(map[event.ID]*event.Event, len(evs))
	for i := range evs {
		if e := &evs[i]; held[e.ID] {
			res.Duplicates++
		} else {
			fresh[e.ID] = e
		}
	}
	// What the signatures cover: the events they sign and, down the
	// author's chain, the events before them, here or waiting.
	// Every signature is verified before it is kept: a replica passes on
	// the signatures it holds, and one that does not verify would make
	// the receiver refuse the whole batch.
	c := &coverage{g: g, fresh: fresh, covered: make(map[event.ID]bool, len(evs)), anyPending: pending.Events > 0}
	for _, e := range evs {
		sig, ok := in.Signatures[e.ID]
		if !ok {
			continue
		}
		if err := c.signed(&e, sig); err != nil {
			return nil, err
		}
	}
	// And a covered event waiting since an earlier batch covers its
	// author's chain below it, which may arrive only now.
	if c.anyPending {
		for i := len(evs) - 1; i >= 0; i-- {
			if e := &evs[i]; fresh[e.ID] != nil && !c.covered[e.ID] {
				if err := c.byWaitingChild(e); err != nil {
					return nil, err
				}
			}
		}
	}
	// Earlier events the signatures completed.
	parked := map[event.ID]bool{} // the batch's events still waiting
	if err := g.release(c.released, b, res, parked); err != nil {
		return nil, err
	}
	var order []event.ID // the batch's events parked, in order
	sizes := map[event.ID]int{}
	for i := range evs {
		e := &evs[i]
		if fresh[e.ID] == nil {
			continue
		}
		parents, missing, err := g.parents(e, b)
		if err != nil {
			return nil, err
		}
		sig, signed := in.Signatures[e.ID]
		if len(missing) > 0 || !c.covered[e.ID] {
			var s *event.Signature
			if signed {
				s = &sig
			}
			size, err := g.park(e, missing, s, c.covered[e.ID], now)
			if err != nil {
				return nil, err
			}
			parked[e.ID] = true
			sizes[e.ID] = size
			order = append(order, e.ID)
			pending.Events++
			continue
		}
		if err := validate(e, parents); err != nil {
			return nil, err
		}
		var s *event.Signature
		if signed {
			s = &sig
		}
		if err := g.insert(e, parents, s, b); err != nil {
			return nil, err
		}
		res.Added = append(res.Added, *e)
		if pending.Events > 0 {
			if err := g.resolve(e.ID, res, b, parked); err != nil {
				return nil, err
			}
		}
	}
	if err := g.flush(b); err != nil { // first: refuse reads what joined (proves)
		return nil, err
	}
	if len(order) > 0 {
		if err := g.refuse(order, sizes, parked, limits, res); err != nil {
			return nil, err
		}
	}
	res.Pending = len(parked)
	return res, nil
}

// coverage finds what a batch's signatures cover.
type coverage struct {
	g          *Graph
	anyPending bool
	fresh      map[event.ID]*event.Event // the batch's new events
	covered    map[event.ID]bool         // of them, those covered
	released   []event.ID                // pending events that a signature now covers
}

// signed takes e's signature: verified, it covers e and the author's chain
// below it, down to what is stored.
func (c *coverage) signed(e *event.Event, sig event.Signature) error {
	stored, err := c.g.Has(e.ID)
	if err != nil || stored {
		return err // stored events were covered when they joined
	}
	if !sig.Verify(e.Peer, e.ID) {
		return e.Invalid(event.ErrSignature, "the signature does not verify with the author's key %s: the event or its signature was changed, or the author never signed it", e.Peer)
	}
	if c.fresh[e.ID] == nil { // waiting since an earlier batch, perhaps without it
		if err := c.g.c.Exec(`UPDATE _factlog_pending SET sig = ? WHERE id = ? AND sig IS NULL`, sig[:], e.ID[:]); err != nil {
			return fmt.Errorf("keep the signature of %s: %w", e.ID, err)
		}
	}
	return c.cover(e.ID, e.Peer)
}

// cover marks id, an event of peer's, and its chain below: the batch's
// events in memory, waiting ones in the pending set. It walks with a work
// list: a chain of a million events covers in constant stack.
func (c *coverage) cover(id event.ID, peer event.PeerID) error {
	work := []event.ID{id}
	for len(work) > 0 {
		id, work = work[len(work)-1], work[:len(work)-1]
		var parents []event.ID
		if e := c.fresh[id]; e != nil {
			if c.covered[id] {
				continue
			}
			c.covered[id] = true
			parents = e.Parents
		} else {
			if !c.anyPending {
				continue
			}
			w, ok, err := c.g.waiting(id)
			if err != nil {
				return err
			}
			e := w.Event
			if !ok || w.covered || e.Peer != peer {
				continue // stored, unknown, covered already, or another author's
			}
			if err := c.g.c.Exec(`UPDATE _factlog_pending SET covered = 1 WHERE id = ?`, id[:]); err != nil {
				return fmt.Errorf("cover %s: %w", id, err)
			}
			c.released = append(c.released, id)
			parents = e.Parents
		}
		for _, p := range parents {
			if e := c.fresh[p]; e != nil && e.Peer == peer {
				work = append(work, p)
			} else if e == nil && c.anyPending {
				work = append(work, p) // perhaps waiting; cover checks its author
			}
		}
	}
	return nil
}

// byWaitingChild covers e if a waiting event of its author's that a
// signature covers names it as a parent.
func (c *coverage) byWaitingChild(e *event.Event) error {
	var children []event.ID
	err := c.g.c.Query(`SELECT w.id FROM _factlog_pending_need w JOIN _factlog_pending p ON p.id = w.id WHERE w.need = ? AND p.covered`,
		[]any{e.ID[:]}, func(s *sqlite3.Stmt) error {
			children = append(children, idOf(s.ColumnRawBlob(0)))
			return nil
		})
	if err != nil {
		return fmt.Errorf("cover %s: %w", e.ID, err)
	}
	for _, id := range children {
		child, ok, err := c.g.waiting(id)
		if err != nil {
			return err
		}
		if ok && child.Peer == e.Peer {
			return c.cover(e.ID, e.Peer)
		}
	}
	return nil
}

// waitingEvent is a pending event as the pending set keeps it.
type waitingEvent struct {
	event.Event
	sig     *event.Signature // the author's signature that came with it, if any
	covered bool             // a verified signature covers it
}

// waiting returns a pending event; ok is false if id is not pending.
func (g *Graph) waiting(id event.ID) (w waitingEvent, ok bool, err error) {
	var enc, sig []byte
	err = g.c.Query(`SELECT enc, sig, covered FROM _factlog_pending WHERE id = ?`, []any{id[:]}, func(s *sqlite3.Stmt) error {
		enc, sig, w.covered, ok = s.ColumnBlob(0, nil), s.ColumnBlob(1, nil), s.ColumnBool(2), true
		return nil
	})
	if err != nil || !ok {
		return w, false, err
	}
	if w.Event, err = event.Decode(enc); err != nil {
		return w, false, fmt.Errorf("pending %s is unreadable: %w", id, err)
	}
	if len(sig) == len(event.Signature{}) {
		s := event.Signature(sig)
		w.sig = &s
	}
	return w, true, nil
}

// Stored returns which of evs are stored (joined), in one query.
func (g *Graph) Stored(evs []event.Event) (map[event.ID]bool, error) {
	if len(evs) == 0 {
		return map[event.ID]bool{}, nil
	}
	return g.heldOf(evs, false)
}

// heldOf returns which of evs are stored or pending, in one query each
// rather than one per event.
func (g *Graph) heldOf(evs []event.Event, anyPending bool) (map[event.ID]bool, error) {
	held := map[event.ID]bool{}
	read := func(s *sqlite3.Stmt) error {
		held[idOf(s.ColumnRawBlob(0))] = true
		return nil
	}
	// Only an event at or below its author's highest stored seq can be
	// stored (an author's seq is raised by every event stored, forks
	// included): a batch of new events needs no lookup.
	top := map[event.PeerID]uint64{}
	var maybe []event.Event
	for i := range evs {
		e := &evs[i]
		seq, ok := top[e.Peer]
		if !ok {
			err := g.c.Query(`SELECT seq FROM _factlog_author WHERE key = ?`, []any{e.Peer[:]}, func(s *sqlite3.Stmt) error {
				seq = uint64(s.ColumnInt64(0))
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("look up held events: %w", err)
			}
			top[e.Peer] = seq
		}
		if e.Seq <= seq {
			maybe = append(maybe, *e)
		}
	}
	if len(maybe) > 0 {
		if err := g.c.Query(`SELECT id FROM _factlog_event WHERE substr(id, 1, 4) IN (SELECT unhex(substr(value, 1, 8)) FROM json_each(?))`, []any{idList(maybe)}, read); err != nil {
			return nil, fmt.Errorf("look up held events: %w", err)
		}
		mine := make(map[event.ID]bool, len(maybe))
		for i := range maybe {
			mine[maybe[i].ID] = true
		}
		for id := range held { // a stored event that only shares a key prefix is not held
			if !mine[id] {
				delete(held, id)
			}
		}
	}
	if anyPending {
		if err := g.c.Query(`SELECT id FROM _factlog_pending WHERE id IN (SELECT unhex(value) FROM json_each(?))`, []any{idList(evs)}, read); err != nil {
			return nil, fmt.Errorf("look up held events: %w", err)
		}
	}
	return held, nil
}

// idList is the ids of evs as a JSON array of hex strings, for json_each.
func idList(evs []event.Event) string {
	var b strings.Builder
	b.Grow(len(evs) * (2*len(event.ID{}) + 3))
	b.WriteByte('[')
	for i := range evs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(evs[i].ID.String())
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String()
}

// park stores e in the pending set, waiting for missing parents, or for a
// signature if it is not covered, and returns the bytes it takes there.
func (g *Graph) park(e *event.Event, missing []event.ID, sig *event.Signature, covered bool, now time.Time) (int, error) {
	var s any
	if sig != nil {
		s = sig[:]
	}
	enc := e.Encode()
	err := g.c.Exec(`INSERT INTO _factlog_pending (id, enc, sig, covered, received) VALUES (?, ?, ?, ?, ?)`,
		e.ID[:], enc, s, covered, now.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("park event %s: %w", e.ID, err)
	}
	for _, m := range missing {
		if err := g.c.Exec(`INSERT INTO _factlog_pending_need (need, id) VALUES (?, ?)`, m[:], e.ID[:]); err != nil {
			return 0, fmt.Errorf("park event %s: %w", e.ID, err)
		}
	}
	return len(enc), nil
}

// release stores the waiting events of ids that nothing else holds back
// (their parents are stored), in replay order, and what they complete.
func (g *Graph) release(ids []event.ID, b *batch, res *Ingested, parked map[event.ID]bool) error {
	var ready []event.Event
	for _, id := range ids {
		if _, waits, err := g.c.Int64(`SELECT 1 FROM _factlog_pending_need WHERE id = ? LIMIT 1`, id[:]); err != nil || waits {
			if err != nil {
				return fmt.Errorf("release %s: %w", id, err)
			}
			continue
		}
		w, ok, err := g.waiting(id)
		if err != nil {
			return err
		}
		if ok {
			ready = append(ready, w.Event)
		}
	}
	slices.SortFunc(ready, event.ReplayOrder)
	for i := range ready {
		stored, err := g.join(ready[i].ID, res, b, parked)
		if err != nil {
			return err
		}
		if stored {
			if err := g.resolve(ready[i].ID, res, b, parked); err != nil {
				return err
			}
		}
	}
	return nil
}

// join stores a waiting event that nothing holds back anymore, unless it
// proves invalid: then it is dropped (or, if it came with this batch,
// fails the batch).
func (g *Graph) join(id event.ID, res *Ingested, b *batch, parked map[event.ID]bool) (stored bool, err error) {
	e, sig, err := g.unpark(id)
	if err != nil {
		return false, err
	}
	parents, missing, err := g.parents(&e, b)
	if err == nil && len(missing) > 0 {
		err = fmt.Errorf("unpark %s: parent %s is not stored", e.ID, missing[0])
	}
	if err != nil {
		return false, err
	}
	if err := validate(&e, parents); err != nil {
		if parked[e.ID] {
			return false, err // it came with this batch: the batch is bad
		}
		res.Dropped = append(res.Dropped, err)
		return false, nil
	}
	if err := g.insert(&e, parents, sig, b); err != nil {
		return false, err
	}
	res.Added = append(res.Added, e)
	delete(parked, e.ID)
	return true, nil
}

// resolve stores the pending events that were waiting only for id, if a
// signature covers them, and those waiting for them in turn. It uses a
// work list, not recursion: a chain of a million pending events resolves
// in constant stack.
func (g *Graph) resolve(id event.ID, res *Ingested, b *batch, parked map[event.ID]bool) error {
	work := []event.ID{id}
	for len(work) > 0 {
		id, work = work[len(work)-1], work[:len(work)-1]
		var waiting []event.ID
		err := g.c.Query(`SELECT id FROM _factlog_pending_need WHERE need = ?`, []any{id[:]}, func(s *sqlite3.Stmt) error {
			waiting = append(waiting, idOf(s.ColumnRawBlob(0)))
			return nil
		})
		if err != nil {
			return fmt.Errorf("resolve pending: %w", err)
		}
		if len(waiting) == 0 {
			continue
		}
		if err := g.c.Exec(`DELETE FROM _factlog_pending_need WHERE need = ?`, id[:]); err != nil {
			return fmt.Errorf("resolve pending: %w", err)
		}
		for _, w := range waiting {
			blocked, _, err := g.c.Int64(`SELECT EXISTS (SELECT 1 FROM _factlog_pending_need WHERE id = ?1) OR NOT covered FROM _factlog_pending WHERE id = ?1`, w[:])
			if err != nil {
				return fmt.Errorf("resolve pending: %w", err)
			}
			if blocked != 0 {
				continue // other parents are missing, or no signature covers it yet
			}
			stored, err := g.join(w, res, b, parked)
			if err != nil {
				return err
			}
			if stored {
				work = append(work, w)
			}
		}
	}
	return nil
}

// refuse holds the pending set to its limits once the batch is in: what
// the batch completed makes room for what it left waiting, and the
// batch's latest orphans that still do not fit are taken out again —
// never its good events, never events that waited before it.
func (g *Graph) refuse(order []event.ID, sizes map[event.ID]int, parked map[event.ID]bool, limits PendingLimits, res *Ingested) error {
	st, err := g.Pending()
	if err != nil {
		return err
	}
	for i := len(order) - 1; i >= 0 && (st.Events > limits.MaxEvents || st.Bytes > limits.MaxBytes); i-- {
		id := order[i]
		if !parked[id] {
			continue // completed by a later event of the batch
		}
		if proof, err := g.proves(id); err != nil || proof {
			if err != nil {
				return fmt.Errorf("refuse %s: %w", id, err)
			}
			continue
		}
		if err := g.unwait(id); err != nil {
			return fmt.Errorf("refuse %s: %w", id, err)
		}
		delete(parked, id)
		res.Refused++
		st.Events--
		st.Bytes -= sizes[id]
	}
	return nil
}

// unpark removes a pending event and returns it, with its signature if it
// came with one.
func (g *Graph) unpark(id event.ID) (event.Event, *event.Signature, error) {
	w, ok, err := g.waiting(id)
	if err == nil && !ok {
		err = fmt.Errorf("it is not pending")
	}
	if err == nil {
		err = g.c.Exec(`DELETE FROM _factlog_pending WHERE id = ?`, id[:])
	}
	if err != nil {
		return event.Event{}, nil, fmt.Errorf("unpark %s: %w", id, err)
	}
	return w.Event, w.sig, nil
}

// expire drops pending events received before cutoff, but for proofs.
func (g *Graph) expire(cutoff time.Time) error {
	var old []event.ID
	err := g.c.Query(`SELECT id FROM _factlog_pending WHERE received < ?`, []any{cutoff.UnixMilli()}, func(s *sqlite3.Stmt) error {
		old = append(old, idOf(s.ColumnRawBlob(0)))
		return nil
	})
	for _, id := range old {
		if err != nil {
			break
		}
		var proof bool
		if proof, err = g.proves(id); err == nil && !proof {
			err = g.unwait(id)
		}
	}
	if err != nil {
		return fmt.Errorf("expire pending: %w", err)
	}
	return nil
}

// unwait removes a pending event.
func (g *Graph) unwait(id event.ID) error {
	err := g.c.Exec(`DELETE FROM _factlog_pending WHERE id = ?`, id[:])
	if err == nil {
		err = g.c.Exec(`DELETE FROM _factlog_pending_need WHERE id = ?`, id[:])
	}
	return err
}

// proves reports whether a waiting event is the proof of a stored one: it
// came with its author's signature, which covered its parent in the
// author's chain, and that parent joined on it and keeps no signature of
// its own. A receiver can verify that parent only with this event, so it
// is neither refused nor expired, and exports carry it (Lacking) until
// it joins (its signature is then kept) — or, were it found invalid once
// its parents arrive, dropped: a fault of its author's, who signed it.
func (g *Graph) proves(id event.ID) (bool, error) {
	w, ok, err := g.waiting(id)
	if err != nil || !ok || w.sig == nil {
		return false, err
	}
	return g.unsignedParent(&w.Event)
}

// unsignedParent reports whether a parent of e's by e's author is stored
// without a signature.
func (g *Graph) unsignedParent(e *event.Event) (bool, error) {
	for _, p := range e.Parents {
		nd, ok, err := g.lookup(p)
		if err != nil {
			return false, err
		}
		if !ok || nd.peer != e.Peer {
			continue
		}
		_, signed, err := g.c.Int64(`SELECT 1 FROM _factlog_sig WHERE n = ?`, nd.n)
		if err != nil || !signed {
			return !signed, err
		}
	}
	return false, nil
}

// PendingStats describes the pending set.
type PendingStats struct {
	Events int
	Bytes  int
	// Unsigned counts the events no verified signature covers yet.
	Unsigned int
}

// Pending returns the size of the pending set.
func (g *Graph) Pending() (PendingStats, error) {
	var st PendingStats
	err := g.c.Query(`SELECT count(*), coalesce(sum(length(enc)), 0), count(*) FILTER (WHERE NOT covered) FROM _factlog_pending`, nil, func(s *sqlite3.Stmt) error {
		st.Events, st.Bytes, st.Unsigned = s.ColumnInt(0), s.ColumnInt(1), s.ColumnInt(2)
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
		ids = append(ids, idOf(s.ColumnRawBlob(0)))
		return nil
	})
	return ids, err
}
