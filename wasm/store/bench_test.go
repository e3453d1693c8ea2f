package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
	"github.com/factlog/factlog/wasm/todo"
	"github.com/ncruces/go-sqlite3"
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
	chunks, err := sync.EncodeChunks(evs, sign(evs), 0)
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
	evs := todoChain(author(101), 10_000, nil, 1)
	batch, err := sync.Encode(evs, sign(evs))
	if err != nil {
		b.Fatal(err)
	}
	importEach(b, func() *store.Store { return openTodo(b, "") }, batch)
	b.ReportMetric(float64(len(evs)*b.N)/b.Elapsed().Seconds(), "events/s")
}

// baseLog is an in-memory store holding a 100,000-event todo log, made
// once. Benchmarks run on copies of it in files (Backup).
var baseLog struct {
	evs   []event.Event
	store *store.Store
	n     int
}

func base(b *testing.B) []event.Event {
	if baseLog.store == nil {
		baseLog.evs = todoChain(author(101), 100_000, nil, 1)
		baseLog.store = openTodo(b, "")
		importAll(b, baseLog.store, baseLog.evs)
	}
	return baseLog.evs
}

// copyBase gives a benchmark iteration its own copy of the base log.
func copyBase(b *testing.B) *store.Store {
	base(b)
	return copyStore(b, baseLog.store, todo.Churn)
}

func copyStore(b *testing.B, src *store.Store, materializers map[string]string) *store.Store {
	baseLog.n++
	name := filepath.Join(b.TempDir(), fmt.Sprintf("bench-%d.db", baseLog.n))
	if err := src.Backup(context.Background(), name); err != nil {
		b.Fatal(err)
	}
	s, err := store.Open(context.Background(), store.Options{Path: name, Schema: todo.Schema, Materializers: materializers})
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

// BenchmarkExportSince exports the last 10,000 events of the 100,000-event
// log: what a replica 10,000 events behind asks for.
func BenchmarkExportSince(b *testing.B) {
	evs := base(b)
	const behind = 10_000
	vv := sync.VersionVector{evs[0].Peer: {{Seq: uint64(len(evs) - behind), ID: evs[len(evs)-behind-1].ID}}}
	for b.Loop() {
		batch, err := baseLog.store.ExportSince(context.Background(), vv)
		if err != nil || len(batch) == 0 {
			b.Fatal(len(batch), err)
		}
	}
	b.ReportMetric(float64(behind*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkMergeOutOfOrder merges 100 events from a replica that was
// offline into the 100,000-event log; they sort in at the given distance
// from its end, so that many events are rewound and re-applied.
func BenchmarkMergeOutOfOrder(b *testing.B) {
	evs := base(b)
	for _, distance := range []int{10, 1_000, 50_000} {
		b.Run(fmt.Sprintf("distance=%d", distance), func(b *testing.B) {
			fork := todoChain(author(102), 100, &evs[len(evs)-1-distance], 3)
			batch, err := sync.Encode(fork, sign(fork))
			if err != nil {
				b.Fatal(err)
			}
			importEach(b, func() *store.Store { return copyBase(b) }, batch)
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/merge")
		})
	}
}

// editLog is a 100,000-event todo log as the todo workload makes it — 1,000
// todos created, then edited (their text, their completion) at random —
// imported once into a store per interpretation.
var editLog struct {
	evs    []event.Event
	stores map[string]*store.Store
}

// copyEditLog gives a benchmark iteration its own copy of editLog's store
// for materializers (a key of todo's interpretations).
func copyEditLog(b *testing.B, name string, materializers map[string]string) *store.Store {
	if editLog.evs == nil {
		rng := rand.New(rand.NewPCG(9, 9))
		evs := make([]event.Event, 100_000)
		for i := range evs {
			e := event.Event{Peer: author(104), Seq: uint64(i + 1), Clock: uint64(i + 1), Time: 1_700_000_000_000 + int64(i), Item: fmt.Sprintf("todo-%d", rng.IntN(1000))}
			switch {
			case i < 1000:
				e.Item, e.Type, e.Value = fmt.Sprintf("todo-%d", i), "create", []byte(`"new"`)
			case rng.IntN(3) == 0:
				e.Type, e.Value = "set_completed", []byte(fmt.Sprint(rng.IntN(2)))
			default:
				e.Type, e.Value = "set_content", fmt.Appendf(nil, `"text %d"`, rng.IntN(1000))
			}
			if i > 0 {
				e.Parents = []event.ID{evs[i-1].ID}
			}
			e.ID = e.Hash()
			evs[i] = e
		}
		editLog.evs, editLog.stores = evs, map[string]*store.Store{}
	}
	src := editLog.stores[name]
	if src == nil {
		var err error
		src, err = store.Open(context.Background(), store.Options{Schema: todo.Schema, Materializers: materializers, Rand: peerSeed(202)})
		if err != nil {
			b.Fatal(err)
		}
		importAll(b, src, editLog.evs)
		editLog.stores[name] = src
	}
	return copyStore(b, src, materializers)
}

// BenchmarkMergeLateEdits merges 10 edits of one todo, made offline, into
// editLog; they sort in at the given distance from its end. Read as
// last-writer-wins, whose edits reach only their todo's row, the merge
// re-applies that todo's later events alone; read with Churn, whose
// set_completed reads other rows, every later event.
func BenchmarkMergeLateEdits(b *testing.B) {
	for _, in := range []struct {
		name          string
		materializers map[string]string
	}{{"lww", todo.LastWriterWins}, {"churn", todo.Churn}} {
		for _, distance := range []int{10, 1_000, 9_000} {
			b.Run(fmt.Sprintf("%s/distance=%d", in.name, distance), func(b *testing.B) {
				copyEditLog(b, in.name, in.materializers)
				after := &editLog.evs[len(editLog.evs)-1-distance]
				late := make([]event.Event, 10)
				for i := range late {
					e := event.Event{Peer: author(105), Seq: uint64(i + 1), Clock: after.Clock + uint64(i) + 1, Time: after.Time + 1, Item: "todo-7", Parents: []event.ID{after.ID}}
					e.Type, e.Value = "set_content", []byte(`"offline"`)
					if i%2 == 1 {
						e.Type, e.Value = "set_completed", []byte("1")
					}
					if i > 0 {
						e.Parents = []event.ID{late[i-1].ID}
					}
					e.ID = e.Hash()
					late[i] = e
				}
				batch, err := sync.Encode(late, sign(late))
				if err != nil {
					b.Fatal(err)
				}
				importEach(b, func() *store.Store { return copyEditLog(b, in.name, in.materializers) }, batch)
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/merge")
			})
		}
	}
}

// BenchmarkBatchBytes measures what a catch-up batch costs per event on the
// todo workload: five replicas editing 40 todos and syncing now and then,
// then one exporting the whole log with the signatures it holds (each
// author's chain tips and every Checkpoint-th event).
func BenchmarkBatchBytes(b *testing.B) {
	log := buildLog(b, 10_000, 1)
	var size int
	for b.Loop() {
		batch, err := sync.Encode(log.Events, log.Signatures)
		if err != nil {
			b.Fatal(err)
		}
		size = len(batch)
	}
	b.ReportMetric(float64(size)/float64(len(log.Events)), "bytes/event")
	b.ReportMetric(float64(len(log.Signatures)), "signatures")
}

// BenchmarkUndoLog reports what the undo log costs after 30,000 todo
// edits, with the default horizon, a smaller one, and none (the log kept
// whole): the rows it holds, the bytes they take in a compacted copy of
// the store, and the whole copy's bytes per event.
//
//	go test ./wasm/store -run '^$' -bench UndoLog -benchtime 1x
func BenchmarkUndoLog(b *testing.B) {
	const n = 30_000
	ctx := context.Background()
	evs := todoChain(author(101), n, nil, 3)
	size := func(path string) int64 {
		st, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		return st.Size()
	}
	for _, horizon := range []int{1_000, store.DefaultUndoHorizon, -1} {
		b.Run(fmt.Sprintf("horizon=%d", horizon), func(b *testing.B) {
			var rows, whole, undo int64
			for b.Loop() {
				dir := b.TempDir()
				s, err := store.Open(ctx, store.Options{Path: filepath.Join(dir, "undo.db"), Schema: todo.Schema, Materializers: todo.Churn, UndoHorizon: horizon})
				if err != nil {
					b.Fatal(err)
				}
				importAll(b, s, evs)
				rows = undoRows(b, s)
				compact := filepath.Join(dir, "compact.db")
				if err := s.Backup(ctx, compact); err != nil {
					b.Fatal(err)
				}
				s.Close()
				whole = size(compact)
				c, err := sqlite3.Open(compact)
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Exec(`DROP TABLE _factlog_undo_todo; DROP TABLE _factlog_undo_churn; VACUUM`); err != nil {
					b.Fatal(err)
				}
				c.Close()
				undo = whole - size(compact)
			}
			b.ReportMetric(float64(rows)/n, "undo-rows/event")
			b.ReportMetric(float64(undo)/n, "undo-bytes/event")
			b.ReportMetric(float64(whole)/n, "store-bytes/event")
		})
	}
}

// BenchmarkMergeOffline is issue 15's merge: three replicas each make
// 10,000 edits on 1,000 shared todos while offline, then all merge — each
// imports the other two's exports. It reports the seconds for the three
// merges and the bytes each replica sends.
//
//	go test ./wasm/store -run '^$' -bench MergeOffline -benchtime 3x
func BenchmarkMergeOffline(b *testing.B) {
	const peers, edits = 3, 10_000
	ctx := context.Background()
	dir := b.TempDir()
	var paths []string
	var exports [][]byte
	for p := range peers {
		path := filepath.Join(dir, fmt.Sprintf("peer%d.db", p))
		s, err := store.Open(ctx, store.Options{Path: path, Schema: todo.Schema, Materializers: todo.LastWriterWins, Rand: peerSeed(300 + p)})
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(uint64(p), 9))
		inputs := make([]store.Input, 0, 1000)
		for i := 0; i < edits; i += len(inputs) {
			inputs = inputs[:0]
			for range 1000 {
				item := fmt.Sprintf("todo-%d", rng.IntN(1000))
				switch rng.IntN(3) {
				case 0:
					inputs = append(inputs, store.Input{Item: item, Type: "create", Value: []byte(`"new"`)})
				case 1:
					inputs = append(inputs, store.Input{Item: item, Type: "set_content", Value: fmt.Appendf(nil, `"text %d"`, rng.IntN(1000))})
				default:
					inputs = append(inputs, store.Input{Item: item, Type: "set_completed", Value: fmt.Append(nil, rng.IntN(2) == 0)})
				}
			}
			if _, err := s.AppendMany(ctx, inputs); err != nil {
				b.Fatal(err)
			}
		}
		batch, err := s.ExportSince(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		exports = append(exports, batch)
		s.Close()
		paths = append(paths, path)
	}
	var bytes int
	for b.Loop() {
		b.StopTimer()
		var stores []*store.Store
		for p, path := range paths {
			copyPath := filepath.Join(b.TempDir(), "merge.db")
			src, err := os.ReadFile(path)
			if err == nil {
				err = os.WriteFile(copyPath, src, 0o644)
			}
			if err != nil {
				b.Fatal(err)
			}
			s, err := store.Open(ctx, store.Options{Path: copyPath, Schema: todo.Schema, Materializers: todo.LastWriterWins, Rand: peerSeed(300 + p)})
			if err != nil {
				b.Fatal(err)
			}
			stores = append(stores, s)
		}
		b.StartTimer()
		for p, s := range stores {
			for q, batch := range exports {
				if q != p {
					if _, err := s.Import(ctx, batch); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		b.StopTimer()
		for _, s := range stores {
			s.Close()
		}
		bytes = len(exports[0])
		b.StartTimer()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/merge")
	b.ReportMetric(float64(bytes), "bytes-sent/peer")
}

// BenchmarkAppend appends one event at a time to a store in memory that
// holds 10,000 events, and to file stores (WAL) that hold 1,000, 10,000
// and 50,000: the latency must not grow with the log.
//
//	go test ./wasm/store -run '^$' -bench Append -benchtime 2000x
func BenchmarkAppend(b *testing.B) {
	for _, tt := range []struct {
		where string
		n     int
	}{{"memory", 10_000}, {"file", 1_000}, {"file", 10_000}, {"file", 50_000}} {
		b.Run(fmt.Sprintf("%s/log=%d", tt.where, tt.n), func(b *testing.B) {
			path := ""
			if tt.where == "file" {
				path = filepath.Join(b.TempDir(), "append.db")
			}
			n := tt.n
			s := openTodo(b, path)
			defer s.Close()
			importAll(b, s, todoChain(author(101), n, nil, 1))
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
