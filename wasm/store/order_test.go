package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/factlog/factlog/wasm/dag"
	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/proptest"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
)

// buildLog makes a DAG of about n events: five replicas edit a few dozen
// todos and now and then sync with each other, so the DAG has concurrent
// branches and merges. It returns the log as a replica holding all of it
// exports it: every event, and the signatures kept.
func buildLog(t testing.TB, n int, seed uint64) *sync.Batch {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 1))
	stores := make([]*store.Store, 5)
	for i := range stores {
		stores[i] = openTest(t, i)
		defer stores[i].Close()
	}
	var inputs []store.Input
	for i := 0; i < n; i += len(inputs) {
		s := stores[rng.IntN(len(stores))]
		inputs = inputs[:0]
		for range min(1+rng.IntN(20), n-i) {
			inputs = append(inputs, randomEdit(rng))
		}
		if _, err := s.AppendMany(ctx, inputs); err != nil && store.Code(err) != store.CodeMaterializer {
			t.Fatalf("append: %v", err)
		}
		if rng.IntN(3) == 0 {
			to := stores[rng.IntN(len(stores))]
			vv, _ := to.VersionVector(ctx)
			batch, err := s.ExportSince(ctx, vv)
			if err == nil {
				_, err = to.Import(ctx, batch)
			}
			if err != nil {
				t.Fatalf("sync: %v", err)
			}
		}
	}
	// Everyone's exports into the first, which then holds the log with
	// the signatures the authors made when they exported their events.
	for _, s := range stores[1:] {
		vv, err := stores[0].VersionVector(ctx)
		if err != nil {
			t.Fatal(err)
		}
		batch, err := s.ExportSince(ctx, vv)
		if err == nil {
			_, err = stores[0].Import(ctx, batch)
		}
		if err != nil {
			t.Fatalf("sync: %v", err)
		}
	}
	batch, err := stores[0].ExportSince(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	all, err := sync.Decode(batch)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func randomEdit(rng *rand.Rand) store.Input {
	item := fmt.Sprintf("todo-%d", rng.IntN(40))
	switch rng.IntN(6) {
	case 0:
		return store.Input{Item: item, Type: "create", Value: []byte(`"new"`)}
	case 1, 2:
		return store.Input{Item: item, Type: "set_content", Value: fmt.Appendf(nil, `"text %d"`, rng.IntN(1000))}
	case 3, 4:
		return store.Input{Item: item, Type: "set_completed", Value: fmt.Append(nil, rng.IntN(2) == 0)}
	default:
		return store.Input{Item: item, Type: "delete"}
	}
}

// TestOrderDoesNotMatter imports one DAG of 10,000 events in 10 random
// orders (100 in the soak) — shuffled, cut into a random number of batches
// whose parents often arrive after their children — and gets one state
// every time.
func TestOrderDoesNotMatter(t *testing.T) {
	events, orders := 10_000, 10
	switch {
	case proptest.Soak():
		orders = 100
	case testing.Short():
		events, orders = 2_000, 4
	}
	all := buildLog(t, events, 1).Events
	ctx := context.Background()
	want := ""
	rng := rand.New(rand.NewPCG(2, 2))
	for order := range orders {
		s, err := store.Open(ctx, store.Options{
			Schema: testSchema, Materializers: testMaterializers, Rand: peerSeed(99),
			Pending: dag.PendingLimits{MaxEvents: len(all)},
		})
		if err != nil {
			t.Fatal(err)
		}
		shuffled := append([]event.Event(nil), all...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		parts := 1 + rng.IntN(8)
		for p := range parts {
			part := shuffled[p*len(shuffled)/parts : (p+1)*len(shuffled)/parts]
			b, err := sync.Encode(part, sign(part))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Import(ctx, b); err != nil {
				t.Fatalf("order %d, part %d: %v", order, p, err)
			}
		}
		got := snapshot(t, s)
		s.Close()
		if order == 0 {
			want = got
			continue
		}
		if got != want {
			t.Fatalf("order %d gives another state than order 0", order)
		}
	}
}
