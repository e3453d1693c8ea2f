package jsvfs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
