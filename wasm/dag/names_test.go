package dag

import (
	"errors"
	"testing"
	"time"

	"github.com/factlog/factlog/wasm/event"
)

// TestNamesAfterFailedRead: a transaction stores events with new names,
// reads them back (so their rows are remembered both ways), and fails;
// the next one stores other new names, which may take those rows. Every
// read after must name each event's own item and type.
func TestNamesAfterFailedRead(t *testing.T) {
	g := openGraph(t)
	author := key(1)
	ev := func(seq uint64, parents []event.ID, item, typ string) event.Event {
		e := event.Event{Peer: author, Seq: seq, Clock: seq, Parents: parents, Item: item, Type: typ, Value: []byte("null")}
		e.ID = e.Hash()
		return e
	}
	first := ev(1, nil, "kept", "t")
	if _, err := g.Ingest(signed(first), time.Now(), PendingLimits{}); err != nil {
		t.Fatal(err)
	}
	rollback := errors.New("roll back")
	err := g.c.Tx(func() error {
		lost := ev(2, []event.ID{first.ID}, "lost item", "lost type")
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
	taker := ev(2, []event.ID{first.ID}, "taker item", "taker type")
	if _, err := g.Ingest(signed(taker), time.Now(), PendingLimits{}); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := g.Scan(0, func(e *event.Event) error { got = append(got, e.Item+"/"+e.Type); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "kept/t" || got[1] != "taker item/taker type" {
		t.Fatalf("the log reads %q", got)
	}
}
