package store_test

import (
	"fmt"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/sync"
	"pgregory.net/rapid"
)

func drawEdit(t *rapid.T) (typ string, value []byte) {
	typ = rapid.SampledFrom([]string{"create", "set_content", "set_completed", "delete", "reset", "label", "move_label", "note"}).Draw(t, "type")
	switch typ {
	case "set_completed":
		return typ, []byte(fmt.Sprint(rapid.Bool().Draw(t, "completed")))
	case "move_label":
		return typ, []byte(fmt.Sprintf("%q", rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "to")))
	case "delete":
		return typ, nil
	default:
		return typ, []byte(fmt.Sprintf("%q", rapid.SampledFrom([]string{"make pasta", "cook", "clean", "write", ""}).Draw(t, "text")))
	}
}

// split cuts a batch into a few batches of randomly chosen events (parents
// may come after their children), in random order, some sent twice.
func split(t *rapid.T, batch []byte) [][]byte {
	b, err := sync.Decode(batch)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	evs := b.Events
	k := rapid.IntRange(1, 4).Draw(t, "parts")
	parts := make([][]event.Event, k)
	for _, e := range evs {
		i := rapid.IntRange(0, k-1).Draw(t, "part")
		parts[i] = append(parts[i], e)
	}
	var out [][]byte
	for _, i := range rapid.Permutation(rapid.Just(rangeN(k)).Draw(t, "")).Draw(t, "order") {
		// Each part carries the signatures of the batch over its events:
		// its events may wait for another part's to cover them.
		part, err := sync.Encode(parts[i], b.Signatures)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		out = append(out, part)
		if rapid.IntRange(0, 4).Draw(t, "dup") == 0 {
			out = append(out, part)
		}
	}
	return out
}

func rangeN(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
