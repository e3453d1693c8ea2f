// Package event defines factlog's unit of replication: an immutable fact
// appended by one replica, named by the SHA-256 of its canonical encoding,
// and linked to the events its author had seen.
//
// The package is pure: it hashes, orders and checks single events. Whether
// an event fits the log it joins (its parents exist, its clock is derived
// from theirs, its seq follows its author's previous one) is decided by
// package dag, which can see the other events.
package event

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"fmt"
)

// Limits of the event format. They are part of the protocol, not settings:
// every replica must accept and reject the same events, so no replica may
// configure them.
const (
	// MaxParents caps the parents of one event. An author with more heads
	// than this links the highest ones (see dag.ChooseParents).
	MaxParents = 64
	// MaxValueBytes caps the canonical JSON of a value.
	MaxValueBytes = 64 << 10
	// MaxItemBytes caps the item an event is about.
	MaxItemBytes = 256
	// MaxTypeBytes caps the event type.
	MaxTypeBytes = 64
)

// ID is the SHA-256 of an event's canonical encoding (see Event.Encode).
type ID [32]byte

// String returns the id as 64 lowercase hex digits, the form stored in
// SQLite and shown to JavaScript.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText implements encoding.TextMarshaler (hex).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (hex).
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	*id = v
	return err
}

// ParseID parses the 64 hex digits of an ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("event id %.80q: want %d hex digits, got %d", s, 2*len(id), len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("event id %.80q: %w", s, err)
	}
	return id, nil
}

// Compare orders ids bytewise, which is also the order of their hex strings.
func (id ID) Compare(o ID) int { return bytes.Compare(id[:], o[:]) }

// PeerID identifies an author: the Ed25519 public key of the Key its store
// made when it was created (see NewKey).
type PeerID [32]byte

// String returns the peer id as 64 lowercase hex digits.
func (p PeerID) String() string { return hex.EncodeToString(p[:]) }

// MarshalText implements encoding.TextMarshaler (hex), so a version vector
// marshals to JSON as {"<peer>": seq}.
func (p PeerID) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (hex).
func (p *PeerID) UnmarshalText(b []byte) error {
	v, err := ParsePeerID(string(b))
	*p = v
	return err
}

// ParsePeerID parses the 32 hex digits of a PeerID.
func ParsePeerID(s string) (PeerID, error) {
	var p PeerID
	if len(s) != 2*len(p) {
		return p, fmt.Errorf("peer id %.80q: want %d hex digits, got %d", s, 2*len(p), len(s))
	}
	if _, err := hex.Decode(p[:], []byte(s)); err != nil {
		return p, fmt.Errorf("peer id %.80q: %w", s, err)
	}
	return p, nil
}

// Event is one fact in the log. Every field but ID is covered by ID.
type Event struct {
	ID   ID
	Peer PeerID
	// Seq is the author's sequence number: 1 + the largest seq among
	// the parents by the same author, or 1 without such a parent.
	// Receivers recompute it. Two events with one (peer, seq) — a copied
	// store, a restored backup — are a fork: concurrent events, both kept.
	Seq uint64
	// Parents are the ids the author linked, sorted ascending without
	// duplicates: the heads it saw, plus its own latest events when they
	// were no longer heads (so that an author's events form chains).
	Parents []ID
	// Clock is the Lamport clock: 1 + the largest parent clock, or 1 for
	// an event without parents. Receivers recompute it.
	Clock uint64
	// Time is the author's wall clock in Unix milliseconds. It is shown to
	// users and never used for order.
	Time int64
	// Item is what the event is about (the seed's item_id); it may be empty.
	Item string
	// Type names the event's kind ("create", "set_content", …); it selects
	// the materializer that interprets the event.
	Type string
	// Value is canonical JSON (see CanonicalValue).
	Value []byte
}

// Compare orders events for replay: by Clock, then by ID. The order extends
// the DAG's causal order because a child's clock exceeds its parents'.
func Compare(a, b *Event) int {
	if c := cmp.Compare(a.Clock, b.Clock); c != 0 {
		return c
	}
	return a.ID.Compare(b.ID)
}

// ReplayOrder is Compare for events held by value, as slices.SortFunc
// passes them.
func ReplayOrder(a, b Event) int { return Compare(&a, &b) }

// Position is a point in replay order: the (clock, id) of an event.
type Position struct {
	Clock uint64
	ID    ID
}

// Pos returns the event's position in replay order.
func (e *Event) Pos() Position { return Position{e.Clock, e.ID} }

// Compare orders positions like Compare orders events.
func (p Position) Compare(o Position) int {
	if c := cmp.Compare(p.Clock, o.Clock); c != 0 {
		return c
	}
	return p.ID.Compare(o.ID)
}
