package dag

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/sync"
)

// TestBatchSizes: the log's rows are written several to a statement, so
// batches of any size — one row, around a statement's worth, several
// statements and a remainder — must store each event as it came (every
// field and parent), with the heads, the chains' tips and the forks of
// the history. Two batches in a row: the second's rows follow the
// first's.
func TestBatchSizes(t *testing.T) {
	for _, n := range []int{1, 2, rowsAtOnce - 1, rowsAtOnce, rowsAtOnce + 1, 3*rowsAtOnce + rowsAtOnce/2 + 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			g := openGraph(t)
			h := history(2 * n)
			for _, part := range [][]event.Event{h[:n], h[n:]} {
				res, err := g.Ingest(signed(part...), time.Now(), PendingLimits{})
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Added) != len(part) || res.Pending != 0 {
					t.Fatalf("added %d, pending %d; want %d and 0", len(res.Added), res.Pending, len(part))
				}
			}
			got, err := g.Events(nil)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(h)
			slices.SortFunc(want, event.ReplayOrder)
			if len(got) != len(want) {
				t.Fatalf("%d events stored, want %d", len(got), len(want))
			}
			for i := range want {
				if g, w := fmt.Sprintf("%+v", got[i]), fmt.Sprintf("%+v", want[i]); g != w {
					t.Fatalf("event %d stored as\n%s\nwant\n%s", i, g, w)
				}
			}
			heads, tips, forks := shape(h)
			if n > rowsAtOnce && len(forks) == 0 {
				t.Fatal("the history has no fork")
			}
			if got, err := g.Heads(); err != nil || !slices.Equal(got, heads) {
				t.Fatalf("heads %v (%v), want %v", got, err, heads)
			}
			vv, err := g.VersionVector()
			if err != nil || !vv.Equal(tips) {
				t.Fatalf("version vector %v (%v), want %v", vv, err, tips)
			}
			fs, err := g.Forks()
			if err != nil {
				t.Fatal(err)
			}
			var seqs []uint64
			for _, f := range fs {
				seqs = append(seqs, f.Seq)
			}
			if !slices.Equal(seqs, forks) {
				t.Fatalf("forks at seqs %v, want %v", seqs, forks)
			}
		})
	}
}

// history returns m events, the first k of which are history(k): three
// authors take turns; each links its own latest event, every fourth event
// also the next author's latest, and every third event of the third
// author links its own event before the latest instead, forking its chain.
func history(m int) []event.Event {
	authors := []event.PeerID{key(1), key(2), key(3)}
	latest := map[event.PeerID][]*event.Event{} // each author's events, in order
	evs := make([]event.Event, 0, m)
	byID := map[event.ID]*event.Event{}
	for i := range m {
		peer := authors[i%3]
		var parents []event.ID
		if own := latest[peer]; len(own) > 0 {
			p := own[len(own)-1]
			if i%9 == 8 && len(own) > 1 {
				p = own[len(own)-2]
			}
			parents = append(parents, p.ID)
		}
		if next := latest[authors[(i+1)%3]]; i%4 == 0 && len(next) > 0 {
			parents = append(parents, next[len(next)-1].ID)
		}
		slices.SortFunc(parents, event.ID.Compare)
		var clock, seq uint64
		for _, p := range parents {
			clock = max(clock, byID[p].Clock)
			if byID[p].Peer == peer {
				seq = max(seq, byID[p].Seq)
			}
		}
		evs = append(evs, event.Event{
			ID: id(fmt.Sprint("history ", i)), Peer: peer, Seq: seq + 1, Parents: parents, Clock: clock + 1, Time: int64(1000 + i),
			Item: fmt.Sprint("item ", i%7), Type: fmt.Sprint("type ", i%3), Value: fmt.Appendf(nil, `{"i":%d,"s":"%c"}`, i, 'a'+i%26),
		})
		e := &evs[len(evs)-1]
		byID[e.ID] = e
		latest[peer] = append(latest[peer], e)
	}
	return evs
}

// shape returns what a history's DAG should show: its heads (sorted), the
// tips of its authors' chains, and the seqs at which an author forked.
func shape(evs []event.Event) (heads []event.ID, tips sync.VersionVector, forks []uint64) {
	linked, own := map[event.ID]bool{}, map[event.ID]bool{}
	peer := map[event.ID]event.PeerID{}
	for _, e := range evs {
		peer[e.ID] = e.Peer
	}
	bySeq := map[[2]any]int{}
	for _, e := range evs {
		for _, p := range e.Parents {
			linked[p] = true
			if peer[p] == e.Peer {
				own[p] = true
			}
		}
		if bySeq[[2]any{e.Peer, e.Seq}]++; bySeq[[2]any{e.Peer, e.Seq}] == 2 {
			forks = append(forks, e.Seq)
		}
	}
	tips = sync.VersionVector{}
	for _, e := range evs {
		if !linked[e.ID] {
			heads = append(heads, e.ID)
		}
		if !own[e.ID] {
			tips.Add(e.Peer, sync.Tip{Seq: e.Seq, ID: e.ID})
		}
	}
	slices.SortFunc(heads, event.ID.Compare)
	slices.Sort(forks)
	return heads, tips, forks
}

// TestScanOrder: Scan reads pages by clock and sorts them itself, so it is
// tried on clocks that hold one event, a page's worth less one, more than
// a page, exactly a page, two pages: from every clock on, it must give
// each event with a clock >= from once, in replay order.
func TestScanOrder(t *testing.T) {
	sizes := []int{1, scanPage - 1, 1, scanPage + scanPage/2, scanPage, 2, 2 * scanPage, 3}
	peer := key(1)
	var evs []event.Event
	var prev *event.Event // the first event of the clock before
	for k, size := range sizes {
		first := len(evs)
		for j := range size {
			e := event.Event{ID: id(fmt.Sprint("scan ", k, " ", j)), Peer: peer, Seq: uint64(k + 1), Clock: uint64(k + 1), Type: "t", Value: []byte("null")}
			if prev != nil {
				e.Parents = []event.ID{prev.ID}
			}
			evs = append(evs, e)
		}
		prev = &evs[first]
	}
	// Each clock's events are stored in two batches, the larger ids first,
	// so that the order of storing is not replay order.
	g := openGraph(t)
	slices.SortFunc(evs, event.ReplayOrder)
	for k := range sizes {
		i := slices.IndexFunc(evs, func(e event.Event) bool { return e.Clock == uint64(k+1) })
		clock := evs[i : i+sizes[k]]
		for _, part := range [][]event.Event{clock[len(clock)/2:], clock[:len(clock)/2]} {
			if _, err := g.Ingest(signed(part...), time.Now(), PendingLimits{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for from := uint64(0); from <= uint64(len(sizes)+1); from++ {
		var got []event.Position
		err := g.Scan(from, func(e *event.Event) error {
			if got = append(got, e.Pos()); len(got) > len(evs) {
				return fmt.Errorf("more events than stored")
			}
			return nil
		})
		if err != nil {
			t.Fatalf("from %d: %v", from, err)
		}
		var want []event.Position
		for _, e := range evs {
			if e.Clock >= from {
				want = append(want, e.Pos())
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("from clock %d: %d events, want %d, or not in replay order", from, len(got), len(want))
		}
	}
}

// TestSignaturesForgotten: an author's signature is kept only on its
// chain's tips and checkpoints. A local append as an author whose tip
// came signed (a store restored from a backup gets its own events back)
// forgets the tip's signature, which Next read; an append after one that
// had none changes no signature.
func TestSignaturesForgotten(t *testing.T) {
	g := openGraph(t)
	peer := key(1)
	var chain []event.Event
	for i := range 5 {
		e := event.Event{ID: id(fmt.Sprint("signed ", i)), Peer: peer, Seq: uint64(i + 1), Clock: uint64(i + 1), Type: "t", Value: []byte("null")}
		if i > 0 {
			e.Parents = []event.ID{chain[i-1].ID}
		}
		chain = append(chain, e)
	}
	if _, err := g.Ingest(signed(chain...), time.Now(), PendingLimits{}); err != nil {
		t.Fatal(err)
	}
	kept := func() []event.ID {
		t.Helper()
		_, sigs, err := g.Lacking(sync.VersionVector{})
		if err != nil {
			t.Fatal(err)
		}
		return slices.SortedFunc(maps.Keys(sigs), event.ID.Compare)
	}
	if got := kept(); !slices.Equal(got, []event.ID{chain[4].ID}) {
		t.Fatalf("signatures kept over %v, want only the tip's, %s", got, chain[4].ID)
	}
	for i := range 2 {
		next, err := g.Next(peer)
		if err != nil {
			t.Fatal(err)
		}
		e := event.Event{Peer: peer, Parents: next.Parents, Clock: next.Clock, Seq: next.Seq, Item: fmt.Sprint(i), Type: "t", Value: []byte("null")}
		e.ID = e.Hash()
		if err := g.Append(peer, next, []event.Event{e}); err != nil {
			t.Fatal(err)
		}
		if got := kept(); len(got) != 0 {
			t.Fatalf("after local append %d, signatures kept over %v, want none: the tip's was over an event that is a tip no more", i+1, got)
		}
	}
}

// TestHeldCounted: an event already held — stored, at any seq of its
// author's, or waiting — is a duplicate and is not stored again; an event
// beside a stored one at the same seq (a fork) is not, and joins.
func TestHeldCounted(t *testing.T) {
	g := openGraph(t)
	h := history(300)
	orphan := event.Event{ID: id("orphan"), Peer: key(4), Seq: 2, Parents: []event.ID{id("nowhere")}, Clock: 9, Type: "t", Value: []byte("1")}
	fork := h[30] // an author's event well below its highest seq
	fork.ID, fork.Value = id("fork"), []byte(`"another"`)
	for _, step := range []struct {
		name                      string
		evs                       []event.Event
		added, duplicates, parked int // parked: by this batch
	}{
		{"first part", h[:200], 200, 0, 0},
		{"all, the first part again", h, 100, 200, 0},
		{"all again", h, 0, 300, 0},
		{"a waiting event", []event.Event{orphan}, 0, 0, 1},
		{"it again, and a fork", []event.Event{orphan, fork}, 1, 1, 0},
		{"the fork again, and the history", append([]event.Event{fork}, h...), 0, 301, 0},
	} {
		res, err := g.Ingest(signed(step.evs...), time.Now(), PendingLimits{})
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if len(res.Added) != step.added || res.Duplicates != step.duplicates || res.Pending != step.parked {
			t.Fatalf("%s: added %d, duplicates %d, pending %d; want %d, %d, %d", step.name, len(res.Added), res.Duplicates, res.Pending, step.added, step.duplicates, step.parked)
		}
	}
	if n, _, err := g.c.Int64(`SELECT count(*) FROM _factlog_event`); err != nil || n != 301 {
		t.Fatalf("%d events stored (%v), want 301", n, err)
	}
}
