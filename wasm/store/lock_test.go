package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/todo"
	"github.com/ncruces/go-sqlite3"
)

// TestOneWriterPerFile: a store file has one writer. A second Open of the
// same file, with the same interpretation or another, fails with LOCKED
// and changes nothing; once the first closes, it opens.
func TestOneWriterPerFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "todos.db")
	first, err := store.Open(ctx, store.Options{Path: path, Schema: todo.Schema, Materializers: todo.LastWriterWins})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Append(ctx, "1", "create", []byte(`"one"`)); err != nil {
		t.Fatal(err)
	}
	for _, m := range []map[string]string{todo.LastWriterWins, todo.StaysCompleted} {
		second, err := store.Open(ctx, store.Options{Path: path, Schema: todo.Schema, Materializers: m})
		if err == nil {
			second.Close()
			t.Fatal("a second Open of an open store file succeeded")
		}
		if !errors.Is(err, store.ErrLocked) || store.Code(err) != store.CodeLocked {
			t.Fatalf("second Open: %v (code %s), want %v", err, store.Code(err), store.ErrLocked)
		}
	}
	if _, err := first.Append(ctx, "2", "create", []byte(`"two"`)); err != nil {
		t.Fatalf("the first store stopped working: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := store.Open(ctx, store.Options{Path: path, Schema: todo.Schema, Materializers: todo.LastWriterWins})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	defer again.Close()
	rows, err := again.Query(ctx, `SELECT count(*) FROM todo`)
	if err != nil || rows.Values[0][0] != int64(2) {
		t.Fatalf("todos after reopening: %v (%v), want 2", rows, err)
	}
}

// TestForeignDatabaseRefused: another application's SQLite database is
// refused, unchanged to the byte (its journal mode included); an empty
// database becomes a store.
func TestForeignDatabaseRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "theirs.db")
	c, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(`CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('Ada'); CREATE VIEW names AS SELECT name FROM contacts`); err != nil {
		t.Fatal(err)
	}
	c.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.Open(ctx, store.Options{Path: path, Schema: todo.Schema, Materializers: todo.LastWriterWins})
	if store.Code(err) != store.CodeArgument || !strings.Contains(err.Error(), "not a factlog store") || !strings.Contains(err.Error(), "contacts, names") {
		t.Fatalf("open another application's database: %v (code %s); want INVALID_ARGUMENT naming its tables", err, store.Code(err))
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the refused database changed (%v)", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "theirs.db-*")); len(left) != 0 {
		t.Fatalf("files left beside it: %v", left)
	}

	empty := filepath.Join(dir, "empty.db")
	if c, err = sqlite3.Open(empty); err != nil {
		t.Fatal(err)
	}
	c.Exec(`PRAGMA user_version = 1`)
	c.Close()
	s, err := store.Open(ctx, store.Options{Path: empty, Schema: todo.Schema, Materializers: todo.LastWriterWins})
	if err != nil {
		t.Fatalf("open an empty database: %v", err)
	}
	s.Close()
}

// TestDamagedStoreRefused: a store file cut short (a copy that did not
// finish, a full disk) is refused at open with INVALID_ARGUMENT saying
// that the file is damaged and what to do, not as a query SQLite refused;
// the file is left as it was, for whoever can repair it.
func TestDamagedStoreRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "todos.db")
	s, err := store.Open(ctx, store.Options{Path: path, Schema: todo.Schema, Materializers: todo.LastWriterWins})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := s.Append(ctx, fmt.Sprint(i), "create", []byte(`"a todo with some words in it"`)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{100, 4096, 8192, len(whole) / 2} {
		cut := filepath.Join(dir, fmt.Sprintf("cut%d.db", size))
		if err := os.WriteFile(cut, whole[:size], 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := store.Open(ctx, store.Options{Path: cut, Schema: todo.Schema, Materializers: todo.LastWriterWins})
		if store.Code(err) != store.CodeArgument || !strings.Contains(err.Error(), "is damaged") {
			t.Errorf("open a store cut to %d of %d bytes: %v (code %s); want INVALID_ARGUMENT saying it is damaged", size, len(whole), err, store.Code(err))
		}
		if !errors.Is(err, sqlite3.CORRUPT) {
			t.Errorf("open a store cut to %d bytes: %v; want it to wrap SQLite's CORRUPT", size, err)
		}
		if after, err := os.ReadFile(cut); err != nil || !bytes.Equal(whole[:size], after) {
			t.Errorf("the damaged store cut to %d bytes changed (%v)", size, err)
		}
	}
}

// TestDirectoryInTheWay: a directory where the store keeps its file is
// INVALID_ARGUMENT saying so, not a hint about the directory the store is
// in. (In Node, where its -wal or -lock is too: lock.test.mjs.)
func TestDirectoryInTheWay(t *testing.T) {
	ctx := context.Background()
	for _, in := range []string{"todos.db"} {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, in), 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := store.Open(ctx, store.Options{Path: filepath.Join(dir, "todos.db"), Schema: todo.Schema, Materializers: todo.LastWriterWins})
		if store.Code(err) != store.CodeArgument || !strings.Contains(err.Error(), "a directory is where the store keeps a file") {
			t.Errorf("a directory at %s: %v (code %s); want INVALID_ARGUMENT saying a directory is in the way", in, err, store.Code(err))
		}
	}
}
