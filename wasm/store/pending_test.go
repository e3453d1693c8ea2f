package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/factlog/factlog/wasm/dag"
	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
)

// TestPendingWaitsForParents delivers a chain newest first, one event per
// batch: each waits, says what it waits for, and the last delivery (the
// root) lets the whole chain in at once.
func TestPendingWaitsForParents(t *testing.T) {
	ctx := context.Background()
	n := 2000
	if testing.Short() { // the WebAssembly run
		n = 300
	}
	author := openTest(t, 1)
	defer author.Close()
	inputs := make([]store.Input, n)
	for i := range inputs {
		inputs[i] = store.Input{Item: "1", Type: "set_content", Value: []byte(`"x"`)}
	}
	if _, err := author.AppendMany(ctx, inputs); err != nil {
		t.Fatal(err)
	}
	chain, err := author.Events(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := openTest(t, 2)
	defer s.Close()
	for i := n - 1; i > 0; i-- {
		res, err := s.Import(ctx, encode(t, chain[i]))
		if err != nil {
			t.Fatal(err)
		}
		if res.Added != 0 || res.Pending != 1 {
			t.Fatalf("event %d: added %d, pending %d; want it to wait", i, res.Added, res.Pending)
		}
	}
	info, err := s.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Events != n-1 || len(info.Missing) != 1 || info.Missing[0] != chain[0].ID {
		t.Fatalf("pending %d events missing %v; want %d missing the root %s", info.Events, info.Missing, n-1, chain[0].ID)
	}
	res, err := s.Import(ctx, encode(t, chain[0]))
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != n || res.Pending != 0 {
		t.Fatalf("root: added %d, pending %d; want %d, 0", res.Added, res.Pending, n)
	}
	if got, want := snapshot(t, s), snapshot(t, author); got != want {
		t.Fatalf("replica differs from author:\n%s\nwant\n%s", got, want)
	}
}

// TestPendingInvalidIsDropped: an event that waits and proves invalid once
// its parent arrives is dropped and reported, and does not block the
// parent's batch.
func TestPendingInvalidIsDropped(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bad := f.nextB
	bad.Seq++
	bad.Parents = []event.ID{f.nextB.ID}
	bad.Clock = f.nextB.Clock + 5
	bad = rehash(bad)
	res, err := f.target.Import(ctx, encode(t, bad))
	if err != nil || res.Pending != 1 {
		t.Fatalf("orphan: %+v, %v; want it pending", res, err)
	}
	res, err = f.target.Import(ctx, encode(t, f.nextB))
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 1 || len(res.Dropped) != 1 || !errors.Is(res.Dropped[0], event.ErrClock) {
		t.Fatalf("parent: %+v; want it added and the orphan dropped for its clock", res)
	}
	if info, _ := f.target.Pending(ctx); info.Events != 0 {
		t.Fatalf("%d events still pending", info.Events)
	}
}

// TestPendingLimitBytes bounds the pending set by size as well as count.
func TestPendingLimitBytes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Schema: testSchema, Materializers: testMaterializers, Pending: dag.PendingLimits{MaxBytes: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big := f.nextA
	big.Value = []byte(`"` + strings.Repeat("x", 1000) + `"`)
	res, err := s.Import(ctx, encode(t, rehash(big)))
	if err != nil || res.Refused != 1 || res.Pending != 0 {
		t.Fatalf("import of a large orphan: %+v, %v; want it refused", res, err)
	}
	if res, err := s.Import(ctx, encode(t, f.nextA)); err != nil || res.Pending != 1 {
		t.Fatalf("a small orphan still fits: %+v, %v", res, err)
	}
}

// TestPendingFlood: a batch of ten times as many orphans as the pending set
// holds leaves the set at its limit and nothing else changed.
func TestPendingFlood(t *testing.T) {
	f := newFixture(t)
	const limit = 1000
	s, err := store.Open(context.Background(), store.Options{Schema: testSchema, Materializers: testMaterializers, Pending: dag.PendingLimits{MaxEvents: limit}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f.target = s
	orphans := make([]event.Event, 10*limit)
	for i := range orphans {
		orphans[i] = rehash(event.Event{
			Peer: author(109), Seq: uint64(i + 1), Clock: 2, Type: "note", Value: []byte("null"),
			Parents: []event.ID{sha256.Sum256(fmt.Append(nil, "missing", i))},
		})
	}
	before := stateDump(t, f.target)
	flood, err := sync.Encode(orphans, nil) // unsigned, too: they would wait twice over
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.target.Import(context.Background(), flood)
	if err != nil || res.Refused != 9*limit || res.Pending != limit {
		t.Fatalf("flood: %+v, %v", res, err)
	}
	if after := stateDump(t, f.target); after != before {
		t.Fatal("a flood of orphans changed the state")
	}
}

// chainOf returns n events of one author's chain, oldest first.
func chainOf(t *testing.T, i, n int) []event.Event {
	t.Helper()
	ctx := context.Background()
	s := openTest(t, i)
	defer s.Close()
	inputs := make([]store.Input, n)
	for k := range inputs {
		inputs[k] = store.Input{Item: fmt.Sprint(i), Type: "label", Value: fmt.Appendf(nil, `"%d"`, k)}
	}
	evs, err := s.AppendMany(ctx, inputs)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestPendingLimitCountsTheOutcome: the limit applies to the pending set a
// batch leaves behind, not to its size midway; and orphans that do not fit
// are refused without refusing the good events of their batch.
func TestPendingLimitCountsTheOutcome(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Schema: testSchema, Materializers: testMaterializers, Pending: dag.PendingLimits{MaxEvents: 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, b, c, d, e := chainOf(t, 1, 4), chainOf(t, 2, 4), chainOf(t, 3, 2), chainOf(t, 4, 2), chainOf(t, 5, 3)
	if _, err := s.Import(ctx, encode(t, a[0], a[1])); err != nil {
		t.Fatal(err)
	}
	// Three orphans fill the pending set.
	if res, err := s.Import(ctx, encode(t, a[3], c[1], d[1])); err != nil || res.Pending != 3 {
		t.Fatalf("orphans: %+v, %v", res, err)
	}
	// A batch whose orphan sorts before the event that completes a[3]:
	// the set holds 4 on the way and 3 at the end, which fits.
	res, err := s.Import(ctx, encode(t, b[1], a[2]))
	if err != nil || res.Added != 2 || res.Pending != 1 || res.Refused != 0 {
		t.Fatalf("completing batch: %+v, %v; want 2 added, 1 pending", res, err)
	}
	// Good events and orphans that do not fit: the good ones are stored,
	// the orphans refused and counted.
	res, err = s.Import(ctx, encode(t, e[0], e[1], b[2], b[3]))
	if err != nil || res.Added != 2 || res.Pending != 0 || res.Refused != 2 {
		t.Fatalf("mixed batch: %+v, %v; want 2 added, 2 refused", res, err)
	}
	if info, _ := s.Pending(ctx); info.Events != 3 {
		t.Fatalf("%d pending, want 3", info.Events)
	}
	// Completing the pending set makes room again.
	if res, err := s.Import(ctx, encode(t, b[0], c[0], d[0])); err != nil || res.Added != 6 {
		t.Fatalf("parents: %+v, %v; want 6 added", res, err)
	}
	if res, err := s.Import(ctx, encode(t, b[2], b[3])); err != nil || res.Added != 2 {
		t.Fatalf("refused orphans sent again: %+v, %v; want 2 added", res, err)
	}
}

// TestPendingProofKept: an event can join on the signature of a later
// event of its author's that still waits (for another author's parent):
// that waiting event is then its only proof. Refused by the pending
// set's limits or expired, it would leave the event stored here and
// unverifiable anywhere else — two replicas that exchange everything
// would differ for good. The proof waits, beyond the limits, and goes
// with every export of the event, so that replicas agree before the
// missing parent arrives and all of it joins once it does.
func TestPendingProofKept(t *testing.T) {
	for _, how := range []string{"over the byte limit", "expired"} {
		t.Run(how, func(t *testing.T) {
			ctx := context.Background()
			a, b := openTest(t, 1), openTest(t, 2)
			defer a.Close()
			defer b.Close()
			p, err := a.Append(ctx, "1", "create", []byte(`"x"`))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Append(ctx, "2", "create", []byte(`"y"`)); err != nil {
				t.Fatal(err)
			}
			sendAll(t, b, a)
			q := lastOf(t, b)
			c, err := a.Append(ctx, "1", "label", []byte(`"`+strings.Repeat("z", 1000)+`"`)) // parents p and q
			if err != nil {
				t.Fatal(err)
			}
			now := time.UnixMilli(1_700_000_000_000)
			limits := dag.PendingLimits{MaxBytes: 500}
			if how == "expired" {
				limits = dag.PendingLimits{MaxAge: time.Minute}
			}
			author(3)
			r, err := store.Open(ctx, store.Options{Schema: testSchema, Materializers: testMaterializers, Rand: peerSeed(3),
				Now: func() time.Time { return now }, Pending: limits})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			// p, and c signed, whose signature covers p; q comes later.
			if res, err := r.Import(ctx, encode(t, p, c)); err != nil || res.Added != 1 || res.Pending != 1 || res.Refused != 0 {
				t.Fatalf("import p and c: %+v, %v; want p added, c waiting (the proof of p)", res, err)
			}
			now = now.Add(2 * time.Minute)
			if _, err := r.Import(ctx, encode(t)); err != nil { // expires what is old
				t.Fatal(err)
			}
			if st, _ := r.Pending(ctx); st.Events != 1 {
				t.Fatalf("pending %+v: the proof of p is gone", st)
			}
			r2 := openTest(t, 4)
			defer r2.Close()
			for range 2 {
				sendAll(t, r, r2)
				sendAll(t, r2, r)
			}
			if got, want := snapshot(t, r2), snapshot(t, r); got != want {
				t.Fatalf("r and r2 exchanged everything and differ:\n%s\n%s", got, want)
			}
			if _, err := r.Import(ctx, encode(t, q)); err != nil {
				t.Fatal(err)
			}
			sendAll(t, r, r2)
			sendAll(t, a, r)
			for _, s := range []*store.Store{r, r2} {
				if st, _ := s.Pending(ctx); st.Events != 0 {
					t.Fatalf("pending %+v once q arrived", st)
				}
			}
			if got, want := snapshot(t, r2), snapshot(t, r); got != want {
				t.Fatalf("r and r2 differ once q arrived:\n%s\n%s", got, want)
			}
		})
	}
}
