package store

import (
	"time"

	"github.com/ncruces/go-sqlite3"
)

// A file store's commits append to its write-ahead log; a checkpoint
// moves the log into the database file, and costs a sync and a write of
// every page the log changed. SQLite checkpoints in the commit that fills
// the log to its limit, which makes that one append tens of milliseconds
// slower than the others. The store instead checkpoints when it has been
// idle for a moment, and in a commit only when a long burst filled the log
// far beyond what idle moments keep it at.
const (
	// walIdlePages: past this many pages in the log, a checkpoint runs
	// once the store has been idle for walIdle.
	walIdlePages = 1000
	walIdle      = 100 * time.Millisecond
	// walBurstPages: past this many (32 MiB of 4 KiB pages), the commit
	// checkpoints.
	walBurstPages = 8000
)

// checkpointer runs a file store's checkpoints (see above). Its fields are
// guarded by the store's mutex.
type checkpointer struct {
	pages int         // pages in the log after the last commit
	timer *time.Timer // the idle checkpoint, armed after a call
}

// startCheckpoints takes over checkpoints from SQLite.
func (s *Store) startCheckpoints() error {
	raw := s.c.Raw()
	if err := raw.WALAutoCheckpoint(0); err != nil {
		return err
	}
	raw.WALHook(func(db *sqlite3.Conn, schema string, pages int) error {
		s.ckpt.pages = pages
		if pages >= walBurstPages {
			if _, _, err := db.WALCheckpoint(schema, sqlite3.CHECKPOINT_PASSIVE); err == nil {
				s.ckpt.pages = 0
			}
		}
		return nil
	})
	return nil
}

// idle arms the idle checkpoint after a call, if the log is long enough.
// The caller holds s.mu.
func (s *Store) idle() {
	if s.ckpt.pages < walIdlePages {
		return
	}
	if s.ckpt.timer == nil {
		s.ckpt.timer = time.AfterFunc(walIdle, s.checkpointIdle)
		return
	}
	s.ckpt.timer.Reset(walIdle)
}

// checkpointIdle checkpoints, unless a call came in meanwhile (it re-arms
// the timer) or the store closed.
func (s *Store) checkpointIdle() {
	if !s.mu.TryLock() {
		return // a call runs; its end re-arms the timer
	}
	defer s.mu.Unlock()
	if s.closed || s.ckpt.pages < walIdlePages {
		return
	}
	if _, _, err := s.c.Raw().WALCheckpoint("main", sqlite3.CHECKPOINT_PASSIVE); err == nil {
		s.ckpt.pages = 0
	}
}
