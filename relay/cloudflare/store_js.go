//go:build js && wasm

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	gosync "sync"
	"syscall/js"
	"time"

	"github.com/factlog/factlog/relay/room"
)

// doStore is a room.Store in the Durable Object's own SQLite
// (ctx.storage.sql): strongly consistent for the one room the object
// serves, so seqs are gapless, and durable before any reply leaves (the
// runtime's output gates hold messages until writes are stored).
type doStore struct {
	sql   js.Value
	epoch string

	mu    gosync.Mutex
	stats map[string]room.RoomStats

	// Appends run in order on one goroutine, after the caller (which holds
	// its room's lock, as the callback will) has returned. The queue never
	// blocks Append; the room logic bounds it (room.Limits.RoomPending).
	qmu    gosync.Mutex
	queue  []appendReq
	queued chan struct{} // a value when the queue became non-empty
}

type appendReq struct {
	room string
	body []byte
	done func(uint64, error)
}

const doSchema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS room (name TEXT PRIMARY KEY, last INTEGER NOT NULL, first INTEGER NOT NULL, bytes INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS body (room TEXT NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (room, seq));`

func openDOStore(sql js.Value) (*doStore, error) {
	s := &doStore{sql: sql, stats: map[string]room.RoomStats{}, queued: make(chan struct{}, 1)}
	if _, err := s.exec(doSchema); err != nil {
		return nil, err
	}
	rows, err := s.exec(`SELECT value FROM meta WHERE key = 'epoch'`)
	if err != nil {
		return nil, err
	}
	if len(rows) > 0 {
		s.epoch = rows[0].Get("value").String()
	} else {
		b := make([]byte, 16)
		rand.Read(b)
		s.epoch = hex.EncodeToString(b)
		if _, err := s.exec(`INSERT INTO meta (key, value) VALUES ('epoch', ?)`, s.epoch); err != nil {
			return nil, err
		}
	}
	// Rooms stored before room.BodyOverhead was charged (or with another
	// one) are counted again, once.
	overhead := fmt.Sprint(room.BodyOverhead)
	rows, err = s.exec(`SELECT value FROM meta WHERE key = 'body_overhead'`)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 || rows[0].Get("value").String() != overhead {
		if _, err := s.exec(`UPDATE room SET bytes = (SELECT coalesce(sum(length(data)) + count(*) * ?, 0) FROM body WHERE body.room = room.name)`, room.BodyOverhead); err != nil {
			return nil, err
		}
		if _, err := s.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('body_overhead', ?)`, overhead); err != nil {
			return nil, err
		}
	}
	go s.write()
	return s, nil
}

// exec runs SQL and returns its rows, turning an exception into an error.
func (s *doStore) exec(query string, args ...any) (rows []js.Value, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("durable object sql: %v", p)
		}
	}()
	cursor := s.sql.Call("exec", append([]any{query}, args...)...)
	arr := cursor.Call("toArray")
	for i := range arr.Length() {
		rows = append(rows, arr.Index(i))
	}
	return rows, nil
}

func (s *doStore) Epoch() string { return s.epoch }

func (s *doStore) Append(name string, body []byte, done func(uint64, error)) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	s.queue = append(s.queue, appendReq{name, body, done})
	select {
	case s.queued <- struct{}{}:
	default:
	}
}

func (s *doStore) write() {
	for range s.queued {
		s.qmu.Lock()
		batch := s.queue
		s.queue = nil
		s.qmu.Unlock()
		for _, r := range batch {
			seq, err := s.append(r.room, r.body)
			r.done(seq, err)
		}
	}
}

func (s *doStore) append(name string, body []byte) (uint64, error) {
	st, err := s.Stats(context.Background(), name)
	if err != nil {
		return 0, err
	}
	st.Last++
	if st.First == 0 {
		st.First = st.Last
	}
	st.Bytes += int64(len(body)) + room.BodyOverhead
	data := js.Global().Get("Uint8Array").New(len(body))
	js.CopyBytesToJS(data, body)
	if _, err := s.exec(`INSERT INTO body (room, seq, at, data) VALUES (?, ?, ?, ?)`, name, st.Last, time.Now().UnixMilli(), data.Get("buffer")); err != nil {
		return 0, err
	}
	if err := s.putStats(name, st); err != nil {
		return 0, err
	}
	return st.Last, nil
}

func (s *doStore) putStats(name string, st room.RoomStats) error {
	_, err := s.exec(`INSERT INTO room (name, last, first, bytes) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET last = excluded.last, first = excluded.first, bytes = excluded.bytes`,
		name, st.Last, st.First, st.Bytes)
	if err == nil {
		s.mu.Lock()
		s.stats[name] = st
		s.mu.Unlock()
	}
	return err
}

// Read implements room.Store: it steps a cursor over the range, a page of
// about room.ReadPage bytes at a time, so that a large backlog is never
// in memory at once, and reports a gap (retention) as room.ErrTrimmed.
func (s *doStore) Read(ctx context.Context, name string, after, upTo uint64, fn func(uint64, []byte) error) error {
	for after < upTo {
		type item struct {
			seq  uint64
			body []byte
		}
		var page []item
		size := 0
		err := s.each(`SELECT seq, data FROM body WHERE room = ? AND seq > ? AND seq <= ? ORDER BY seq`, func(row js.Value) bool {
			data := js.Global().Get("Uint8Array").New(row.Get("data"))
			body := make([]byte, data.Length())
			js.CopyBytesToGo(body, data)
			page = append(page, item{uint64(row.Get("seq").Int()), body})
			size += len(body)
			return size < room.ReadPage
		}, name, after, upTo)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return fmt.Errorf("read room %s: seq %d: %w", name, after+1, room.ErrTrimmed)
		}
		for _, it := range page {
			if it.seq != after+1 {
				return fmt.Errorf("read room %s: seq %d: %w", name, after+1, room.ErrTrimmed)
			}
			if err := fn(it.seq, it.body); err != nil {
				return err
			}
			after = it.seq
		}
	}
	return nil
}

// each calls fn for the rows of a query, one at a time from the cursor,
// until fn returns false.
func (s *doStore) each(query string, fn func(js.Value) bool, args ...any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("durable object sql: %v", p)
		}
	}()
	cursor := s.sql.Call("exec", append([]any{query}, args...)...)
	for {
		r := cursor.Call("next")
		if r.Get("done").Truthy() || !fn(r.Get("value")) {
			return nil
		}
	}
}

func (s *doStore) Stats(ctx context.Context, name string) (room.RoomStats, error) {
	s.mu.Lock()
	st, ok := s.stats[name]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	rows, err := s.exec(`SELECT last, first, bytes FROM room WHERE name = ?`, name)
	if err != nil {
		return st, err
	}
	if len(rows) > 0 {
		st = room.RoomStats{Last: uint64(rows[0].Get("last").Int()), First: uint64(rows[0].Get("first").Int()), Bytes: int64(rows[0].Get("bytes").Int())}
	}
	s.mu.Lock()
	s.stats[name] = st
	s.mu.Unlock()
	return st, nil
}

// Trim implements room.Store's retention, for the object's alarm.
func (s *doStore) Trim(ctx context.Context, cutoff time.Time, maxBytes int64) (int, error) {
	rows, err := s.exec(`SELECT name FROM room`)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, r := range rows {
		name := r.Get("name").String()
		st, err := s.Stats(ctx, name)
		if err != nil {
			return removed, err
		}
		// Every body may go: the room keeps its last seq, and First
		// becomes Last + 1 (room.Store).
		old, err := s.exec(`SELECT seq, length(data) AS size, at FROM body WHERE room = ? ORDER BY seq`, name)
		if err != nil {
			return removed, err
		}
		for _, b := range old {
			if int64(b.Get("at").Int()) >= cutoff.UnixMilli() && (maxBytes <= 0 || st.Bytes <= maxBytes) {
				break
			}
			seq := uint64(b.Get("seq").Int())
			if _, err := s.exec(`DELETE FROM body WHERE room = ? AND seq = ?`, name, seq); err != nil {
				return removed, err
			}
			st.Bytes -= int64(b.Get("size").Int()) + room.BodyOverhead
			st.First = seq + 1
			removed++
		}
		if err := s.putStats(name, st); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

func (s *doStore) Close() error { return nil }
