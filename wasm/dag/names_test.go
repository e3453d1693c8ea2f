package dag

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/factlog/factlog/wasm/event"
)

// TestNamesAfterFailedRead: a transaction stores an event with new names
// by a new author, reads it back (so their rows are remembered), and
// fails; the next one stores other new names and another new author,
// which may take those rows. Every read after must name each event's own
// item, type and author.
func TestNamesAfterFailedRead(t *testing.T) {
	g := openGraph(t)
	ev := func(author event.PeerID, clock uint64, parents []event.ID, item, typ string) event.Event {
		e := event.Event{Peer: author, Seq: 1, Clock: clock, Parents: parents, Item: item, Type: typ, Value: []byte("null")}
		e.ID = e.Hash()
		return e
	}
	first := ev(key(1), 1, nil, "kept", "t")
	if _, err := g.Ingest(signed(first), time.Now(), PendingLimits{}); err != nil {
		t.Fatal(err)
	}
	rollback := errors.New("roll back")
	err := g.c.Tx(func() error {
		lost := ev(key(2), 2, []event.ID{first.ID}, "lost item", "lost type")
		if _, err := g.Ingest(signed(lost), time.Now(), PendingLimits{}); err != nil {
			return err
		}
		if err := g.Scan(0, func(*event.Event) error { return nil }); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("the transaction: %v", err)
	}
	taker := ev(key(3), 2, []event.ID{first.ID}, "taker item", "taker type")
	if _, err := g.Ingest(signed(taker), time.Now(), PendingLimits{}); err != nil {
		t.Fatal(err)
	}
	var got []string
	var peers []event.PeerID
	if err := g.Scan(0, func(e *event.Event) error {
		got, peers = append(got, e.Item+"/"+e.Type), append(peers, e.Peer)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "kept/t" || got[1] != "taker item/taker type" {
		t.Fatalf("the log reads %q", got)
	}
	if peers[0] != key(1) || peers[1] != key(3) {
		t.Fatalf("the log reads authors %s, %s; want %s, %s", peers[0], peers[1], key(1), key(3))
	}
}

// TestNamesOldAndNew: events name items and types already stored, by
// this Graph or by another on the same log (whose names it has not
// read), and new ones, in stores of few names (all of them read at the
// first add) and of more than a Graph reads at once. Each name is stored
// once, and every event reads back with its own.
func TestNamesOldAndNew(t *testing.T) {
	for _, stored := range []int{0, 3, maxNames/2 - 1, maxNames / 2, maxNames + 5} {
		g := openGraph(t)
		author := key(1)
		var last []event.ID
		seq := uint64(0)
		var want []string
		add := func(g *Graph, item, typ string) {
			t.Helper()
			seq++
			e := event.Event{Peer: author, Seq: seq, Clock: seq, Parents: last, Item: item, Type: typ, Value: []byte("null")}
			e.ID = e.Hash()
			if _, err := g.Ingest(signed(e), time.Now(), PendingLimits{}); err != nil {
				t.Fatal(err)
			}
			last = []event.ID{e.ID}
			want = append(want, item+"/"+typ)
		}
		for i := range stored {
			add(g, fmt.Sprint("item ", i), "create")
		}
		other := New(g.c)                  // the same log, its names not read yet
		add(other, "item 0", "create")     // stored (when stored > 0)
		add(other, "new item", "create")   // new, of a stored type
		add(other, "new item", "new type") // both just stored
		add(g, "new item", "another type") // stored by the other Graph
		add(g, fmt.Sprint("item ", stored/2), "create")
		var got []string
		if err := New(g.c).Scan(0, func(e *event.Event) error { got = append(got, e.Item+"/"+e.Type); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%d names stored: the log reads %q, want %q", stored, got[max(0, len(got)-6):], want[max(0, len(want)-6):])
		}
		distinct := map[string]bool{}
		for _, w := range want {
			item, typ, _ := strings.Cut(w, "/")
			distinct[item], distinct[typ] = true, true
		}
		n, _, err := g.c.Int64(`SELECT count(*) FROM _factlog_name`)
		if err != nil || n != int64(len(distinct)) {
			t.Fatalf("%d names stored: _factlog_name has %d rows (%v), want %d", stored, n, err, len(distinct))
		}
	}
}
