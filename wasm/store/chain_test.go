package store_test

import (
	"context"
	"testing"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/proptest"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
)

// TestLongChain imports and replays one author's chain of 50,000 events
// (a million in the soak, 10,000 in the slower WebAssembly run): nothing recurses over the chain's depth, so
// neither the native stack nor the browser's can overflow.
func TestLongChain(t *testing.T) {
	n := 50_000
	switch {
	case proptest.Soak():
		n = 1_000_000
	case testing.Short(): // the WebAssembly run
		n = 10_000
	}
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{
		MaxMemory:     int64(n) << 11, // the log, in memory: about a kilobyte an event
		Schema:        `CREATE TABLE counter (n INTEGER NOT NULL); INSERT INTO counter VALUES (0);`,
		Materializers: map[string]string{"tick": `UPDATE counter SET n = n + 1`},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var prev *event.Event
	chunk := make([]event.Event, 0, sync.MaxChunkEvents)
	for seq := 1; seq <= n; seq++ {
		e := event.Event{Peer: author(107), Seq: uint64(seq), Clock: uint64(seq), Type: "tick", Value: []byte("null")}
		if prev != nil {
			e.Parents = []event.ID{prev.ID}
		}
		e.ID = e.Hash()
		chunk = append(chunk, e)
		prev = &chunk[len(chunk)-1]
		if len(chunk) == cap(chunk) || seq == n {
			batch, err := sync.Encode(chunk, sign(chunk))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Import(ctx, batch); err != nil {
				t.Fatalf("import up to seq %d: %v", seq, err)
			}
			last := chunk[len(chunk)-1]
			prev = &last
			chunk = chunk[:0]
		}
	}
	calls := 0
	if err := s.Rebuild(ctx, func(done, total int) { calls++ }); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Query(ctx, `SELECT n FROM counter`)
	if err != nil {
		t.Fatal(err)
	}
	if got := rows.Values[0][0]; got != int64(n) || calls != n/1000 {
		t.Fatalf("counter %v after %d progress reports, want %d after %d", got, calls, n, n/1000)
	}
}
