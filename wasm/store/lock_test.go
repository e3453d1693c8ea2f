package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/todo"
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
