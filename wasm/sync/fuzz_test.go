package sync

import (
	"bytes"
	"compress/zlib"
	"io"
	"testing"

	"github.com/factlog/factlog/wasm/event"
)

func zlibWriter(w io.Writer) *zlib.Writer { return zlib.NewWriter(w) }

// FuzzDecode: whatever the input, Decode does not panic, and a batch it
// accepts is canonical: its chunks re-encode to exactly the input.
func FuzzDecode(f *testing.F) {
	e1 := event.Event{Peer: event.PeerID{1}, Seq: 1, Clock: 1, Type: "create", Item: "1", Value: []byte(`"make pasta"`)}
	e1.ID = e1.Hash()
	e2 := event.Event{Peer: event.PeerID{2}, Seq: 1, Clock: 2, Parents: []event.ID{e1.ID}, Type: "set_completed", Item: "1", Value: []byte(`true`)}
	e2.ID = e2.Hash()
	for _, evs := range [][]event.Event{{e1}, {e2}, {e1, e2}} {
		b, _ := Encode(evs, map[event.ID]event.Signature{evs[len(evs)-1].ID: {1, 2, 3}})
		f.Add(b)
	}
	b, _ := Encode([]event.Event{e1}, nil)
	f.Add(append(b, b...))
	f.Add([]byte{})
	f.Add([]byte{0x82, 0x01, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		batch, err := Decode(b)
		if err != nil {
			return
		}
		var again []byte
		for rest := b; len(rest) > 0; {
			var env envelope
			next, err := decMode.UnmarshalFirst(rest, &env)
			if err != nil {
				t.Fatalf("accepted batch has an unreadable envelope: %v", err)
			}
			part, err := Decode(rest[:len(rest)-len(next)])
			if err != nil {
				t.Fatalf("accepted batch has an unreadable chunk: %v", err)
			}
			raw, _ := encMode.Marshal(buildChunk(part.Events, part.Signatures))
			got, _ := inflate(env.Data, &expansion{left: MaxChunkBytes})
			if !bytes.Equal(raw, got) {
				t.Fatal("accepted a chunk that is not canonical")
			}
			again = append(again, rest[:len(rest)-len(next)]...)
			rest = next
		}
		if len(batch.Events) > 0 && !bytes.Equal(again, b) {
			t.Fatal("chunks do not make up the batch")
		}
	})
}
