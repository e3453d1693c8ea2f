package dag

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/factlog/factlog/wasm/sync"
	"github.com/ncruces/go-sqlite3"
)

// Graph is the persisted DAG of one store.
type Graph struct {
	c     *db.Conn
	names names // rows of _factlog_name, both ways, kept across transactions
	// tops is what Next read or Append left: a store's appends in a row
	// choose their parents without reading the log (a tenth of an append
	// in a browser or Node). Any other write to the log forgets it, and a
	// failed transaction makes it stale (db.Conn.Failed). A Graph holds it
	// for the connection: no other Graph may write the same log.
	tops *tops
}

// tops are the events a new one of self's may follow: self's tips and
// the log's heads, each whole, and the rows Append needs.
type tops struct {
	at          uint64 // c.Failed() when they were true
	self        event.PeerID
	tips, heads []node
	a           int64  // self's row, if stored (a > 0)
	seq         uint64 // and its highest seq
	last        int64  // the log's last row
}

// New returns the Graph kept in c's tables (see Init).
func New(c *db.Conn) *Graph {
	return &Graph{c: c, names: names{c: c, row: map[string]int64{}, name: map[int64]string{}, peer: map[int64]event.PeerID{}}}
}

// node is what validation and bookkeeping need to know of a stored event.
type node struct {
	id    event.ID
	n     int64 // its row
	a     int64 // its author's row
	peer  event.PeerID
	seq   uint64
	clock uint64
	// unsigned: read with the signatures, it had none stored (Next). A
	// node read without them (unsigned false) may have one.
	unsigned bool
}

// lookup returns the stored event id, if any.
func (g *Graph) lookup(id event.ID) (nd node, ok bool, err error) {
	err = g.c.Query(`SELECT e.n, e.a, k.key, e.seq, e.clock FROM _factlog_event e JOIN _factlog_author k ON k.a = e.a WHERE substr(e.id, 1, 4) = ? AND e.id = ?`,
		[]any{id[:4], id[:]}, func(s *sqlite3.Stmt) error {
			nd.id, nd.n, nd.a, nd.seq, nd.clock, ok = id, s.ColumnInt64(0), s.ColumnInt64(1), uint64(s.ColumnInt64(3)), uint64(s.ColumnInt64(4)), true
			copy(nd.peer[:], s.ColumnRawBlob(2))
			return nil
		})
	if err != nil {
		return nd, false, fmt.Errorf("look up event %s: %w", id, err)
	}
	return nd, ok, nil
}

// parents looks up e's parents: those stored (in b, or before it), and
// those missing.
func (g *Graph) parents(e *event.Event, b *batch) (stored []node, missing []event.ID, err error) {
	for _, p := range e.Parents {
		nd, ok := b.nodes[p]
		if !ok {
			if nd, ok, err = g.lookup(p); err != nil {
				return nil, nil, err
			}
		}
		if ok {
			stored = append(stored, nd)
		} else {
			missing = append(missing, p)
		}
	}
	return stored, missing, nil
}

// Has reports whether the event is stored (pending events are not).
func (g *Graph) Has(id event.ID) (bool, error) {
	_, ok, err := g.lookup(id)
	return ok, err
}

// validate checks an event against its parents, all stored: its clock is
// 1 + their largest clock, its seq 1 + the largest seq among those by the
// same author (1 without such a parent).
func validate(e *event.Event, parents []node) error {
	var top, seq uint64
	for _, p := range parents {
		top = max(top, p.clock)
		if p.peer == e.Peer {
			seq = max(seq, p.seq)
		}
	}
	if e.Clock != top+1 {
		return e.Invalid(event.ErrClock, "clock is %d, but its parents' largest clock is %d, so it must be %d", e.Clock, top, top+1)
	}
	if e.Seq != seq+1 {
		return e.Invalid(event.ErrSeq, "seq is %d, but its parents by the same author reach seq %d, so it must be %d", e.Seq, seq, seq+1)
	}
	return nil
}

// batch keeps the bookkeeping of the events one call stores, and writes it
// once at the end: a batch of a thousand chained events updates the heads,
// the tips and the author's seq once, not a thousand times.
type batch struct {
	g       *Graph
	authors map[event.PeerID]int64
	nodes   map[event.ID]node // the events stored, for their children's lookups
	stored  map[int64]bool    // their rows
	heads   map[int64]bool    // stored events no stored event links yet
	linked  map[int64]bool    // events stored before that stored events link: heads no more
	tips    map[int64]int64   // stored events no stored event of their author's follows: n → a
	untip   map[int64]int64   // events stored before that an event of their author's follows
	unsign  map[int64]bool    // signatures no longer kept (neither a tip nor a checkpoint)
	signed  map[int64]bool    // the stored events stored with a signature
	seqs    map[int64]uint64  // the authors' highest seqs
	before  map[int64]uint64  // the authors' highest seqs stored before the batch
	taken   map[[2]int64]bool // the (author, seq) of the batch's events
	next    int64             // the row of the next event stored; 0 until known
	// rows are the log's rows not yet written, logColumns values each:
	// see writeRows. Their events are in nodes, where every lookup of
	// the batch's events looks first.
	rows []any
}

// newBatch starts a batch of about n events: the maps every event goes
// into are made that size, not grown (rehashing every key) as it fills.
func (g *Graph) newBatch(n int) *batch {
	return &batch{g: g, authors: map[event.PeerID]int64{}, nodes: make(map[event.ID]node, n), stored: make(map[int64]bool, n), heads: map[int64]bool{}, linked: map[int64]bool{},
		tips: map[int64]int64{}, untip: map[int64]int64{}, unsign: map[int64]bool{}, signed: map[int64]bool{}, seqs: map[int64]uint64{},
		before: map[int64]uint64{}, taken: make(map[[2]int64]bool, n)}
}

// author returns the row of peer, adding it if new.
func (b *batch) author(peer event.PeerID) (int64, error) {
	if a, ok := b.authors[peer]; ok {
		return a, nil
	}
	var a int64
	var known bool
	err := b.g.c.Query(`SELECT a, seq FROM _factlog_author WHERE key = ?`, []any{peer[:]}, func(s *sqlite3.Stmt) error {
		a, b.before[s.ColumnInt64(0)], known = s.ColumnInt64(0), uint64(s.ColumnInt64(1)), true
		return nil
	})
	if err == nil && !known {
		a, _, err = b.g.c.Int64(`INSERT INTO _factlog_author (key) VALUES (?) RETURNING a`, peer[:])
		b.before[a] = 0
	}
	if err != nil {
		return 0, fmt.Errorf("add author %s: %w", peer, err)
	}
	b.authors[peer] = a
	return a, nil
}

// insert stores a valid event whose parents are stored, with its author's
// signature if one came, and notes it in b; flush completes the
// bookkeeping.
func (g *Graph) insert(e *event.Event, parents []node, sig *event.Signature, b *batch) error {
	a, err := b.author(e.Peer)
	if err != nil {
		return err
	}
	if b.next == 0 {
		if b.next, _, err = g.c.Int64(`SELECT coalesce(max(n), 0) + 1 FROM _factlog_event`); err != nil {
			return fmt.Errorf("insert event %s: %w", e.ID, err)
		}
	}
	n := b.next
	b.next++
	var links any // as parentRows reads them: NULL without parents
	switch len(parents) {
	case 0:
	case 1:
		links = n - parents[0].n
	default:
		ds := make([]string, len(parents)) // relative: small numbers for recent parents
		for i, p := range parents {
			ds[i] = strconv.FormatInt(n-p.n, 10)
		}
		links = "[" + strings.Join(ds, ",") + "]"
	}
	item, err := g.names.add(e.Item)
	if err != nil {
		return err
	}
	typ, err := g.names.add(e.Type)
	if err != nil {
		return err
	}
	id := e.ID // the row outlives this call: its own copy
	b.rows = append(b.rows, n, id[:], a, e.Seq, e.Clock, e.Time, item, typ, string(e.Value), links)
	if len(b.rows) == rowsAtOnce*logColumns {
		if err := g.writeRows(b); err != nil {
			return err
		}
	}
	if sig != nil {
		if err := g.c.Exec(`INSERT INTO _factlog_sig (n, sig) VALUES (?, ?)`, n, sig[:]); err != nil {
			return fmt.Errorf("insert event %s: %w", e.ID, err)
		}
		b.signed[n] = true
	}
	for _, p := range parents {
		if b.stored[p.n] {
			delete(b.heads, p.n)
		} else {
			b.linked[p.n] = true
		}
		if p.a == a {
			if b.stored[p.n] {
				delete(b.tips, p.n)
			} else {
				b.untip[p.n] = a
			}
			// (Of the batch's own events, only those stored with one
			// have a signature to forget: most have none.)
			if p.seq%Checkpoint != 0 && !p.unsigned && (!b.stored[p.n] || b.signed[p.n]) {
				b.unsign[p.n] = true
			}
		}
	}
	// A fork: another event at this (author, seq), stored before the
	// batch (only possible up to the author's highest seq then) or in it.
	forked := b.taken[[2]int64{a, int64(e.Seq)}]
	if !forked && e.Seq <= b.before[a] {
		if err := g.writeRows(b); err != nil { // the count includes e
			return err
		}
		other, _, err := g.c.Int64(`SELECT count(*) FROM _factlog_event WHERE a = ? AND seq = ?`, a, e.Seq)
		if err != nil {
			return fmt.Errorf("insert event %s: %w", e.ID, err)
		}
		forked = other > 1
	}
	if forked {
		if err := g.c.Exec(`INSERT OR IGNORE INTO _factlog_fork (a, seq) VALUES (?, ?)`, a, e.Seq); err != nil {
			return fmt.Errorf("record fork of %s: %w", e.ID, err)
		}
	}
	b.taken[[2]int64{a, int64(e.Seq)}] = true
	b.nodes[e.ID] = node{id: e.ID, n: n, a: a, peer: e.Peer, seq: e.Seq, clock: e.Clock}
	b.stored[n] = true
	b.heads[n] = true
	b.tips[n] = a
	b.seqs[a] = max(b.seqs[a], e.Seq)
	return nil
}

// rowsAtOnce is how many of the log's rows one INSERT writes. A statement
// per row cost more than the row itself: in Node, an import of 100,000
// events ran 30–40% faster with 8 to 128 rows a statement (BENCHMARKS.md).
const rowsAtOnce = 64

// logColumns are the columns of a row of the log, as insert lists them.
const logColumns = 10

// writeRows writes b's rows to the log: rowsAtOnce at a time, and what
// is left in statements of 32, 16, … rows, so that each batch size has a
// few cached statements, not one per size.
func (g *Graph) writeRows(b *batch) error {
	for rows := b.rows; len(rows) > 0; {
		k := rowsAtOnce
		for k*logColumns > len(rows) {
			k /= 2
		}
		if err := g.c.Exec(insertRows[k], rows[:k*logColumns]...); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		rows = rows[k*logColumns:]
	}
	b.rows = b.rows[:0]
	return nil
}

// insertRows are the statements that insert k rows into the log, by k.
var insertRows = func() map[int]string {
	row := "(?" + strings.Repeat(", ?", logColumns-1) + ")"
	m := map[int]string{}
	for k := rowsAtOnce; k > 0; k /= 2 {
		m[k] = `INSERT INTO _factlog_event (n, id, a, seq, clock, time, item, type, value, parents) VALUES ` + row + strings.Repeat(", "+row, k-1)
	}
	return m
}()

// flush writes the rows, heads, tips, signatures kept and seqs of the
// events stored with b.
func (g *Graph) flush(b *batch) error {
	if err := g.writeRows(b); err != nil {
		return err
	}
	// A head that is one no more and a new one take one UPDATE, not a
	// DELETE and an INSERT (an append most often replaces one head with
	// its event): a statement costs more than the rows it changes. The
	// same for an author's tip and its new one.
	heads := slices.Collect(maps.Keys(b.heads))
	for n := range b.linked {
		var err error
		if len(heads) > 0 {
			head := heads[len(heads)-1]
			if err = g.c.Exec(`UPDATE _factlog_head SET n = ? WHERE n = ?`, head, n); err == nil && g.c.Raw().Changes() > 0 {
				heads = heads[:len(heads)-1]
			} // else n was no head: nothing to delete
		} else {
			err = g.c.Exec(`DELETE FROM _factlog_head WHERE n = ?`, n)
		}
		if err != nil {
			return fmt.Errorf("update heads: %w", err)
		}
	}
	for _, n := range heads {
		if err := g.c.Exec(`INSERT INTO _factlog_head (n) VALUES (?)`, n); err != nil {
			return fmt.Errorf("update heads: %w", err)
		}
	}
	tips := map[int64][]int64{} // by author
	for n, a := range b.tips {
		tips[a] = append(tips[a], n)
	}
	for n, a := range b.untip {
		var err error
		if ts := tips[a]; len(ts) > 0 {
			if err = g.c.Exec(`UPDATE _factlog_tip SET n = ? WHERE a = ? AND n = ?`, ts[len(ts)-1], a, n); err == nil && g.c.Raw().Changes() > 0 {
				tips[a] = ts[:len(ts)-1]
			}
		} else {
			err = g.c.Exec(`DELETE FROM _factlog_tip WHERE a = ? AND n = ?`, a, n)
		}
		if err != nil {
			return fmt.Errorf("update tips: %w", err)
		}
	}
	for a, ts := range tips {
		for _, n := range ts {
			if err := g.c.Exec(`INSERT INTO _factlog_tip (a, n) VALUES (?, ?)`, a, n); err != nil {
				return fmt.Errorf("update tips: %w", err)
			}
		}
	}
	for n := range b.unsign {
		if err := g.c.Exec(`DELETE FROM _factlog_sig WHERE n = ?`, n); err != nil {
			return fmt.Errorf("forget signatures: %w", err)
		}
	}
	for a, seq := range b.seqs {
		if err := g.c.Exec(`UPDATE _factlog_author SET seq = max(seq, ?) WHERE a = ?`, seq, a); err != nil {
			return fmt.Errorf("record seq: %w", err)
		}
	}
	return nil
}

// Heads returns the ids of the DAG's leaves, sorted.
func (g *Graph) Heads() ([]event.ID, error) {
	var ids []event.ID
	err := g.c.Query(`SELECT e.id FROM _factlog_head h CROSS JOIN _factlog_event e ON e.n = h.n ORDER BY e.id`, nil, func(s *sqlite3.Stmt) error {
		ids = append(ids, idOf(s.ColumnRawBlob(0)))
		return nil
	})
	return ids, err
}

// VersionVector returns the tips of every author's chains.
func (g *Graph) VersionVector() (sync.VersionVector, error) {
	vv := sync.VersionVector{}
	err := g.c.Query(`SELECT k.key, e.seq, e.id FROM _factlog_tip t CROSS JOIN _factlog_event e ON e.n = t.n JOIN _factlog_author k ON k.a = t.a ORDER BY k.key, e.seq, e.id`,
		nil, func(s *sqlite3.Stmt) error {
			vv.Add(peerOf(s.ColumnRawBlob(0)), sync.Tip{Seq: uint64(s.ColumnInt64(1)), ID: idOf(s.ColumnRawBlob(2))})
			return nil
		})
	if err != nil {
		return nil, err
	}
	if err := g.partings(vv); err != nil {
		return nil, fmt.Errorf("version vector: %w", err)
	}
	return vv, nil
}

// partings adds to vv, for each author with a waiting event that forked
// from the chain held here (its seq's predecessor is held, but not as its
// parent), the events held at seqs 1, 2, 4, 8 … below it: tips say only
// where this store's chains end, and the replica that sent that event
// cannot tell from them where its branch parted from this store's. It
// holds the highest of these below the parting, and sends its branch
// from there (Lacking), at most twice as much as was missing.
func (g *Graph) partings(vv sync.VersionVector) error {
	below := map[event.PeerID]uint64{} // author → lowest seq of a forked waiting event
	err := g.c.Query(`SELECT p.enc FROM _factlog_pending p WHERE EXISTS (SELECT 1 FROM _factlog_pending_need n WHERE n.id = p.id)`, nil, func(s *sqlite3.Stmt) error {
		e, err := event.Decode(s.ColumnRawBlob(0))
		if err != nil {
			return nil // refused when it is read to join
		}
		if cur, ok := below[e.Peer]; e.Seq > 1 && (!ok || e.Seq < cur) {
			forked, err := g.parted(e)
			if err != nil || !forked {
				return err
			}
			below[e.Peer] = e.Seq
		}
		return nil
	})
	if err != nil {
		return err
	}
	for peer, seq := range below {
		for step := uint64(1); step < seq; step *= 2 {
			err := g.c.Query(`SELECT e.seq, e.id FROM _factlog_event e JOIN _factlog_author k ON k.a = e.a WHERE k.key = ? AND e.seq = ?`,
				[]any{peer[:], seq - step}, func(s *sqlite3.Stmt) error {
					vv.Add(peer, sync.Tip{Seq: uint64(s.ColumnInt64(0)), ID: idOf(s.ColumnRawBlob(1))})
					return nil
				})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// parted reports whether e's author has events held here at e's previous
// seq, none of which is e's parent: e's branch parted from theirs.
func (g *Graph) parted(e event.Event) (bool, error) {
	held, parent := false, false
	err := g.c.Query(`SELECT e.id FROM _factlog_event e JOIN _factlog_author k ON k.a = e.a WHERE k.key = ? AND e.seq = ?`,
		[]any{e.Peer[:], e.Seq - 1}, func(s *sqlite3.Stmt) error {
			held = true
			parent = parent || slices.Contains(e.Parents, idOf(s.ColumnRawBlob(0)))
			return nil
		})
	return held && !parent, err
}

// Fork is an author's seq held by more than one event: a copied store, a
// restored backup or a faulty peer appended twice as one author. Its
// events are concurrent events, kept and ordered like any others.
type Fork struct {
	Peer event.PeerID `json:"peer"`
	Seq  uint64       `json:"seq"`
	IDs  []event.ID   `json:"ids"`
}

// Forks returns the forks among the stored events, by author and seq.
func (g *Graph) Forks() ([]Fork, error) {
	var forks []Fork
	err := g.c.Query(`SELECT k.key, f.seq, e.id FROM _factlog_fork f JOIN _factlog_author k ON k.a = f.a
		JOIN _factlog_event e ON e.a = f.a AND e.seq = f.seq ORDER BY k.key, f.seq, e.id`, nil, func(s *sqlite3.Stmt) error {
		peer, seq := peerOf(s.ColumnRawBlob(0)), uint64(s.ColumnInt64(1))
		if len(forks) == 0 || forks[len(forks)-1].Peer != peer || forks[len(forks)-1].Seq != seq {
			forks = append(forks, Fork{Peer: peer, Seq: seq})
		}
		f := &forks[len(forks)-1]
		f.IDs = append(f.IDs, idOf(s.ColumnRawBlob(2)))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read forks: %w", err)
	}
	return forks, nil
}

// Last returns the position of the last event in replay order, which is
// where the state is: every stored event is applied.
func (g *Graph) Last() (pos event.Position, ok bool, err error) {
	err = g.c.Query(`SELECT clock, id FROM _factlog_event WHERE clock = (SELECT max(clock) FROM _factlog_event) ORDER BY id DESC LIMIT 1`, nil, func(s *sqlite3.Stmt) error {
		ok = true
		pos.Clock, pos.ID = uint64(s.ColumnInt64(0)), idOf(s.ColumnRawBlob(1))
		return nil
	})
	return pos, ok, err
}

// ClockBack returns the clock of the n-th last event in replay order; ok is
// false if the log holds fewer than n events.
func (g *Graph) ClockBack(n int) (clock uint64, ok bool, err error) {
	if n <= 0 {
		return 0, false, nil
	}
	v, ok, err := g.c.Int64(`SELECT clock FROM _factlog_event ORDER BY clock DESC LIMIT 1 OFFSET ?`, n-1)
	return uint64(v), ok, err
}

// CountFrom returns the number of stored events with a clock >= clock.
func (g *Graph) CountFrom(clock uint64) (int, error) {
	n, _, err := g.c.Int64(`SELECT count(*) FROM _factlog_event WHERE clock >= ?`, clock)
	return int(n), err
}

// Len returns the number of stored events.
func (g *Graph) Len() (int, error) {
	n, _, err := g.c.Int64(`SELECT count(*) FROM _factlog_event`)
	return int(n), err
}

// Next is what a local append by self follows: its own chain tips (all
// of them, so that an append after a fork merges it) and the heads, the
// highest first, at most event.MaxParents in all; the clock and the seq
// that follow them.
type Next struct {
	Parents    []event.ID
	Clock, Seq uint64
	// What Append needs to know of them, read already: a stored event's
	// row never changes.
	tops  *tops
	nodes []node // the parents'
}

// Next returns what a local append by self follows. It reads self's tips,
// the heads and the log's last row in one statement, or takes them from
// the last append (Graph.tops): an append's statements, not its rows,
// are what it costs.
func (g *Graph) Next(self event.PeerID) (Next, error) {
	t := g.tops
	if t == nil || t.at != g.c.Failed() || t.self != self {
		var err error
		if t, err = g.readTops(self); err != nil {
			return Next{}, err
		}
		g.tops = t
	}
	next := Next{tops: t}
	highest := func(a, b node) int { return -cmp.Or(cmp.Compare(a.clock, b.clock), a.id.Compare(b.id)) }
	tips, heads := slices.SortedFunc(slices.Values(t.tips), highest), slices.SortedFunc(slices.Values(t.heads), highest)
	var clock, seq uint64
	for _, nd := range slices.Concat(tips, heads) {
		if len(next.nodes) < event.MaxParents && !slices.ContainsFunc(next.nodes, func(p node) bool { return p.id == nd.id }) {
			next.nodes = append(next.nodes, nd)
			clock = max(clock, nd.clock)
			if nd.peer == self {
				seq = max(seq, nd.seq)
			}
		}
	}
	for _, nd := range next.nodes {
		next.Parents = append(next.Parents, nd.id)
	}
	slices.SortFunc(next.Parents, event.ID.Compare)
	next.Clock, next.Seq = clock+1, seq+1
	return next, nil
}

// readTops reads self's tips and the log's heads.
func (g *Graph) readTops(self event.PeerID) (*tops, error) {
	t := &tops{at: g.c.Failed(), self: self}
	err := g.c.Query(`
		SELECT 0, e.id, e.clock, e.seq, e.n, e.a, k.key, k.seq, s.n IS NULL FROM _factlog_author k JOIN _factlog_tip t ON t.a = k.a
			CROSS JOIN _factlog_event e ON e.n = t.n LEFT JOIN _factlog_sig s ON s.n = e.n WHERE k.key = ?
		UNION ALL -- CROSS JOIN keeps the (few) heads as the outer loop; without statistics SQLite would rather walk the whole log
		SELECT 1, e.id, e.clock, e.seq, e.n, e.a, k.key, k.seq, s.n IS NULL FROM _factlog_head h
			CROSS JOIN _factlog_event e ON e.n = h.n JOIN _factlog_author k ON k.a = e.a LEFT JOIN _factlog_sig s ON s.n = e.n
		UNION ALL
		SELECT 2, NULL, 0, 0, max(n), 0, NULL, 0, 0 FROM _factlog_event`, []any{self[:]}, func(s *sqlite3.Stmt) error {
		nd := node{id: idOf(s.ColumnRawBlob(1)), clock: uint64(s.ColumnInt64(2)), seq: uint64(s.ColumnInt64(3)), n: s.ColumnInt64(4), a: s.ColumnInt64(5),
			peer: peerOf(s.ColumnRawBlob(6)), unsigned: s.ColumnBool(8)}
		switch s.ColumnInt64(0) {
		case 0:
			t.tips = append(t.tips, nd)
			t.a, t.seq = nd.a, uint64(s.ColumnInt64(7))
		case 1:
			t.heads = append(t.heads, nd)
		default:
			t.last = nd.n
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("choose parents: %w", err)
	}
	return t, nil
}

// Append stores local events built from next, which Next returned in
// this transaction: the first is a child of next's parents, each other a
// child of the one before. Their parents are stored and their clocks and
// seqs follow them by construction. They need no signature here: the
// store signs its own events when it exports them.
func (g *Graph) Append(self event.PeerID, next Next, evs []event.Event) error {
	b := g.newBatch(len(evs))
	b.next = next.tops.last + 1
	for _, nd := range next.nodes {
		b.nodes[nd.id] = nd
	}
	if t := next.tops; t.a > 0 {
		b.authors[self], b.before[t.a] = t.a, t.seq
	}
	for i := range evs {
		parents, missing, err := g.parents(&evs[i], b)
		if err == nil && len(missing) > 0 {
			err = fmt.Errorf("append %s: parent %s is not stored", evs[i].ID, missing[0])
		}
		if err == nil {
			err = g.insert(&evs[i], parents, nil, b)
		}
		if err != nil {
			g.tops = nil
			return err
		}
	}
	if err := g.flush(b); err != nil {
		g.tops = nil
		return err
	}
	if len(evs) > 0 {
		// The last event is a head and self's tip, in place of its first
		// one's parents; it has no signature stored (unsigned).
		e := evs[len(evs)-1]
		nd := b.nodes[e.ID]
		nd.unsigned = true
		others := func(ns []node) []node {
			return append(slices.DeleteFunc(slices.Clone(ns), func(x node) bool {
				return slices.ContainsFunc(next.nodes, func(p node) bool { return p.id == x.id })
			}), nd)
		}
		t := next.tops
		g.tops = &tops{at: g.c.Failed(), self: self, tips: others(t.tips), heads: others(t.heads), a: nd.a, seq: max(t.seq, nd.seq), last: b.next - 1}
	}
	return nil
}

// idOf and peerOf read ids from blobs, which factlog wrote at 32 bytes.
func idOf(b []byte) (id event.ID) {
	copy(id[:], b)
	return id
}

func peerOf(b []byte) (p event.PeerID) {
	copy(p[:], b)
	return p
}
