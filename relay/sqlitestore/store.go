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

const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS room (
	name  TEXT PRIMARY KEY,
	last  INTEGER NOT NULL, -- last seq assigned
	first INTEGER NOT NULL, -- oldest seq kept (0: none)
	bytes INTEGER NOT NULL  -- bytes kept
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS body (
	room TEXT NOT NULL,
	seq  INTEGER NOT NULL,
	at   INTEGER NOT NULL, -- Unix ms when stored, for retention
	data BLOB NOT NULL,
	PRIMARY KEY (room, seq)
) WITHOUT ROWID;`

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

	mu    sync.Mutex // guards rooms
	rooms map[string]room.RoomStats
}

type request struct {
	room   string
	body   []byte
	stored func(seq uint64, err error) // for an append
	trim   *trim
	seq    uint64
	err    error
	done   chan struct{} // for a trim
}

type trim struct {
	cutoff   time.Time
	maxBytes int64
	removed  int
}

var _ room.Store = (*Store)(nil)

// Open opens (or creates, with a new epoch) the store at path.
func Open(path string) (*Store, error) {
	w, err := openConn(path)
	if err != nil {
		return nil, err
	}
	s := &Store{w: w, stmts: map[string]*sqlite3.Stmt{}, queued: make(chan struct{}, 1), done: make(chan struct{}), rooms: map[string]room.RoomStats{}}
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

func (s *Store) init() error {
	if err := s.w.Exec(schema); err != nil {
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
	if body == nil {
		body = []byte{} // nil would bind NULL
	}
	if !s.enqueue(&request{room: room, body: body, stored: done}) {
		go done(0, errClosed) // not in the caller's goroutine, which holds its room's lock
	}
}

// Trim implements room.Store.
func (s *Store) Trim(ctx context.Context, cutoff time.Time, maxBytes int64) (int, error) {
	req := &request{trim: &trim{cutoff: cutoff, maxBytes: maxBytes}, done: make(chan struct{})}
	if !s.enqueue(req) {
		return 0, errClosed
	}
	select {
	case <-req.done:
		return req.trim.removed, req.err
	case <-ctx.Done():
		return 0, ctx.Err()
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
	touched := map[string]room.RoomStats{}
	defer func() {
		if err != nil {
			s.w.Exec(`ROLLBACK`)
			return
		}
		s.cache(touched)
	}()
	now := time.Now().UnixMilli()
	for _, r := range batch {
		if !isolate {
			if err := s.apply(r, now, touched); err != nil {
				return err
			}
			continue
		}
		before := maps.Clone(touched)
		if err := s.exec(`SAVEPOINT request`); err != nil {
			return err
		}
		if r.err = s.apply(r, now, touched); r.err != nil {
			touched = before
			if err := s.exec(`ROLLBACK TO request`); err != nil {
				return err
			}
		}
		if err := s.exec(`RELEASE request`); err != nil {
			return err
		}
	}
	for name, st := range touched {
		err := s.exec(`INSERT INTO room (name, last, first, bytes) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET last = excluded.last, first = excluded.first, bytes = excluded.bytes`,
			name, int64(st.Last), int64(st.First), st.Bytes)
		if err != nil {
			return err
		}
	}
	return s.exec(`COMMIT`)
}

// apply writes one request within the writer's transaction.
func (s *Store) apply(r *request, now int64, touched map[string]room.RoomStats) (err error) {
	if r.trim != nil {
		r.trim.removed, err = s.trim(r.trim, touched)
		return err
	}
	st, ok := touched[r.room]
	if !ok {
		if st, err = s.stats(s.w, r.room); err != nil {
			return err
		}
	}
	st.Last++
	if st.First == 0 {
		st.First = st.Last
	}
	st.Bytes += int64(len(r.body))
	if err := s.exec(`INSERT INTO body (room, seq, at, data) VALUES (?, ?, ?, ?)`, r.room, int64(st.Last), now, r.body); err != nil {
		return fmt.Errorf("room %s seq %d: %w", r.room, st.Last, err)
	}
	touched[r.room] = st
	r.seq = st.Last
	return nil
}

// cache keeps the stats of the rooms a commit changed, and forgets rooms
// beyond maxCachedRooms, arbitrary ones (Stats reads those from the file,
// where the commit is).
func (s *Store) cache(touched map[string]room.RoomStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	maps.Copy(s.rooms, touched)
	for name := range s.rooms { // map order: an arbitrary victim
		if len(s.rooms) <= maxCachedRooms {
			break
		}
		delete(s.rooms, name)
	}
}

// exec runs one of the writer's statements, prepared once.
func (s *Store) exec(sql string, args ...any) error {
	st, ok := s.stmts[sql]
	if !ok {
		var err error
		if st, _, err = s.w.Prepare(sql); err != nil {
			return err
		}
		s.stmts[sql] = st
	}
	if err := bind(st, args); err != nil {
		return err
	}
	return st.Exec()
}

// trim removes the bodies stored before the cutoff, then the oldest bodies
// of rooms over maxBytes, always keeping each room's last body.
func (s *Store) trim(t *trim, touched map[string]room.RoomStats) (int, error) {
	removed := 0
	remove := func(room string, seq, size int64) (room.RoomStats, error) {
		st, ok := touched[room]
		if !ok {
			var err error
			if st, err = s.stats(s.w, room); err != nil {
				return st, err
			}
		}
		if uint64(seq) >= st.Last {
			return st, nil
		}
		if err := exec(s.w, `DELETE FROM body WHERE room = ? AND seq = ?`, room, seq); err != nil {
			return st, err
		}
		st.Bytes -= size
		st.First = max(st.First, uint64(seq)+1)
		touched[room] = st
		removed++
		return st, nil
	}
	type body struct {
		room      string
		seq, size int64
	}
	// By age: each room's bodies are in seq order, which is time order, so
	// walking each from its oldest costs what is removed, and no index on
	// time has to be kept up on every insert.
	var rooms []string
	err := query(s.w, `SELECT name FROM room`, nil, func(q *sqlite3.Stmt) bool {
		rooms = append(rooms, q.ColumnText(0))
		return true
	})
	if err != nil {
		return removed, err
	}
	var old []body
	for _, room := range rooms {
		err := query(s.w, `SELECT seq, length(data), at FROM body WHERE room = ? ORDER BY seq`, []any{room}, func(q *sqlite3.Stmt) bool {
			if q.ColumnInt64(2) >= t.cutoff.UnixMilli() {
				return false
			}
			old = append(old, body{room, q.ColumnInt64(0), q.ColumnInt64(1)})
			return true
		})
		if err != nil {
			return removed, err
		}
	}
	for _, b := range old {
		if _, err := remove(b.room, b.seq, b.size); err != nil {
			return removed, err
		}
	}
	if t.maxBytes <= 0 {
		return removed, nil
	}
	var full []string
	err = query(s.w, `SELECT name FROM room WHERE bytes > ?`, []any{t.maxBytes}, func(q *sqlite3.Stmt) bool {
		full = append(full, q.ColumnText(0))
		return true
	})
	if err != nil {
		return removed, err
	}
	for _, room := range full {
		var bodies []body
		err := query(s.w, `SELECT seq, length(data) FROM body WHERE room = ? ORDER BY seq`, []any{room}, func(q *sqlite3.Stmt) bool {
			bodies = append(bodies, body{room, q.ColumnInt64(0), q.ColumnInt64(1)})
			return true
		})
		if err != nil {
			return removed, err
		}
		for _, b := range bodies {
			st, err := remove(room, b.seq, b.size)
			if err != nil {
				return removed, err
			}
			if st.Bytes <= t.maxBytes {
				break
			}
		}
	}
	return removed, nil
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
		err := query(s.r, `SELECT seq, data FROM body WHERE room = ? AND seq > ? AND seq <= ? ORDER BY seq`,
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
		default:
			err = fmt.Errorf("cannot bind %T", a)
		}
		if err != nil {
			return fmt.Errorf("bind parameter %d: %w", i+1, err)
		}
	}
	return nil
}

func exec(c *sqlite3.Conn, sql string, args ...any) error {
	st, _, err := c.Prepare(sql)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := bind(st, args); err != nil {
		return err
	}
	return st.Exec()
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
