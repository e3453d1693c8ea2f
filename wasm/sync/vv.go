// Package sync is how replicas exchange events: version vectors say what a
// replica holds, and batches carry what another replica lacks, with the
// authors' signatures that cover them.
//
// A batch is compact because the receiver can recompute most of it: event
// ids are not sent (they are hashes of the content), clocks are not sent
// when they can be derived from parents in the same batch, and parents in
// the batch are referenced by position rather than by hash. The ids of the
// batch's heads are sent, and they commit to every event in the batch the
// way a Merkle root does, so tampering anywhere is detected. Signatures are
// few: one signs an author's whole chain below the event it signs.
package sync

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/factlog/factlog/wasm/event"
)

// Tip is one of an author's chain heads in a replica: an event of the
// author's that no other event of theirs there follows. An author has one
// tip, unless its events forked (a copied store, a restored backup).
type Tip struct {
	Seq uint64
	// ID is the tip event's id; zero when unknown (a version vector from
	// a replica that said only seqs).
	ID event.ID
}

// VersionVector says what a replica holds: the tips of each author's
// chains. Because each event of an author's links the author's previous
// one, the tips name every event of the author's the replica holds —
// their ancestors by the same author — and a seq alone would not: two
// replicas can hold different events at one seq of a forked author.
type VersionVector map[event.PeerID][]Tip

// Seq returns the highest seq held from peer (0 for none).
func (vv VersionVector) Seq(peer event.PeerID) uint64 {
	var top uint64
	for _, t := range vv[peer] {
		top = max(top, t.Seq)
	}
	return top
}

// Add records a tip of peer's, once.
func (vv VersionVector) Add(peer event.PeerID, t Tip) {
	if !slices.Contains(vv[peer], t) {
		vv[peer] = append(vv[peer], t)
	}
}

// Merge adds o's tips to vv's. The result may name a tip and its
// ancestor both, which says nothing more than the tip alone.
func (vv VersionVector) Merge(o VersionVector) {
	for p, tips := range o {
		for _, t := range tips {
			vv.Add(p, t)
		}
	}
}

// Clone returns a copy of vv.
func (vv VersionVector) Clone() VersionVector {
	out := VersionVector{}
	for p, tips := range vv {
		out[p] = slices.Clone(tips)
	}
	return out
}

// Equal reports whether both vectors name the same tips.
func (vv VersionVector) Equal(o VersionVector) bool {
	if len(vv) != len(o) {
		return false
	}
	for p, tips := range vv {
		other := o[p]
		if len(other) != len(tips) {
			return false
		}
		for _, t := range tips {
			if !slices.Contains(other, t) {
				return false
			}
		}
	}
	return true
}

// MarshalJSON writes {"<peer>:<tip id>": seq, …}, in hex, the form
// JavaScript sees. A tip whose id is unknown is written "<peer>": seq.
func (vv VersionVector) MarshalJSON() ([]byte, error) {
	m := map[string]uint64{}
	for p, tips := range vv {
		for _, t := range tips {
			key := p.String()
			if t.ID != (event.ID{}) {
				key += ":" + t.ID.String()
			}
			m[key] = max(m[key], t.Seq)
		}
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads what MarshalJSON writes, and plain {"<peer>": seq}
// vectors.
func (vv *VersionVector) UnmarshalJSON(b []byte) error {
	var m map[string]json.Number
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("version vector: %w", err)
	}
	out := VersionVector{}
	for _, key := range slices.Sorted(maps.Keys(m)) {
		seq, err := strconv.ParseUint(string(m[key]), 10, 64)
		if err != nil {
			return fmt.Errorf("version vector: seq of %.80q: %w", key, err)
		}
		peerHex, tipHex, hasTip := strings.Cut(key, ":")
		peer, err := event.ParsePeerID(peerHex)
		if err != nil {
			return fmt.Errorf("version vector: %w", err)
		}
		var t Tip
		t.Seq = seq
		if hasTip {
			if t.ID, err = event.ParseID(tipHex); err != nil {
				return fmt.Errorf("version vector: %w", err)
			}
		}
		out.Add(peer, t)
	}
	*vv = out
	return nil
}
