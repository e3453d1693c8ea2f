package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
	"pgregory.net/rapid"
)

// TestConvergence is the CRDT property: replicas that append concurrently,
// exchange batches that are duplicated, split, reordered and replayed, and
// go offline for a while, end with the same state, log, heads and version
// vector once they have all synced — and each incrementally maintained
// state equals a full replay of its log.
func TestConvergence(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		n := rapid.IntRange(2, 6).Draw(rt, "replicas")
		stores := make([]*store.Store, n)
		for i := range stores {
			stores[i] = openTest(rt, i)
			defer stores[i].Close()
		}
		offline := make([]bool, n)
		var sent [][]byte
		deliver := func(to int, batch []byte) {
			for _, part := range split(rt, batch) {
				if _, err := stores[to].Import(ctx, part); err != nil {
					rt.Fatalf("import into %d: %v", to, err)
				}
			}
		}
		steps := rapid.IntRange(1, 30).Draw(rt, "steps")
		for range steps {
			r := rapid.IntRange(0, n-1).Draw(rt, "replica")
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0, 1, 2, 3, 4:
				typ, value := drawEdit(rt)
				item := rapid.SampledFrom([]string{"a", "b", "c"}).Draw(rt, "item")
				if _, err := stores[r].Append(ctx, item, typ, value); err != nil && store.Code(err) != store.CodeMaterializer {
					rt.Fatalf("append: %v", err)
				}
			case 5, 6:
				o := rapid.IntRange(0, n-1).Draw(rt, "other")
				if o == r || offline[r] || offline[o] {
					continue
				}
				vv, err := stores[o].VersionVector(ctx)
				if err != nil {
					rt.Fatalf("version vector: %v", err)
				}
				if rapid.Bool().Draw(rt, "stale") { // an old vector resends what o has
					for p := range vv {
						vv[p] = vv[p] / 2
					}
				}
				batch, err := stores[r].ExportSince(ctx, vv)
				if err != nil {
					rt.Fatalf("export: %v", err)
				}
				sent = append(sent, batch)
				deliver(o, batch)
			case 7:
				if len(sent) > 0 && !offline[r] {
					deliver(r, rapid.SampledFrom(sent).Draw(rt, "old batch"))
				}
			default:
				offline[r] = !offline[r]
			}
		}
		// Everyone comes back online and syncs with everyone.
		for range 2 {
			for i := range stores {
				for j := range stores {
					if i == j {
						continue
					}
					vv, err := stores[j].VersionVector(ctx)
					if err != nil {
						rt.Fatalf("version vector: %v", err)
					}
					batch, err := stores[i].ExportSince(ctx, vv)
					if err != nil {
						rt.Fatalf("export: %v", err)
					}
					deliver(j, batch)
				}
			}
		}
		want := snapshot(rt, stores[0])
		for i, s := range stores {
			if got := snapshot(rt, s); got != want {
				rt.Fatalf("replica %d differs from replica 0:\n%s\nwant:\n%s", i, got, want)
			}
			info, err := s.Pending(ctx)
			if err != nil || info.Events != 0 {
				rt.Fatalf("replica %d: %d events still pending (%v)", i, info.Events, err)
			}
			incremental := stateDump(rt, s)
			if err := s.Rebuild(ctx, nil); err != nil {
				rt.Fatalf("rebuild: %v", err)
			}
			if full := stateDump(rt, s); full != incremental {
				rt.Fatalf("replica %d: incremental state\n%s\ndiffers from full replay\n%s", i, incremental, full)
			}
		}
	})
}

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
	evs, err := sync.Decode(batch)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	k := rapid.IntRange(1, 4).Draw(t, "parts")
	parts := make([][]event.Event, k)
	for _, e := range evs {
		i := rapid.IntRange(0, k-1).Draw(t, "part")
		parts[i] = append(parts[i], e)
	}
	var out [][]byte
	for _, i := range rapid.Permutation(rapid.Just(rangeN(k)).Draw(t, "")).Draw(t, "order") {
		b, err := sync.Encode(parts[i])
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		out = append(out, b)
		if rapid.IntRange(0, 4).Draw(t, "dup") == 0 {
			out = append(out, b)
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
