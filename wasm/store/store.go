// Package store is factlog's replica: one SQLite database that holds the
// event log (package dag), the application state derived from it (package
// replay), and the application's interpretation of one by the other.
//
// Every write — a local append, an imported batch, a rebuild — is one
// SQLite transaction covering the events and their effect on the state, so
// a crash leaves both or neither.
//
// A Store is safe for concurrent use; its calls are serialized.
package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	gosync "sync"
	"time"

	"github.com/factlog/factlog/wasm/dag"
	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/factlog/factlog/wasm/replay"
)

// Options configure Open. The zero value opens a private in-memory store
// without state tables.
type Options struct {
	// Path is the database file; "" or ":memory:" keeps the store in
	// memory, lost on Close.
	Path string
	// VFS names the SQLite VFS that holds Path ("" for the default, the
	// file system). The browser build registers one for OPFS.
	VFS string
	// MaxMemory caps SQLite's memory for this store, in bytes: its page
	// cache, or the whole database when it is in memory (default
	// db.DefaultMaxMemory: 1 GiB, 256 MiB in WebAssembly).
	MaxMemory int64
	// Schema and Materializers are the application's interpretation of its
	// events; see replay.Interpretation.
	Schema        string
	Materializers map[string]string
	// Progress, if set, is called while the state is rebuilt from the
	// whole log (when the interpretation changed), with the events applied
	// so far and the total.
	Progress func(done, total int)
	// Pending bounds the events that wait for missing parents.
	Pending dag.PendingLimits
	// Now is the wall clock stamped on appended events (default time.Now).
	Now func() time.Time
	// Rand makes the peer id of a new store (default crypto/rand.Reader).
	Rand io.Reader
}

// Store is one replica.
type Store struct {
	mu      gosync.Mutex
	c       *db.Conn
	g       *dag.Graph
	r       *replay.Engine
	peer    event.PeerID
	opts    Options
	guard   guard
	watcher *watcher // nil until the first Watch
	subs    map[chan struct{}]bool
	closed  bool
}

const metaPeer = "peer"

// Open opens (or creates) the store at opts.Path. A new store gets a random
// peer id. If the interpretation differs from the one the state was built
// with, Open rebuilds the state from the log before it returns.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	c, err := db.Open(ctx, opts.Path, opts.VFS, opts.MaxMemory)
	if err != nil {
		return nil, err
	}
	s := &Store{c: c, g: dag.New(c), opts: opts}
	if err := s.open(); err != nil {
		c.Close()
		return nil, fmt.Errorf("open store %q: %w", opts.Path, err)
	}
	return s, nil
}

func (s *Store) open() error {
	pragmas := `PRAGMA foreign_keys = OFF; PRAGMA recursive_triggers = ON;`
	if s.opts.VFS != "" {
		// The browser's and Node's VFSes (package jsvfs) have no shared
		// memory: one connection owns the file, which WAL then allows.
		pragmas += `PRAGMA locking_mode = EXCLUSIVE;`
	}
	if !db.InMemory(s.opts.Path) {
		// WAL keeps readers and the writer apart and makes commits
		// cheap; NORMAL sync in WAL mode survives an application crash,
		// which is what a closed tab is.
		pragmas += `PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;`
		// A quarter of the memory for the page cache: the DAG's indexes
		// are keyed by hashes, so inserts touch pages all over them.
		pragmas += fmt.Sprintf(`PRAGMA cache_size = -%d;`, cmp.Or(s.opts.MaxMemory, db.DefaultMaxMemory)/4/1024)
	}
	if err := s.c.Script(pragmas); err != nil {
		return err
	}
	if err := s.c.Raw().SetAuthorizer(s.guard.authorize); err != nil {
		return err
	}
	return s.c.Tx(func() error {
		if err := dag.Init(s.c); err != nil {
			return err
		}
		if err := s.loadPeer(); err != nil {
			return err
		}
		return s.interpret(replay.Interpretation{Schema: s.opts.Schema, Materializers: s.opts.Materializers}, s.opts.Progress)
	})
}

func (s *Store) loadPeer() error {
	hex, ok, err := s.c.Meta(metaPeer)
	if err != nil {
		return err
	}
	if ok {
		s.peer, err = event.ParsePeerID(hex)
		return err
	}
	if s.peer, err = event.NewPeerID(s.opts.Rand); err != nil {
		return err
	}
	return s.c.SetMeta(metaPeer, s.peer.String())
}

// interpret installs an interpretation, rebuilding the state if it changed.
func (s *Store) interpret(in replay.Interpretation, progress func(done, total int)) error {
	if s.r != nil {
		s.r.Close()
		s.r = nil
	}
	r, rebuild, err := replay.Open(s.c, in, s.guard.interpretation)
	if err != nil {
		return err
	}
	s.r = r
	s.guard.state = r.Tables()
	if rebuild {
		return s.rebuild(progress)
	}
	return nil
}

// rebuild re-applies the whole log to empty state tables.
func (s *Store) rebuild(progress func(done, total int)) error {
	total, err := s.g.Len()
	if err != nil {
		return err
	}
	if err := s.r.Reset(); err != nil {
		return err
	}
	done := 0
	err = s.g.Scan(0, func(e *event.Event) error {
		if err := s.apply(e, nil); err != nil {
			return err
		}
		done++
		if progress != nil && (done%1000 == 0 || done == total) {
			progress(done, total)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rebuild state: %w", err)
	}
	return nil
}

// Peer returns this replica's id.
func (s *Store) Peer() event.PeerID { return s.peer }

// lock serializes a call and binds ctx to SQLite's interrupt, so that a
// cancelled context stops a long statement.
func (s *Store) lock(ctx context.Context) (unlock func(), err error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if ctx == nil {
		ctx = context.Background()
	}
	old := s.c.Raw().SetInterrupt(ctx)
	return func() {
		s.c.Raw().SetInterrupt(old)
		if s.watcher != nil {
			s.watcher.changes()
		}
		s.mu.Unlock()
	}, nil
}

// Reinterpret switches to another interpretation of the same log: the
// state tables are dropped, created by the new schema and rebuilt from
// every event, in one transaction, reporting progress.
func (s *Store) Reinterpret(ctx context.Context, schema string, materializers map[string]string, progress func(done, total int)) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	err = s.c.Tx(func() error {
		return s.interpret(replay.Interpretation{Schema: schema, Materializers: materializers}, progress)
	})
	if err != nil {
		// The transaction rolled back: the previous tables are intact,
		// and the previous interpretation goes on serving them.
		if rerr := s.interpret(replay.Interpretation{Schema: s.opts.Schema, Materializers: s.opts.Materializers}, nil); rerr != nil {
			return fmt.Errorf("reinterpret: %w (and restoring the previous interpretation: %v)", err, rerr)
		}
		return fmt.Errorf("reinterpret: %w", err)
	}
	s.opts.Schema, s.opts.Materializers = schema, materializers
	if s.watcher != nil {
		s.watcher.everything()
	}
	return nil
}

// Rebuild re-applies the whole log to empty state tables. The state does
// not change (replay is deterministic); it exists to verify that, and to
// repair a database whose state tables were changed behind factlog's back.
func (s *Store) Rebuild(ctx context.Context, progress func(done, total int)) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if s.watcher != nil {
		defer s.watcher.everything()
	}
	return s.c.Tx(func() error { return s.rebuild(progress) })
}

// Close closes the database. Calls after Close return ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ws := s.watcher
	s.mu.Unlock()
	if ws != nil {
		ws.stop()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.r != nil {
		s.r.Close()
	}
	return s.c.Close()
}

// Backup writes a consistent copy of the whole store (log and state) to
// dst, a file path or an SQLite URI ("file:/name?vfs=memdb"), which must
// not exist yet. The copy opens as a store of its own — with the same peer
// id, so use it to restore, not as a second replica.
func (s *Store) Backup(ctx context.Context, dst string) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.c.Exec(`VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("backup to %q: %w", dst, err)
	}
	return nil
}
