// Package protocol is the wire format between a factlog replica and a
// relay: one small CBOR envelope per WebSocket binary message. It is shared
// by the relay (package relay and its Cloudflare Worker port) and the
// client (package link), and stays free of both, so it compiles anywhere,
// WebAssembly included. relay/PROTOCOL.md specifies it for other clients.
package protocol

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// Version is the envelope version this package speaks.
const Version = 1

// MaxFrame is the default largest message, in bytes. Bodies are compressed
// event batches; a client splits larger exports into several.
const MaxFrame = 1 << 20

// Overhead bounds what an envelope adds to its body: a Deliver or Publish
// with the largest cursor or id takes at most this many bytes besides the
// body's own.
const Overhead = 32

// MaxBody is the largest body a relay with frames of maxFrame bytes
// accepts: its Deliver envelope still fits a frame.
func MaxBody(maxFrame int) int { return maxFrame - Overhead }

// Digest is what a client's join says of the body at its cursor: the
// first 16 bytes of its SHA-256. A relay whose store was restored from an
// older copy has reused the seqs after the copy for other bodies; a
// digest that does not match tells it so (EpochChanged).
func Digest(body []byte) []byte {
	d := sha256.Sum256(body)
	return d[:16]
}

// Kind says what an envelope is.
type Kind uint8

// Kinds, client to relay then relay to client.
const (
	// Join starts a session: the client's Cursor (the last seq it
	// processed, 0 for none) and the Epoch it saw it in ("" for none),
	// and, in Body, the Digest of the body it had at that seq, if it
	// knows it.
	Join Kind = 1
	// Publish asks the relay to keep Body; ID (the client's) comes back
	// in the Ack.
	Publish Kind = 2
	// Ping asks the relay for a Pong with the same ID, after the join: a
	// client that cannot see WebSocket pings (a browser's) learns so that
	// its connection still carries messages both ways.
	Ping Kind = 3

	// Welcome answers Join with the store's Epoch and the room's last seq
	// (Cursor); Code is "", EpochChanged or Truncated.
	Welcome Kind = 16
	// Deliver carries a stored Body and its seq (Cursor): first the
	// backlog after the client's cursor, then live ones, in seq order, no
	// gap, no duplicate, never the client's own publishes.
	Deliver Kind = 17
	// CaughtUp follows the backlog; Cursor is the last seq sent.
	CaughtUp Kind = 18
	// Ack confirms a Publish: ID is the client's, Cursor the seq.
	Ack Kind = 19
	// Error refuses a Publish (ID) or explains a close: Code and Text.
	Error Kind = 20
	// Pong answers Ping, with its ID, in order with everything else sent.
	Pong Kind = 21
)

// Codes of Welcome and Error envelopes.
const (
	// EpochChanged: the relay's store is not the one the client's cursor
	// came from (it was wiped or replaced). The backlog starts at seq 1,
	// and the client should publish everything the relay lacks.
	EpochChanged = "epoch_changed"
	// Truncated: retention removed bodies after the client's cursor; the
	// backlog starts at the oldest kept one. The client should get a full
	// export from a peer.
	Truncated = "truncated"
	// ReadOnly: the token allows reading the room, not publishing.
	ReadOnly = "read_only"
	// QuotaExceeded: the room holds as many bytes as the relay keeps.
	QuotaExceeded = "quota_exceeded"
	// BadRequest: the envelope was not valid at this point (a publish
	// without a body).
	BadRequest = "bad_request"
	// TooLarge: the body does not fit a Deliver within the relay's frame
	// limit (MaxBody); split the batch.
	TooLarge = "too_large"
	// Internal: the relay could not store the body; publish again.
	Internal = "internal"
)

// WebSocket close codes the relay uses besides the standard ones (1001
// going away, 1003 unsupported data, 1009 message too big, 1011 internal
// error).
const (
	// CloseToken (1008, policy violation): the relay refused the room
	// token; the reason says why. It accepts the WebSocket only to close
	// it so, as a browser can read a close and not a refused upgrade's
	// status. The client should not come back with the same token.
	CloseToken = 1008
	// CloseSlow: the client did not read fast enough; reconnect and
	// resume from the cursor.
	CloseSlow = 4001
	// CloseProtocol: the client broke the protocol (e.g. published before
	// joining, joined twice, or did not join in time).
	CloseProtocol = 4002
	// CloseTruncated: retention removed bodies of the backlog while it
	// was being sent; reconnect with the cursor, and the Welcome says
	// Truncated.
	CloseTruncated = 4003
)

// MaxCloseReason is the most bytes a close frame's reason holds (RFC
// 6455 5.5: 125 for a control frame, less the code's 2).
const MaxCloseReason = 123

// CloseReason cuts a reason to MaxCloseReason bytes, at a rune boundary:
// a longer one cannot be sent, and the client would get no close frame.
func CloseReason(s string) string {
	if len(s) <= MaxCloseReason {
		return s
	}
	s = s[:MaxCloseReason]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// Envelope is one message. Fields are CBOR map keys 0–7 (small integers
// keep it compact); zero fields are omitted.
type Envelope struct {
	V      uint64 `cbor:"0,keyasint"`
	Kind   Kind   `cbor:"1,keyasint"`
	Cursor uint64 `cbor:"2,keyasint,omitempty"`
	Body   []byte `cbor:"3,keyasint,omitempty"`
	ID     uint64 `cbor:"4,keyasint,omitempty"`
	Epoch  string `cbor:"5,keyasint,omitempty"`
	Code   string `cbor:"6,keyasint,omitempty"`
	Text   string `cbor:"7,keyasint,omitempty"`
}

// ErrMalformed is wrapped by every Decode error.
var ErrMalformed = errors.New("malformed envelope")

var (
	encMode = mustEnc()
	decMode = mustDec()
)

func mustEnc() cbor.EncMode {
	m, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return m
}

func mustDec() cbor.DecMode {
	m, err := cbor.DecOptions{
		MaxNestedLevels:   4,
		MaxMapPairs:       16,
		MaxArrayElements:  16,
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}

// DecodeAll parses a WebSocket message from the relay, which holds one or
// more envelopes back to back (a CBOR sequence, RFC 8742): under load the
// relay sends what it has queued for a client in one message.
func DecodeAll(b []byte) ([]Envelope, error) {
	var out []Envelope
	for len(b) > 0 {
		var raw cbor.RawMessage
		rest, err := decMode.UnmarshalFirst(b, &raw)
		if err != nil {
			return out, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		e, err := Decode(b[:len(b)-len(rest)])
		if err != nil {
			return out, err
		}
		out = append(out, e)
		b = rest
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: empty message", ErrMalformed)
	}
	return out, nil
}

// Encode returns e's CBOR encoding, with V set to Version.
func Encode(e Envelope) []byte {
	e.V = Version
	b, err := encMode.Marshal(&e)
	if err != nil {
		panic(fmt.Sprintf("protocol: encode: %v", err)) // fixed types: cannot fail
	}
	return b
}

// Decode parses one envelope, refusing unknown versions, kinds and fields.
func Decode(b []byte) (Envelope, error) {
	var e Envelope
	if err := decMode.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if e.V != Version {
		return e, fmt.Errorf("%w: version %d, this relay speaks %d", ErrMalformed, e.V, Version)
	}
	switch e.Kind {
	case Join, Publish, Ping, Welcome, Deliver, CaughtUp, Ack, Error, Pong:
	default:
		return e, fmt.Errorf("%w: unknown kind %d", ErrMalformed, e.Kind)
	}
	if len(e.Body) == 0 {
		// An explicit empty body and an absent one are the same envelope
		// (Encode omits both), so they decode to the same value.
		e.Body = nil
	}
	return e, nil
}

func (k Kind) String() string {
	switch k {
	case Join:
		return "join"
	case Publish:
		return "publish"
	case Ping:
		return "ping"
	case Pong:
		return "pong"
	case Welcome:
		return "welcome"
	case Deliver:
		return "deliver"
	case CaughtUp:
		return "caught_up"
	case Ack:
		return "ack"
	case Error:
		return "error"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}
