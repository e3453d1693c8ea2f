package store_test

import (
	"context"
	"testing"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/sync"
)

// FuzzImportSigned: whatever bytes arrive, a store accepts no event its
// author did not sign. The corpus starts from valid signed batches (a
// chain, a fork, a batch with several authors); every event an import
// adds must be one of the events those batches hold, unchanged.
func FuzzImportSigned(f *testing.F) {
	base, bx, by := forkedLog(f, 3, 2)
	genuine := map[event.ID]bool{}
	for _, e := range append(append(append([]event.Event{}, base...), bx...), by...) {
		genuine[e.ID] = true
	}
	enc := func(evs ...event.Event) []byte {
		b, err := sync.Encode(evs, sign(evs))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(enc(base...))
	f.Add(enc(bx...))
	f.Add(enc(append(append([]event.Event{}, bx...), by...)...))
	f.Add(enc(by[1:]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := openTest(t, 40)
		defer s.Close()
		ctx := context.Background()
		if _, err := s.Import(ctx, enc(base...)); err != nil {
			t.Fatal(err)
		}
		res, err := s.Import(ctx, b)
		if err != nil {
			return
		}
		evs, err := s.Events(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if !genuine[e.ID] {
				t.Fatalf("accepted event %s (%s %s), which no author signed (import: %+v)", e.ID, e.Type, e.Value, res)
			}
		}
	})
}
