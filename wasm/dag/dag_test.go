package dag

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/factlog/factlog/wasm/sync"
	"pgregory.net/rapid"
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

// keys are test authors' keys, by peer id.
var keys = map[event.PeerID]event.Key{}

func key(i byte) event.PeerID {
	k, err := event.KeyFromSeed(bytes.Repeat([]byte{i}, 32))
	if err != nil {
		panic(err)
	}
	keys[k.Peer()] = k
	return k.Peer()
}

// signed is a batch of evs, each signed by its author.
func signed(evs ...event.Event) *sync.Batch {
	b := &sync.Batch{Events: evs, Signatures: map[event.ID]event.Signature{}}
	for _, e := range evs {
		b.Signatures[e.ID] = keys[e.Peer].Sign(e.ID)
	}
	return b
}

// TestCycleWaitsForever forces a cycle past the hash check (the ids are
// chosen, not computed, which Ingest trusts its caller to have checked):
// events that wait for each other, or for themselves, stay pending; none
// is applied and nothing loops.
func TestCycleWaitsForever(t *testing.T) {
	g := openGraph(t)
	evs := []event.Event{
		{ID: id("a"), Peer: key(1), Seq: 1, Parents: []event.ID{id("b")}, Clock: 2, Type: "t", Value: []byte("null")},
		{ID: id("b"), Peer: key(2), Seq: 1, Parents: []event.ID{id("a")}, Clock: 2, Type: "t", Value: []byte("null")},
		{ID: id("c"), Peer: key(3), Seq: 1, Parents: []event.ID{id("c")}, Clock: 2, Type: "t", Value: []byte("null")},
	}
	res, err := g.Ingest(signed(evs...), time.Now(), PendingLimits{})
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
	self := key(0xaa)
	own := event.Event{Peer: self, Seq: 1, Clock: 1, Type: "t", Value: []byte("null")}
	own.ID = own.Hash()
	evs := []event.Event{own}
	for i := range event.MaxParents + 10 {
		e := event.Event{Peer: key(byte(i)), Seq: 1, Clock: 1, Type: "t", Value: fmt.Append(nil, i)}
		e.ID = e.Hash()
		evs = append(evs, e)
	}
	if _, err := g.Ingest(signed(evs...), time.Now(), PendingLimits{}); err != nil {
		t.Fatal(err)
	}
	next, err := g.Next(self)
	if err != nil {
		t.Fatal(err)
	}
	parents, clock, seq := next.Parents, next.Clock, next.Seq
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
	if _, err := g.Ingest(signed(e), time.Now(), PendingLimits{}); err != nil {
		t.Fatal(err)
	}
	heads, _ := g.Heads()
	if want := len(evs) - event.MaxParents + 1; len(heads) != want {
		t.Fatalf("%d heads, want %d", len(heads), want)
	}
}

// TestScanPagesThroughTies: Scan reads in pages; a page boundary inside a
// run of events of one clock (concurrent events) loses and repeats none.
func TestScanPagesThroughTies(t *testing.T) {
	g := openGraph(t)
	var evs []event.Event
	for i := range 2*scanPage + 500 {
		e := event.Event{Peer: key(byte(i % 7)), Seq: uint64(i/7 + 1), Clock: 1, Type: "t", Value: fmt.Append(nil, i)}
		if i >= 7 { // chains of 7 authors, in 3 runs of equal clocks
			prev := evs[i-7]
			e.Parents, e.Clock = []event.ID{prev.ID}, prev.Clock+1
		}
		e.ID = e.Hash()
		evs = append(evs, e)
	}
	if _, err := g.Ingest(signed(evs...), time.Now(), PendingLimits{}); err != nil {
		t.Fatal(err)
	}
	var got []event.Event
	if err := g.Scan(0, func(e *event.Event) error { got = append(got, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(evs) {
		t.Fatalf("Scan read %d events, want %d", len(got), len(evs))
	}
	for i := 1; i < len(got); i++ {
		if event.Compare(&got[i-1], &got[i]) >= 0 {
			t.Fatalf("Scan out of replay order at %d", i)
		}
	}
}

// TestItemEventsLimit: ItemEvents returns exactly the events about the
// items from each one's clock up to last, in replay order, or ok false
// when they are more than limit — whether it reads item by item or, for
// items with many events in all, the whole range. The authors' chains
// tie on clocks, so that last cuts through events of its own clock.
func TestItemEventsLimit(t *testing.T) {
	g := openGraph(t)
	var evs []event.Event
	for i := range 300 {
		e := event.Event{Peer: key(byte(i % 5)), Seq: uint64(i/5 + 1), Clock: 1, Item: fmt.Sprintf("i%d", i%13), Type: "t", Value: fmt.Append(nil, i)}
		if i >= 5 {
			prev := evs[i-5]
			e.Parents, e.Clock = []event.ID{prev.ID}, prev.Clock+1
		}
		e.ID = e.Hash()
		evs = append(evs, e)
	}
	if _, err := g.Ingest(signed(evs...), time.Now(), PendingLimits{}); err != nil {
		t.Fatal(err)
	}
	var all []event.Event // in replay order
	if err := g.Scan(0, func(e *event.Event) error { all = append(all, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	rapid.Check(t, func(t *rapid.T) {
		items := map[string]uint64{}
		for range rapid.IntRange(1, 13).Draw(t, "items") {
			items[fmt.Sprintf("i%d", rapid.IntRange(0, 13).Draw(t, "item"))] = rapid.Uint64Range(1, 61).Draw(t, "clock") // i13 has no events
		}
		last := all[rapid.IntRange(0, len(all)-1).Draw(t, "last")].Pos()
		var want []event.Event
		for _, e := range all {
			if clock, ok := items[e.Item]; ok && e.Clock >= clock && e.Pos().Compare(last) <= 0 {
				want = append(want, e)
			}
		}
		limit := max(0, len(want)+rapid.IntRange(-2, 2).Draw(t, "slack"))
		if rapid.Bool().Draw(t, "small") {
			limit = rapid.IntRange(0, 30).Draw(t, "limit")
		}
		got, ok, err := g.ItemEvents(items, last, limit)
		if err != nil {
			t.Fatal(err)
		}
		if ok != (len(want) <= limit) {
			t.Fatalf("ok %v with %d events and limit %d", ok, len(want), limit)
		}
		if !ok {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("%d events, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i].ID != want[i].ID || got[i].Item != want[i].Item || string(got[i].Value) != string(want[i].Value) {
				t.Fatalf("event %d: %s, want %s", i, got[i].ID, want[i].ID)
			}
		}
	})
}
