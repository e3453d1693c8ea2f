package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
	"pgregory.net/rapid"
)

// Forks: two events with one (author, seq). A copied store file, a
// restored backup or a cloned laptop appends as the same author as the
// original; every replica that has seen both keeps both, as concurrent
// events, reports the fork, and computes the same state.

// syncPair sends each of a and b what the other lacks, twice each way: a
// fork that neither knew of shows in the first exchange (a version vector
// names its tips, which the other replica lacks), and the second brings
// each the branch it lacks.
func syncPair(t *testing.T, a, b *store.Store) {
	t.Helper()
	for range 2 {
		sendAll(t, a, b)
		sendAll(t, b, a)
	}
}

// converged checks that the stores agree on everything, hold nothing
// pending, and report the fork of author at seq.
func converged(t *testing.T, author event.PeerID, seq uint64, stores ...*store.Store) {
	t.Helper()
	ctx := context.Background()
	want := snapshot(t, stores[0])
	for i, s := range stores {
		if got := snapshot(t, s); got != want {
			t.Fatalf("replica %d differs from replica 0:\n%s\nwant:\n%s", i, got, want)
		}
		info, err := s.Pending(ctx)
		if err != nil || info.Events != 0 {
			t.Fatalf("replica %d: %+v pending (%v)", i, info, err)
		}
		forks, err := s.Forks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, f := range forks {
			found = found || (f.Peer == author && f.Seq == seq && len(f.IDs) == 2)
		}
		if !found {
			t.Fatalf("replica %d reports forks %+v, want author %s at seq %d", i, forks, author, seq)
		}
	}
}

func openFile(t testing.TB, path string, i int) *store.Store {
	t.Helper()
	author(i)
	s, err := store.Open(context.Background(), store.Options{Path: path, Schema: testSchema, Materializers: testMaterializers, Rand: peerSeed(i), Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestForkCopiedStore: a store file copied to a second machine; both
// copies go on appending, and sync with a third replica and each other.
func TestForkCopiedStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	original := openFile(t, filepath.Join(dir, "a.db"), 1)
	for _, item := range []string{"1", "2"} {
		if _, err := original.Append(ctx, item, "create", []byte(`"todo"`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := original.Backup(ctx, filepath.Join(dir, "copy.db")); err != nil { // a copy of the file, consistently
		t.Fatal(err)
	}
	copied := openFile(t, filepath.Join(dir, "copy.db"), 99)
	if copied.Peer() != original.Peer() {
		t.Fatal("the copy has another peer id")
	}
	third := openTest(t, 3)
	defer third.Close()
	if _, err := original.Append(ctx, "1", "set_content", []byte(`"original"`)); err != nil {
		t.Fatal(err)
	}
	if _, err := copied.Append(ctx, "1", "set_content", []byte(`"copy"`)); err != nil {
		t.Fatal(err)
	}
	if _, err := copied.Append(ctx, "2", "set_completed", []byte(`true`)); err != nil {
		t.Fatal(err)
	}
	syncPair(t, original, third)
	syncPair(t, copied, third)
	syncPair(t, original, third)
	converged(t, original.Peer(), 3, original, copied, third)
	// After the fork, the copies merge it with their next appends, and
	// sync goes on as before.
	if _, err := copied.Append(ctx, "3", "create", []byte(`"after"`)); err != nil {
		t.Fatal(err)
	}
	syncPair(t, copied, third)
	syncPair(t, third, original)
	converged(t, original.Peer(), 3, original, copied, third)
}

// TestForkRestoredBackup: a backup restored, which appends before it has
// synced what the original appended since the backup.
func TestForkRestoredBackup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	original := openFile(t, filepath.Join(dir, "a.db"), 1)
	if _, err := original.Append(ctx, "1", "create", []byte(`"make pasta"`)); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.db")
	if err := original.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := original.Append(ctx, "1", "set_completed", []byte(`true`)); err != nil {
			t.Fatal(err)
		}
	}
	other := openTest(t, 2)
	defer other.Close()
	syncPair(t, original, other)
	original.Close() // the laptop is lost; the backup is restored
	restored := openFile(t, backup, 99)
	if _, err := restored.Append(ctx, "1", "set_content", []byte(`"restored"`)); err != nil {
		t.Fatal(err)
	}
	syncPair(t, restored, other)
	converged(t, restored.Peer(), 2, restored, other)
	rows, err := restored.Query(ctx, `SELECT content, completed FROM todo`)
	if err != nil || len(rows.Values) != 1 {
		t.Fatalf("todos: %v, %v", rows, err)
	}
}

// forkedLog returns the events of an author whose chain forks at seq 3
// into branches of lengths x and y, and a store holding the common part.
func forkedLog(t testing.TB, x, y int) (base []event.Event, bx, by []event.Event) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	a := openFile(t, filepath.Join(dir, "a.db"), 1)
	for _, item := range []string{"1", "2"} {
		if _, err := a.Append(ctx, item, "create", []byte(`"todo"`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Backup(ctx, filepath.Join(dir, "b.db")); err != nil {
		t.Fatal(err)
	}
	b := openFile(t, filepath.Join(dir, "b.db"), 99)
	base, _ = a.Events(ctx, nil)
	for i := range x {
		if _, err := a.Append(ctx, "1", "set_content", []byte(`"x`+string(rune('0'+i))+`"`)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range y {
		if _, err := b.Append(ctx, "2", "set_content", []byte(`"y`+string(rune('0'+i))+`"`)); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := a.Events(ctx, nil)
	bx = all[len(base):]
	all, _ = b.Events(ctx, nil)
	by = all[len(base):]
	return base, bx, by
}

// TestForkEqualLength: replicas on two branches of equal length sync
// with version vectors — which say the same seq for the author — and
// still get each other's branch.
func TestForkEqualLength(t *testing.T) {
	base, bx, by := forkedLog(t, 3, 3)
	r1, r2 := openTest(t, 11), openTest(t, 12)
	defer r1.Close()
	defer r2.Close()
	ctx := context.Background()
	for _, in := range []struct {
		s   *store.Store
		evs []event.Event
	}{{r1, append(append([]event.Event{}, base...), bx...)}, {r2, append(append([]event.Event{}, base...), by...)}} {
		if _, err := in.s.Import(ctx, encode(t, in.evs...)); err != nil {
			t.Fatal(err)
		}
	}
	syncPair(t, r1, r2)
	syncPair(t, r1, r2)
	converged(t, base[0].Peer, 3, r1, r2)
}

// TestForkArrivalOrder: both branches, whatever the order they arrive
// in — one before the other, interleaved, in one batch — give one log and
// one state.
func TestForkArrivalOrder(t *testing.T) {
	ctx := context.Background()
	base, bx, by := forkedLog(t, 2, 3)
	orders := map[string][][]event.Event{
		"x first":      {base, bx, by},
		"y first":      {base, by, bx},
		"one batch":    {append(append(append([]event.Event{}, base...), bx...), by...)},
		"newest first": {by[2:], bx[1:], by[:2], bx[:1], base},
		"interleaved":  {base, {bx[0], by[0]}, {by[1], bx[1]}, by[2:]},
	}
	var stores []*store.Store
	for name, batches := range orders {
		s := openTest(t, 20+len(stores))
		defer s.Close()
		for i, evs := range batches {
			if _, err := s.Import(ctx, encode(t, evs...)); err != nil {
				t.Fatalf("%s, batch %d: %v", name, i, err)
			}
		}
		stores = append(stores, s)
	}
	converged(t, base[0].Peer, 3, stores...)
}

// TestForkWithSignatureElsewhere: each branch arrives as it would from a
// relay, cut into chunks whose events are covered by the last chunk's
// signature; nothing of a branch joins before its signature, and all of
// it joins after.
func TestForkWithSignatureElsewhere(t *testing.T) {
	ctx := context.Background()
	base, bx, _ := forkedLog(t, 4, 0)
	s := openTest(t, 30)
	defer s.Close()
	if _, err := s.Import(ctx, encode(t, base...)); err != nil {
		t.Fatal(err)
	}
	sigs := sign(bx) // the signature of bx's tip only
	first, err := sync.Encode(bx[:3], sigs)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Import(ctx, first)
	if err != nil || res.Added != 0 || res.Pending != 3 {
		t.Fatalf("unsigned chunk: %+v, %v; want its events waiting", res, err)
	}
	if info, _ := s.Pending(ctx); info.Unsigned != 3 {
		t.Fatalf("pending %+v, want 3 unsigned", info)
	}
	last, err := sync.Encode(bx[3:], sigs)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Import(ctx, last); err != nil || res.Added != 4 {
		t.Fatalf("signed chunk: %+v, %v; want the branch in", res, err)
	}
}

// TestUnsignedEventsNeverJoin: events whose author never signed them —
// forged under someone else's peer id — wait, and never join.
func TestUnsignedEventsNeverJoin(t *testing.T) {
	ctx := context.Background()
	base, bx, _ := forkedLog(t, 3, 0)
	s := openTest(t, 31)
	defer s.Close()
	if _, err := s.Import(ctx, encode(t, base...)); err != nil {
		t.Fatal(err)
	}
	forged := bx[0]
	forged.Value = []byte(`"forged"`)
	forged.ID = forged.Hash()
	b, err := sync.Encode([]event.Event{forged}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Import(ctx, b); err != nil || res.Added != 0 {
		t.Fatalf("unsigned event: %+v, %v; want it waiting", res, err)
	}
	// A signature by another key, over its id, is refused.
	b, err = sync.Encode([]event.Event{forged}, map[event.ID]event.Signature{forged.ID: keyOf(31).Sign(forged.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, b); store.Code(err) != store.CodeInvalidEvent {
		t.Fatalf("a signature by another key: %v, want INVALID_EVENT", err)
	}
	if n, _ := s.Query(ctx, `SELECT count(*) FROM event WHERE value = '"forged"'`); n.Values[0][0] != int64(0) {
		t.Fatal("a forged event joined the log")
	}
}

// TestCopiedFileOpensAsSameAuthor: a copy of a store file (cp, not
// Backup) is the same author too.
func TestCopiedFileOpensAsSameAuthor(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := openFile(t, filepath.Join(dir, "a.db"), 1)
	if _, err := a.Append(ctx, "1", "create", []byte(`"x"`)); err != nil {
		t.Fatal(err)
	}
	peer := a.Peer()
	a.Close()
	b, err := os.ReadFile(filepath.Join(dir, "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.db"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if c := openFile(t, filepath.Join(dir, "b.db"), 99); c.Peer() != peer {
		t.Fatal("a copied file has another peer id")
	}
}

// TestForkPullOnlyProperty: a replica that only pulls (a backup, a read
// mirror) gets every event of a forked author the other holds — branches
// of any lengths, either longer, each side holding some of the other's
// too — after two pulls: one shows the fork, the next brings the branch.
// (A vector ahead on a chain the exporter cannot see made it trust that
// its own branch was held, and send nothing.)
func TestForkPullOnlyProperty(t *testing.T) {
	ctx := context.Background()
	base, bx, by := forkedLog(t, 12, 12)
	rapid.Check(t, func(rt *rapid.T) {
		x, y := rapid.IntRange(0, 12).Draw(rt, "x"), rapid.IntRange(0, 12).Draw(rt, "y")
		mine, theirs := bx[:x:x], by[:y:y] // appended to below: never into bx and by
		k1, k2 := rapid.IntRange(0, y).Draw(rt, "theirs the puller holds"), rapid.IntRange(0, x).Draw(rt, "mine the source holds")
		puller, source := openTest(t, 11), openTest(t, 12)
		defer puller.Close()
		defer source.Close()
		for _, in := range []struct {
			s   *store.Store
			evs []event.Event
		}{{puller, append(append(append([]event.Event{}, base...), mine...), theirs[:k1]...)}, {source, append(append(append([]event.Event{}, base...), theirs...), mine[:k2]...)}} {
			if _, err := in.s.Import(ctx, encode(t, in.evs...)); err != nil {
				rt.Fatal(err)
			}
		}
		for range 2 {
			sendAll(t, source, puller)
		}
		held, err := puller.Events(ctx, nil)
		if err != nil {
			rt.Fatal(err)
		}
		ids := map[event.ID]bool{}
		for _, e := range held {
			ids[e.ID] = true
		}
		for _, e := range append(theirs, mine[:k2]...) {
			if !ids[e.ID] {
				rt.Fatalf("after two pulls the puller lacks the source's seq %d", e.Seq)
			}
		}
	})
}

// TestExportAboveKnownTip: a vector naming a tip of this store's author
// far ahead (unknown here) beside a known tip lower down gets every event
// above the known tip, not the top alone (the probe, for a vector that
// names no tip known here).
func TestExportAboveKnownTip(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, 1)
	defer s.Close()
	var evs []event.Event
	for i := range 10 {
		e, err := s.Append(ctx, "1", "label", fmt.Appendf(nil, `"%d"`, i))
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	vv := sync.VersionVector{}
	vv.Add(s.Peer(), sync.Tip{Seq: evs[4].Seq, ID: evs[4].ID}) // the room holds 1..5
	vv.Add(s.Peer(), sync.Tip{Seq: 1_000_000, ID: event.ID{1, 2, 3}})
	b, err := s.ExportSince(ctx, vv)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := sync.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, e := range batch.Events {
		seqs = append(seqs, e.Seq)
	}
	if len(seqs) != 5 {
		t.Fatalf("export to a vector holding seq 5 (and an unknown tip ahead) has seqs %v, want 6..10", seqs)
	}
}
