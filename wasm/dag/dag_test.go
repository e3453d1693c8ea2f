package dag

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/db"
)

func openGraph(t *testing.T) *Graph {
	t.Helper()
	c, err := db.Open(context.Background(), ":memory:", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := Init(c); err != nil {
		t.Fatal(err)
	}
	return New(c)
}

func id(s string) event.ID { return sha256.Sum256([]byte(s)) }

// TestCycleWaitsForever forces a cycle past the hash check (the ids are
// chosen, not computed, which Ingest trusts its caller to have checked):
// events that wait for each other, or for themselves, stay pending; none
// is applied and nothing loops.
func TestCycleWaitsForever(t *testing.T) {
	g := openGraph(t)
	evs := []event.Event{
		{ID: id("a"), Peer: event.PeerID{1}, Seq: 1, Parents: []event.ID{id("b")}, Clock: 2, Type: "t", Value: []byte("null")},
		{ID: id("b"), Peer: event.PeerID{2}, Seq: 1, Parents: []event.ID{id("a")}, Clock: 2, Type: "t", Value: []byte("null")},
		{ID: id("c"), Peer: event.PeerID{3}, Seq: 1, Parents: []event.ID{id("c")}, Clock: 2, Type: "t", Value: []byte("null")},
	}
	res, err := g.Ingest(evs, time.Now(), PendingLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Added) != 0 || res.Pending != 3 {
		t.Fatalf("added %d, pending %d; want 0 and 3", len(res.Added), res.Pending)
	}
	missing, err := g.Missing()
	if err != nil || len(missing) != 0 {
		t.Fatalf("missing %v (%v): the events wait only for each other", missing, err)
	}
	if n, _ := g.Len(); n != 0 {
		t.Fatalf("%d events stored", n)
	}
}

// TestNextLinksOwnPreviousAndHighestHeads: with more heads than an event
// may link, an append links its author's previous event and the highest
// heads, and its clock follows them.
func TestNextLinksOwnPreviousAndHighestHeads(t *testing.T) {
	g := openGraph(t)
	self := event.PeerID{0xaa}
	own := event.Event{Peer: self, Seq: 1, Clock: 1, Type: "t", Value: []byte("null")}
	own.ID = own.Hash()
	evs := []event.Event{own}
	for i := range event.MaxParents + 10 {
		e := event.Event{Peer: event.PeerID{byte(i)}, Seq: 1, Clock: 1, Type: "t", Value: fmt.Append(nil, i)}
		e.ID = e.Hash()
		evs = append(evs, e)
	}
	if _, err := g.Ingest(evs, time.Now(), PendingLimits{}); err != nil {
		t.Fatal(err)
	}
	parents, clock, seq, err := g.Next(self)
	if err != nil {
		t.Fatal(err)
	}
	if len(parents) != event.MaxParents || clock != 2 || seq != 2 {
		t.Fatalf("%d parents, clock %d, seq %d; want %d, 2, 2", len(parents), clock, seq, event.MaxParents)
	}
	found := false
	for _, p := range parents {
		found = found || p == own.ID
	}
	if !found {
		t.Fatal("the author's previous event is not among the parents")
	}
	// The next event is valid, and the heads not linked stay heads.
	e := event.Event{Peer: self, Seq: seq, Clock: clock, Parents: parents, Type: "t", Value: []byte("null")}
	e.ID = e.Hash()
	if _, err := g.Ingest([]event.Event{e}, time.Now(), PendingLimits{}); err != nil {
		t.Fatal(err)
	}
	heads, _ := g.Heads()
	if want := len(evs) - event.MaxParents + 1; len(heads) != want {
		t.Fatalf("%d heads, want %d", len(heads), want)
	}
}
