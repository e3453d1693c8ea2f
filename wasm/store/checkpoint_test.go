package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestIdleCheckpoint: the write-ahead log of a file store stays within
// its burst limit while appends come without a pause, and is checkpointed
// once the store is idle.
func TestIdleCheckpoint(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "wal.db"),
		Schema: `CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)`, Materializers: map[string]string{"put": `INSERT OR REPLACE INTO t VALUES (:item, :value)`}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pages := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.ckpt.pages
	}
	most := 0
	for i := range 3000 {
		if _, err := s.Append(ctx, fmt.Sprint(i%500), "put", fmt.Appendf(nil, `"%0100d"`, i)); err != nil {
			t.Fatal(err)
		}
		most = max(most, pages())
	}
	if most < walIdlePages || most > walBurstPages {
		t.Fatalf("the log reached %d pages; want between %d and %d", most, walIdlePages, walBurstPages)
	}
	for deadline := time.Now().Add(10 * time.Second); pages() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the idle store has %d pages in its log after 10 s", pages())
		}
	}
}
