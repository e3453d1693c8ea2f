package sync

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"

	"github.com/factlog/factlog/wasm/event"
)

// chain returns n events of one author, each with value(i) and linking the
// one before.
func chain(n int, value func(i int) []byte) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		e := &evs[i]
		*e = event.Event{Peer: event.PeerID{1}, Seq: uint64(i + 1), Clock: uint64(i + 1), Time: 1, Type: "t", Item: "i", Value: value(i)}
		if i > 0 {
			e.Parents = []event.ID{evs[i-1].ID}
		}
		e.ID = e.Hash()
	}
	return evs
}

// TestEncodeDecodes: whatever the events, what Encode writes Decode reads —
// more than MaxChunkBytes of them, incompressible or as compressible as
// values get.
func TestEncodeDecodes(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name  string
		n     int
		value func(i int) []byte
	}{
		{"random letters, 17 MB", 1100, func(i int) []byte {
			b := make([]byte, 16<<10)
			for j := range b {
				b[j] = 'a' + byte(rnd.IntN(26))
			}
			return fmt.Appendf(nil, `"%s"`, b)
		}},
		{"one letter, 60 KiB each, 6 MB", 100, func(int) []byte {
			return []byte(`"` + string(bytes.Repeat([]byte("a"), 60<<10)) + `"`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := chain(tc.n, tc.value)
			b, err := Encode(evs, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode refuses what Encode wrote (%d bytes): %v", len(b), err)
			}
			if !reflect.DeepEqual(got.Events, evs) {
				t.Fatal("the batch does not hold the events")
			}
		})
	}
}

// TestDecodeExpansion: a batch made by hand of chunks that each inflate a
// thousandfold, each within MaxChunkBytes, is refused as too large as soon
// as its chunks together inflate past the bound, before the rest is read:
// a room member cannot make a replica hold hundreds of megabytes with one
// relay frame.
func TestDecodeExpansion(t *testing.T) {
	evs := chain(250, func(int) []byte { return []byte(`"` + string(bytes.Repeat([]byte("a"), 60<<10)) + `"`) })
	chunk := seal(t, buildChunk(evs, nil), batchVersion)
	batch := bytes.Repeat(chunk, (1<<20)/len(chunk)) // one relay frame
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Decode(batch)
	runtime.ReadMemStats(&after)
	var be *BatchError
	if !errors.Is(err, event.ErrTooLarge) || !errors.As(err, &be) {
		t.Fatalf("%d KiB of chunks that inflate a thousandfold: %v, want a *BatchError for event.ErrTooLarge", len(batch)>>10, err)
	}
	inflated := 250 * (60<<10 + 2) // at least, per chunk
	if limit := ExpansionAllowance + MaxExpansion*len(batch); be.Chunk > limit/inflated {
		t.Errorf("refused at chunk %d; the bound (%d bytes) is passed at chunk %d", be.Chunk, limit, limit/inflated)
	}
	t.Logf("%v; %d MiB allocated", err, (after.TotalAlloc-before.TotalAlloc)>>20)
}
