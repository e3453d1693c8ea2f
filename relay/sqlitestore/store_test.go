package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/factlog/factlog/relay/room"
	"github.com/ncruces/go-sqlite3"
)

func appendWait(t *testing.T, s *Store, room string, body []byte) uint64 {
	t.Helper()
	done := make(chan uint64, 1)
	s.Append(room, body, func(seq uint64, err error) {
		if err != nil {
			t.Error(err)
		}
		done <- seq
	})
	select {
	case seq := <-done:
		return seq
	case <-time.After(10 * time.Second):
		t.Fatal("append did not complete")
		return 0
	}
}

// TestPersistsAndRetains: seqs are gapless per room and survive a
// reopen, with the epoch; retention by bytes and by age, which may remove
// every body of a room, leaves its last seq for the next body to follow.
func TestPersistsAndRetains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if seq := appendWait(t, s, "a", []byte{byte(i)}); seq != uint64(i+1) {
			t.Fatalf("seq %d, want %d", seq, i+1)
		}
	}
	appendWait(t, s, "b", []byte("bb"))
	epoch := s.Epoch()
	s.Close()
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if st, _ := s.Stats(ctx, "a"); s.Epoch() != epoch || st.Last != 5 || st.First != 1 || st.Bytes != 5*(1+room.BodyOverhead) {
		t.Fatalf("after reopen: epoch %s (was %s), stats %+v", s.Epoch(), epoch, st)
	}
	if seq := appendWait(t, s, "a", []byte{5}); seq != 6 {
		t.Fatalf("next seq after reopen %d, want 6", seq)
	}
	if n, err := s.Trim(ctx, time.Time{}, 3*(1+room.BodyOverhead)); err != nil || n != 3 {
		t.Fatalf("trim by bytes removed %d (%v), want 3", n, err)
	}
	if st, _ := s.Stats(ctx, "a"); st.First != 4 || st.Bytes != 3*(1+room.BodyOverhead) {
		t.Fatalf("after trim by bytes: %+v", st)
	}
	var seqs []uint64
	s.Read(ctx, "a", 4, 6, func(seq uint64, _ []byte) error { seqs = append(seqs, seq); return nil })
	if len(seqs) != 2 || seqs[0] != 5 {
		t.Fatalf("kept %v, want [5 6]", seqs)
	}
	if n, err := s.Trim(ctx, time.Now().Add(time.Hour), 0); err != nil || n != 4 {
		t.Fatalf("trim by age removed %d (%v), want 4 (every body)", n, err)
	}
	if st, _ := s.Stats(ctx, "a"); st.First != 7 || st.Last != 6 || st.Bytes != 0 {
		t.Fatalf("after trim by age: %+v, want first 7, last 6, no bytes", st)
	}
	if seq := appendWait(t, s, "a", []byte{6}); seq != 7 {
		t.Fatalf("next seq after retention removed all: %d, want 7", seq)
	}
	if st, _ := s.Stats(ctx, "a"); st.First != 7 || st.Last != 7 || st.Bytes != 1+room.BodyOverhead {
		t.Fatalf("after the next body: %+v", st)
	}
}

func open(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "relay.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// TestBadRowAlone (issue 12, finding 3): a body the old store could not
// write (nil, which bound NULL) is committed in the same group as other
// rooms' bodies, and none of them fails. The group is forced by holding
// the database's write lock from another connection while the appends
// queue up.
func TestBadRowAlone(t *testing.T) {
	s, path := open(t)
	lock, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := lock.Exec(`BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 4)
	record := func(_ uint64, err error) { results <- err }
	s.Append("first", []byte("1"), record) // the writer takes it and waits for the lock
	s.Append("bad", nil, record)
	s.Append("good", []byte("2"), record)
	s.Append("good", []byte("3"), record)
	if err := lock.Exec(`COMMIT`); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		select {
		case err := <-results:
			if err != nil {
				t.Fatalf("an append failed: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("appends did not complete")
		}
	}
}

// TestGroupIsolation: when one request of a group cannot be written, it
// fails alone.
func TestGroupIsolation(t *testing.T) {
	s, path := open(t)
	s.w.Limit(sqlite3.LIMIT_LENGTH, 1000) // bodies over 1000 bytes cannot be written
	lock, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := lock.Exec(`BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	type result struct {
		seq uint64
		err error
	}
	results := make([]chan result, 4)
	for i, body := range [][]byte{{1}, make([]byte, 2000), {2}, {3}} {
		results[i] = make(chan result, 1)
		s.Append("room", body, func(seq uint64, err error) { results[i] <- result{seq, err} })
	}
	lock.Exec(`COMMIT`)
	want := []uint64{1, 0, 2, 3}
	for i, ch := range results {
		select {
		case r := <-ch:
			if r.seq != want[i] || (r.err != nil) != (i == 1) {
				t.Errorf("append %d: seq %d, %v", i, r.seq, r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("appends did not complete")
		}
	}
}

// TestReadPages (issue 12, finding 2): Read holds about ReadPage bytes of
// bodies at a time, not the backlog.
func TestReadPages(t *testing.T) {
	s, _ := open(t)
	const n, size = 64, 256 << 10 // 16 MiB
	for range n {
		appendWait(t, s, "big", make([]byte, size))
	}
	var base, peak uint64
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	base = heap()
	err := s.Read(context.Background(), "big", 0, n, func(seq uint64, body []byte) error {
		if seq%8 == 1 {
			peak = max(peak, heap())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reading %d MiB held at most %d KiB", n*size>>20, (peak-base)>>10)
	if peak-base > 4<<20 {
		t.Fatalf("reading held %d MiB", (peak-base)>>20)
	}
}

// TestReadGap (issue 12, finding 4): a trim during a Read is reported as
// ErrTrimmed after the bodies before the gap, never as a silent gap.
func TestReadGap(t *testing.T) {
	s, _ := open(t)
	const n, size = 20, 200 << 10 // several pages
	for range n {
		appendWait(t, s, "r", make([]byte, size))
	}
	var seqs []uint64
	err := s.Read(context.Background(), "r", 0, n, func(seq uint64, _ []byte) error {
		if seq == 1 {
			if _, err := s.Trim(context.Background(), time.Time{}, 2*size); err != nil {
				return err
			}
		}
		seqs = append(seqs, seq)
		return nil
	})
	if !errors.Is(err, room.ErrTrimmed) {
		t.Fatalf("Read across a trim: %v, want ErrTrimmed", err)
	}
	for i, seq := range seqs {
		if seq != uint64(i+1) {
			t.Fatalf("read %v: a gap", seqs)
		}
	}
	if err := s.Read(context.Background(), "r", 0, n, func(uint64, []byte) error { return nil }); !errors.Is(err, room.ErrTrimmed) {
		t.Fatalf("Read from a trimmed seq: %v, want ErrTrimmed", err)
	}
}

// TestStatsCacheBounded (issue 12, finding 10): the stats cache does not
// grow with every room ever published to.
func TestStatsCacheBounded(t *testing.T) {
	s, _ := open(t)
	const rooms = maxCachedRooms + 1000
	var wg sync.WaitGroup
	wg.Add(rooms)
	for i := range rooms {
		s.Append(fmt.Sprint("room-", i), []byte{1}, func(uint64, error) { wg.Done() })
	}
	wg.Wait()
	s.mu.Lock()
	n := len(s.rooms)
	s.mu.Unlock()
	if n > maxCachedRooms {
		t.Fatalf("%d rooms cached, more than %d", n, maxCachedRooms)
	}
	if st, err := s.Stats(context.Background(), "room-0"); err != nil || st.Last != 1 || st.Bytes != 1+room.BodyOverhead {
		t.Fatalf("stats of a room no longer cached: %+v, %v", st, err)
	}
}
