package store

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	gosync "sync"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// Coalesce is how long a watch waits after a change for more changes,
// so that a burst (a sync importing many batches, a user typing) re-runs
// each query once.
const Coalesce = 10 * time.Millisecond

// watcher runs the store's watches. It exists while there are watches, and
// keeps SQLite's pre-update hook on only then. (The pre-update hook, not
// the update hook, because the update hook misses WITHOUT ROWID tables,
// which factlog's own tables are.)
type watcher struct {
	mu      gosync.Mutex
	watches map[*watch]bool
	changed map[string]bool // tables changed since the watches last ran
	wake    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	inFn    bool // a watch's fn runs
}

type watch struct {
	sql    string
	bind   binder
	tables map[string]bool // what the query reads
	fn     func(*Rows, error)
	last   *Rows
	dirty  bool
}

// Watch runs a query (args: nil, []any or map[string]any, as for Query and
// QueryNamed) now and again whenever a table it reads changes — by an
// append, an import, a rebuild or another query — calling fn with its
// rows, or with an error. fn is called from a goroutine of the store,
// one call at a time, and only when the rows differ from the last call;
// it may call the store, Close included. Bursts of changes are coalesced.
// Call stop to end the watch; Close ends them all.
func (s *Store) Watch(ctx context.Context, sql string, args any, fn func(*Rows, error)) (stop func(), err error) {
	bind, err := binderOf(args)
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	tables, err := s.reads(sql)
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	w := &watch{sql: sql, bind: bind, tables: tables, fn: fn, dirty: true}
	if s.watcher == nil {
		s.startWatcher()
	}
	ws := s.watcher
	ws.mu.Lock()
	ws.watches[w] = true
	ws.mu.Unlock()
	ws.poke()
	return func() {
		ws.mu.Lock()
		delete(ws.watches, w)
		ws.mu.Unlock()
	}, nil
}

// reads returns the tables a query reads, as SQLite's authorizer sees them
// while it prepares the query (views count as the tables they read).
func (s *Store) reads(sql string) (map[string]bool, error) {
	p := reading{queries: queries{s.r}, tables: map[string]bool{}}
	restore := s.c.Enforce(p)
	stmt, tail, err := s.c.Raw().Prepare(sql)
	restore()
	if err != nil {
		return nil, s.c.Denial(err)
	}
	if stmt == nil {
		return nil, fmt.Errorf("%w: the SQL holds no statement", ErrArgument)
	}
	defer stmt.Close()
	if strings.TrimSpace(tail) != "" {
		return nil, fmt.Errorf("%w: one statement at a time", ErrArgument)
	}
	if !stmt.ReadOnly() {
		return nil, fmt.Errorf("%w: a watched query must only read", ErrArgument)
	}
	return p.tables, nil
}

// reading is the query policy, noting the tables a statement reads.
type reading struct {
	queries
	tables map[string]bool
}

func (r reading) Allow(action sqlite3.AuthorizerActionCode, name3, name4, schema, inner string) string {
	if action == sqlite3.AUTH_READ {
		r.tables[name3] = true
	}
	return r.queries.Allow(action, name3, name4, schema, inner)
}

func (s *Store) startWatcher() {
	ctx, cancel := context.WithCancel(context.Background())
	ws := &watcher{watches: map[*watch]bool{}, changed: map[string]bool{}, wake: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	s.watcher = ws
	s.c.Raw().PreUpdateHook(func(d sqlite3.PreUpdateData) {
		ws.mu.Lock()
		ws.changed[d.Table] = true
		ws.mu.Unlock()
	})
	go ws.run(ctx, s)
}

// poke wakes the watcher without blocking.
func (ws *watcher) poke() {
	select {
	case ws.wake <- struct{}{}:
	default:
	}
}

// everything marks every watch, after a change the pre-update hook does
// not see: tables dropped and created by a new interpretation. With
// reads, each query's tables are found again: a view may now read others.
// (A query that no longer prepares keeps its tables; running, it reports
// why.)
func (ws *watcher) everything(reads func(sql string) (map[string]bool, error)) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for w := range ws.watches {
		w.dirty = true
		if reads == nil {
			continue
		}
		if tables, err := reads(w.sql); err == nil {
			w.tables = tables
		}
	}
	ws.poke()
}

// changes marks the watches that read a changed table, after a write.
func (ws *watcher) changes() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if len(ws.changed) == 0 {
		return
	}
	for w := range ws.watches {
		for t := range ws.changed {
			if w.tables[t] {
				w.dirty = true
			}
		}
	}
	clear(ws.changed)
	ws.poke()
}

func (ws *watcher) run(ctx context.Context, s *Store) {
	defer close(ws.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ws.wake:
		}
		select { // let a burst finish
		case <-ctx.Done():
			return
		case <-time.After(Coalesce):
		}
		ws.mu.Lock()
		var dirty []*watch
		for w := range ws.watches {
			if w.dirty {
				w.dirty = false
				dirty = append(dirty, w)
			}
		}
		ws.mu.Unlock()
		for _, w := range dirty {
			rows, err := s.query(ctx, w.sql, w.bind)
			if ctx.Err() != nil {
				return
			}
			if err == nil && w.last != nil && reflect.DeepEqual(rows, w.last) {
				continue
			}
			w.last = rows
			ws.mu.Lock()
			ws.inFn = true
			ws.mu.Unlock()
			w.fn(rows, err)
			ws.mu.Lock()
			ws.inFn = false
			ws.mu.Unlock()
		}
	}
}

// stop ends the watches and waits for the goroutine, which calls no fn
// after it returns. The caller must not hold the store's lock, which the
// goroutine may be waiting for. While a fn runs, stop does not wait: the
// caller may be that fn (a watch that closes the store), which the
// goroutine waits for; the goroutine ends when it returns.
func (ws *watcher) stop() {
	ws.cancel()
	ws.mu.Lock()
	inFn := ws.inFn
	ws.mu.Unlock()
	if !inFn {
		<-ws.done
	}
}
