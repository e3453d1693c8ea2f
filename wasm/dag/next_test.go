package dag

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/factlog/factlog/wasm/event"
	"pgregory.net/rapid"
)

// TestNextRemembered: the parents a Graph chooses for an append without
// reading the log (what it remembers from its last append) are the ones a
// Graph that reads the log chooses, after any history: appends of one or
// more events, imports of other authors' events at any place in the DAG
// (more heads than an event may have parents), of this author's own
// events made by a copy of its store, and transactions that fail after
// their append or import.
func TestNextRemembered(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		g := openGraph(t)
		self := key(1)
		var stored []event.Event
		seqs := map[event.PeerID]uint64{}
		fail := errors.New("roll back")
		check := func(what string) {
			got, err := g.Next(self)
			if err != nil {
				rt.Fatal(err)
			}
			want, err := New(g.c).Next(self) // reads the log
			if err != nil {
				rt.Fatal(err)
			}
			same := func(a, b []node) bool {
				return slices.EqualFunc(a, b, func(x, y node) bool { return x == y })
			}
			sameSet := func(a, b []node) bool {
				byID := func(x, y node) int { return x.id.Compare(y.id) }
				return same(slices.SortedFunc(slices.Values(a), byID), slices.SortedFunc(slices.Values(b), byID))
			}
			gt, wt := got.tops, want.tops
			if !slices.Equal(got.Parents, want.Parents) || got.Clock != want.Clock || got.Seq != want.Seq || !same(got.nodes, want.nodes) ||
				!sameSet(gt.tips, wt.tips) || !sameSet(gt.heads, wt.heads) || gt.a != wt.a || gt.seq != wt.seq || gt.last != wt.last {
				rt.Fatalf("after %s: remembered %+v %+v, the log says %+v %+v", what, got, *gt, want, *wt)
			}
		}
		if rapid.Bool().Draw(rt, "crowd") { // more heads than an event may have parents
			var crowd []event.Event
			for i := range event.MaxParents + 6 {
				e := event.Event{Peer: key(byte(10 + i)), Seq: 1, Clock: 1, Type: "t", Value: []byte("null")}
				e.ID = e.Hash()
				crowd = append(crowd, e)
			}
			if _, err := g.Ingest(signed(crowd...), time.Now(), PendingLimits{}); err != nil {
				rt.Fatal(err)
			}
			stored = append(stored, crowd...)
		}
		for range rapid.IntRange(1, 40).Draw(rt, "steps") {
			rolls := rapid.IntRange(0, 5).Draw(rt, "rolls") == 0
			// tx runs fn in a transaction that fails after it if rolls;
			// it reports whether it committed.
			tx := func(fn func() error) bool {
				err := g.c.Tx(func() error {
					if err := fn(); err != nil {
						return err
					}
					if rolls {
						return fail
					}
					return nil
				})
				if err != nil && !errors.Is(err, fail) {
					rt.Fatal(err)
				}
				return err == nil
			}
			switch op := rapid.IntRange(0, 2).Draw(rt, "op"); op {
			case 0: // append, as a store does
				n := rapid.IntRange(1, 3).Draw(rt, "events")
				var evs []event.Event
				committed := tx(func() error {
					next, err := g.Next(self)
					if err != nil {
						return err
					}
					for j := range n {
						e := event.Event{Peer: self, Type: "t", Value: []byte("null"), Parents: next.Parents, Clock: next.Clock, Seq: next.Seq}
						if j > 0 {
							prev := evs[j-1]
							e.Parents, e.Clock, e.Seq = []event.ID{prev.ID}, prev.Clock+1, prev.Seq+1
						}
						e.ID = e.Hash()
						evs = append(evs, e)
					}
					return g.Append(self, next, evs)
				})
				if committed {
					stored = append(stored, evs...)
					seqs[self] = evs[len(evs)-1].Seq
				}
				check("an append")
			default: // an import: another author's event, or this author's from a copy of its store
				author := self
				if op == 1 {
					author = key(byte(rapid.IntRange(2, 4).Draw(rt, "author")))
				}
				e := event.Event{Peer: author, Seq: seqs[author] + 1, Type: "t", Value: []byte("null")}
				if len(stored) > 0 {
					for range rapid.IntRange(0, 3).Draw(rt, "parents") {
						p := stored[rapid.IntRange(0, len(stored)-1).Draw(rt, "parent")]
						if !slices.Contains(e.Parents, p.ID) {
							e.Parents = append(e.Parents, p.ID)
							e.Clock = max(e.Clock, p.Clock)
						}
					}
				}
				if seqs[author] > 0 { // a chain: the author's last event is a parent
					last := slices.IndexFunc(stored, func(x event.Event) bool { return x.Peer == author && x.Seq == seqs[author] })
					if !slices.Contains(e.Parents, stored[last].ID) {
						e.Parents = append(e.Parents, stored[last].ID)
						e.Clock = max(e.Clock, stored[last].Clock)
					}
				}
				slices.SortFunc(e.Parents, event.ID.Compare)
				e.Clock++
				e.ID = e.Hash()
				committed := tx(func() error {
					_, err := g.Ingest(signed(e), time.Now(), PendingLimits{})
					return err
				})
				if committed {
					stored = append(stored, e)
					seqs[author] = e.Seq
				}
				check("an import")
			}
		}
	})
}
