package jsvfs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/todo"
)

// osDir is a Dir on the native file system, standing in for OPFS and Node.
type osDir struct{ root string }

type osHandle struct{ *os.File }

func (h osHandle) ReadAt(p []byte, off int64) (int, error) {
	n, err := h.File.ReadAt(p, off)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}
func (h osHandle) Flush() error { return h.File.Sync() }
func (h osHandle) Size() (int64, error) {
	st, err := h.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (d osDir) Open(name string, create bool) (Handle, error) {
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE
	}
	f, err := os.OpenFile(filepath.Join(d.root, name), flag, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	return osHandle{f}, err
}

func (d osDir) Delete(name string) error {
	err := os.Remove(filepath.Join(d.root, name))
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	return err
}

func (d osDir) Exists(name string) (bool, error) {
	_, err := os.Stat(filepath.Join(d.root, name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// TestPersists opens a store through the VFS, appends, closes, reopens:
// the events and the state are there, and nothing is replayed.
func TestPersists(t *testing.T) {
	dir := t.TempDir()
	Register("jsvfs-test", osDir{dir})
	ctx := context.Background()
	open := func() *store.Store {
		s, err := store.Open(ctx, store.Options{Path: "todos", VFS: "jsvfs-test", Schema: todo.Schema, Materializers: todo.LastWriterWins,
			Progress: func(done, total int) { t.Errorf("reopen replayed %d of %d events", done, total) }})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	s.Append(ctx, "1", "create", []byte(`"make pasta"`))
	if _, err := s.Append(ctx, "1", "set_completed", []byte(`true`)); err != nil {
		t.Fatal(err)
	}
	peer := s.Peer()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "todos")); err != nil {
		t.Fatalf("no database file: %v", err)
	}
	s = open()
	defer s.Close()
	mode, err := s.Query(ctx, `PRAGMA journal_mode`)
	if err != nil || mode.Values[0][0] != "wal" {
		t.Fatalf("journal mode %v (%v), want wal", mode, err)
	}
	rows, err := s.Query(ctx, `SELECT content, completed FROM todo`)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows.Values) != 1 || rows.Values[0][0] != "make pasta" || rows.Values[0][1] != int64(1) || s.Peer() != peer {
		t.Fatalf("after reopen: %v, peer %s (was %s)", rows.Values, s.Peer(), peer)
	}
}

// TestCommitIsOnFile copies a store's files as the system has them after
// every acknowledged write — what a process killed with -9 leaves — and
// opens the copy: everything acknowledged is in it. The WAL's writes are
// gathered (walfile.go); this is what they must never hold back. The
// store's page cache is small, so that the large writes spill pages into
// the WAL before they commit, and their frames outgrow what is gathered.
func TestCommitIsOnFile(t *testing.T) {
	ctx := context.Background()
	n := 20000
	if testing.Short() { // the WebAssembly run
		n = 3000
	}
	dir := t.TempDir()
	Register("jsvfs-commit", osDir{dir})
	opts := store.Options{Path: "todos", VFS: "jsvfs-commit", Schema: todo.Schema, Materializers: todo.LastWriterWins, MaxMemory: 8 << 20}
	s, err := store.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := store.Open(ctx, store.Options{Path: ":memory:", Schema: todo.Schema, Materializers: todo.LastWriterWins})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	many := func(from *store.Store, n int, text string) error {
		in := make([]store.Input, n)
		for i := range in {
			in[i] = store.Input{Item: fmt.Sprintf("todo-%04d", i%1500), Type: "create", Value: fmt.Appendf(nil, "%q", fmt.Sprint(text, i, strings.Repeat("·", i%300)))}
		}
		_, err := from.AppendMany(ctx, in)
		return err
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"an append", func() error { _, err := s.Append(ctx, "a", "create", []byte(`"first"`)); return err }},
		{"another append", func() error { _, err := s.Append(ctx, "a", "set_completed", []byte(`true`)); return err }},
		{"a large appendMany", func() error { return many(s, n, "here ") }},
		{"a large import", func() error {
			if err := many(other, n, "there "); err != nil {
				return err
			}
			batch, err := other.ExportSince(ctx, nil)
			if err == nil {
				_, err = s.Import(ctx, batch)
			}
			return err
		}},
		{"an append after the import", func() error { _, err := s.Append(ctx, "b", "create", []byte(`"last"`)); return err }},
	}
	for i, step := range steps {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		crashed := t.TempDir()
		// The database first: an idle checkpoint meanwhile copies pages
		// from the WAL into it, and leaves the WAL whole.
		for _, name := range []string{"todos", "todos-wal"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(crashed, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		vfsName := fmt.Sprintf("jsvfs-commit-%d", i)
		Register(vfsName, osDir{crashed})
		copied := opts
		copied.VFS = vfsName
		c, err := store.Open(ctx, copied)
		if err != nil {
			t.Fatalf("after %s, the files left open as: %v", step.name, err)
		}
		for _, check := range []func(*store.Store) (string, error){dumpOf, headsOf} {
			want, err := check(s)
			if err != nil {
				t.Fatal(err)
			}
			got, err := check(c)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("after %s, the files left hold %.200s…, the store %.200s…", step.name, got, want)
			}
		}
		c.Close()
	}
}

func dumpOf(s *store.Store) (string, error) {
	var b strings.Builder
	err := s.Dump(context.Background(), &b)
	return b.String(), err
}

// headsOf says which events a store holds: how many, each author's
// highest seq, and the heads.
func headsOf(s *store.Store) (string, error) {
	ctx := context.Background()
	n, err := s.Query(ctx, `SELECT count(*) FROM event`)
	if err != nil {
		return "", err
	}
	vv, err := s.VersionVector(ctx)
	if err != nil {
		return "", err
	}
	heads, err := s.Heads(ctx)
	return fmt.Sprint(n.Values, vv, heads), err
}

// faultyDir is an osDir whose WAL fails to write, as a full disk does,
// where its fault says, while it is armed.
type faultyDir struct {
	osDir
	mu     sync.Mutex
	writes int64                                   // since arm
	fault  func(write int64, p []byte) (fail bool) // nil: none
}

func (d *faultyDir) arm(fault func(int64, []byte) bool) {
	d.mu.Lock()
	d.writes, d.fault = 0, fault
	d.mu.Unlock()
}

func (d *faultyDir) disarm() (writes int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fault = nil
	return d.writes
}

func (d *faultyDir) Open(name string, create bool) (Handle, error) {
	h, err := d.osDir.Open(name, create)
	if err != nil || !strings.HasSuffix(name, "-wal") {
		return h, err
	}
	return faultyHandle{h, d}, nil
}

type faultyHandle struct {
	Handle
	d *faultyDir
}

var errDiskFull = errors.New("no space left on device")

func (h faultyHandle) WriteAt(p []byte, off int64) (int, error) {
	h.d.mu.Lock()
	h.d.writes++
	fail := h.d.fault != nil && h.d.fault(h.d.writes, p)
	h.d.mu.Unlock()
	if fail {
		return 0, errDiskFull
	}
	return h.Handle.WriteAt(p, off)
}

// TestWALWriteFails fails the WAL's writes, as a full disk does, from
// several points of a transaction on: the transaction fails, and after
// the store is opened again it holds exactly what was acknowledged — the
// events before and after, not the failed ones — in a state that a
// rebuild from its log reproduces. The large transaction, an import,
// spills pages into the WAL before it commits, writes some twice (so
// that SQLite rewrites the checksums after the commit's frame: the
// commit's last write comes after SQLite counts it done), and outgrows
// what the WAL gathers; an append's commit is one gathered write.
func TestWALWriteFails(t *testing.T) {
	ctx := context.Background()
	other, err := store.Open(ctx, store.Options{Path: ":memory:", Schema: todo.Schema, Materializers: todo.LastWriterWins})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	in := make([]store.Input, 20000)
	if testing.Short() { // the WebAssembly run
		in = in[:4000]
	}
	for i := range in {
		in[i] = store.Input{Item: fmt.Sprintf("todo-%04d", i%1500), Type: "create", Value: fmt.Appendf(nil, "%q", fmt.Sprint(i, strings.Repeat("·", i%300)))}
	}
	if _, err := other.AppendMany(ctx, in); err != nil {
		t.Fatal(err)
	}
	batch, err := other.ExportSince(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	importAll := func(s *store.Store) (int, error) { _, err := s.Import(ctx, batch); return len(in), err }
	appendOne := func(s *store.Store) (int, error) {
		_, err := s.Append(ctx, "one", "create", []byte(`"one"`))
		return 1, err
	}

	type outcome struct {
		failed    bool // a write failed
		tx, after bool // the transaction, the append after it, acknowledged
		writes    int64
	}
	runs := 0
	run := func(tx func(*store.Store) (int, error), fault func(int64, []byte) bool) outcome {
		dir := t.TempDir()
		d := &faultyDir{osDir: osDir{dir}}
		runs++
		vfsName := fmt.Sprintf("jsvfs-fault-%d", runs)
		Register(vfsName, d)
		opts := store.Options{Path: "todos", VFS: vfsName, Schema: todo.Schema, Materializers: todo.LastWriterWins, MaxMemory: 8 << 20}
		s, err := store.Open(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, "before", "create", []byte(`"acknowledged"`)); err != nil {
			t.Fatal(err)
		}
		failed := false
		d.arm(func(w int64, p []byte) bool {
			failed = failed || fault != nil && fault(w, p)
			return failed
		})
		n, err := tx(s)
		o := outcome{failed: failed, tx: err == nil}
		o.writes = d.disarm()
		if failed && err == nil {
			t.Fatalf("a write failed (of %d), and the transaction did not", o.writes)
		}
		_, err = s.Append(ctx, "after", "create", []byte(`"acknowledged too"`))
		o.after = err == nil
		s.Close()
		s, err = store.Open(ctx, opts)
		if err != nil {
			t.Fatalf("the store does not open again: %v", err)
		}
		defer s.Close()
		want := 1 + map[bool]int{true: n}[o.tx] + map[bool]int{true: 1}[o.after]
		if got, err := s.Query(ctx, `SELECT count(*) FROM event`); err != nil || got.Values[0][0] != int64(want) {
			t.Fatalf("the store holds %v events (%v); acknowledged were %d", got.Values, err, want)
		}
		state, err := dumpOf(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Rebuild(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if rebuilt, err := dumpOf(s); err != nil || rebuilt != state {
			t.Fatalf("the state is not its log's (%v):\n%.300s\nrebuilt:\n%.300s", err, state, rebuilt)
		}
		return o
	}
	all := run(importAll, nil)
	if !all.tx || !all.after {
		t.Fatalf("without a failure: %+v", all)
	}
	from := func(k int64) func(int64, []byte) bool { return func(w int64, _ []byte) bool { return w >= k } }
	// A failed write within the commit fails it, and the store goes on.
	points := []int64{1, 2, 3, all.writes / 2}
	if testing.Short() {
		points = []int64{1, all.writes / 2}
	}
	for _, k := range points {
		if o := run(importAll, from(k)); o.tx || !o.after {
			t.Errorf("import, failing from write %d of %d: %+v", k, all.writes, o)
		}
	}
	if o := run(appendOne, from(1)); o.tx || !o.after {
		t.Errorf("append, failing its commit's write: %+v", o)
	}
	// The commit frame's header written again, alone, is the commit's last
	// write. The WAL fails from then on: the store must be opened again.
	lastHeader := func(_ int64, p []byte) bool { return len(p) == 24 && binary.BigEndian.Uint32(p[4:8]) != 0 }
	switch o := run(importAll, lastHeader); {
	case !o.failed && testing.Short():
		t.Log("at this size, no commit ended with its frame's header written again")
	case !o.failed:
		t.Error("the import never wrote a commit frame's header alone: the end of a commit is not tried")
	case o.tx || o.after:
		t.Errorf("import, failing the commit frame's header written again: %+v", o)
	}
}
