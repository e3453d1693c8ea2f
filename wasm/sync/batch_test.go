package sync

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/factlog/factlog/wasm/event"
	"pgregory.net/rapid"
)

// genLog draws a valid event set: authors append chains, each event
// linking its author's previous one and some earlier events.
func genLog(t *rapid.T) []event.Event {
	n := rapid.IntRange(0, 60).Draw(t, "events")
	authors := rapid.IntRange(1, 4).Draw(t, "authors")
	var evs []event.Event
	last := make([]*event.Event, authors)
	for i := range n {
		a := rapid.IntRange(0, authors-1).Draw(t, "author")
		e := event.Event{Peer: event.PeerID{byte(a + 1)}, Seq: 1, Clock: 1,
			Time:  rapid.Int64Range(1e12, 2e12).Draw(t, "time"),
			Item:  rapid.SampledFrom([]string{"", "a", "todo-1"}).Draw(t, "item"),
			Type:  rapid.SampledFrom([]string{"create", "set_content", "x"}).Draw(t, "type"),
			Value: fmt.Appendf(nil, `{"n":%d}`, i),
		}
		parents := map[event.ID]uint64{}
		if p := last[a]; p != nil {
			e.Seq = p.Seq + 1
			parents[p.ID] = p.Clock
		}
		for range rapid.IntRange(0, 3).Draw(t, "links") {
			if len(evs) > 0 {
				p := evs[rapid.IntRange(0, len(evs)-1).Draw(t, "link")]
				if p.Peer != e.Peer {
					parents[p.ID] = p.Clock
				}
			}
		}
		for id, c := range parents {
			e.Parents = append(e.Parents, id)
			e.Clock = max(e.Clock, c+1)
		}
		slices.SortFunc(e.Parents, event.ID.Compare)
		e.ID = e.Hash()
		evs = append(evs, e)
		last[a] = &evs[len(evs)-1]
	}
	return evs
}

func sorted(evs []event.Event) []event.Event {
	evs = slices.Clone(evs)
	slices.SortFunc(evs, event.ReplayOrder)
	return evs
}

// TestRoundTrip: any subset of a log, in any order, encodes to a batch
// that decodes to the same events in replay order — including parents
// outside the batch and their sent clocks.
func TestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		log := genLog(t)
		var subset []event.Event
		for _, e := range log {
			if rapid.Bool().Draw(t, "include") {
				subset = append(subset, e)
			}
		}
		sigs := map[event.ID]event.Signature{}
		for _, e := range subset {
			if rapid.IntRange(0, 3).Draw(t, "signed") == 0 {
				sigs[e.ID] = event.Signature{e.ID[0], e.ID[1], 7} // Decode does not verify
			}
		}
		b, err := Encode(subset, sigs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if want := sorted(subset); !reflect.DeepEqual(got.Events, want) && len(want) > 0 {
			t.Fatalf("decoded %v, want %v", got.Events, want)
		}
		if !reflect.DeepEqual(got.Signatures, sigs) {
			t.Fatalf("decoded signatures %v, want %v", got.Signatures, sigs)
		}
	})
}

func TestEncodeChunks(t *testing.T) {
	var evs []event.Event
	big := bytes.Repeat([]byte("x"), 20_000)
	for i := range 40 {
		e := event.Event{Peer: event.PeerID{1}, Seq: uint64(i + 1), Clock: uint64(i + 1), Type: "t", Value: fmt.Appendf(nil, `"%s%d"`, big, i)}
		if i > 0 {
			e.Parents = []event.ID{evs[i-1].ID}
		}
		e.ID = e.Hash()
		evs = append(evs, e)
	}
	const limit = 100 << 10
	chunks, err := EncodeChunks(evs, nil, limit)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) < 2 {
		t.Fatalf("%d chunks; the events do not fit in one", len(chunks))
	}
	var all []event.Event
	for i, c := range chunks {
		if len(c) > limit {
			t.Fatalf("chunk %d has %d bytes, over the limit %d", i, len(c), limit)
		}
		part, err := Decode(c)
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		all = append(all, part.Events...)
	}
	if !reflect.DeepEqual(all, evs) {
		t.Fatal("the chunks do not hold the events")
	}
	if _, err := EncodeChunks(evs, nil, 1000); err == nil {
		t.Fatal("a limit below MinChunkLimit was accepted")
	}
}

// seal makes a chunk by hand, compressed as zlib does by default.
func seal(t testing.TB, c *chunk, version uint64) []byte {
	t.Helper()
	raw, err := encMode.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	w := zlibWriter(&z)
	w.Write(raw)
	w.Close()
	b, _ := encMode.Marshal(&envelope{Version: version, Data: z.Bytes()})
	return b
}

// TestDecodeRejects covers what only a hand-made batch can get wrong.
func TestDecodeRejects(t *testing.T) {
	e1 := event.Event{Peer: event.PeerID{1}, Seq: 1, Clock: 1, Type: "t", Value: []byte("1")}
	e1.ID = e1.Hash()
	e2 := event.Event{Peer: event.PeerID{1}, Seq: 2, Clock: 2, Parents: []event.ID{e1.ID}, Type: "t", Value: []byte("2")}
	e2.ID = e2.Hash()
	tests := []struct {
		name   string
		batch  func() []byte
		reason error
	}{
		{"version 1 (unsigned events)", func() []byte { return seal(t, buildChunk([]event.Event{e1}, nil), 1) }, ErrVersion},
		{"signature out of range", func() []byte {
			c := buildChunk([]event.Event{e1}, map[event.ID]event.Signature{e1.ID: {}})
			c.Signed = []uint64{1}
			return seal(t, c, batchVersion)
		}, ErrCorrupt},
		{"short signature", func() []byte {
			c := buildChunk([]event.Event{e1}, map[event.ID]event.Signature{e1.ID: {}})
			c.Signatures[0] = c.Signatures[0][:63]
			return seal(t, c, batchVersion)
		}, ErrCorrupt},
		{"signatures out of order", func() []byte {
			c := buildChunk([]event.Event{e1, e2}, map[event.ID]event.Signature{e1.ID: {1}, e2.ID: {2}})
			slices.Reverse(c.Signed)
			slices.Reverse(c.Signatures)
			return seal(t, c, batchVersion)
		}, ErrCorrupt},
		{"events out of order", func() []byte {
			r := event.Event{Peer: event.PeerID{2}, Seq: 1, Clock: 1, Type: "t", Value: []byte("1")}
			r.ID = r.Hash()
			c := buildChunk(sorted([]event.Event{e1, r}), nil)
			slices.Reverse(c.Peer)
			return seal(t, c, batchVersion)
		}, event.ErrNonCanonical},
		{"forward parent reference", func() []byte {
			c := buildChunk([]event.Event{e1, e2}, nil)
			c.Parents = [][]int64{{1}, {}}
			return seal(t, c, batchVersion)
		}, ErrCorrupt},
		{"unused table entry", func() []byte {
			c := buildChunk([]event.Event{e1, e2}, nil)
			c.Types = append(c.Types, "unused")
			return seal(t, c, batchVersion)
		}, event.ErrNonCanonical},
		{"duplicate event", func() []byte {
			c := buildChunk([]event.Event{e1}, nil)
			c.Peer, c.SeqDelta, c.TimeDelta, c.Item, c.Type = []uint64{0, 0}, []int64{1, 0}, []int64{0, 0}, []uint64{0, 0}, []uint64{0, 0}
			c.Value, c.Parents, c.Heads = []string{"1", "1"}, [][]int64{{}, {}}, [][]byte{e1.ID[:], e1.ID[:]}
			return seal(t, c, batchVersion)
		}, event.ErrNonCanonical},
		{"columns of different lengths", func() []byte {
			c := buildChunk([]event.Event{e1, e2}, nil)
			c.Value = c.Value[:1]
			return seal(t, c, batchVersion)
		}, ErrCorrupt},
		{"too many events", func() []byte {
			c := buildChunk([]event.Event{e1}, nil)
			c.Peer = make([]uint64, MaxChunkEvents+1)
			return seal(t, c, batchVersion)
		}, event.ErrTooLarge},
		{"empty chunk", func() []byte { return seal(t, &chunk{}, batchVersion) }, ErrCorrupt},
		{"zlib bomb", func() []byte {
			var z bytes.Buffer
			w := zlibWriter(&z)
			w.Write(make([]byte, MaxChunkBytes+1))
			w.Close()
			b, _ := encMode.Marshal(&envelope{Version: batchVersion, Data: z.Bytes()})
			return b
		}, event.ErrTooLarge},
		{"trailing bytes after zlib", func() []byte {
			b := seal(t, buildChunk([]event.Event{e1}, nil), batchVersion)
			var env envelope
			decMode.Unmarshal(b, &env)
			env.Data = append(env.Data, 0)
			b, _ = encMode.Marshal(&env)
			return b
		}, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.batch())
			if !errors.Is(err, tt.reason) {
				t.Fatalf("Decode() error = %v, want %v", err, tt.reason)
			}
		})
	}
}

func TestVersionVector(t *testing.T) {
	a, b := event.PeerID{1}, event.PeerID{2}
	vv := VersionVector{a: {{Seq: 3, ID: event.ID{3}}}}
	vv.Add(a, Tip{Seq: 3, ID: event.ID{3}})
	vv.Merge(VersionVector{b: {{Seq: 5}}, a: {{Seq: 4, ID: event.ID{4}}}})
	if vv.Seq(a) != 4 || vv.Seq(b) != 5 || vv.Seq(event.PeerID{9}) != 0 || len(vv[a]) != 2 {
		t.Fatalf("vv = %v", vv)
	}
	j, err := vv.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var back VersionVector
	if err := back.UnmarshalJSON(j); err != nil || !back.Equal(vv) {
		t.Fatalf("%s reads back as %v (%v), want %v", j, back, err, vv)
	}
	var plain VersionVector
	if err := plain.UnmarshalJSON([]byte(`{"` + a.String() + `": 12}`)); err != nil || plain.Seq(a) != 12 {
		t.Fatalf("a vector of seqs: %v, %v", plain, err)
	}
	for _, bad := range []string{`{"zz": 1}`, `{"` + a.String() + `:xx": 1}`, `{"` + a.String() + `": -1}`, `[]`} {
		if err := plain.UnmarshalJSON([]byte(bad)); err == nil {
			t.Errorf("UnmarshalJSON(%s) succeeded", bad)
		}
	}
}
