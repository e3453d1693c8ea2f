package store_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/factlog/factlog/wasm/dag"
	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
	"github.com/factlog/factlog/wasm/todo"
)

// testSchema and testMaterializers extend the todo example with every
// shape of state change the undo log must handle: rowid and WITHOUT ROWID
// tables, REPLACE, upserts, key changes, multi-statement materializers, a
// materializer for every event, and statements that fail.
const testSchema = todo.Schema + `;
CREATE TABLE tally (type TEXT PRIMARY KEY NOT NULL, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE label (item TEXT PRIMARY KEY NOT NULL, label TEXT) WITHOUT ROWID;
CREATE INDEX todo_completed ON todo (completed);
CREATE VIEW open_todo AS SELECT id, content FROM todo WHERE completed = 0;`

var testMaterializers = map[string]string{
	// A plain INSERT: a second create of the same item fails, and the
	// event stays in the log without effect.
	"create":        `INSERT INTO todo (id, content) VALUES (:item, :value)`,
	"set_content":   todo.Churn["set_content"],
	"set_completed": todo.Churn["set_completed"],
	"delete":        todo.Churn["delete"],
	"reset":         `INSERT OR REPLACE INTO todo (id, content, completed) VALUES (:item, :value, 0)`,
	"label":         `INSERT INTO label (item, label) VALUES (:item, :value) ON CONFLICT (item) DO UPDATE SET label = excluded.label`,
	"move_label":    `UPDATE label SET item = :value WHERE item = :item`,
	"*":             `INSERT INTO tally (type, n) VALUES (:type, 1) ON CONFLICT (type) DO UPDATE SET n = n + 1`,
}

// fakeClock returns a Now that starts at a fixed time and ticks a
// millisecond per call, so runs are reproducible.
func fakeClock() func() time.Time {
	t := time.UnixMilli(1_700_000_000_000)
	return func() time.Time {
		t = t.Add(time.Millisecond)
		return t
	}
}

// peerSeed makes distinct, reproducible keys, and so peer ids.
func peerSeed(i int) *bytes.Reader {
	b := make([]byte, 32)
	b[0], b[31] = byte(i), 0xfa
	return bytes.NewReader(b)
}

// testKeys are the keys of peerSeed, by peer id, so that tests can sign
// the events they make or change.
var testKeys gosync.Map // event.PeerID → event.Key

// keyOf returns peerSeed(i)'s key, the key of openTest(i).
func keyOf(i int) event.Key {
	k, err := event.NewKey(peerSeed(i))
	if err != nil {
		panic(err)
	}
	testKeys.Store(k.Peer(), k)
	return k
}

// author returns the peer id of peerSeed(i)'s key.
func author(i int) event.PeerID { return keyOf(i).Peer() }

// sign signs what an export of evs by their authors carries: the tips —
// the events no other event of the same author's among them follows —
// and every dag.Checkpoint-th seq, with the authors' test keys. That
// covers every event of evs, in chunks too.
func sign(evs []event.Event) map[event.ID]event.Signature {
	key := func(peer event.PeerID) event.Key {
		k, ok := testKeys.Load(peer)
		if !ok {
			panic(fmt.Sprintf("no test key for author %s", peer))
		}
		return k.(event.Key)
	}
	sigs := map[event.ID]event.Signature{}
	for peer, tips := range (&sync.Batch{Events: evs}).Tips() {
		for _, t := range tips {
			sigs[t.ID] = key(peer).Sign(t.ID)
		}
	}
	for _, e := range evs {
		if e.Seq%dag.Checkpoint == 0 {
			sigs[e.ID] = key(e.Peer).Sign(e.ID)
		}
	}
	return sigs
}

// encode makes a batch of evs, signed.
func encode(t fataler, evs ...event.Event) []byte {
	t.Helper()
	b, err := sync.Encode(evs, sign(evs))
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return b
}

type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

func openTest(t fataler, i int) *store.Store {
	t.Helper()
	author(i)
	s, err := store.Open(context.Background(), store.Options{
		Schema: testSchema, Materializers: testMaterializers, Rand: peerSeed(i), Now: fakeClock(),
	})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

// snapshot is everything replicas must agree on: the state tables, the
// log, the heads and the version vector.
func snapshot(t fataler, s *store.Store) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	if err := s.Dump(ctx, &b); err != nil {
		t.Fatalf("dump: %v", err)
	}
	if err := s.Dump(ctx, &b, "event", "event_dag"); err != nil {
		t.Fatalf("dump: %v", err)
	}
	heads, err := s.Heads(ctx)
	if err != nil {
		t.Fatalf("heads: %v", err)
	}
	vv, err := s.VersionVector(ctx)
	if err != nil {
		t.Fatalf("version vector: %v", err)
	}
	fmt.Fprintf(&b, "heads %v\nvv %v\n", heads, vv)
	return b.String()
}

// stateDump is the state tables alone.
func stateDump(t fataler, s *store.Store) string {
	t.Helper()
	var b strings.Builder
	if err := s.Dump(context.Background(), &b); err != nil {
		t.Fatalf("dump: %v", err)
	}
	return b.String()
}

// mustRebuildSame rebuilds s's state from its log and fails unless it is
// the state s had: what the incremental path left is what a replay makes.
func mustRebuildSame(t fataler, s *store.Store, what string) {
	t.Helper()
	want := stateDump(t, s)
	if err := s.Rebuild(context.Background(), nil); err != nil {
		t.Fatalf("rebuild %s: %v", what, err)
	}
	if got := stateDump(t, s); got != want {
		t.Fatalf("%s: the state differs from a rebuild:\n%.1000s\nwant:\n%.1000s", what, got, want)
	}
}

// storedDump is everything in the database factlog keeps, to show that a
// rejected import changed nothing.
func storedDump(t fataler, s *store.Store) string {
	t.Helper()
	var b strings.Builder
	err := s.Dump(context.Background(), &b, "event", "event_dag", "_factlog_head", "_factlog_tip", "_factlog_author", "_factlog_sig",
		"_factlog_fork", "_factlog_pending", "_factlog_pending_need", "todo", "churn", "tally", "label")
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	return b.String()
}

// testdataCopy copies testdata/name into a temporary file, whose path it
// returns: a fixture opened as a store is changed by the opening.
func testdataCopy(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
