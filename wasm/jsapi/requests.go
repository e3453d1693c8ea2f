package jsapi

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	gosync "sync"
	"time"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/store"
)

// A follower tab's append reaches the store through the leader tab; when
// the leader goes away with the append in flight, the follower cannot
// know whether it was committed, and sends it again to the next leader.
// The request key it sends with it makes that retry idempotent: before
// appending, the leader writes the key and the seqs the events will take
// (this replica's next ones) to a journal table in the store's database;
// the next leader resolves every journal row it finds unresolved before
// it serves anything — applied if events of this replica hold those seqs,
// void otherwise — so a retry returns the events of the first attempt, or
// appends once.
//
// The journal is a local table (not state, not log): requestsTable.
const requestsTable = "factlog_requests"

// requestsKeep is how long rows are kept: a retry comes within seconds of
// a handoff.
const requestsKeep = time.Hour

// requests is the journal of one store.
type requests struct {
	mu    gosync.Mutex // held across journaling and appending
	ready bool         // the table exists
}

const requestsSchema = `CREATE TABLE IF NOT EXISTS ` + requestsTable + ` (
	key   TEXT PRIMARY KEY NOT NULL, -- the follower's request key
	first INTEGER NOT NULL,          -- the seq of the first event
	items TEXT NOT NULL,             -- JSON [[item, type], …] of the events
	state TEXT NOT NULL,             -- pending, applied or void
	time  INTEGER NOT NULL           -- Unix ms, for clean-up
)`

// journal returns the journal of a store (by handle).
func (h *Host) journal(db int) *requests {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.requests == nil {
		h.requests = map[int]*requests{}
	}
	r := h.requests[db]
	if r == nil {
		r = &requests{}
		h.requests[db] = r
	}
	return r
}

// appendKeyed appends in, or, for a retry, returns the events a request
// with key already appended.
func (r *requests) appendKeyed(ctx context.Context, s *store.Store, key string, retry bool, in []store.Input) ([]event.Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if key == "" {
		return s.AppendMany(ctx, in)
	}
	if err := r.create(ctx, s); err != nil {
		return nil, err
	}
	if retry {
		rows, err := s.Query(ctx, `SELECT first, items, state FROM `+requestsTable+` WHERE key = ?`, key)
		if err != nil {
			return nil, err
		}
		if len(rows.Values) == 1 {
			v := rows.Values[0]
			first, _ := v[0].(int64)
			items, _ := v[1].(string)
			if state, _ := v[2].(string); state != "void" {
				evs, err := applied(ctx, s, uint64(first), items)
				if err != nil || evs != nil {
					return evs, err
				}
			}
		}
	}
	last, err := s.Query(ctx, `SELECT ifnull(max(seq), 0) FROM event WHERE peer = ?`, s.Peer().String())
	if err != nil {
		return nil, err
	}
	next, _ := last.Values[0][0].(int64)
	items := make([][2]string, len(in))
	for i, e := range in {
		items[i] = [2]string{e.Item, e.Type}
	}
	itemsJSON, _ := json.Marshal(items)
	_, err = s.Query(ctx, `INSERT OR REPLACE INTO `+requestsTable+` (key, first, items, state, time) VALUES (?, ?, ?, 'pending', ?)`,
		key, next+1, string(itemsJSON), time.Now().UnixMilli())
	if err != nil {
		return nil, err
	}
	evs, err := s.AppendMany(ctx, in)
	if err != nil {
		// Nothing was appended: the key is free for another attempt.
		s.Query(context.WithoutCancel(ctx), `DELETE FROM `+requestsTable+` WHERE key = ?`, key)
		return nil, err
	}
	return evs, nil
}

func (r *requests) create(ctx context.Context, s *store.Store) error {
	if r.ready {
		return nil
	}
	if _, err := s.Query(ctx, requestsSchema); err != nil {
		return fmt.Errorf("request journal: %w", err)
	}
	r.ready = true
	return nil
}

// resolve settles the rows a previous leader left pending, in one
// statement, and drops old ones. It runs when a store opens, before
// anything else can append: a pending row whose first seq this replica
// holds was applied (appends are serialized from journaling to appending,
// so those seqs are the row's), one whose seq it lacks never was.
func resolve(ctx context.Context, s *store.Store) error {
	exists, err := s.Query(ctx, `SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`, requestsTable)
	if err != nil || len(exists.Values) == 0 {
		return err
	}
	if _, err := s.Query(ctx, `DELETE FROM `+requestsTable+` WHERE time < ?`, time.Now().Add(-requestsKeep).UnixMilli()); err != nil {
		return err
	}
	_, err = s.Query(ctx, `UPDATE `+requestsTable+` SET state = CASE
		WHEN EXISTS (SELECT 1 FROM event WHERE peer = ?1 AND seq = `+requestsTable+`.first) THEN 'applied' ELSE 'void' END
		WHERE state = 'pending'`, s.Peer().String())
	return err
}

// applied returns the events of this replica at seqs first… if they are
// the journaled ones (their items and types), or nil if there are none.
func applied(ctx context.Context, s *store.Store, first uint64, itemsJSON string) ([]event.Event, error) {
	var items [][2]string
	if err := json.Unmarshal([]byte(itemsJSON), &items); err != nil || len(items) == 0 {
		return nil, fmt.Errorf("request journal: a row holds %q", itemsJSON)
	}
	peer := s.Peer().String()
	rows, err := s.Query(ctx, `SELECT id, item_id, type FROM event WHERE peer = ? AND seq BETWEEN ? AND ? ORDER BY seq`,
		peer, int64(first), int64(first)+int64(len(items))-1)
	if err != nil || len(rows.Values) == 0 {
		return nil, err
	}
	if len(rows.Values) != len(items) {
		return nil, fmt.Errorf("request journal: %d of %d events at seq %d", len(rows.Values), len(items), first)
	}
	want := map[string]bool{}
	for i, v := range rows.Values {
		id, _ := v[0].(string)
		item, _ := v[1].(string)
		typ, _ := v[2].(string)
		if item != items[i][0] || typ != items[i][1] {
			return nil, fmt.Errorf("request journal: the event at seq %d is not the journaled one", first+uint64(i))
		}
		want[id] = true
	}
	// The events themselves, with their parents, from the items' histories.
	var out []event.Event
	seen := map[string]bool{}
	for _, it := range items {
		if seen[it[0]] {
			continue
		}
		seen[it[0]] = true
		evs, err := s.Events(ctx, &it[0])
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			if want[e.ID.String()] {
				out = append(out, e)
			}
		}
	}
	slices.SortFunc(out, func(a, b event.Event) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}
