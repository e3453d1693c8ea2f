package sqlitestore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/factlog/factlog/relay/room"
	"github.com/ncruces/go-sqlite3"
)

// appendMany appends n copies of body to a room and waits for them.
func appendMany(t *testing.T, s *Store, name string, n int, body []byte) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(n)
	for range n {
		s.Append(name, body, func(_ uint64, err error) {
			if err != nil {
				t.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
}

// TestTrimInSteps: retention commits in small transactions, so that the
// publishes of every room, which wait for the writer, wait for a step,
// not for the whole run (it was one transaction, whatever it removed).
func TestTrimInSteps(t *testing.T) {
	s, _ := open(t)
	const n = 3000
	appendMany(t, s, "flood", n, []byte{1})
	commits := 0
	s.w.CommitHook(func() bool { commits++; return true })
	removed, err := s.Trim(context.Background(), time.Now().Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	s.w.CommitHook(nil)
	t.Logf("removed %d bodies in %d transactions", removed, commits)
	if removed < n-1 || removed/commits > 1000 {
		t.Errorf("removed %d bodies in %d transactions; want them all, at most 1000 a transaction", removed, commits)
	}
}

// TestRetentionRemovesEveryBody: retention by age removes a room's last
// body too (it kept it forever, so that with a retention of 200 ms 40
// rooms of one 1 MiB body each kept 39 MiB); the room keeps its last seq,
// which the next body follows.
func TestRetentionRemovesEveryBody(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	const rooms = 40
	for i := range rooms {
		appendMany(t, s, fmt.Sprint("room-", i), 2, make([]byte, 64<<10))
	}
	removed, err := s.Trim(ctx, time.Now().Add(time.Hour), 0)
	if err != nil || removed != 2*rooms {
		t.Fatalf("retention removed %d bodies (%v), want %d", removed, err, 2*rooms)
	}
	var left int64
	s.rmu.Lock()
	query(s.r, `SELECT count(*) FROM body`, nil, func(q *sqlite3.Stmt) bool { left = q.ColumnInt64(0); return false })
	s.rmu.Unlock()
	if left != 0 {
		t.Errorf("%d bodies left after every one expired", left)
	}
	for i := range rooms {
		if st, _ := s.Stats(ctx, fmt.Sprint("room-", i)); st != (room.RoomStats{First: 3, Last: 2}) {
			t.Fatalf("room-%d: %+v, want first 3, last 2, no bytes", i, st)
		}
	}
	if seq := appendWait(t, s, "room-0", []byte{1}); seq != 3 {
		t.Fatalf("the next body of a room retention emptied: seq %d, want 3", seq)
	}
	if st, _ := s.Stats(ctx, "room-0"); st.First != 3 || st.Last != 3 {
		t.Fatalf("after the next body: %+v", st)
	}
}

// TestTrimAgeThenBytes: with retention by age and by size, the size pass
// counts what the age pass left (it read the rooms' sizes from before,
// and removed a body before checking: 3 old and 3 new bodies with room
// for 3 kept 2).
func TestTrimAgeThenBytes(t *testing.T) {
	s, _ := open(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return t0 }
	body := bytes.Repeat([]byte("x"), 100)
	for range 3 {
		appendWait(t, s, "a", body)
	}
	s.now = func() time.Time { return t0.Add(time.Hour) }
	for range 3 {
		appendWait(t, s, "a", body)
	}
	size := int64(len(body) + room.BodyOverhead)
	n, err := s.Trim(context.Background(), t0.Add(time.Minute), 3*size)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stats(context.Background(), "a"); n != 3 || st.First != 4 || st.Bytes != 3*size {
		t.Fatalf("removed %d, kept %+v; want 3 removed, seqs 4–6 kept (%d bytes)", n, st, 3*size)
	}
	// And a room exactly at the size keeps all it has.
	if n, err := s.Trim(context.Background(), time.Time{}, 3*size); err != nil || n != 0 {
		t.Fatalf("a room at the size: %d removed (%v), want none", n, err)
	}
}

// TestDiskPerQuotaByte: what a room's quota counts bounds the disk it
// takes, small bodies or large (bodies of 1 byte took 25 times what the
// quota counted, and bodies of 1000 bytes, each on an overflow page of
// its own, 4.7 times).
func TestDiskPerQuotaByte(t *testing.T) {
	for _, size := range []int{1, 100, 1000, 3000} {
		s, path := open(t)
		appendMany(t, s, "room", 4<<20/(size+64), bytes.Repeat([]byte("x"), size))
		st, _ := s.Stats(context.Background(), "room")
		if err := s.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		ratio := float64(fi.Size()) / float64(st.Bytes)
		t.Logf("bodies of %d bytes: the quota counts %d, the file has %d (%.2fx)", size, st.Bytes, fi.Size(), ratio)
		if ratio > 1.5 {
			t.Errorf("bodies of %d bytes take %.1f times on disk what the quota counts", size, ratio)
		}
	}
}

// TestMigrateV0: a store of version 0 (bodies keyed by room name, in a
// WITHOUT ROWID table) opens as version 1 with its rooms, bodies and
// epoch.
func TestMigrateV0(t *testing.T) {
	path := t.TempDir() + "/relay.db"
	c, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Exec(`
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE room (name TEXT PRIMARY KEY, last INTEGER NOT NULL, first INTEGER NOT NULL, bytes INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE body (room TEXT NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (room, seq)) WITHOUT ROWID;
INSERT INTO meta VALUES ('epoch', 'e0');
INSERT INTO room VALUES ('a', 3, 2, 4), ('b', 1, 1, 1);
INSERT INTO body VALUES ('a', 2, 1000, x'0102'), ('a', 3, 2000, x'0304'), ('b', 1, 3000, x'05');`)
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if st, _ := s.Stats(ctx, "a"); s.Epoch() != "e0" || st != (room.RoomStats{First: 2, Last: 3, Bytes: 4 + 2*room.BodyOverhead}) {
		t.Fatalf("after the migration: epoch %q, room a %+v", s.Epoch(), st)
	}
	var got []byte
	if err := s.Read(ctx, "a", 1, 3, func(_ uint64, b []byte) error { got = append(got, b...); return nil }); err != nil || !bytes.Equal(got, []byte{1, 2, 3, 4}) {
		t.Fatalf("read room a: %v %v", got, err)
	}
	if seq := appendWait(t, s, "b", []byte{6}); seq != 2 {
		t.Fatalf("next seq of room b: %d, want 2", seq)
	}
	if n, err := s.Trim(ctx, time.UnixMilli(2500), 0); err != nil || n != 2 {
		t.Fatalf("retention by the migrated times removed %d (%v), want 2", n, err)
	}
}

// TestAddrBytes: the bytes an address keeps across rooms, as published
// with AppendFrom, survive a reopen, and retention gives them back, by
// age and by size, whoever published the bodies it removes; a body
// published without an address, or before version 2, counts for none.
func TestAddrBytes(t *testing.T) {
	path := t.TempDir() + "/relay.db"
	c, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Exec(`
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE room (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, last INTEGER NOT NULL, first INTEGER NOT NULL, bytes INTEGER NOT NULL, oldest INTEGER);
CREATE INDEX room_oldest ON room (oldest) WHERE oldest IS NOT NULL;
CREATE INDEX room_bytes ON room (bytes);
CREATE TABLE body (room INTEGER NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL, data BLOB NOT NULL, UNIQUE (room, seq));
INSERT INTO meta VALUES ('epoch', 'e1');
INSERT INTO room VALUES (1, 'a', 1, 1, 65, 1000);
INSERT INTO body VALUES (1, 1, 1000, x'01');
PRAGMA user_version = 1;`)
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(5000)
	s.now = func() time.Time { return now }
	put := func(room, addr string, size int) {
		t.Helper()
		done := make(chan error, 1)
		s.AppendFrom(room, addr, make([]byte, size), func(_ uint64, err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	const o = room.BodyOverhead
	put("a", "192.0.2.1", 100)
	put("b", "192.0.2.1", 200)
	put("b", "2001:db8::/64", 50)
	put("c", "", 70) // no address
	now = time.UnixMilli(9000)
	put("c", "192.0.2.1", 300)
	want := func(when string, byAddr map[string]int64) {
		t.Helper()
		for addr, n := range byAddr {
			if got, err := s.AddrBytes(context.Background(), addr); err != nil || got != n {
				t.Fatalf("%s: %s keeps %d (%v), want %d", when, addr, got, err, n)
			}
		}
	}
	want("after the appends", map[string]int64{"192.0.2.1": 600 + 3*o, "2001:db8::/64": 50 + o, "": 0, "198.51.100.7": 0})
	s.Close()
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want("after a reopen", map[string]int64{"192.0.2.1": 600 + 3*o, "2001:db8::/64": 50 + o})
	ctx := context.Background()
	if n, err := s.Trim(ctx, time.UnixMilli(6000), 0); err != nil || n != 5 { // the version 1 body, and four more
		t.Fatalf("retention by age removed %d (%v), want 5", n, err)
	}
	want("after retention by age", map[string]int64{"192.0.2.1": 300 + o, "2001:db8::/64": 0})
	if n, err := s.Trim(ctx, time.Time{}, 1); err != nil || n != 1 {
		t.Fatalf("retention by size removed %d (%v), want 1", n, err)
	}
	want("after retention by size", map[string]int64{"192.0.2.1": 0})
	var rows int
	if err := query(s.r, `SELECT count(*) FROM publisher`, nil, func(q *sqlite3.Stmt) bool { rows = q.ColumnInt(0); return false }); err != nil || rows != 0 {
		t.Fatalf("%d publishers keep a row with nothing kept (%v)", rows, err)
	}
}
