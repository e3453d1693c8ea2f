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
	evs, err := s.g.Events(item)
	return evs, cancelled(ctx, err)
}

// Heads returns the ids of the DAG's leaves, sorted.
func (s *Store) Heads(ctx context.Context) ([]event.ID, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	ids, err := s.g.Heads()
	return ids, cancelled(ctx, err)
}

// VersionVector returns the tips of every author's chains held here.
func (s *Store) VersionVector(ctx context.Context) (sync.VersionVector, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	vv, err := s.g.VersionVector()
	return vv, cancelled(ctx, err)
}

// ExportSince returns, as one batch, every event a replica holding vv
// lacks, with the signatures that cover them; a nil vv means everything.
// Its size grows with what is missing, not with the log.
func (s *Store) ExportSince(ctx context.Context, vv sync.VersionVector) ([]byte, error) {
	evs, sigs, err := s.lacking(ctx, vv)
	if err != nil {
		return nil, err
	}
	return sync.Encode(evs, sigs)
}

// ExportChunks is ExportSince split into batches of at most maxBytes each
// (at least sync.MinChunkLimit), for transports with a frame limit.
func (s *Store) ExportChunks(ctx context.Context, vv sync.VersionVector, maxBytes int) ([][]byte, error) {
	evs, sigs, err := s.lacking(ctx, vv)
	if err != nil {
		return nil, err
	}
	return sync.EncodeChunks(evs, sigs, maxBytes)
}

// lacking returns what vv lacks and the signatures to send with it: those
// kept, and this replica's own, made now — over each tip of its chains in
// the export and every Checkpoint-th seq, so that however the export is
// cut into chunks, few of its events wait for the next chunk.
func (s *Store) lacking(ctx context.Context, vv sync.VersionVector) ([]event.Event, map[event.ID]event.Signature, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	evs, sigs, err := s.g.Lacking(vv)
	if err != nil {
		return nil, nil, cancelled(ctx, err)
	}
	followed := map[event.ID]bool{}
	for i := range evs {
		if evs[i].Peer == s.peer {
			for _, p := range evs[i].Parents {
				followed[p] = true
			}
		}
	}
	for i := range evs {
		e := &evs[i]
		if _, ok := sigs[e.ID]; !ok && e.Peer == s.peer && (!followed[e.ID] || e.Seq%dag.Checkpoint == 0) {
			sigs[e.ID] = s.key.Sign(e.ID)
		}
	}
	return evs, sigs, nil
}

// Reduce returns vv with only the tips this store holds, without those
// below others (dag.Graph.Reduce): for a vector that grows by merging
// what is learned of another replica (what a relay room holds).
func (s *Store) Reduce(ctx context.Context, vv sync.VersionVector) (sync.VersionVector, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	vv, err = s.g.Reduce(vv)
	return vv, cancelled(ctx, err)
}

// Forks returns the forks among the stored events: seqs of an author held
// by more than one event (a copied store, a restored backup that appended
// before it synced, a faulty peer). Replicas keep every branch and agree
// on the state; a fork says that a device's data was copied.
func (s *Store) Forks(ctx context.Context) ([]dag.Fork, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	forks, err := s.g.Forks()
	return forks, cancelled(ctx, err)
}

// PendingInfo describes the events waiting for missing parents or for a
// signature.
type PendingInfo struct {
	Events int
	Bytes  int
	// Unsigned counts those no verified signature of their author's
	// covers yet.
	Unsigned int
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
		return nil, cancelled(ctx, err)
	}
	missing, err := s.g.Missing()
	if err != nil {
		return nil, cancelled(ctx, err)
	}
	return &PendingInfo{Events: st.Events, Bytes: st.Bytes, Unsigned: st.Unsigned, Missing: missing}, nil
}
