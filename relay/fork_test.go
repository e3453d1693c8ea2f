package relay_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/factlog/factlog/relay"
	"github.com/factlog/factlog/relay/protocol"
	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/link"
	"github.com/factlog/factlog/wasm/store"
	fsync "github.com/factlog/factlog/wasm/sync"
	"github.com/factlog/factlog/wasm/todo"
)

func openFileStore(t *testing.T, path string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{Path: path, Schema: todo.Schema, Materializers: todo.LastWriterWins})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestForksConvergeThroughRelay: replicas that are copies of one store —
// the same author, appending on both sides of a fork — and an honest one,
// all linked to a room, converge, and every link reports the forks.
func TestForksConvergeThroughRelay(t *testing.T) {
	r := startRelay(t, relay.Options{})
	dir := t.TempDir()
	ctx := context.Background()
	a := openFileStore(t, filepath.Join(dir, "a.db"))
	edit(t, a, "1", "create", `"make pasta"`)
	var stores []*store.Store
	for i := range 3 {
		path := filepath.Join(dir, fmt.Sprintf("copy%d.db", i))
		if err := a.Backup(ctx, path); err != nil {
			t.Fatal(err)
		}
		stores = append(stores, openFileStore(t, path))
	}
	stores = append(stores, a, openStore(t))
	// Each copy appends before any sync: four branches of one author.
	for i, s := range stores[:4] {
		edit(t, s, "1", "set_content", fmt.Sprintf(`"copy %d"`, i))
		edit(t, s, fmt.Sprint(i+2), "create", `"own"`)
	}
	var links []*link.Link
	for _, s := range stores {
		links = append(links, startLink(t, s, r.url("forks")))
	}
	// And go on appending while linked.
	for round := range 3 {
		for i, s := range stores {
			edit(t, s, fmt.Sprint(i+2), "set_content", fmt.Sprintf(`"round %d"`, round))
		}
	}
	converge(t, stores...)
	forks, err := stores[4].Forks(ctx)
	if err != nil || len(forks) == 0 || forks[0].Peer != a.Peer() || len(forks[0].IDs) != 4 {
		t.Fatalf("forks %+v (%v), want four events at one seq of %s", forks, err, a.Peer())
	}
	for i, l := range links {
		waitFor(t, func() bool { return len(l.Status().Forks) > 0 })
		if st := l.Status(); st.Forks[0].Peer != a.Peer() {
			t.Fatalf("link %d status %+v", i, st)
		}
	}
}

// TestInnocentEventsKept: a body holding an event whose signature does not
// verify still brings the valid events of the other authors in it; the
// link says what it refused, and keeps saying it.
func TestInnocentEventsKept(t *testing.T) {
	r := startRelay(t, relay.Options{})
	ctx := context.Background()
	honest, forger := openStore(t), openStore(t)
	edit(t, honest, "1", "create", `"honest"`)
	edit(t, forger, "2", "create", `"forged"`)
	mixed := &fsync.Batch{Signatures: map[event.ID]event.Signature{}}
	for _, s := range []*store.Store{honest, forger} {
		b, err := s.ExportSince(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := fsync.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		mixed.Events = append(mixed.Events, d.Events...)
		for id, sig := range d.Signatures {
			if s == forger {
				sig[0] ^= 1 // the forger's signature does not verify
			}
			mixed.Signatures[id] = sig
		}
	}
	body, err := fsync.Encode(mixed.Events, mixed.Signatures)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, r.url("innocent"))
	c.Join(0, "")
	c.Send(protocol.Envelope{Kind: protocol.Publish, ID: 1, Body: body})
	if ack := c.Recv(); ack.Kind != protocol.Ack {
		t.Fatalf("publish: %+v", ack)
	}
	reader := openStore(t)
	l := startLink(t, reader, r.url("innocent"))
	waitFor(t, func() bool {
		rows, _ := reader.Query(ctx, `SELECT count(*) FROM todo`)
		return rows.Values[0][0] == int64(1) && l.Status().State == link.Online
	})
	rows, err := reader.Query(ctx, `SELECT content FROM todo`)
	if err != nil || fmt.Sprint(rows.Values) != "[[honest]]" {
		t.Fatalf("todos %v (%v), want the honest one only", rows, err)
	}
	// What was refused stays in the status, after later deliveries too.
	edit(t, honest, "3", "create", `"later"`)
	startLink(t, honest, r.url("innocent"))
	waitFor(t, func() bool {
		rows, _ := reader.Query(ctx, `SELECT count(*) FROM todo`)
		return rows.Values[0][0] == int64(2)
	})
	st := l.Status() // deliveries are handled in order: the refusal came first

	if len(st.Rejected) != 1 || !strings.Contains(st.Rejected[0], forger.Peer().String()) || !strings.Contains(st.Rejected[0], "signature") {
		t.Fatalf("status %+v, want the forger's events said refused", st)
	}
}
