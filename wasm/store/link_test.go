package store_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
	"github.com/factlog/factlog/wasm/todo"
	"github.com/ncruces/go-sqlite3"
)

// TestLinkStateOfEarlierStore: a store whose link table was made before
// links kept the digest of the body at their cursor reads its saved state
// as it was, and keeps digests from then on.
func TestLinkStateOfEarlierStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "todos.db")
	s, err := store.Open(ctx, store.Options{Path: path, Schema: todo.Schema, Materializers: todo.LastWriterWins})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	c, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(`CREATE TABLE _factlog_link (key TEXT PRIMARY KEY NOT NULL, epoch TEXT NOT NULL, cursor INTEGER NOT NULL, room TEXT NOT NULL) WITHOUT ROWID;
		INSERT INTO _factlog_link VALUES ('ws://relay/v1/rooms/a', 'e1', 7, '{}')`); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if s, err = store.Open(ctx, store.Options{Path: path, Schema: todo.Schema, Materializers: todo.LastWriterWins}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.LinkState(ctx, "ws://relay/v1/rooms/a")
	if err != nil || st.Epoch != "e1" || st.Cursor != 7 || st.Digest != nil {
		t.Fatalf("saved state %+v (%v), want epoch e1, cursor 7, no digest", st, err)
	}
	want := store.LinkState{Epoch: "e1", Cursor: 8, Digest: []byte{1, 2, 3}, Room: sync.VersionVector{}}
	if err := s.SaveLinkState(ctx, "ws://relay/v1/rooms/a", want); err != nil {
		t.Fatal(err)
	}
	if st, err = s.LinkState(ctx, "ws://relay/v1/rooms/a"); err != nil || st.Cursor != 8 || !bytes.Equal(st.Digest, want.Digest) {
		t.Fatalf("state %+v (%v), want %+v", st, err, want)
	}
}
