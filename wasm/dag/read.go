package dag

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/factlog/factlog/wasm/sync"
	"github.com/ncruces/go-sqlite3"
)

// eventColumns are the columns names.scan reads, from _factlog_event e.
const eventColumns = `e.id, e.a, e.seq, e.clock, e.time, e.item, e.type, e.value`

const eventFrom = ` FROM _factlog_event e `

// byItem selects an item's events, by its name.
const byItem = `e.item = (SELECT x FROM _factlog_name WHERE name = ?)`

// names remembers the rows of _factlog_name both ways, and the authors'
// keys by row, across calls and transactions: a read of many events
// meets few names and authors, where a join would search _factlog_name
// twice and _factlog_author once for every event, and a merge's rewinds
// read an item's events item by item. A stored name or author keeps its
// row; only a failed transaction removes some (those it added, whose
// rows may then go to others), so everything is forgotten whenever one
// has failed since (db.Conn.Failed). Materializers, which run in
// savepoints that can roll back, cannot write _factlog_name or
// _factlog_author (replay's purity check).
type names struct {
	c      *db.Conn
	at     uint64 // c.Failed() when the maps were last known good
	row    map[string]int64
	name   map[int64]string
	peer   map[int64]event.PeerID // authors' keys by row
	loaded bool                   // the table was read into the maps since they were cleared
	all    bool                   // and the load read all of it: a name not in row is new
}

// maxNames bounds the names a Graph remembers: an application's item ids
// may be as many as its events.
const maxNames = 4096

func (ns *names) fresh() {
	if ns.at != ns.c.Failed() || len(ns.row) >= maxNames || len(ns.name) >= maxNames || len(ns.peer) >= maxNames {
		clear(ns.row)
		clear(ns.name)
		clear(ns.peer)
		ns.at = ns.c.Failed()
		ns.loaded, ns.all = false, false
	}
}

// add returns the row of an item id or type, adding it if new.
func (ns *names) add(name string) (int64, error) {
	ns.fresh()
	if x, ok := ns.row[name]; ok {
		return x, nil
	}
	if !ns.loaded {
		if err := ns.load(); err != nil {
			return 0, err
		}
		if x, ok := ns.row[name]; ok {
			return x, nil
		}
	}
	// A new item costs one statement, not a search and then an insert,
	// where every stored name is known; the search still follows if the
	// name was there after all.
	var x int64
	var ok bool
	var err error
	if ns.all {
		x, ok, err = ns.c.Int64(`INSERT INTO _factlog_name (name) VALUES (?) ON CONFLICT (name) DO NOTHING RETURNING x`, name)
	}
	if err == nil && !ok {
		x, ok, err = ns.c.Int64(`SELECT x FROM _factlog_name WHERE name = ?`, name)
	}
	if err == nil && !ok {
		x, _, err = ns.c.Int64(`INSERT INTO _factlog_name (name) VALUES (?) RETURNING x`, name)
	}
	if err != nil {
		return 0, fmt.Errorf("add name %q: %w", name, err)
	}
	ns.row[name], ns.name[x] = x, name
	return x, nil
}

// load reads the stored names, up to half of what the maps keep, so that
// an application's new items and types are told new without a search.
func (ns *names) load() error {
	ns.loaded = true
	n := 0
	err := ns.c.Query(`SELECT x, name FROM _factlog_name LIMIT ?`, []any{maxNames / 2}, func(s *sqlite3.Stmt) error {
		x, name := s.ColumnInt64(0), s.ColumnText(1)
		ns.row[name], ns.name[x] = x, name
		n++
		return nil
	})
	if err != nil {
		return fmt.Errorf("read names: %w", err)
	}
	ns.all = n < maxNames/2
	return nil
}

// of returns the name of a row.
func (ns *names) of(x int64) (string, error) {
	ns.fresh()
	if name, ok := ns.name[x]; ok {
		return name, nil
	}
	name, ok, err := ns.c.Text(`SELECT name FROM _factlog_name WHERE x = ?`, x)
	if err == nil && !ok {
		err = fmt.Errorf("name %d is not stored", x)
	}
	if err != nil {
		return "", fmt.Errorf("read a name: %w", err)
	}
	ns.row[name], ns.name[x] = x, name
	return name, nil
}

// author returns the key of an author's row.
func (ns *names) author(a int64) (event.PeerID, error) {
	ns.fresh()
	if p, ok := ns.peer[a]; ok {
		return p, nil
	}
	key, ok, err := ns.c.Text(`SELECT key FROM _factlog_author WHERE a = ?`, a)
	if err == nil && !ok {
		err = fmt.Errorf("author %d is not stored", a)
	}
	if err != nil {
		return event.PeerID{}, fmt.Errorf("read an author: %w", err)
	}
	p := peerOf([]byte(key))
	ns.peer[a] = p
	return p, nil
}

// scan reads the eventColumns of a row; Parents are left empty.
func (ns *names) scan(s *sqlite3.Stmt) (event.Event, error) {
	item, err := ns.of(s.ColumnInt64(5))
	if err != nil {
		return event.Event{}, err
	}
	typ, err := ns.of(s.ColumnInt64(6))
	if err != nil {
		return event.Event{}, err
	}
	peer, err := ns.author(s.ColumnInt64(1))
	if err != nil {
		return event.Event{}, err
	}
	return event.Event{
		ID: idOf(s.ColumnRawBlob(0)), Peer: peer,
		Seq: uint64(s.ColumnInt64(2)), Clock: uint64(s.ColumnInt64(3)), Time: s.ColumnInt64(4),
		Item: item, Type: typ, Value: append([]byte{}, s.ColumnRawText(7)...),
	}, nil
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
//
// The pages follow the clock index and are sorted by id here: SQLite
// would sort every clock's events in a temporary B-tree, each row copied
// in and out, though most clocks hold one event. A page ends before its
// last clock, whose events the next page reads whole; a clock with more
// events than a page is read in pages of its own, sorted by SQLite.
func (g *Graph) Scan(from uint64, fn func(*event.Event) error) error {
	page := make([]event.Event, 0, scanPage)
	ns := &g.names
	read := func(s *sqlite3.Stmt) error {
		e, err := ns.scan(s)
		page = append(page, e)
		return err
	}
	each := func() error {
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		page = page[:0]
		if err := g.c.Query(`SELECT `+eventColumns+eventFrom+`WHERE e.clock >= ? ORDER BY e.clock LIMIT ?`, []any{from, scanPage}, read); err != nil {
			return fmt.Errorf("scan events: %w", err)
		}
		full := len(page) == scanPage
		if full {
			last := page[len(page)-1].Clock
			if page[0].Clock == last { // one clock fills the page: its own pages, sorted by SQLite
				for after := []byte{}; len(page) == scanPage; {
					page = page[:0]
					if err := g.c.Query(`SELECT `+eventColumns+eventFrom+`WHERE e.clock = ? AND e.id > ? ORDER BY e.id LIMIT ?`, []any{last, after, scanPage}, read); err != nil {
						return fmt.Errorf("scan events: %w", err)
					}
					if err := each(); err != nil {
						return err
					}
					if len(page) > 0 {
						id := page[len(page)-1].ID
						after = id[:]
					}
				}
				from = last + 1
				continue
			}
			page = page[:slices.IndexFunc(page, func(e event.Event) bool { return e.Clock == last })]
			from = last
		}
		slices.SortFunc(page, event.ReplayOrder)
		if err := each(); err != nil || !full {
			return err
		}
	}
}

// ItemEvents returns the stored events about the items, each from its
// clock on, up to last, in replay order, without their parents — unless
// there are more than limit: then ok is false. It reads the events of
// those items, or, if they hold more than limit events in all, the events
// from the smallest of those clocks on.
func (g *Graph) ItemEvents(items map[string]uint64, last event.Position, limit int) (evs []event.Event, ok bool, err error) {
	from, about := last.Clock+1, 0
	for item, clock := range items {
		from = min(from, clock)
		if about <= limit {
			n, _, err := g.c.Int64(`SELECT count(*) FROM _factlog_event e WHERE `+byItem, item)
			if err != nil {
				return nil, false, fmt.Errorf("count the events of item %q: %w", item, err)
			}
			about += int(n)
		}
	}
	ns := &g.names
	read := func(s *sqlite3.Stmt) error {
		e, err := ns.scan(s)
		if err != nil {
			return err
		}
		if clock, ok := items[e.Item]; !ok || e.Clock < clock {
			return nil
		}
		if e.Pos().Compare(last) <= 0 {
			if len(evs) == limit {
				return errLimit
			}
			evs = append(evs, e)
		}
		return nil
	}
	if about <= limit {
		for item, clock := range items { // by the item's index (+ keeps SQLite off the clock's)
			err = g.c.Query(`SELECT `+eventColumns+eventFrom+`WHERE `+byItem+` AND +e.clock BETWEEN ? AND ?`, []any{item, clock, last.Clock}, read)
			if err != nil {
				break
			}
		}
	} else {
		// Many items: the events from the smallest clock on are counted
		// first, from two integers each, and read whole only if there are
		// few enough. A merge of branches that edit most items gives up
		// here, and reading every event to learn that cost it a tenth.
		n := 0
		err = g.c.Query(`SELECT e.item, e.clock FROM _factlog_event e WHERE e.clock BETWEEN ? AND ? AND (e.clock < ? OR e.id <= ?)`,
			[]any{from, last.Clock, last.Clock, last.ID[:]}, func(s *sqlite3.Stmt) error {
				item, err := ns.of(s.ColumnInt64(0))
				if err != nil {
					return err
				}
				if clock, ok := items[item]; ok && uint64(s.ColumnInt64(1)) >= clock {
					if n++; n > limit {
						return errLimit
					}
				}
				return nil
			})
		if err == nil {
			err = g.c.Query(`SELECT `+eventColumns+eventFrom+`WHERE e.clock BETWEEN ? AND ?`, []any{from, last.Clock}, read)
		}
	}
	if errors.Is(err, errLimit) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read the events of %d items: %w", len(items), err)
	}
	slices.SortFunc(evs, event.ReplayOrder)
	return evs, true, nil
}

// errLimit stops ItemEvents' reading.
var errLimit = errors.New("more events than the limit")

// TypesFrom returns the types of the stored events with a clock >= from,
// each once.
func (g *Graph) TypesFrom(from uint64) ([]string, error) {
	var types []string
	err := g.c.Query(`SELECT name FROM _factlog_name WHERE x IN (SELECT type FROM _factlog_event WHERE clock >= ?)`, []any{from}, func(s *sqlite3.Stmt) error {
		types = append(types, s.ColumnText(0))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read event types: %w", err)
	}
	return types, nil
}

// linksColumns are an event's parents (as stored: see parentRows) and its
// n, read after eventColumns.
const linksColumns = `, e.parents, e.n`

// links is what linksColumns read of an event: withParents turns them into
// its parents' ids.
type links struct {
	n       int64
	parents string
}

func scanLinks(s *sqlite3.Stmt) links {
	return links{n: s.ColumnInt64(9), parents: s.ColumnText(8)}
}

// parentRows returns the rows of the parents of event n from its links as
// stored: n minus each parent's n, as an integer for a single parent (an
// event's only parent is most often the event stored before it, and 1
// takes no byte in a SQLite record) or a JSON array for several; NULL
// (read as "") for none.
func parentRows(n int64, links string) ([]int64, error) {
	list := strings.Trim(links, "[] ")
	if list == "" {
		return nil, nil
	}
	var ns []int64
	for d := range strings.SplitSeq(list, ",") {
		delta, err := strconv.ParseInt(strings.TrimSpace(d), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("links %q of event %d: %w", links, n, err)
		}
		ns = append(ns, n-delta)
	}
	return ns, nil
}

// withParents fills in the Parents of evs from their links: from the ids
// of evs themselves, and, for parents that are not among them, read by n.
// (A join per parent in SQL costs most of an export: a JSON parse, a
// lookup and a hex encoding for every link.)
func (g *Graph) withParents(evs []event.Event, ls []links) error {
	ids := make(map[int64]event.ID, len(evs))
	for i := range evs {
		ids[ls[i].n] = evs[i].ID
	}
	for i := range evs {
		ns, err := parentRows(ls[i].n, ls[i].parents)
		if err != nil {
			return fmt.Errorf("read parents of %s: %w", evs[i].ID, err)
		}
		for _, n := range ns {
			id, ok := ids[n]
			if !ok {
				err := g.c.Query(`SELECT id FROM _factlog_event WHERE n = ?`, []any{n}, func(s *sqlite3.Stmt) error {
					id, ok = idOf(s.ColumnRawBlob(0)), true
					return nil
				})
				if err == nil && !ok {
					err = fmt.Errorf("event %d is not stored", n)
				}
				if err != nil {
					return fmt.Errorf("read parents of %s: %w", evs[i].ID, err)
				}
				ids[n] = id
			}
			evs[i].Parents = append(evs[i].Parents, id)
		}
		slices.SortFunc(evs[i].Parents, event.ID.Compare)
	}
	return nil
}

// Events returns the stored events about item (all of them if item is
// nil), in replay order, with their parents. (Sorted here, like Scan's
// pages, rather than by SQLite.)
func (g *Graph) Events(item *string) ([]event.Event, error) {
	q, args := `SELECT `+eventColumns+linksColumns+eventFrom, []any(nil)
	if item != nil {
		q, args = `SELECT `+eventColumns+linksColumns+eventFrom+`WHERE `+byItem, []any{*item}
	}
	var evs []event.Event
	var ls []links
	ns := &g.names
	err := g.c.Query(q, args, func(s *sqlite3.Stmt) error {
		e, err := ns.scan(s)
		evs, ls = append(evs, e), append(ls, scanLinks(s))
		return err
	})
	if err == nil {
		err = g.withParents(evs, ls)
	}
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	slices.SortFunc(evs, event.ReplayOrder)
	return evs, nil
}

// Lacking returns the stored events a replica holding vv lacks, in replay
// order, with their parents, and the signatures kept over them: what it
// needs to catch up. The work grows with what is missing, not with the
// log, for every author whose events did not fork; a forked author's
// events are compared by id.
func (g *Graph) Lacking(vv sync.VersionVector) ([]event.Event, map[event.ID]event.Signature, error) {
	type author struct {
		a    int64
		peer event.PeerID
		seq  uint64
	}
	var authors []author
	err := g.c.Query(`SELECT a, key, seq FROM _factlog_author`, nil, func(s *sqlite3.Stmt) error {
		authors = append(authors, author{s.ColumnInt64(0), peerOf(s.ColumnRawBlob(1)), uint64(s.ColumnInt64(2))})
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read authors: %w", err)
	}
	var evs []event.Event
	var ls []links
	sigs := map[event.ID]event.Signature{}
	ns := &g.names
	for _, au := range authors {
		floor, exact, err := g.heldBy(au.a, au.seq, vv[au.peer])
		if err != nil {
			return nil, nil, err
		}
		if floor >= au.seq && exact == nil {
			continue
		}
		err = g.c.Query(`SELECT `+eventColumns+linksColumns+`, s.sig`+eventFrom+`LEFT JOIN _factlog_sig s ON s.n = e.n WHERE e.a = ? AND e.seq > ?`,
			[]any{au.a, floor}, func(s *sqlite3.Stmt) error {
				l := scanLinks(s)
				if exact != nil && exact[l.n] {
					return nil
				}
				e, err := ns.scan(s)
				if err != nil {
					return err
				}
				if sig := s.ColumnRawBlob(10); len(sig) == len(event.Signature{}) {
					sigs[e.ID] = event.Signature(sig)
				}
				evs, ls = append(evs, e), append(ls, l)
				return nil
			})
		if err != nil {
			return nil, nil, fmt.Errorf("read events lacking: %w", err)
		}
	}
	if err := g.withParents(evs, ls); err != nil {
		return nil, nil, fmt.Errorf("read events lacking: %w", err)
	}
	if evs, err = g.withProofs(evs, sigs); err != nil {
		return nil, nil, fmt.Errorf("read events lacking: %w", err)
	}
	slices.SortFunc(evs, event.ReplayOrder)
	return evs, sigs, nil
}

// withProofs adds to evs, with their signatures, the waiting events that
// are the proofs of events in evs (proves): without them, no receiver
// could verify those.
func (g *Graph) withProofs(evs []event.Event, sigs map[event.ID]event.Signature) ([]event.Event, error) {
	var signed []event.ID
	err := g.c.Query(`SELECT id FROM _factlog_pending WHERE sig IS NOT NULL`, nil, func(s *sqlite3.Stmt) error {
		signed = append(signed, idOf(s.ColumnRawBlob(0)))
		return nil
	})
	if err != nil || len(signed) == 0 {
		return evs, err
	}
	sent := make(map[event.ID]bool, len(evs))
	for i := range evs {
		sent[evs[i].ID] = true
	}
	for _, id := range signed {
		w, ok, err := g.waiting(id)
		if err != nil {
			return nil, err
		}
		if !ok || w.sig == nil || !slices.ContainsFunc(w.Parents, func(p event.ID) bool { return sent[p] }) {
			continue
		}
		if proof, err := g.unsignedParent(&w.Event); err != nil || !proof {
			if err != nil {
				return nil, err
			}
			continue
		}
		evs, sigs[w.ID] = append(evs, w.Event), *w.sig
	}
	return evs, nil
}

// heldBy says which of author a's events (its highest seq top) a replica
// whose tips of a's are tips holds: those with a seq up to floor, and,
// when exact is not nil, those rows too.
//
// An author whose events here form one chain (no fork) is held up to the
// seq of the replica's highest tip this store knows. When a tip of the
// replica's is unknown here and above top (the replica is ahead) and it
// names no other, whether it holds this store's top cannot be told: its
// branch may have parted from this one below. So the top is sent, a
// probe: a duplicate there if not, and else a fork that replica sees,
// whose next vector then names where its branch runs (VersionVector).
// Where it names a tip known here too, what is above that goes. A forked author, or one the
// replica holds a fork of (a tip this store lacks at a seq it holds), is
// compared event by event: the replica holds the chains below the tips
// this store knows.
func (g *Graph) heldBy(a int64, top uint64, tips []sync.Tip) (floor uint64, exact map[int64]bool, err error) {
	if len(tips) == 0 {
		return 0, nil, nil
	}
	var known []node
	var plain uint64
	forkThere, ahead := false, false
	for _, t := range tips {
		if t.ID == (event.ID{}) { // a seq alone
			plain = max(plain, t.Seq)
			continue
		}
		nd, ok, err := g.lookup(t.ID)
		if err != nil {
			return 0, nil, err
		}
		switch {
		case ok && nd.a == a:
			known = append(known, nd)
		case t.Seq <= top:
			forkThere = true
		default:
			ahead = true
		}
	}
	forkHere, err := g.forked(a)
	if err != nil {
		return 0, nil, err
	}
	if !forkHere && !forkThere {
		floor = plain
		for _, nd := range known {
			floor = max(floor, nd.seq)
		}
		if ahead && floor == 0 {
			floor = top - 1
		}
		return floor, nil, nil
	}
	// Compare by id: the replica holds the chains below the known tips.
	chains, err := g.chains(a)
	if err != nil {
		return 0, nil, err
	}
	exact = map[int64]bool{}
	for _, nd := range known {
		for n := range chains.below(nd.n) {
			exact[n] = true
		}
	}
	return plain, exact, nil
}

// Reduce returns vv with only the tips this store holds, and without
// those below another tip of the same author's chains: what a relay room
// is known to hold, grown by merges, stays as small as the forks it
// names. (A tip not held here says nothing this store could send; kept,
// one forged far ahead of an author's chain would say the room holds
// that author's events this store has not sent.)
func (g *Graph) Reduce(vv sync.VersionVector) (sync.VersionVector, error) {
	out := sync.VersionVector{}
	for peer, tips := range vv {
		var known []node
		for _, t := range tips {
			nd, ok, err := g.lookup(t.ID)
			if err != nil {
				return nil, err
			}
			if ok && nd.peer == peer {
				known = append(known, nd)
			}
		}
		kept, err := g.maximal(known)
		if err != nil {
			return nil, err
		}
		for _, nd := range kept {
			out.Add(peer, sync.Tip{Seq: nd.seq, ID: nd.id})
		}
	}
	return out, nil
}

// maximal returns those of nodes, events of one author's, that are below
// none of the others in the author's chains.
func (g *Graph) maximal(nodes []node) ([]node, error) {
	if len(nodes) < 2 {
		return nodes, nil
	}
	a := nodes[0].a
	forked, err := g.forked(a)
	if err != nil {
		return nil, err
	}
	if !forked { // one chain: the highest holds the others
		top := nodes[0]
		for _, nd := range nodes {
			if nd.seq > top.seq {
				top = nd
			}
		}
		return []node{top}, nil
	}
	chains, err := g.chains(a)
	if err != nil {
		return nil, err
	}
	below := map[int64]bool{}
	for _, nd := range nodes {
		for n := range chains.below(nd.n) {
			if n != nd.n {
				below[n] = true
			}
		}
	}
	var kept []node
	for _, nd := range nodes {
		if !below[nd.n] && !slices.ContainsFunc(kept, func(k node) bool { return k.n == nd.n }) {
			kept = append(kept, nd)
		}
	}
	return kept, nil
}

// forked reports whether author a's events here fork.
func (g *Graph) forked(a int64) (bool, error) {
	v, _, err := g.c.Int64(`SELECT EXISTS (SELECT 1 FROM _factlog_fork WHERE a = ?) OR (SELECT count(*) FROM _factlog_tip WHERE a = ?) > 1`, a, a)
	if err != nil {
		return false, fmt.Errorf("read forks: %w", err)
	}
	return v != 0, nil
}

// chains maps each event of an author's to its parents by the author.
type chains map[int64][]int64

// chains reads author a's chains.
func (g *Graph) chains(a int64) (chains, error) {
	all := chains{}
	err := g.c.Query(`SELECT n, parents FROM _factlog_event WHERE a = ?`, []any{a}, func(s *sqlite3.Stmt) error {
		n := s.ColumnInt64(0)
		ps, err := parentRows(n, s.ColumnText(1))
		all[n] = ps
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the chains of an author: %w", err)
	}
	for n, ps := range all {
		all[n] = slices.DeleteFunc(ps, func(p int64) bool { _, mine := all[p]; return !mine })
	}
	return all, nil
}

// below returns n and the events below it in the chains, walking with a
// work list.
func (c chains) below(n int64) map[int64]bool {
	seen := map[int64]bool{}
	work := []int64{n}
	for len(work) > 0 {
		n, work = work[len(work)-1], work[:len(work)-1]
		if !seen[n] {
			seen[n] = true
			work = append(work, c[n]...)
		}
	}
	return seen
}
