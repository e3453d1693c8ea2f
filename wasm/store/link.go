package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/factlog/factlog/wasm/sync"
	"github.com/ncruces/go-sqlite3"
)

// LinkState is what a relay link remembers between sessions, in the store
// itself so that it survives restarts with the events it describes.
type LinkState struct {
	// Epoch is the relay store's epoch the cursor belongs to.
	Epoch string
	// Cursor is the last seq of the room this replica has processed.
	Cursor uint64
	// Digest is the relay's digest of the body at Cursor
	// (protocol.Digest), if this replica knows it: the join sends it, so
	// that a relay restored from an older copy tells its seqs changed.
	Digest []byte
	// Room is what the room is known to hold: everything received from it
	// and everything published to it and acknowledged.
	Room sync.VersionVector
}

const linkSchema = `CREATE TABLE IF NOT EXISTS _factlog_link (
	key    TEXT PRIMARY KEY NOT NULL, -- the room's URL
	epoch  TEXT NOT NULL,
	cursor INTEGER NOT NULL,
	room   TEXT NOT NULL,             -- JSON version vector
	digest BLOB                       -- of the body at cursor
) WITHOUT ROWID`

// linkTable makes the link table, or adds the digest to one made before
// it was kept.
func (s *Store) linkTable() error {
	if err := s.c.Script(linkSchema); err != nil {
		return err
	}
	has := false
	err := s.c.Query(`SELECT 1 FROM pragma_table_info('_factlog_link') WHERE name = 'digest'`, nil, func(*sqlite3.Stmt) error {
		has = true
		return nil
	})
	if err == nil && !has {
		err = s.c.Exec(`ALTER TABLE _factlog_link ADD COLUMN digest BLOB`)
	}
	return err
}

// LinkState returns the saved state of the link to key (a room URL); the
// zero state if there is none.
func (s *Store) LinkState(ctx context.Context, key string) (LinkState, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return LinkState{}, err
	}
	defer unlock()
	st := LinkState{Room: sync.VersionVector{}}
	if err := s.linkTable(); err != nil {
		return st, fmt.Errorf("link state: %w", err)
	}
	var raw string
	err = s.c.Query(`SELECT epoch, cursor, room, digest FROM _factlog_link WHERE key = ?`, []any{key}, func(q *sqlite3.Stmt) error {
		st.Epoch, st.Cursor, raw, st.Digest = q.ColumnText(0), uint64(q.ColumnInt64(1)), q.ColumnText(2), q.ColumnBlob(3, nil)
		return nil
	})
	if err == nil && raw != "" {
		err = json.Unmarshal([]byte(raw), &st.Room)
	}
	if err != nil {
		return st, fmt.Errorf("link state: %w", err)
	}
	return st, nil
}

// SaveLinkState stores the state of the link to key.
func (s *Store) SaveLinkState(ctx context.Context, key string, st LinkState) error {
	room, err := json.Marshal(st.Room)
	if err != nil {
		return err
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	err = s.linkTable()
	if err == nil {
		err = s.c.Exec(`INSERT OR REPLACE INTO _factlog_link (key, epoch, cursor, room, digest) VALUES (?, ?, ?, ?, ?)`,
			key, st.Epoch, st.Cursor, string(room), st.Digest)
	}
	if err != nil {
		return fmt.Errorf("save link state: %w", err)
	}
	return nil
}

// Subscribe returns a channel that receives a value after each write that
// added events (appends and imports), coalesced: a slow reader sees one
// value for many writes. cancel ends the subscription.
func (s *Store) Subscribe() (ch <-chan struct{}, cancel func()) {
	c := make(chan struct{}, 1)
	s.mu.Lock()
	if s.subs == nil {
		s.subs = map[chan struct{}]bool{}
	}
	s.subs[c] = true
	s.mu.Unlock()
	return c, func() {
		s.mu.Lock()
		delete(s.subs, c)
		s.mu.Unlock()
	}
}

// added tells subscribers that events were added. The caller holds s.mu.
func (s *Store) added() {
	for c := range s.subs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}
