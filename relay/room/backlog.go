package room

import (
	"context"
	"errors"
	"fmt"

	"github.com/factlog/factlog/relay/protocol"
)

// Backlog is what a transport sends a client that joined, before any live
// message: Welcome, the stored bodies with From < seq <= To, then CaughtUp.
type Backlog struct {
	Welcome  protocol.Envelope
	Room     string
	From, To uint64
}

// StreamBacklog sends b through send as messages of at most maxFrame
// bytes (CBOR sequences of envelopes): the Welcome, a Deliver per body,
// CaughtUp. It holds at most about ReadPage bytes of bodies and one
// message at once, whatever the backlog's size. It stops at the first
// error of send or of the store; a body that retention removed meanwhile
// gives an error wrapping ErrTrimmed, after the bodies before it, and
// the transport closes with protocol.CloseTruncated: the client then
// reconnects and is told Truncated.
//
// It waits first for its share of Limits.Backlogs: joiners that never
// read hold their pages until the transport drops them, and together
// they would hold as much memory as there are of them.
func (h *Hub) StreamBacklog(ctx context.Context, b *Backlog, maxFrame int, send func(msg []byte) error) error {
	share := min(int64(2*ReadPage+2*maxFrame), h.lim.Backlogs)
	if err := h.backlogs.Acquire(ctx, share); err != nil {
		return err
	}
	defer h.backlogs.Release(share)
	var buf []byte
	add := func(e protocol.Envelope) error {
		m := protocol.Encode(e)
		if len(buf) > 0 && len(buf)+len(m) > maxFrame {
			if err := send(buf); err != nil {
				return err
			}
			buf = nil // send may keep it
		}
		buf = append(buf, m...)
		return nil
	}
	if err := add(b.Welcome); err != nil {
		return err
	}
	last := b.From
	err := h.store.Read(ctx, b.Room, b.From, b.To, func(seq uint64, body []byte) error {
		last = seq
		return add(protocol.Envelope{Kind: protocol.Deliver, Cursor: seq, Body: body})
	})
	if errors.Is(err, ErrTrimmed) {
		// What was read before the gap still goes out: the client's
		// cursor moves up to it.
		if len(buf) > 0 {
			if serr := send(buf); serr != nil {
				return serr
			}
		}
		return fmt.Errorf("backlog of room %s after seq %d: %w", b.Room, last, err)
	}
	if err != nil {
		return fmt.Errorf("backlog of room %s: %w", b.Room, err)
	}
	if err := add(protocol.Envelope{Kind: protocol.CaughtUp, Cursor: max(last, b.To)}); err != nil {
		return err
	}
	return send(buf)
}
