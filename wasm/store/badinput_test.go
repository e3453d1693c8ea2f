package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
)

// fixture is a replica that holds a small log, and two valid events it
// does not hold yet: the next events of authors a and b.
type fixture struct {
	t      *testing.T
	target *store.Store
	nextA  event.Event // a's seq 4, child of a's seq 3 and b's seq 2
	nextB  event.Event // b's seq 3
}

func newFixture(t *testing.T) *fixture {
	ctx := context.Background()
	a, b := openTest(t, 1), openTest(t, 2)
	t.Cleanup(func() { a.Close(); b.Close() })
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.Append(ctx, "1", "create", []byte(`"make pasta"`)))
	must(a.Append(ctx, "1", "set_completed", []byte(`true`)))
	sendAll(t, a, b)
	must(b.Append(ctx, "1", "set_content", []byte(`"cook"`)))
	must(b.Append(ctx, "2", "create", []byte(`"clean"`)))
	must(a.Append(ctx, "1", "set_completed", []byte(`false`)))
	sendAll(t, b, a)
	f := &fixture{t: t, target: openTest(t, 3)}
	t.Cleanup(func() { f.target.Close() })
	sendAll(t, a, f.target)
	must(a.Append(ctx, "3", "create", []byte(`"write"`)))
	must(b.Append(ctx, "2", "set_completed", []byte(`true`)))
	f.nextA = lastOf(t, a)
	f.nextB = lastOf(t, b)
	return f
}

// sendAll imports into to what from holds and to lacks.
func sendAll(t *testing.T, from, to *store.Store) *store.ImportResult {
	t.Helper()
	ctx := context.Background()
	vv, err := to.VersionVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := from.ExportSince(ctx, vv)
	if err != nil {
		t.Fatal(err)
	}
	res, err := to.Import(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func lastOf(t *testing.T, s *store.Store) event.Event {
	t.Helper()
	evs, err := s.Events(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Peer == s.Peer() && e.Seq == uint64(len(evsBy(evs, s.Peer()))) {
			return e
		}
	}
	t.Fatal("no last event")
	return event.Event{}
}

func evsBy(evs []event.Event, p event.PeerID) []event.Event {
	var out []event.Event
	for _, e := range evs {
		if e.Peer == p {
			out = append(out, e)
		}
	}
	return out
}

// rehash makes a changed event's id match its content again, so that only
// the rule under test is broken.
func rehash(e event.Event) event.Event {
	e.ID = e.Hash()
	return e
}

// rejects imports batch into the fixture's target and checks that it fails
// with reason and that nothing stored changed.
func (f *fixture) rejects(batch []byte, reason error, code string) {
	f.t.Helper()
	before := storedDump(f.t, f.target)
	_, err := f.target.Import(context.Background(), batch)
	f.check(err, reason, code, before)
}

func (f *fixture) check(err, reason error, code string, before string) {
	f.t.Helper()
	if err == nil {
		f.t.Fatalf("import succeeded, want %v", reason)
	}
	if reason != nil && !errors.Is(err, reason) {
		f.t.Fatalf("error %q, want %v", err, reason)
	}
	if code != "" && store.Code(err) != code {
		f.t.Fatalf("code %s for %q, want %s", store.Code(err), err, code)
	}
	if after := storedDump(f.t, f.target); after != before {
		f.t.Fatalf("a rejected import changed the store:\n%s\nwas:\n%s", after, before)
	}
}

func TestRejects(t *testing.T) {
	tests := []struct {
		name   string
		batch  func(f *fixture) []byte
		reason error
		code   string
	}{
		{"forged id", func(f *fixture) []byte {
			e := f.nextA
			e.ID = sha256.Sum256([]byte("not the content"))
			return encode(t, e)
		}, event.ErrHash, store.CodeInvalidEvent},
		{"clock is not 1 + max(parents)", func(f *fixture) []byte {
			e := f.nextA
			e.Clock++
			return encode(t, rehash(e))
		}, event.ErrClock, store.CodeInvalidEvent},
		{"clock below a parent in the batch", func(f *fixture) []byte {
			e := f.nextB
			parents := []event.ID{e.ID, f.nextA.Parents[0]}
			slices.SortFunc(parents, event.ID.Compare)
			child := rehash(event.Event{Peer: e.Peer, Seq: e.Seq + 1, Parents: parents, Clock: e.Clock, Type: "note", Value: []byte("null")})
			return encode(t, e, child)
		}, event.ErrClock, store.CodeInvalidEvent},
		{"seq gap", func(f *fixture) []byte {
			e := f.nextA
			e.Seq++
			return encode(t, rehash(e))
		}, event.ErrSeq, store.CodeInvalidEvent},
		{"seq without the author's previous event as parent", func(f *fixture) []byte {
			e := f.nextB
			e.Peer = author(150) // a new author whose first event claims seq 3
			return encode(t, rehash(e))
		}, event.ErrSeq, store.CodeInvalidEvent},
		{"signature by another key", func(f *fixture) []byte {
			e := f.nextA
			b, err := sync.Encode([]event.Event{e}, map[event.ID]event.Signature{e.ID: keyOf(150).Sign(e.ID)})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, event.ErrSignature, store.CodeInvalidEvent},
		{"signature of another event", func(f *fixture) []byte {
			e := f.nextA
			b, err := sync.Encode([]event.Event{e}, map[event.ID]event.Signature{e.ID: keyOf(1).Sign(f.nextB.ID)})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, event.ErrSignature, store.CodeInvalidEvent},
		{"seq 0", func(f *fixture) []byte {
			e := f.nextA
			e.Seq = 0
			return encode(t, rehash(e))
		}, event.ErrField, store.CodeInvalidEvent},
		{"unsorted parents", func(f *fixture) []byte {
			e := f.nextA
			e.Parents = []event.ID{e.Parents[1], e.Parents[0]}
			return encode(t, rehash(e))
		}, event.ErrParents, store.CodeInvalidEvent},
		{"non-canonical value", func(f *fixture) []byte {
			e := f.nextA
			e.Value = []byte(`{"b": 1, "a": 2}`)
			return encode(t, rehash(e))
		}, event.ErrValue, store.CodeInvalidEvent},
		{"value that is not JSON", func(f *fixture) []byte {
			e := f.nextA
			e.Value = []byte(`{"a":`)
			return encode(t, rehash(e))
		}, event.ErrValue, store.CodeInvalidEvent},
		{"10 MB value", func(f *fixture) []byte {
			e := f.nextA
			e.Value = []byte(`"` + strings.Repeat("x", 10<<20) + `"`)
			return encode(t, rehash(e))
		}, event.ErrTooLarge, store.CodeInvalidEvent},
		{"100,000 parents", func(f *fixture) []byte {
			e := f.nextA
			e.Parents = make([]event.ID, 100_000)
			for i := range e.Parents {
				e.Parents[i] = sha256.Sum256(fmt.Append(nil, i))
			}
			return encode(t, rehash(e))
		}, event.ErrTooLarge, store.CodeInvalidEvent},
		{"truncated", func(f *fixture) []byte {
			b := encode(t, f.nextA)
			return b[:len(b)-1]
		}, sync.ErrCorrupt, store.CodeInvalidBatch},
		{"garbage", func(f *fixture) []byte {
			return []byte("this is not a batch")
		}, sync.ErrCorrupt, store.CodeInvalidBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.rejects(tt.batch(f), tt.reason, tt.code)
		})
	}
}

// TestRejectsTamperedBytes flips every byte of a valid batch in turn: each
// flip is refused and the store is left as it was — unless the flip hit a
// bit that carries nothing (deflate pads its last byte), in which case the
// batch still holds exactly the events it held.
func TestRejectsTamperedBytes(t *testing.T) {
	f := newFixture(t)
	batch := encode(t, f.nextA, f.nextB)
	want, err := sync.Decode(batch)
	if err != nil {
		t.Fatal(err)
	}
	step := 1
	if testing.Short() { // the WebAssembly run: every third byte
		step = 3
	}
	for i := 0; i < len(batch); i += step {
		for _, flip := range []byte{0x01, 0x80} {
			tampered := append([]byte(nil), batch...)
			tampered[i] ^= flip
			if got, err := sync.Decode(tampered); err == nil {
				if !reflect.DeepEqual(got.Events, want.Events) {
					t.Fatalf("byte %d ^ %#x: decoded other events without an error", i, flip)
				}
				if reflect.DeepEqual(got.Signatures, want.Signatures) {
					continue
				}
				// A changed signature decodes; the store refuses it.
				before := storedDump(t, f.target)
				_, err := f.target.Import(context.Background(), tampered)
				f.check(err, event.ErrSignature, store.CodeInvalidEvent, before)
				continue
			}
			before := storedDump(t, f.target)
			_, err := f.target.Import(context.Background(), tampered)
			var be *sync.BatchError
			var ie *event.InvalidError
			if !errors.As(err, &be) && !errors.As(err, &ie) {
				t.Fatalf("byte %d ^ %#x: error %v, want a batch or event error", i, flip, err)
			}
			f.check(err, nil, "", before)
		}
	}
	// And the untouched batch still imports.
	if _, err := f.target.Import(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
}

// TestImportBatchChecksIDs shows that events given as Go values are held
// to the same rules as decoded ones.
func TestImportBatchChecksIDs(t *testing.T) {
	f := newFixture(t)
	e := f.nextA
	e.Value = []byte(`"tampered"`)
	before := storedDump(t, f.target)
	_, err := f.target.ImportBatch(context.Background(), &sync.Batch{Events: []event.Event{e}})
	f.check(err, event.ErrHash, store.CodeInvalidEvent, before)
}

func TestAppendRejects(t *testing.T) {
	tests := []struct {
		name        string
		item, typ   string
		value       string
		reason      error
		code, match string
	}{
		{"empty type", "1", "", `1`, event.ErrField, store.CodeInvalidEvent, "type is empty"},
		{"not JSON", "1", "create", `{`, event.ErrValue, store.CodeInvalidEvent, "unexpected EOF"},
		{"10 MB value", "1", "create", `"` + strings.Repeat("x", 10<<20) + `"`, event.ErrTooLarge, store.CodeInvalidEvent, "at most 65536"},
		{"long item", strings.Repeat("i", 300), "create", `1`, event.ErrTooLarge, store.CodeInvalidEvent, "item has 300 bytes"},
		{"materializer fails", "1", "create", `"again"`, nil, store.CodeMaterializer, "UNIQUE constraint failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			before := storedDump(t, f.target)
			_, err := f.target.Append(context.Background(), tt.item, tt.typ, []byte(tt.value))
			f.check(err, tt.reason, tt.code, before)
			if !strings.Contains(err.Error(), tt.match) {
				t.Fatalf("error %q does not say %q", err, tt.match)
			}
		})
	}
}

func TestClosed(t *testing.T) {
	s := openTest(t, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err := s.Append(ctx, "1", "create", nil)
	if !errors.Is(err, store.ErrClosed) || store.Code(err) != store.CodeClosed {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := s.Query(ctx, "SELECT 1"); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("query after close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}
