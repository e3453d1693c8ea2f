package store

import (
	"context"

	"github.com/factlog/factlog/wasm/dag"
	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/sync"
)

// Events returns the events about item, or all events if item is nil, in
// replay order: the item's history, its audit trail.
func (s *Store) Events(ctx context.Context, item *string) ([]event.Event, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.g.Events(item)
}

// Heads returns the ids of the DAG's leaves, sorted.
func (s *Store) Heads(ctx context.Context) ([]event.ID, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.g.Heads()
}

// VersionVector returns, per author, the highest seq this replica holds.
func (s *Store) VersionVector(ctx context.Context) (sync.VersionVector, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.g.VersionVector()
}

// ExportSince returns, as one batch, every event a replica holding vv
// lacks; a nil vv means everything. Its size grows with what is missing,
// not with the log.
func (s *Store) ExportSince(ctx context.Context, vv sync.VersionVector) ([]byte, error) {
	evs, err := s.since(ctx, vv)
	if err != nil {
		return nil, err
	}
	return sync.Encode(evs)
}

// ExportChunks is ExportSince split into batches of at most maxBytes each
// (at least sync.MinChunkLimit), for transports with a frame limit.
func (s *Store) ExportChunks(ctx context.Context, vv sync.VersionVector, maxBytes int) ([][]byte, error) {
	evs, err := s.since(ctx, vv)
	if err != nil {
		return nil, err
	}
	return sync.EncodeChunks(evs, maxBytes)
}

func (s *Store) since(ctx context.Context, vv sync.VersionVector) ([]event.Event, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.g.Since(vv)
}

// PendingInfo describes the events waiting for missing parents.
type PendingInfo struct {
	Events int
	Bytes  int
	// Missing are the ids they wait for that this replica holds nowhere.
	Missing []event.ID
}

// Pending describes the pending set.
func (s *Store) Pending(ctx context.Context) (*PendingInfo, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var st dag.PendingStats
	if st, err = s.g.Pending(); err != nil {
		return nil, err
	}
	missing, err := s.g.Missing()
	if err != nil {
		return nil, err
	}
	return &PendingInfo{Events: st.Events, Bytes: st.Bytes, Missing: missing}, nil
}
