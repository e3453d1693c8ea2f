// Package sqlitestore keeps a relay's bodies in an SQLite file
// (github.com/ncruces/go-sqlite3, WAL mode, synchronous=FULL): a body is
// acknowledged only once its commit reached the disk, so nothing
// acknowledged is lost across a crash or restart. Appends from all rooms
// are committed in groups, one fsync for whatever arrived meanwhile.
package sqlitestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/factlog/factlog/relay/room"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/vfs" // the file system VFS
)

// schema is version 2 of the store (PRAGMA user_version). A body is a
// row of a rowid table, where a body up to about 4 KiB stays on its row's
// page (in version 0's WITHOUT ROWID table, keyed by room name and seq, a
// body over about 1000 bytes spilled to an overflow page of its own); the
// room's name is stored once, in room. room.oldest is indexed so that
// retention by age finds the rooms it has work in without reading the
// others, and room.bytes so that retention by size does.
const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS room (
	id     INTEGER PRIMARY KEY,
	name   TEXT NOT NULL UNIQUE,
	last   INTEGER NOT NULL, -- last seq assigned
	first  INTEGER NOT NULL, -- oldest seq kept; last + 1 when none is (0: never published to)
	bytes  INTEGER NOT NULL, -- bytes kept, room.BodyOverhead a body included
	oldest INTEGER           -- Unix ms when the body first was stored (NULL: none kept)
);
CREATE INDEX IF NOT EXISTS room_oldest ON room (oldest) WHERE oldest IS NOT NULL;
CREATE INDEX IF NOT EXISTS room_bytes ON room (bytes);
CREATE TABLE IF NOT EXISTS body (
	room INTEGER NOT NULL, -- room.id
	seq  INTEGER NOT NULL,
	at   INTEGER NOT NULL, -- Unix ms when stored, for retention
	data BLOB NOT NULL,
	by   INTEGER,          -- publisher.id (NULL: published to a store of version 1, or by no address)
	UNIQUE (room, seq)
);
` + publishers

// publishers (version 2) are the client addresses bodies were published
// from, with the bytes they keep across rooms (as room.bytes counts
// them), for room.Limits.MaxAddrBytes. An address keeping nothing has no
// row.
const publishers = `
CREATE TABLE IF NOT EXISTS publisher (
	id    INTEGER PRIMARY KEY AUTOINCREMENT, -- never another's: an id is not reused after its row goes
	addr  TEXT NOT NULL UNIQUE,
	bytes INTEGER NOT NULL
);`

// migrateV1 turns version 1 into version 2: its bodies keep no publisher.
const migrateV1 = `ALTER TABLE body ADD COLUMN by INTEGER;` + publishers

// migrateV0 turns version 0 (rooms and bodies keyed by room name, each
// room's last body never removed) into version 1, in Open's transaction.
var migrateV0 = `
ALTER TABLE room RENAME TO room_v0;
ALTER TABLE body RENAME TO body_v0;
` + schema + `
INSERT INTO room (name, last, first, bytes) SELECT name, last, first, 0 FROM room_v0;
INSERT INTO body (room, seq, at, data)
	SELECT room.id, seq, at, data FROM body_v0 JOIN room ON room.name = body_v0.room ORDER BY room.id, seq;
UPDATE room SET
	bytes = coalesce((SELECT sum(length(data)) + count(*) * ` + fmt.Sprint(room.BodyOverhead) + ` FROM body WHERE body.room = room.id), 0),
	oldest = (SELECT at FROM body WHERE body.room = room.id ORDER BY seq LIMIT 1);
UPDATE room SET first = last + 1 WHERE oldest IS NULL AND last > 0;
DROP TABLE body_v0;
DROP TABLE room_v0;`

// Store is a room.Store in one SQLite file.
type Store struct {
	epoch string
	w     *sqlite3.Conn            // owned by the writer goroutine
	stmts map[string]*sqlite3.Stmt // the writer's prepared statements
	done  chan struct{}

	// The writer's queue: unbounded, so that Append never blocks (a room
	// calls it under its lock, and the writer's callbacks take that lock).
	// Its size is bounded upstream, by the relay's per-connection rates.
	qmu     sync.Mutex
	queue   []*request
	queued  chan struct{}
	closing bool

	rmu sync.Mutex // guards r
	r   *sqlite3.Conn

	mu    sync.Mutex // guards rooms and addrs
	rooms map[string]room.RoomStats
	addrs map[string]int64 // bytes kept by address, as the last commits left them

	now func() time.Time // the clock of bodies' times; tests set it
}

type request struct {
	room   string
	addr   string // the publisher's ("": none kept)
	body   []byte
	stored func(seq uint64, err error) // for an append
	trim   *trim
	seq    uint64
	err    error
	done   chan struct{} // for a trim
}

// trim is one step of a retention run: it removes at most trimStep
// bodies, and says whether there is more to do.
type trim struct {
	cutoff   time.Time
	maxBytes int64
	removed  int
	more     bool
}

// trimStep bounds the bodies a retention step removes, and so how long
// the publishes of every room, which the writer commits, wait for it.
const trimStep = 256

// roomRow is a room as the writer keeps it while it commits.
type roomRow struct {
	id     int64
	st     room.RoomStats
	oldest int64 // Unix ms when body st.First was stored (0: none kept)
}

// pubRow is a publisher as the writer keeps it while it commits.
type pubRow struct {
	addr  string
	bytes int64
}

// touched is what a commit changed: rooms by name, publishers by id
// (and their ids by address).
type touched struct {
	rooms map[string]roomRow
	pubs  map[int64]pubRow
	ids   map[string]int64
}

func newTouched() touched {
	return touched{rooms: map[string]roomRow{}, pubs: map[int64]pubRow{}, ids: map[string]int64{}}
}

func (t touched) clone() touched {
	return touched{rooms: maps.Clone(t.rooms), pubs: maps.Clone(t.pubs), ids: maps.Clone(t.ids)}
}

var (
	_ room.Store     = (*Store)(nil)
	_ room.AddrStore = (*Store)(nil)
)

// Open opens (or creates, with a new epoch) the store at path.
func Open(path string) (*Store, error) {
	w, err := openConn(path)
	if err != nil {
		return nil, err
	}
	s := &Store{w: w, stmts: map[string]*sqlite3.Stmt{}, queued: make(chan struct{}, 1), done: make(chan struct{}),
		rooms: map[string]room.RoomStats{}, addrs: map[string]int64{}, now: time.Now}
	if err := s.init(); err != nil {
		w.Close()
		return nil, fmt.Errorf("open relay store %s: %w", path, err)
	}
	if s.r, err = openConn(path); err != nil {
		w.Close()
		return nil, err
	}
	go s.write()
	return s, nil
}

func openConn(path string) (*sqlite3.Conn, error) {
	c, err := sqlite3.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open relay store %s: %w", path, err)
	}
	err = c.Exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000;`)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("open relay store %s: %w", path, err)
	}
	return c, nil
}

// init creates the schema, or brings an older one to it, and reads or
// makes the epoch, in one transaction.
func (s *Store) init() (err error) {
	if err := s.w.Exec(`BEGIN IMMEDIATE`); err != nil {
		return err
	}
	defer func() {
		if err == nil {
			err = s.w.Exec(`COMMIT`)
		}
		if err != nil {
			s.w.Exec(`ROLLBACK`)
		}
	}()
	var version int64
	var v0 bool
	err = query(s.w, `SELECT (SELECT user_version FROM pragma_user_version), EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'body')`, nil, func(q *sqlite3.Stmt) bool {
		version, v0 = q.ColumnInt64(0), q.ColumnInt64(0) == 0 && q.ColumnBool(1)
		return false
	})
	switch {
	case err != nil:
		return err
	case version > 2:
		return fmt.Errorf("the store is version %d; this relay knows version 2", version)
	case v0:
		err = s.w.Exec(migrateV0)
	case version == 1:
		err = s.w.Exec(migrateV1)
	default:
		err = s.w.Exec(schema)
	}
	if err == nil {
		err = s.w.Exec(`PRAGMA user_version = 2`)
	}
	if err != nil {
		return err
	}
	st, _, err := s.w.Prepare(`SELECT value FROM meta WHERE key = 'epoch'`)
	if err != nil {
		return err
	}
	if st.Step() {
		s.epoch = st.ColumnText(0)
	}
	st.Close()
	if s.epoch != "" {
		return nil
	}
	b := make([]byte, 16)
	rand.Read(b)
	s.epoch = hex.EncodeToString(b)
	ins, _, err := s.w.Prepare(`INSERT INTO meta (key, value) VALUES ('epoch', ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	ins.BindText(1, s.epoch)
	return ins.Exec()
}

// Epoch implements room.Store.
func (s *Store) Epoch() string { return s.epoch }

// Append implements room.Store. An empty body is kept as an empty blob.
func (s *Store) Append(room string, body []byte, done func(seq uint64, err error)) {
	s.AppendFrom(room, "", body, done)
}

// AppendFrom implements room.AddrStore: Append, counting the body in the
// bytes addr keeps until retention removes it.
func (s *Store) AppendFrom(room, addr string, body []byte, done func(seq uint64, err error)) {
	if body == nil {
		body = []byte{} // nil would bind NULL
	}
	if !s.enqueue(&request{room: room, addr: addr, body: body, stored: done}) {
		go done(0, errClosed) // not in the caller's goroutine, which holds its room's lock
	}
}

// Trim implements room.Store. It runs as steps that remove at most
// trimStep bodies each, one request each in the writer's queue, so that
// a publish waits for one step at most, never for a whole run; each step
// finds the rooms it has work in through indexes, whatever the number of
// rooms.
func (s *Store) Trim(ctx context.Context, cutoff time.Time, maxBytes int64) (int, error) {
	removed := 0
	for {
		req := &request{trim: &trim{cutoff: cutoff, maxBytes: maxBytes}, done: make(chan struct{})}
		if !s.enqueue(req) {
			return removed, errClosed
		}
		select {
		case <-req.done:
		case <-ctx.Done():
			return removed, ctx.Err()
		}
		if req.err != nil {
			return removed, req.err
		}
		removed += req.trim.removed
		if !req.trim.more {
			return removed, nil
		}
	}
}

var errClosed = errors.New("relay store is closed")

func (s *Store) enqueue(req *request) bool {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.closing {
		return false
	}
	s.queue = append(s.queue, req)
	select {
	case s.queued <- struct{}{}:
	default:
	}
	return true
}

// write is the writer goroutine: it commits whatever is queued as one
// transaction, then reports each request, in order.
func (s *Store) write() {
	defer close(s.done)
	for range s.queued {
		s.qmu.Lock()
		batch := s.queue
		s.queue = nil
		closing := s.closing
		s.qmu.Unlock()
		if len(batch) > 0 {
			s.report(batch, s.commit(batch))
		}
		if closing {
			return
		}
	}
}

// commit writes a batch as one transaction. If that fails, it writes it
// again with each request in a savepoint of its own, so that one request
// that cannot be written fails alone, not everyone's group; it returns an
// error only when the transaction as a whole fails.
func (s *Store) commit(batch []*request) error {
	err := s.commitTx(batch, false)
	if err == nil || len(batch) == 1 {
		return err
	}
	for _, r := range batch {
		r.seq, r.err = 0, nil
	}
	return s.commitTx(batch, true)
}

// report tells each request how it went, in order.
func (s *Store) report(batch []*request, err error) {
	for _, r := range batch {
		if err != nil {
			r.err = err
		}
		if r.err != nil {
			r.err = fmt.Errorf("relay store: %w", r.err)
		}
		if r.stored != nil {
			r.stored(r.seq, r.err)
		} else {
			close(r.done)
		}
	}
}

// maxCachedRooms bounds the rooms whose stats Stats answers from memory.
const maxCachedRooms = 4096

func (s *Store) commitTx(batch []*request, isolate bool) (err error) {
	if err := s.exec(`BEGIN IMMEDIATE`); err != nil {
		return err
	}
	t := newTouched()
	defer func() {
		if err != nil {
			s.w.Exec(`ROLLBACK`)
			return
		}
		s.cache(t)
	}()
	now := s.now().UnixMilli()
	for _, r := range batch {
		if !isolate {
			if err := s.apply(r, now, t); err != nil {
				return err
			}
			continue
		}
		before := t.clone()
		if err := s.exec(`SAVEPOINT request`); err != nil {
			return err
		}
		if r.err = s.apply(r, now, t); r.err != nil {
			t = before
			if err := s.exec(`ROLLBACK TO request`); err != nil {
				return err
			}
		}
		if err := s.exec(`RELEASE request`); err != nil {
			return err
		}
	}
	for _, row := range t.rooms {
		if err := s.put(row); err != nil {
			return err
		}
	}
	for id, p := range t.pubs {
		if err := s.putPublisher(id, p); err != nil {
			return err
		}
	}
	return s.exec(`COMMIT`)
}

// apply writes one request within the writer's transaction.
func (s *Store) apply(r *request, now int64, t touched) (err error) {
	if r.trim != nil {
		*r.trim = trim{cutoff: r.trim.cutoff, maxBytes: r.trim.maxBytes} // a retried step starts over
		return s.trim(r.trim, t)
	}
	row, err := s.row(r.room, t.rooms, true)
	if err != nil {
		return err
	}
	row.st.Last++
	if row.st.First == 0 {
		row.st.First = row.st.Last // a room's first body (else First is kept, or is Last + 1: this body)
	}
	if row.oldest == 0 {
		row.oldest = now
	}
	size := int64(len(r.body)) + room.BodyOverhead
	row.st.Bytes += size
	var by any
	if r.addr != "" {
		id, p, err := s.publisher(r.addr, t)
		if err != nil {
			return err
		}
		p.bytes += size
		t.pubs[id], t.ids[r.addr], by = p, id, id
	}
	if err := s.exec(`INSERT INTO body (room, seq, at, data, by) VALUES (?, ?, ?, ?, ?)`, row.id, int64(row.st.Last), now, r.body, by); err != nil {
		return fmt.Errorf("room %s seq %d: %w", r.room, row.st.Last, err)
	}
	t.rooms[r.room] = row
	r.seq = row.st.Last
	return nil
}

// row returns a room as this transaction has it, reading it the first
// time, and creating it if create is set.
func (s *Store) row(name string, touched map[string]roomRow, create bool) (roomRow, error) {
	if row, ok := touched[name]; ok {
		return row, nil
	}
	var row roomRow
	err := s.query(`SELECT id, last, first, bytes, coalesce(oldest, 0) FROM room WHERE name = ?`, []any{name}, func(q *sqlite3.Stmt) bool {
		row = roomRow{id: q.ColumnInt64(0), oldest: q.ColumnInt64(4),
			st: room.RoomStats{Last: uint64(q.ColumnInt64(1)), First: uint64(q.ColumnInt64(2)), Bytes: q.ColumnInt64(3)}}
		return false
	})
	if err != nil || row.id != 0 || !create {
		return row, err
	}
	if err := s.exec(`INSERT INTO room (name, last, first, bytes) VALUES (?, 0, 0, 0)`, name); err != nil {
		return row, err
	}
	row.id = s.w.LastInsertRowID()
	return row, nil
}

// put writes a room's row.
func (s *Store) put(row roomRow) error {
	var oldest any
	if row.oldest != 0 {
		oldest = row.oldest
	}
	return s.exec(`UPDATE room SET last = ?, first = ?, bytes = ?, oldest = ? WHERE id = ?`,
		int64(row.st.Last), int64(row.st.First), row.st.Bytes, oldest, row.id)
}

// publisher returns the row of an address as this transaction has it,
// creating it if new.
func (s *Store) publisher(addr string, t touched) (int64, pubRow, error) {
	if id, ok := t.ids[addr]; ok {
		return id, t.pubs[id], nil
	}
	var id int64
	p := pubRow{addr: addr}
	err := s.query(`SELECT id, bytes FROM publisher WHERE addr = ?`, []any{addr}, func(q *sqlite3.Stmt) bool {
		id, p.bytes = q.ColumnInt64(0), q.ColumnInt64(1)
		return false
	})
	if err != nil || id != 0 {
		return id, p, err
	}
	if err := s.exec(`INSERT INTO publisher (addr, bytes) VALUES (?, 0)`, addr); err != nil {
		return 0, p, err
	}
	return s.w.LastInsertRowID(), p, nil
}

// putPublisher writes a publisher's row; one that keeps nothing goes.
func (s *Store) putPublisher(id int64, p pubRow) error {
	if p.bytes <= 0 {
		return s.exec(`DELETE FROM publisher WHERE id = ?`, id)
	}
	return s.exec(`UPDATE publisher SET bytes = ? WHERE id = ?`, p.bytes, id)
}

// cache keeps the stats of the rooms and publishers a commit changed, and
// forgets those beyond maxCachedRooms, arbitrary ones (Stats and
// AddrBytes read those from the file, where the commit is).
func (s *Store) cache(t touched) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, row := range t.rooms {
		s.rooms[name] = row.st
	}
	for _, p := range t.pubs {
		s.addrs[p.addr] = max(p.bytes, 0)
	}
	for name := range s.rooms { // map order: an arbitrary victim
		if len(s.rooms) <= maxCachedRooms {
			break
		}
		delete(s.rooms, name)
	}
	for addr := range s.addrs {
		if len(s.addrs) <= maxCachedRooms {
			break
		}
		delete(s.addrs, addr)
	}
}

// exec runs one of the writer's statements, prepared once.
func (s *Store) exec(sql string, args ...any) error {
	st, err := s.stmt(sql, args)
	if err != nil {
		return err
	}
	return st.Exec()
}

// query runs one of the writer's queries, prepared once, calling row for
// each row until it returns false.
func (s *Store) query(sql string, args []any, row func(*sqlite3.Stmt) bool) error {
	st, err := s.stmt(sql, args)
	if err != nil {
		return err
	}
	defer st.Reset()
	for st.Step() {
		if !row(st) {
			break
		}
	}
	return st.Err()
}

func (s *Store) stmt(sql string, args []any) (*sqlite3.Stmt, error) {
	st, ok := s.stmts[sql]
	if !ok {
		var err error
		if st, _, err = s.w.Prepare(sql); err != nil {
			return nil, err
		}
		s.stmts[sql] = st
	}
	return st, bind(st, args)
}

// trim is one step of retention: it removes the bodies stored before
// the cutoff, then the oldest bodies of rooms over maxBytes, at most
// trimStep in all. A room may lose every body: it keeps its last seq, and
// its First becomes Last + 1, so that the next body follows and a client
// whose cursor is older is told it was truncated. Each room it changes
// is written at once, so that the size pass reads what the age pass left.
func (s *Store) trim(t *trim, tx touched) error {
	budget := trimStep
	pass := func(sql string, arg int64, remove func(row *roomRow, at, size int64) bool) error {
		var names []string
		err := s.query(sql, []any{arg, trimStep}, func(q *sqlite3.Stmt) bool {
			names = append(names, q.ColumnText(0))
			return true
		})
		if err != nil {
			return err
		}
		t.more = t.more || len(names) == trimStep // rooms beyond the list
		for _, name := range names {
			if budget == 0 {
				t.more = true
				return nil
			}
			row, err := s.row(name, tx.rooms, false)
			if err != nil {
				return err
			}
			n, err := s.removeOldest(&row, budget, remove, tx)
			if err != nil {
				return err
			}
			if err := s.put(row); err != nil {
				return err
			}
			tx.rooms[name] = row
			budget -= n
			t.removed += n
		}
		t.more = t.more || budget == 0
		return nil
	}
	if !t.cutoff.IsZero() {
		cutoff := t.cutoff.UnixMilli()
		err := pass(`SELECT name FROM room WHERE oldest < ? ORDER BY oldest LIMIT ?`, cutoff,
			func(_ *roomRow, at, _ int64) bool { return at < cutoff })
		if err != nil || budget == 0 {
			return err
		}
	}
	if t.maxBytes > 0 {
		// Checked before each removal: a room at exactly maxBytes keeps
		// all it has.
		return pass(`SELECT name FROM room WHERE bytes > ? ORDER BY bytes DESC LIMIT ?`, t.maxBytes,
			func(row *roomRow, _, _ int64) bool { return row.st.Bytes > t.maxBytes })
	}
	return nil
}

// removeOldest removes a room's oldest bodies while remove says so, at
// most budget of them, and updates row and their publishers' rows in tx;
// it returns how many it removed. A room keeps its bodies First..Last,
// without gaps.
func (s *Store) removeOldest(row *roomRow, budget int, remove func(row *roomRow, at, size int64) bool, tx touched) (int, error) {
	n, next, nextAt := 0, int64(row.st.First), int64(0)
	freed := map[int64]int64{} // bytes by publisher
	err := s.query(`SELECT seq, length(data), at, coalesce(by, 0) FROM body WHERE room = ? AND seq >= ? ORDER BY seq LIMIT ?`,
		[]any{row.id, int64(row.st.First), budget + 1}, func(q *sqlite3.Stmt) bool {
			seq, size, at := q.ColumnInt64(0), q.ColumnInt64(1), q.ColumnInt64(2)
			if n == budget || !remove(row, at, size) {
				nextAt = at
				return false
			}
			row.st.Bytes -= size + room.BodyOverhead
			if by := q.ColumnInt64(3); by != 0 {
				freed[by] += size + room.BodyOverhead
			}
			next = seq + 1
			n++
			return true
		})
	if err != nil {
		return 0, err
	}
	for id, size := range freed {
		p, ok := tx.pubs[id]
		if !ok {
			err := s.query(`SELECT addr, bytes FROM publisher WHERE id = ?`, []any{id}, func(q *sqlite3.Stmt) bool {
				p, ok = pubRow{addr: q.ColumnText(0), bytes: q.ColumnInt64(1)}, true
				return false
			})
			if err != nil {
				return 0, err
			}
			if !ok {
				continue // (never: a publisher keeps a row while it keeps bytes)
			}
		}
		p.bytes -= size
		tx.pubs[id], tx.ids[p.addr] = p, id
	}
	if n > 0 {
		if err := s.exec(`DELETE FROM body WHERE room = ? AND seq >= ? AND seq < ?`, row.id, int64(row.st.First), next); err != nil {
			return 0, err
		}
	}
	row.oldest = nextAt
	if nextAt == 0 { // none left
		next = int64(row.st.Last) + 1
	}
	row.st.First = uint64(next)
	return n, nil
}

// Read implements room.Store. Each page is one query on the reader
// connection, stopped after ReadPage bytes; the bodies are handed to fn
// with no lock held.
func (s *Store) Read(ctx context.Context, name string, after, upTo uint64, fn func(seq uint64, body []byte) error) error {
	type item struct {
		seq  uint64
		body []byte
	}
	for after < upTo {
		var items []item
		size := 0
		s.rmu.Lock()
		err := query(s.r, `SELECT seq, data FROM body WHERE room = (SELECT id FROM room WHERE name = ?) AND seq > ? AND seq <= ? ORDER BY seq`,
			[]any{name, int64(after), int64(upTo)}, func(st *sqlite3.Stmt) bool {
				b := st.ColumnBlob(1, nil)
				items = append(items, item{uint64(st.ColumnInt64(0)), b})
				size += len(b)
				return size < room.ReadPage
			})
		s.rmu.Unlock()
		if err != nil {
			return fmt.Errorf("read room %s: %w", name, err)
		}
		if len(items) == 0 {
			return fmt.Errorf("read room %s: seq %d: %w", name, after+1, room.ErrTrimmed)
		}
		for _, it := range items {
			if it.seq != after+1 {
				return fmt.Errorf("read room %s: seq %d: %w", name, after+1, room.ErrTrimmed)
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(it.seq, it.body); err != nil {
				return err
			}
			after = it.seq
		}
	}
	return nil
}

// Stats implements room.Store. Rooms are cached: every change to them
// goes through the writer.
func (s *Store) Stats(ctx context.Context, room string) (room.RoomStats, error) {
	s.mu.Lock()
	st, ok := s.rooms[room]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	s.rmu.Lock()
	st, err := s.stats(s.r, room)
	s.rmu.Unlock()
	return st, err
}

// AddrBytes implements room.AddrStore. Addresses are cached as rooms are.
func (s *Store) AddrBytes(ctx context.Context, addr string) (int64, error) {
	s.mu.Lock()
	n, ok := s.addrs[addr]
	s.mu.Unlock()
	if ok {
		return n, nil
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	err := query(s.r, `SELECT bytes FROM publisher WHERE addr = ?`, []any{addr}, func(q *sqlite3.Stmt) bool {
		n = q.ColumnInt64(0)
		return false
	})
	return n, err
}

func (s *Store) stats(c *sqlite3.Conn, name string) (room.RoomStats, error) {
	var st room.RoomStats
	err := query(c, `SELECT last, first, bytes FROM room WHERE name = ?`, []any{name}, func(q *sqlite3.Stmt) bool {
		st = room.RoomStats{Last: uint64(q.ColumnInt64(0)), First: uint64(q.ColumnInt64(1)), Bytes: q.ColumnInt64(2)}
		return false
	})
	return st, err
}

// Close implements room.Store: it waits for the writer to finish what it
// was given.
func (s *Store) Close() error {
	s.qmu.Lock()
	s.closing = true
	select {
	case s.queued <- struct{}{}:
	default:
	}
	s.qmu.Unlock()
	<-s.done
	for _, st := range s.stmts {
		st.Close()
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	return errors.Join(s.w.Close(), s.r.Close())
}

func bind(st *sqlite3.Stmt, args []any) error {
	var err error
	for i, a := range args {
		switch v := a.(type) {
		case string:
			err = st.BindText(i+1, v)
		case int64:
			err = st.BindInt64(i+1, v)
		case int:
			err = st.BindInt64(i+1, int64(v))
		case []byte:
			err = st.BindBlob(i+1, v)
		case nil:
			err = st.BindNull(i + 1)
		default:
			err = fmt.Errorf("cannot bind %T", a)
		}
		if err != nil {
			return fmt.Errorf("bind parameter %d: %w", i+1, err)
		}
	}
	return nil
}

// query calls row for each row of sql until row returns false.
func query(c *sqlite3.Conn, sql string, args []any, row func(*sqlite3.Stmt) bool) error {
	st, _, err := c.Prepare(sql)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := bind(st, args); err != nil {
		return err
	}
	for st.Step() {
		if !row(st) {
			break
		}
	}
	return st.Err()
}
