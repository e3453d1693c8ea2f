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
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	gosync "sync"
	"time"

	"github.com/factlog/factlog/wasm/dag"
	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/factlog/factlog/wasm/replay"
	"github.com/ncruces/go-sqlite3"
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
	// Progress, if set, is called while many events are applied at once —
	// the state rebuilt from the whole log (the interpretation changed, or
	// a late event sorts beyond the undo horizon), or re-applied after a
	// rewind — with the events applied so far and the total, every 1,000
	// events and at the end. It runs inside the call that applies them,
	// which holds the store: it must not call the store (a call would
	// wait for itself); cancel the call's context to stop it.
	Progress func(done, total int)
	// Pending bounds the events that wait for missing parents.
	Pending dag.PendingLimits
	// UndoHorizon is how many of the last events (in replay order) a late
	// event can sort before and be merged by rewinding the state to it;
	// one that sorts further back rebuilds the state from the whole log.
	// The undo log that rewinds use keeps the changes of these events
	// only. 0 means DefaultUndoHorizon; a negative value keeps everything.
	UndoHorizon int
	// Now is the wall clock stamped on appended events (default time.Now).
	Now func() time.Time
	// Rand makes the signing key, and so the peer id, of a new store
	// (default crypto/rand.Reader).
	Rand io.Reader
}

// DefaultUndoHorizon is Options.UndoHorizon's default: the undo log keeps
// what it takes to merge an event that sorts up to 10,000 events back by
// rewinding; one that sorts further back rebuilds the state.
const DefaultUndoHorizon = 10_000

// Store is one replica.
type Store struct {
	mu      gosync.Mutex
	c       *db.Conn
	g       *dag.Graph
	r       *replay.Engine
	key     event.Key // this replica's signing key; its public half is the peer id
	peer    event.PeerID
	opts    Options
	watcher *watcher // nil until the first Watch
	subs    map[chan struct{}]bool
	closed  bool
	// sinceTrim counts the events applied since the undo log was last
	// trimmed to the horizon.
	sinceTrim int
	ckpt      checkpointer // file stores only
}

// metaKey holds the seed of the store's signing key, in hex. It never
// leaves the store (a Backup copies it: a restored copy is the same
// author, and what it appends after forks the author's chain).
const metaKey = "key"

// Open opens (or creates) the store at opts.Path. A new store gets a random
// peer id. If the interpretation differs from the one the state was built
// with, Open rebuilds the state from the log before it returns.
//
// A store file has one writer: while a Store has it open, another Open of
// it — in this process or another — fails with ErrLocked.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.UndoHorizon == 0 {
		opts.UndoHorizon = DefaultUndoHorizon
	}
	c, err := db.Open(ctx, opts.Path, opts.VFS, opts.MaxMemory)
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", opts.Path, openError(opts.Path, err))
	}
	s := &Store{c: c, g: dag.New(c), opts: opts}
	// ctx may stop a long open (the rebuild of a new interpretation):
	// its transaction rolls back, and nothing stored changes.
	c.Raw().SetInterrupt(ctx)
	err = s.open()
	c.Raw().SetInterrupt(context.Background())
	if err != nil {
		s.Close() // its engine too: a statement left open would keep the file locked
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return nil, fmt.Errorf("open store %q: %w", opts.Path, openError(opts.Path, err))
	}
	return s, nil
}

// ErrFormat rejects opening a store made by an older factlog, whose events
// this one cannot read (dag.ErrFormat).
var ErrFormat = dag.ErrFormat

// openError says what an error opening a file means for the caller.
func openError(path string, err error) error {
	switch {
	case errors.Is(err, ErrLocked):
		return err
	case errors.Is(err, sqlite3.BUSY) || errors.Is(err, sqlite3.LOCKED):
		return fmt.Errorf("%w (%v)", ErrLocked, err)
	}
	if ferr := db.FileError(ErrArgument, path, err); ferr != nil {
		return ferr
	}
	return err
}

func (s *Store) open() error {
	file := !db.InMemory(s.opts.Path)
	pragmas := `PRAGMA foreign_keys = OFF; PRAGMA recursive_triggers = ON;`
	if file {
		// One writer per file: in EXCLUSIVE mode the connection takes
		// the file's lock at its first write (the transaction below)
		// and holds it until it closes, so a second opener gets BUSY
		// rather than a share of the peer id. It also keeps the WAL
		// index in memory, which the browser's and Node's file
		// systems need — before the first read.
		pragmas += `PRAGMA locking_mode = EXCLUSIVE;`
	}
	if err := s.c.Script(pragmas); err != nil {
		return err
	}
	if err := s.foreign(); err != nil {
		return err
	}
	if file {
		// WAL makes commits cheap; NORMAL sync in WAL mode survives an
		// application crash, which is what a closed tab is.
		pragmas = `PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;`
		// A quarter of the memory for the page cache: the DAG's indexes
		// are keyed by hashes, so inserts touch pages all over them.
		pragmas += fmt.Sprintf(`PRAGMA cache_size = -%d;`, cmp.Or(s.opts.MaxMemory, db.DefaultMaxMemory)/4/1024)
		if err := s.c.Script(pragmas); err != nil {
			return err
		}
		if err := s.startCheckpoints(); err != nil {
			return err
		}
	}
	return s.c.Tx(func() error {
		if err := dag.Init(s.c); err != nil {
			return err
		}
		if err := s.c.InitMeta(); err != nil {
			return err
		}
		if err := s.loadKey(); err != nil {
			return err
		}
		return s.interpret(replay.Interpretation{Schema: s.opts.Schema, Materializers: s.opts.Materializers}, s.opts.Progress)
	})
}

// foreign refuses another application's SQLite database, before anything
// is written to it (WAL mode, which a pragma below sets, is kept in the
// file): factlog would add its log to it, and its tables would be
// queryable beside a state no event made. A store is a database that is
// empty or holds factlog's own tables.
func (s *Store) foreign() error {
	theirs, err := s.c.Tables()
	if err != nil || len(theirs) == 0 {
		return err
	}
	for _, name := range theirs {
		if name == "event" || strings.HasPrefix(name, "_factlog_") {
			return nil
		}
	}
	return ArgumentError(fmt.Sprintf("%q is not a factlog store: it is an SQLite database of another application's (it holds %s); open a new name, or delete it", s.opts.Path, db.FewNames(theirs)))
}

func (s *Store) loadKey() error {
	seed, ok, err := s.c.Meta(metaKey)
	if err != nil {
		return err
	}
	if ok {
		b, err := hex.DecodeString(seed)
		if err == nil {
			s.key, err = event.KeyFromSeed(b)
		}
		if err != nil {
			return fmt.Errorf("read the store's key: %w", err)
		}
	} else {
		if s.key, err = event.NewKey(s.opts.Rand); err != nil {
			return err
		}
		if err := s.c.SetMeta(metaKey, hex.EncodeToString(s.key.Seed())); err != nil {
			return err
		}
	}
	s.peer = s.key.Peer()
	return nil
}

// interpret installs an interpretation, rebuilding the state if it
// changed. It runs inside write, which keeps the engine it replaces until
// the transaction commits and puts it back if it does not.
func (s *Store) interpret(in replay.Interpretation, progress func(done, total int)) error {
	r, rebuild, err := replay.Open(s.c, in)
	if err != nil {
		if s.r != nil { // Open bound the connection's functions to the engine it refused
			if aerr := s.r.Activate(); aerr != nil {
				return fmt.Errorf("%w (and restoring the interpretation: %v)", err, aerr)
			}
		}
		return err
	}
	s.r = r
	if rebuild {
		return s.replayAll(progress, nil, false)
	}
	return nil
}

// rebuild re-applies the whole log to empty state tables, recording undo
// entries only for the events within the horizon.
func (s *Store) rebuild(progress func(done, total int), res *ImportResult) error {
	return s.replayAll(progress, res, true)
}

// replayAll applies the whole log, to state tables that are empty or that
// reset empties first.
func (s *Store) replayAll(progress func(done, total int), res *ImportResult, reset bool) error {
	total, err := s.g.Len()
	if err != nil {
		return err
	}
	horizon, err := s.horizon()
	if err != nil {
		return err
	}
	if reset {
		err = s.r.Reset(horizon)
	} else {
		err = s.r.SetHorizon(horizon)
	}
	if err != nil {
		return err
	}
	if err := s.applyFrom(0, total, progress, res); err != nil {
		return fmt.Errorf("rebuild state: %w", err)
	}
	s.sinceTrim = 0
	return nil
}

// horizon returns the clock from which the undo log must be kept: that of
// the event UndoHorizon places from the end of the log (0 for all).
func (s *Store) horizon() (uint64, error) {
	if s.opts.UndoHorizon < 0 {
		return 0, nil
	}
	clock, _, err := s.g.ClockBack(s.opts.UndoHorizon)
	return clock, err
}

// trim keeps the undo log within the horizon. It runs once the events
// applied since it last ran reach the horizon, so the log holds the
// changes of at most twice that many events.
func (s *Store) trim() error {
	if s.opts.UndoHorizon < 0 || s.sinceTrim < s.opts.UndoHorizon {
		return nil
	}
	return s.trimTo()
}

// trimTo moves the horizon to where the log is now (the events just
// stored counted), so that the events applied next below it are not
// recorded.
func (s *Store) trimTo() error {
	if s.opts.UndoHorizon < 0 {
		return nil
	}
	clock, err := s.horizon()
	if err != nil {
		return err
	}
	s.sinceTrim = 0
	return s.r.Trim(clock)
}

// write runs fn in a write transaction. If it fails — fn, or the commit —
// nothing of it is stored: an engine fn installed (interpret) is dropped
// for the one before, and the engine reads its bookkeeping again, which fn
// may have changed in memory; a cancelled ctx is said in the error.
func (s *Store) write(ctx context.Context, fn func() error) error {
	r := s.r
	err := s.c.Tx(fn)
	if err == nil {
		if s.r != r {
			r.Close()
		}
		return nil
	}
	old := s.c.Raw().SetInterrupt(context.Background())
	if s.r != r {
		s.r.Close()
		s.r = r
		if rerr := s.r.Activate(); rerr != nil {
			err = fmt.Errorf("%w (and restoring the interpretation: %v)", err, rerr)
		}
	}
	if rerr := s.r.Reload(); rerr != nil {
		err = fmt.Errorf("%w (and reloading the state's bookkeeping: %v)", err, rerr)
	}
	s.c.Raw().SetInterrupt(old)
	return cancelled(ctx, err)
}

// cancelled says in err that ctx was cancelled, if it was: what SQLite
// says of a call it interrupted is only "interrupted", which callers
// cannot tell from other errors (errors.Is(err, context.Canceled), Code).
func cancelled(ctx context.Context, err error) error {
	if err != nil && ctx != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return err
}

// Peer returns this replica's id: the public key it signs its events with.
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
		s.idle()
		s.mu.Unlock()
	}, nil
}

// Reinterpret switches to another interpretation of the same log: the
// state tables are dropped, created by the new schema and rebuilt from
// every event, in one transaction, reporting progress (as
// Options.Progress: it must not call the store).
func (s *Store) Reinterpret(ctx context.Context, schema string, materializers map[string]string, progress func(done, total int)) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	err = s.write(ctx, func() error {
		return s.interpret(replay.Interpretation{Schema: schema, Materializers: materializers}, progress)
	})
	if err != nil {
		// The transaction rolled back: the previous tables are intact,
		// and the previous interpretation goes on serving them.
		return fmt.Errorf("reinterpret: %w", err)
	}
	s.opts.Schema, s.opts.Materializers = schema, materializers
	if s.watcher != nil {
		s.watcher.everything(s.reads)
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
		defer s.watcher.everything(nil)
	}
	return s.write(ctx, func() error { return s.rebuild(progress, nil) })
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
	if s.ckpt.timer != nil {
		s.ckpt.timer.Stop() // a run that started finds the store closed
	}
	if s.r != nil {
		s.r.Close()
	}
	return s.c.Close()
}

// Backup writes a consistent copy of the whole store (log, state and
// signing key) to dst, a file path or an SQLite URI
// ("file:/name?vfs=memdb"), which must not exist yet. The copy opens as a
// store of its own, with the same peer id: use it to restore. If the copy
// appends before it has synced what the original appended since the
// backup, the author's chain forks; replicas keep both branches as
// concurrent events and report the fork (Forks). A backup that fails or
// is cancelled leaves no file at a dst that is a path.
func (s *Store) Backup(ctx context.Context, dst string) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	// A file path that is free now: what a failed VACUUM INTO leaves
	// there (an empty file, when it is cancelled) is no backup, and would
	// refuse the next one. (A URI's file is left alone.)
	_, statErr := os.Lstat(dst)
	fresh := !strings.HasPrefix(dst, "file:") && errors.Is(statErr, fs.ErrNotExist)
	if err := s.c.Exec(`VACUUM INTO ?`, dst); err != nil {
		if fresh {
			os.Remove(dst)
		}
		return fmt.Errorf("backup to %q: %w", dst, cancelled(ctx, err))
	}
	return nil
}
