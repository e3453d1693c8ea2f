package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"

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

// Parents above MaxParents decode, so that the error names the limit.
var decMode = canon.Dec(1 << 17)

// Encode returns the canonical encoding of every field but ID.
func (e *Event) Encode() []byte { return e.AppendEncoding(nil) }

// AppendEncoding appends the canonical encoding of every field but ID to
// b. It writes what canonical's CBOR encoding is, byte for byte (the
// tests check it against the library on random events), by hand: every
// event is encoded to find its id, on every import and append, and the
// library's reflection took a third of that time in WebAssembly.
func (e *Event) AppendEncoding(b []byte) []byte {
	b = append(b, 0x80|9) // an array of canonical's nine fields
	b = appendHead(b, cborUint, formatVersion)
	b = appendHead(b, cborBytes, uint64(len(e.Peer)))
	b = append(b, e.Peer[:]...)
	b = appendHead(b, cborUint, e.Seq)
	if len(e.Parents) == 0 {
		b = append(b, cborNull) // a nil slice
	} else {
		b = appendHead(b, cborArray, uint64(len(e.Parents)))
		for i := range e.Parents {
			b = appendHead(b, cborBytes, uint64(len(e.Parents[i])))
			b = append(b, e.Parents[i][:]...)
		}
	}
	b = appendHead(b, cborUint, e.Clock)
	if e.Time >= 0 {
		b = appendHead(b, cborUint, uint64(e.Time))
	} else {
		b = appendHead(b, cborNeg, uint64(-(e.Time + 1)))
	}
	for _, s := range [...]string{e.Item, e.Type} {
		b = appendHead(b, cborText, uint64(len(s)))
		b = append(b, s...)
	}
	b = appendHead(b, cborText, uint64(len(e.Value)))
	return append(b, e.Value...)
}

// CBOR's major types (RFC 8949 section 3.1), shifted into place, and null.
const (
	cborUint  = 0 << 5
	cborNeg   = 1 << 5
	cborBytes = 2 << 5
	cborText  = 3 << 5
	cborArray = 4 << 5
	cborNull  = 0xf6
)

// appendHead appends a data item's head in its shortest form, as core
// deterministic encoding requires.
func appendHead(b []byte, major byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(b, major|byte(n))
	case n <= math.MaxUint8:
		return append(b, major|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, major|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, major|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, major|27), n)
}

// Hash returns the SHA-256 of the canonical encoding: what ID must be.
func (e *Event) Hash() ID {
	var buf [512]byte // most events: no allocation
	return sha256.Sum256(e.AppendEncoding(buf[:0]))
}

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
	var buf [512]byte
	if !bytes.Equal(e.AppendEncoding(buf[:0]), b) {
		return e, e.Invalid(ErrNonCanonical, "the encoding is not the canonical one")
	}
	return e, e.Check()
}
