package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/factlog/factlog/wasm/store"
)

// countdown is a context that is cancelled after its Err method was asked
// n times. SQLite's progress handler asks it every few hundred virtual
// machine instructions, so a countdown cancels a long call at a point in
// its middle that is the same on every run.
type countdown struct {
	context.Context
	n atomic.Int64
}

func after(n int64) *countdown {
	c := &countdown{Context: context.Background()}
	c.n.Store(n)
	return c
}

func (c *countdown) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// TestCancelledImportLeavesNoTrace cancels an import of 4,000 events at
// many points of its work: each time the import fails as a whole (no
// event stored, no effect on the state), the store goes on working, and a
// later import of the same batch succeeds.
func TestCancelledImportLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	src := openTest(t, 1)
	defer src.Close()
	inputs := make([]store.Input, 4000)
	for i := range inputs {
		inputs[i] = store.Input{Item: fmt.Sprint(i % 50), Type: "label", Value: fmt.Appendf(nil, `"v%d"`, i)}
	}
	if _, err := src.AppendMany(ctx, inputs); err != nil {
		t.Fatal(err)
	}
	batch, err := src.ExportSince(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	dst := openTest(t, 2)
	defer dst.Close()
	if _, err := dst.Append(ctx, "mine", "create", []byte(`"before"`)); err != nil {
		t.Fatal(err)
	}
	before := storedDump(t, dst)
	cancelled := 0
	for _, n := range []int64{0, 1, 3, 10, 30, 100, 300, 1000, 3000, 10_000} {
		_, err := dst.Import(after(n), batch)
		if err == nil {
			break // the import finished before the countdown did
		}
		cancelled++
		if !errors.Is(err, context.Canceled) && store.Code(err) != store.CodeInternal {
			t.Fatalf("cancelled after %d checks: %v", n, err)
		}
		if got := storedDump(t, dst); got != before {
			t.Fatalf("cancelled after %d checks, the store holds part of the import:\n%.2000s", n, got)
		}
		// The store is not wedged in a transaction: it goes on writing.
		if _, err := dst.Append(ctx, "probe", "label", []byte(`"x"`)); err != nil {
			t.Fatalf("append after an import cancelled after %d checks: %v", n, err)
		}
		before = storedDump(t, dst)
	}
	if cancelled < 5 {
		t.Fatalf("only %d imports were cancelled; the countdowns are too long to test anything", cancelled)
	}
	if _, err := dst.Import(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := dst.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	n, err := dst.Query(ctx, `SELECT count(*) FROM event`)
	if err != nil || n.Values[0][0] != int64(4000+1+cancelled) {
		t.Fatalf("%v events after the last import (%v), want %d", n.Values, err, 4000+1+cancelled)
	}
}

// TestCancelledAppendMany: an AppendMany cancelled halfway stores none of
// its events, and the store goes on.
func TestCancelledAppendMany(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, 1)
	defer s.Close()
	inputs := make([]store.Input, 2000)
	for i := range inputs {
		inputs[i] = store.Input{Item: fmt.Sprint(i), Type: "create", Value: []byte(`"x"`)}
	}
	for _, n := range []int64{0, 5, 50, 500} {
		if _, err := s.AppendMany(after(n), inputs); err == nil {
			t.Fatalf("AppendMany with a countdown of %d finished", n)
		}
		rows, err := s.Query(ctx, `SELECT (SELECT count(*) FROM event), (SELECT count(*) FROM todo)`)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(rows.Values) != "[[0 0]]" {
			t.Fatalf("after a cancelled AppendMany (countdown %d): events and todos %v, want none", n, rows.Values)
		}
	}
	if _, err := s.AppendMany(ctx, inputs); err != nil {
		t.Fatalf("AppendMany after cancelled ones: %v", err)
	}
}

// TestCancelledRebuild: a cancelled Rebuild or Reinterpret keeps the state
// as it was.
func TestCancelledRebuild(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, 1)
	defer s.Close()
	inputs := make([]store.Input, 1000) // long enough for every countdown below to end halfway
	for i := range inputs {
		inputs[i] = store.Input{Item: fmt.Sprint(i), Type: "create", Value: []byte(`"x"`)}
	}
	if _, err := s.AppendMany(ctx, inputs); err != nil {
		t.Fatal(err)
	}
	want := stateDump(t, s)
	for _, n := range []int64{0, 10, 100, 1000} {
		if err := s.Rebuild(after(n), nil); err == nil {
			t.Fatalf("Rebuild with a countdown of %d finished", n)
		}
		if got := stateDump(t, s); got != want {
			t.Fatalf("a cancelled rebuild changed the state:\n%.500s", got)
		}
		if err := s.Reinterpret(after(n), `CREATE TABLE other (v)`, map[string]string{"create": `INSERT INTO other VALUES (:value)`}, nil); err == nil {
			t.Fatalf("Reinterpret with a countdown of %d finished", n)
		}
		if got := stateDump(t, s); got != want {
			t.Fatalf("a cancelled reinterpretation changed the state:\n%.500s", got)
		}
	}
	if _, err := s.Append(ctx, "last", "create", []byte(`"x"`)); err != nil {
		t.Fatal(err)
	}
}

// TestCancelledOpen: a context cancelled while Open rebuilds the state
// for a new interpretation stops it: Open fails with the context's error
// and nothing stored changes — the store opens again as it was.
func TestCancelledOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	opts := store.Options{Path: path, Schema: testSchema, Materializers: testMaterializers, Rand: peerSeed(1)}
	s, err := store.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	inputs := make([]store.Input, 3000)
	for i := range inputs {
		inputs[i] = store.Input{Item: fmt.Sprint(i), Type: "create", Value: []byte(`"x"`)}
	}
	if _, err := s.AppendMany(ctx, inputs); err != nil {
		t.Fatal(err)
	}
	want := stateDump(t, s)
	s.Close()

	other := opts
	other.Schema, other.Materializers = `CREATE TABLE other (v)`, map[string]string{"create": `INSERT INTO other VALUES (:value)`}
	cctx, cancel := context.WithCancel(ctx)
	other.Progress = func(done, total int) {
		if done > 0 {
			cancel()
		}
	}
	if s, err := store.Open(cctx, other); !errors.Is(err, context.Canceled) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open cancelled during its rebuild: %v, want %v", err, context.Canceled)
	}
	s, err = store.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := stateDump(t, s); got != want {
		t.Fatalf("a cancelled open changed the state:\n%.500s", got)
	}
	s.Close()
	other.Progress = nil
	if s, err = store.Open(ctx, other); err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// TestCancelledBackup: a backup cancelled at any point says so
// (context.Canceled, as every call does) and leaves nothing at its
// destination: an empty file was left there, which a restore would open
// as an empty store, and on which the next backup failed ("output file
// already exists"). A file that was there before is never touched.
func TestCancelledBackup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := store.Open(ctx, store.Options{Path: filepath.Join(dir, "s.db"), Schema: testSchema, Materializers: testMaterializers})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := make([]store.Input, 3000)
	for i := range in {
		in[i] = store.Input{Item: fmt.Sprint(i), Type: "create", Value: []byte(`"a todo to back up"`)}
	}
	if _, err := s.AppendMany(ctx, in); err != nil {
		t.Fatal(err)
	}
	var dst string
	for _, n := range []int64{0, 1, 10, 100, 1000} {
		dst = filepath.Join(dir, fmt.Sprintf("backup%d.db", n))
		err := s.Backup(after(n), dst)
		if err == nil {
			continue // done before the countdown ran out
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("backup cancelled after %d checks: %v; want context.Canceled", n, err)
		}
		if left, _ := filepath.Glob(dst + "*"); len(left) != 0 {
			t.Fatalf("backup cancelled after %d checks left %v", n, left)
		}
		if err := s.Backup(ctx, dst); err != nil {
			t.Fatalf("backup again after one cancelled after %d checks: %v", n, err)
		}
	}
	copied, err := store.Open(ctx, store.Options{Path: dst, Schema: testSchema, Materializers: testMaterializers})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := copied.Events(ctx, nil)
	copied.Close()
	if err != nil || len(evs) != len(in) {
		t.Fatalf("the backup holds %d events (%v), want %d", len(evs), err, len(in))
	}
	// A file already there is refused, and kept.
	if err := s.Backup(ctx, dst); err == nil {
		t.Fatal("a backup over an existing file succeeded")
	}
	if _, err := os.Stat(dst); err != nil {
		t.Fatalf("the existing file at the backup's destination: %v", err)
	}
}

// TestCancelledReadSaysSo: a read cancelled at any point fails with an
// error that says so, as writes do — errors.Is context.Canceled, code
// ABORTED — not SQLite's bare "interrupted" (code SQL), which a caller
// cannot tell from a query SQLite refused.
func TestCancelledReadSaysSo(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Path: filepath.Join(t.TempDir(), "s.db"), Schema: testSchema, Materializers: testMaterializers})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := make([]store.Input, 2000)
	for i := range in {
		in[i] = store.Input{Item: fmt.Sprint(i), Type: "create", Value: []byte(`"x"`)}
	}
	if _, err := s.AppendMany(ctx, in); err != nil {
		t.Fatal(err)
	}
	reads := []struct {
		name string
		read func(context.Context) error
	}{
		{"Query", func(c context.Context) error {
			_, err := s.Query(c, `SELECT count(*) FROM event a, event b WHERE a.seq < 100`)
			return err
		}},
		{"QueryNamed", func(c context.Context) error {
			_, err := s.QueryNamed(c, `SELECT count(*) FROM event a, event b WHERE a.seq < :n`, map[string]any{"n": 100})
			return err
		}},
		{"Events", func(c context.Context) error { _, err := s.Events(c, nil); return err }},
		{"ExportSince", func(c context.Context) error { _, err := s.ExportSince(c, nil); return err }},
		{"VersionVector", func(c context.Context) error { _, err := s.VersionVector(c); return err }},
		{"Heads", func(c context.Context) error { _, err := s.Heads(c); return err }},
		{"Pending", func(c context.Context) error { _, err := s.Pending(c); return err }},
		{"Forks", func(c context.Context) error { _, err := s.Forks(c); return err }},
		{"Dump", func(c context.Context) error { return s.Dump(c, io.Discard, "event") }},
	}
	for _, r := range reads {
		for _, n := range []int64{0, 1, 5, 50} {
			err := r.read(after(n))
			if err != nil && (!errors.Is(err, context.Canceled) || store.Code(err) != store.CodeAborted) {
				t.Errorf("%s cancelled after %d checks: %v (code %s); want context.Canceled, ABORTED", r.name, n, err, store.Code(err))
			}
		}
	}
}
