package event

import (
	"bytes"
	"math"
	"testing"

	"github.com/factlog/factlog/wasm/internal/canon"
	"pgregory.net/rapid"
)

// libraryEncoding is the canonical encoding as the CBOR library writes it
// from canonical's struct tags: what AppendEncoding must equal.
func libraryEncoding(t *rapid.T, e *Event) []byte {
	c := canonical{Format: formatVersion, Peer: e.Peer[:], Seq: e.Seq, Clock: e.Clock, Time: e.Time, Item: e.Item, Type: e.Type, Value: string(e.Value)}
	for i := range e.Parents {
		c.Parents = append(c.Parents, e.Parents[i][:])
	}
	b, err := canon.Enc.Marshal(&c)
	if err != nil {
		t.Fatalf("the library cannot encode %+v: %v", e, err)
	}
	return b
}

// TestEncodingIsTheLibrarys: the hand-written encoder writes, byte for
// byte, the core deterministic CBOR of canonical, for every field at each
// size where CBOR's heads change length, and Decode reads it back.
func TestEncodingIsTheLibrarys(t *testing.T) {
	// Integers on both sides of every head size.
	edges := []uint64{0, 1, 23, 24, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64}
	uints := rapid.OneOf(rapid.SampledFrom(edges), rapid.Uint64())
	times := rapid.OneOf(rapid.SampledFrom([]int64{math.MinInt64, -25, -24, -1, 0, 23, 24, math.MaxInt64}), rapid.Int64())
	text := rapid.OneOf(rapid.String(), rapid.StringN(20, 300, 300), rapid.StringN(65530, 65600, 65600))
	rapid.Check(t, func(t *rapid.T) {
		e := Event{
			Seq: uints.Draw(t, "seq"), Clock: uints.Draw(t, "clock"), Time: times.Draw(t, "time"),
			Item: text.Draw(t, "item"), Type: text.Draw(t, "type"), Value: []byte(text.Draw(t, "value")),
		}
		copy(e.Peer[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "peer"))
		for i := range rapid.IntRange(0, 30).Draw(t, "parents") {
			var id ID
			copy(id[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "parent"))
			id[0] = byte(i) // distinct
			e.Parents = append(e.Parents, id)
		}
		want := libraryEncoding(t, &e)
		if got := e.Encode(); !bytes.Equal(got, want) {
			t.Fatalf("Encode wrote\n%x\nthe library writes\n%x", got, want)
		}
		if got := e.AppendEncoding([]byte{7}); !bytes.Equal(got[1:], want) || got[0] != 7 {
			t.Fatalf("AppendEncoding changed what it appends to, or appended another encoding")
		}
		back, err := Decode(want)
		if back.ID != e.Hash() || back.Seq != e.Seq || back.Time != e.Time || back.Item != e.Item || string(back.Value) != string(e.Value) || len(back.Parents) != len(e.Parents) {
			t.Fatalf("Decode read back %+v (%v), from %+v", back, err, e)
		}
	})
}
