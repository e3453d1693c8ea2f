package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
	"github.com/factlog/factlog/wasm/todo"
	"github.com/ncruces/go-sqlite3/vfs/memdb"
)

// The benchmarks of issue 2. Run natively and in js/wasm (see BENCHMARKS.md):
//
//	go test ./wasm/store -run '^$' -bench . -benchtime 20x

// todoChain makes n todo edits by one author, each the child of the one
// before, the way a replica that never syncs appends them.
func todoChain(peer event.PeerID, n int, after *event.Event, seed uint64) []event.Event {
	rng := rand.New(rand.NewPCG(seed, 7))
	evs := make([]event.Event, n)
	prev := after
	for i := range evs {
		in := randomEdit(rng)
		e := event.Event{Peer: peer, Seq: uint64(i + 1), Clock: 1, Time: 1_700_000_000_000 + int64(i)*1000, Item: in.Item, Type: in.Type}
		e.Value, _ = event.CanonicalValue(in.Value)
		if prev != nil {
			e.Parents, e.Clock = []event.ID{prev.ID}, prev.Clock+1
		}
		e.ID = e.Hash()
		evs[i] = e
		prev = &evs[i]
	}
	return evs
}

func importAll(tb testing.TB, s *store.Store, evs []event.Event) {
	tb.Helper()
	chunks, err := sync.EncodeChunks(evs, 0)
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range chunks {
		if _, err := s.Import(context.Background(), c); err != nil {
			tb.Fatal(err)
		}
	}
}

func openTodo(tb testing.TB, path string) *store.Store {
	tb.Helper()
	s, err := store.Open(context.Background(), store.Options{Path: path, Schema: todo.Schema, Materializers: todo.Churn, Rand: peerSeed(200)})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// percentiles reports the median and 99th percentile of per-op latencies.
func percentiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkAppend appends one event at a time to a store that holds
// 10,000, in memory and in a file (WAL, synchronous=NORMAL).
func BenchmarkAppend(b *testing.B) {
	for _, where := range []string{"memory", "file"} {
		b.Run(where, func(b *testing.B) {
			path := ""
			if where == "file" {
				path = filepath.Join(b.TempDir(), "append.db")
			}
			s := openTodo(b, path)
			defer s.Close()
			importAll(b, s, todoChain(event.PeerID{1}, 10_000, nil, 1))
			rng := rand.New(rand.NewPCG(2, 2))
			var lat []time.Duration
			ctx := context.Background()
			for b.Loop() {
				in := randomEdit(rng)
				t0 := time.Now()
				if _, err := s.Append(ctx, in.Item, in.Type, in.Value); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			percentiles(b, lat)
		})
	}
}

// importEach times importing batch into a store from fresh(), once per
// iteration; making and closing the stores is not timed.
func importEach(b *testing.B, fresh func() *store.Store, batch []byte) {
	for b.Loop() {
		b.StopTimer()
		s := fresh()
		b.StartTimer()
		if _, err := s.Import(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}

// BenchmarkImportInOrder imports 10,000 events that all sort after the
// store's state, in one batch.
func BenchmarkImportInOrder(b *testing.B) {
	evs := todoChain(event.PeerID{1}, 10_000, nil, 1)
	batch, err := sync.Encode(evs)
	if err != nil {
		b.Fatal(err)
	}
	importEach(b, func() *store.Store { return openTodo(b, "") }, batch)
	b.ReportMetric(float64(len(evs)*b.N)/b.Elapsed().Seconds(), "events/s")
}

// baseLog is an in-memory database (the memdb VFS, so that it outlives a
// connection) holding a 100,000-event todo log, made once. Benchmarks run
// on copies, in memory too, so that they measure replay rather than the
// file system (which in js/wasm goes through Node's asynchronous fs).
var baseLog struct {
	evs   []event.Event
	store *store.Store
	n     int
}

func base(b *testing.B) []event.Event {
	if baseLog.store == nil {
		baseLog.evs = todoChain(event.PeerID{1}, 100_000, nil, 1)
		baseLog.store = openTodo(b, "")
		importAll(b, baseLog.store, baseLog.evs)
	}
	return baseLog.evs
}

// copyBase gives a benchmark iteration its own copy of the base log.
func copyBase(b *testing.B) *store.Store {
	base(b)
	baseLog.n++
	name := fmt.Sprintf("/factlog-bench-%d", baseLog.n)
	memdb.Create(name[1:], nil) // kept until Delete, not just while open
	if err := baseLog.store.Backup(context.Background(), "file:"+name+"?vfs=memdb"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { memdb.Delete(name[1:]) })
	s, err := store.Open(context.Background(), store.Options{Path: name, VFS: "memdb", Schema: todo.Schema, Materializers: todo.Churn})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkFullReplay rebuilds the state from a 100,000-event log.
func BenchmarkFullReplay(b *testing.B) {
	evs := base(b)
	s := copyBase(b)
	defer s.Close()
	for b.Loop() {
		if err := s.Rebuild(context.Background(), nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(evs)*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkMergeOutOfOrder merges 100 events from a replica that was
// offline into the 100,000-event log; they sort in at the given distance
// from its end, so that many events are rewound and re-applied.
func BenchmarkMergeOutOfOrder(b *testing.B) {
	evs := base(b)
	for _, distance := range []int{10, 1_000, 50_000} {
		b.Run(fmt.Sprintf("distance=%d", distance), func(b *testing.B) {
			fork := todoChain(event.PeerID{2}, 100, &evs[len(evs)-1-distance], 3)
			batch, err := sync.Encode(fork)
			if err != nil {
				b.Fatal(err)
			}
			importEach(b, func() *store.Store { return copyBase(b) }, batch)
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/merge")
		})
	}
}

// BenchmarkBatchBytes measures what a catch-up batch costs per event on the
// todo workload: five replicas editing 40 todos and syncing now and then.
func BenchmarkBatchBytes(b *testing.B) {
	evs := buildLog(b, 10_000, 1)
	var size int
	for b.Loop() {
		batch, err := sync.Encode(evs)
		if err != nil {
			b.Fatal(err)
		}
		size = len(batch)
	}
	b.ReportMetric(float64(size)/float64(len(evs)), "bytes/event")
}
