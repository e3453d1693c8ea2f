package link

import (
	"context"
	"fmt"

	"github.com/factlog/factlog/relay/protocol"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
)

// session is one connection's work: deliveries in, publishes out.
type session struct {
	l        *Link
	ws       Conn
	state    store.LinkState
	notice   string
	caughtUp bool
	readOnly bool

	nextID   uint64
	inflight map[uint64]bool    // publishes not yet acknowledged
	covers   sync.VersionVector // what the in-flight publishes hold
}

func (ss *session) run(ctx context.Context, first []protocol.Envelope) error {
	for _, e := range first { // what came with the welcome
		if err := ss.handle(ctx, e); err != nil {
			return err
		}
	}
	msgs := make(chan []protocol.Envelope)
	errc := make(chan error, 1)
	go func() { // the reader, owned by this session
		for {
			es, err := read(ctx, ss.ws)
			if err != nil {
				errc <- err
				return
			}
			select {
			case msgs <- es:
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
		}
	}()
	changes, unsubscribe := ss.l.s.Subscribe()
	defer unsubscribe()
	for {
		select {
		case <-ctx.Done():
			ss.ws.Close(StatusNormal, "")
			return errDone
		case err := <-errc:
			return fmt.Errorf("connection: %w", err)
		case es := <-msgs:
			for _, e := range es {
				if err := ss.handle(ctx, e); err != nil {
					return err
				}
			}
		case <-changes:
			if err := ss.publish(ctx); err != nil {
				return err
			}
		}
	}
}

func (ss *session) handle(ctx context.Context, e protocol.Envelope) error {
	switch e.Kind {
	case protocol.Deliver:
		res, err := ss.l.s.Import(ctx, e.Body)
		if err != nil && store.Code(err) != store.CodeInvalidBatch && store.Code(err) != store.CodeInvalidEvent {
			return fmt.Errorf("import seq %d: %w", e.Cursor, err)
		}
		// A body that is not a valid batch can never become one: skip it
		// (the status says so) rather than stall the room forever.
		if err != nil {
			ss.l.set(Status{State: ss.stateName(), Error: fmt.Sprintf("seq %d skipped: %v", e.Cursor, err), Cursor: e.Cursor, Notice: ss.notice})
		} else {
			ss.state.Room.Merge(res.Seen)
		}
		return ss.advance(ctx, e.Cursor)
	case protocol.CaughtUp:
		ss.caughtUp = true
		if err := ss.advance(ctx, e.Cursor); err != nil {
			return err
		}
		return ss.publish(ctx)
	case protocol.Ack:
		delete(ss.inflight, e.ID)
		if len(ss.inflight) == 0 && ss.covers != nil {
			ss.state.Room.Merge(ss.covers)
			ss.covers = nil
		}
		if err := ss.advance(ctx, e.Cursor); err != nil {
			return err
		}
		return ss.publish(ctx)
	case protocol.Error:
		if e.Code == protocol.ReadOnly {
			ss.readOnly = true
		}
		delete(ss.inflight, e.ID)
		if len(ss.inflight) == 0 {
			ss.covers = nil // not all held: export again at the next change
		}
		ss.l.set(Status{State: ss.stateName(), Error: e.Code + ": " + e.Text, Cursor: ss.state.Cursor, Notice: ss.notice})
		return nil
	default:
		return fmt.Errorf("unexpected %v from the relay", e.Kind)
	}
}

func (ss *session) stateName() string {
	if ss.caughtUp {
		return Online
	}
	return CatchingUp
}

// advance records that every seq up to cursor is processed. The relay
// sends deliveries and acks in seq order, so the last one seen is a cursor.
func (ss *session) advance(ctx context.Context, cursor uint64) error {
	ss.state.Cursor = max(ss.state.Cursor, cursor)
	if err := ss.l.s.SaveLinkState(ctx, ss.l.key, ss.state); err != nil {
		return err
	}
	ss.l.set(Status{State: ss.stateName(), Cursor: ss.state.Cursor, Notice: ss.notice})
	return nil
}

// publish sends what the room lacks, as batches that fit a frame, once the
// backlog is in and nothing is in flight.
func (ss *session) publish(ctx context.Context) error {
	if !ss.caughtUp || ss.readOnly || len(ss.inflight) > 0 {
		return nil
	}
	have, err := ss.l.s.VersionVector(ctx)
	if err != nil {
		return err
	}
	if contains(ss.state.Room, have) {
		return nil
	}
	chunks, err := ss.l.s.ExportChunks(ctx, ss.state.Room, ss.l.opts.MaxFrame-1024)
	if err != nil {
		return err
	}
	ss.covers = have
	for _, c := range chunks {
		ss.nextID++
		ss.inflight[ss.nextID] = true
		if err := write(ctx, ss.ws, protocol.Envelope{Kind: protocol.Publish, ID: ss.nextID, Body: c}); err != nil {
			return err
		}
	}
	if len(chunks) == 0 {
		ss.state.Room.Merge(have)
		ss.covers = nil
	}
	return nil
}

// contains reports whether a holds everything b holds.
func contains(a, b sync.VersionVector) bool {
	for p, seq := range b {
		if a[p] < seq {
			return false
		}
	}
	return true
}
