// Package sync is how replicas exchange events: version vectors say what a
// replica holds, and batches carry what another replica lacks.
//
// A batch is compact because the receiver can recompute most of it: event
// ids are not sent (they are hashes of the content), clocks are not sent
// when they can be derived from parents in the same batch, and parents in
// the batch are referenced by position rather than by hash. The ids of the
// batch's heads are sent, and they commit to every event in the batch the
// way a Merkle root does, so tampering anywhere is detected.
package sync

import (
	"maps"

	"github.com/factlog/factlog/wasm/event"
)

// VersionVector maps each peer to the highest seq held from it. Because an
// author's events form a chain without gaps, it summarizes a replica's log
// exactly: the events a replica lacks are those with seq > vv[peer].
type VersionVector map[event.PeerID]uint64

// Add records that seq of peer is held.
func (vv VersionVector) Add(peer event.PeerID, seq uint64) {
	if seq > vv[peer] {
		vv[peer] = seq
	}
}

// Merge raises vv to hold everything o holds.
func (vv VersionVector) Merge(o VersionVector) {
	for p, s := range o {
		vv.Add(p, s)
	}
}

// Includes reports whether vv holds seq of peer.
func (vv VersionVector) Includes(peer event.PeerID, seq uint64) bool { return seq <= vv[peer] }

// Clone returns a copy of vv.
func (vv VersionVector) Clone() VersionVector {
	if vv == nil {
		return VersionVector{}
	}
	return maps.Clone(vv)
}

// Equal reports whether both vectors hold the same events; a missing peer
// equals seq 0.
func (vv VersionVector) Equal(o VersionVector) bool {
	for p, s := range vv {
		if o[p] != s {
			return false
		}
	}
	for p, s := range o {
		if vv[p] != s {
			return false
		}
	}
	return true
}
