// Package room is the relay's room logic, free of sockets and storage:
// sequencing, join with a cursor (backlog, then live, without gap or
// duplicate), acknowledgements, fan-out, quotas, slow consumers, and room
// tokens. A Store keeps the bodies (relay/sqlitestore on disk; a Durable
// Object's SQLite on Cloudflare) and a Conn carries envelopes to one
// client (package relay's WebSocket server; the Cloudflare Worker's
// WebSocketPair). relay/PROTOCOL.md is the wire protocol.
package room

import (
	"context"
	"errors"
	"time"
)

// Store keeps the bodies published to each room under a per-room sequence
// number 1, 2, 3 … without gaps.
type Store interface {
	// Epoch identifies the store: a random id made when it was created.
	// A client that saw another epoch knows its cursor means nothing here.
	Epoch() string
	// Append stores body as the room's next seq, durably, then calls done
	// with the seq (or an error). For one room, done is called in the
	// order of the Append calls, which the caller serializes. Append must
	// not block, and done must not call back into the store: the room
	// logic acknowledges and forwards the body from done, in seq order,
	// while the next bodies are being written.
	Append(room string, body []byte, done func(seq uint64, err error))
	// Read calls fn for each body of the room with after < seq <= upTo,
	// in order, holding no more than about ReadPage bytes of bodies at
	// once (or one body, if larger). Every seq in the range must be kept:
	// where one is not (retention removed it, before or during the read),
	// Read returns an error wrapping ErrTrimmed after the bodies before
	// the gap.
	Read(ctx context.Context, room string, after, upTo uint64, fn func(seq uint64, body []byte) error) error
	// Stats describes a room (zero for a room never published to).
	Stats(ctx context.Context, room string) (RoomStats, error)
	// Trim applies retention: it removes bodies stored before cutoff, and
	// the oldest bodies of any room holding more than maxBytes (0: no
	// limit), counted as RoomStats.Bytes. It may remove every body of a
	// room: the room keeps its Last, which the next body follows, and its
	// First becomes Last + 1, so that a client whose cursor is older is
	// told it was truncated.
	Trim(ctx context.Context, cutoff time.Time, maxBytes int64) (removed int, err error)
	// Close releases the store.
	Close() error
}

// ReadPage is about the most bytes of bodies a Store's Read holds at once.
const ReadPage = 1 << 20

// ErrTrimmed says that a body a Read was asked for is no longer kept.
var ErrTrimmed = errors.New("retention removed bodies of the range")

// RoomStats describes what a store keeps of a room.
type RoomStats struct {
	First uint64 // oldest kept seq: Last + 1 when retention removed all, 0 for a room never published to
	Last  uint64 // last seq assigned (0 if none)
	Bytes int64  // bytes kept, each body counted as its length plus BodyOverhead
}

// BodyOverhead is what a room is charged for each body it keeps besides
// the body's bytes, in RoomStats.Bytes and so in the quota
// (Limits.MaxRoomBytes) and in retention by size: about what sqlitestore
// takes on disk for a body's row and index entry, with page slack. Without
// it a room of 1-byte bodies took some 25 times its quota of disk.
const BodyOverhead = 64
