package event

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	"github.com/factlog/factlog/wasm/internal/canon"
)

// formatVersion is the first element of every canonical encoding, so a
// future format can never hash to the same id as this one. Format 1 had
// random 16-byte peer ids, no signatures and Go's JSON as canonical values.
const formatVersion = 2

// canonical is the hashed form of an event: a CBOR array in field order,
// encoded with RFC 8949 core deterministic encoding (shortest integers,
// definite lengths).
type canonical struct {
	_       struct{} `cbor:",toarray"`
	Format  uint64
	Peer    []byte
	Seq     uint64
	Parents [][]byte
	Clock   uint64
	Time    int64
	Item    string
	Type    string
	Value   string
}

var (
	encMode = canon.Enc
	// Parents above MaxParents decode, so that the error names the limit.
	decMode = canon.Dec(1 << 17)
)

// Encode returns the canonical encoding of every field but ID.
func (e *Event) Encode() []byte {
	c := canonical{
		Format: formatVersion,
		Peer:   e.Peer[:],
		Seq:    e.Seq,
		Clock:  e.Clock,
		Time:   e.Time,
		Item:   e.Item,
		Type:   e.Type,
		Value:  string(e.Value),
	}
	if len(e.Parents) > 0 {
		c.Parents = make([][]byte, len(e.Parents))
		for i := range e.Parents {
			c.Parents[i] = e.Parents[i][:]
		}
	}
	b, err := encMode.Marshal(&c)
	if err != nil {
		// Every field has a fixed CBOR type; Marshal cannot fail.
		panic(fmt.Sprintf("event: encode: %v", err))
	}
	return b
}

// Hash returns the SHA-256 of the canonical encoding: what ID must be.
func (e *Event) Hash() ID { return sha256.Sum256(e.Encode()) }

// Decode parses a canonical encoding, sets ID to its hash and checks the
// event (see Check). An encoding that does not re-encode byte for byte is
// rejected with ErrNonCanonical, so one event has exactly one encoding.
func Decode(b []byte) (Event, error) {
	var c canonical
	if err := decMode.Unmarshal(b, &c); err != nil {
		return Event{}, &InvalidError{Reason: ErrEncoding, Detail: err.Error()}
	}
	if c.Format != formatVersion {
		return Event{}, &InvalidError{Reason: ErrEncoding, Detail: fmt.Sprintf("format %d, want %d", c.Format, formatVersion)}
	}
	e := Event{Seq: c.Seq, Clock: c.Clock, Time: c.Time, Item: c.Item, Type: c.Type, Value: []byte(c.Value)}
	if len(c.Peer) != len(e.Peer) {
		return e, &InvalidError{Reason: ErrEncoding, Detail: fmt.Sprintf("peer has %d bytes, want %d", len(c.Peer), len(e.Peer))}
	}
	copy(e.Peer[:], c.Peer)
	if len(c.Parents) > MaxParents {
		return e, e.Invalid(ErrTooLarge, "%d parents, at most %d allowed", len(c.Parents), MaxParents)
	}
	if len(c.Parents) > 0 {
		e.Parents = make([]ID, len(c.Parents))
		for i, p := range c.Parents {
			if len(p) != len(ID{}) {
				return e, e.Invalid(ErrEncoding, "parent %d has %d bytes, want %d", i, len(p), len(ID{}))
			}
			copy(e.Parents[i][:], p)
		}
	}
	e.ID = sha256.Sum256(b)
	if !bytes.Equal(e.Encode(), b) {
		return e, e.Invalid(ErrNonCanonical, "the encoding is not the canonical one")
	}
	return e, e.Check()
}
