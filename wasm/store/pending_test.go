package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

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
	const n = 2000
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
	if !errors.Is(err, dag.ErrPendingFull) {
		t.Logf("%+v", res)
		t.Fatalf("import of a large orphan: %v, want %v", err, dag.ErrPendingFull)
	}
	var batch []byte
	if batch, err = sync.Encode([]event.Event{f.nextA}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, batch); err != nil {
		t.Fatalf("a small orphan still fits: %v", err)
	}
}
