package link

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/factlog/factlog/relay/protocol"
	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
)

// readAhead is how many messages the reader takes in while an import
// runs: it keeps reading (and answering the relay's pings) through a long
// import, within a bounded memory (the relay's frames are at most 1 MiB).
const readAhead = 16

// session is one connection's work: deliveries in, publishes out.
type session struct {
	l        *Link
	ws       Conn
	state    store.LinkState
	notice   string
	jump     bool // the next seq may skip ahead: the welcome said truncated or epoch_changed
	caughtUp bool
	readOnly bool
	refused  bool // the relay refused a publish, and none got through since
	sentWith int  // the frame the last publish was cut for

	nextID   uint64
	inflight map[uint64][]byte  // publishes not yet acknowledged: their bodies' digests
	covers   sync.VersionVector // what the in-flight publishes hold; nil once one of them was refused
	retry    *time.Timer        // a refused publish goes again when it fires (nil: none waits)
	retryIn  time.Duration      // the wait before the next retry, doubling while refusals go on
	pinged   bool               // a ping waits for its answer
}

func (ss *session) run(ctx context.Context, first []protocol.Envelope) error {
	// Subscribed before anything is published: an append between the
	// first publish's export and a later subscription would be told to
	// no one, and would wait for the next write or connection to go.
	changes, unsubscribe := ss.l.s.Subscribe()
	defer unsubscribe()
	if err := ss.handleAll(ctx, first); err != nil { // what came with the welcome
		return err
	}
	msgs := make(chan []protocol.Envelope, readAhead)
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
	opts := ss.l.opts
	quiet := time.NewTimer(opts.Keepalive) // since the relay was last heard
	defer quiet.Stop()
	defer func() {
		if ss.retry != nil {
			ss.retry.Stop()
		}
	}()
	for {
		var retry <-chan time.Time
		if ss.retry != nil {
			retry = ss.retry.C
		}
		select {
		case <-ctx.Done():
			ss.ws.Close(StatusNormal, "")
			return errDone
		case err := <-errc:
			// What the reader took before the end is handled first: the
			// relay sent it in order, and a connection that ended for
			// holding more than the link had imported then moves on. The
			// end is what the session reports (how the relay closed
			// decides what the link does next), even if handling failed
			// for it (a publish on a closed connection).
			for drained := false; !drained; {
				select {
				case es := <-msgs:
					drained = ss.handleAll(ctx, es) != nil
				default:
					drained = true
				}
			}
			return fmt.Errorf("connection: %w", err)
		case es := <-msgs:
			ss.pinged = false
			quiet.Reset(opts.Keepalive)
			if err := ss.handleAll(ctx, es); err != nil {
				return err
			}
		case <-quiet.C:
			if ss.pinged {
				select {
				case es := <-msgs: // heard while this loop was busy: the timer and the answer came together
					ss.pinged = false
					quiet.Reset(opts.Keepalive)
					if err := ss.handleAll(ctx, es); err != nil {
						return err
					}
					continue
				default:
				}
				return fmt.Errorf("connection: the relay did not answer a ping within %v (the connection is lost)", opts.Timeout)
			}
			ss.pinged = true
			ss.nextID++
			if err := write(ctx, ss.ws, protocol.Envelope{Kind: protocol.Ping, ID: ss.nextID}); err != nil {
				return err
			}
			quiet.Reset(opts.Timeout)
		case <-retry:
			ss.retry = nil
			if err := ss.publish(ctx); err != nil {
				return err
			}
		case <-changes:
			if err := ss.publish(ctx); err != nil {
				return err
			}
		}
	}
}

// handleAll handles the envelopes of one message, in order.
func (ss *session) handleAll(ctx context.Context, es []protocol.Envelope) error {
	for _, e := range es {
		if err := ss.handle(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

func (ss *session) handle(ctx context.Context, e protocol.Envelope) error {
	switch e.Kind {
	case protocol.Deliver, protocol.Ack, protocol.CaughtUp:
		if err := ss.inOrder(e); err != nil {
			return err
		}
	}
	switch e.Kind {
	case protocol.Deliver:
		if err := ss.deliver(ctx, e); err != nil {
			return err
		}
		return ss.advance(ctx, e.Cursor, protocol.Digest(e.Body))
	case protocol.CaughtUp:
		ss.caughtUp = true
		if err := ss.advance(ctx, e.Cursor, nil); err != nil {
			return err
		}
		return ss.publish(ctx)
	case protocol.Ack:
		digest := ss.inflight[e.ID]
		delete(ss.inflight, e.ID)
		if len(ss.inflight) == 0 && ss.covers != nil {
			// Every batch of the publish is held: what the room lacked.
			if err := ss.learn(ctx, ss.covers); err != nil {
				return err
			}
			ss.covers, ss.refused, ss.retryIn = nil, false, 0
		}
		if err := ss.advance(ctx, e.Cursor, digest); err != nil {
			return err
		}
		return ss.publish(ctx)
	case protocol.Error:
		if e.Code == protocol.ReadOnly {
			ss.readOnly = true
		}
		ss.refused = true
		delete(ss.inflight, e.ID)
		// The room holds some of the publish's batches at most: it is
		// known to hold nothing more, and all of it goes again. (Learning
		// the others' tips would say it holds the refused one's events
		// below them, which then never went.)
		ss.covers = nil
		if e.Code == protocol.TooLarge && ss.sentWith == ss.l.frame {
			ss.l.shrink() // once per publish: its other batches may be refused too
		}
		ss.l.set(ss.stateName(), e.Code+": "+e.Text, ss.notice)
		switch {
		case e.Code == protocol.TooLarge && len(ss.inflight) == 0 && ss.l.frame < ss.sentWith:
			return ss.publish(ctx) // in batches that fit now
		case !ss.readOnly && ss.retry == nil:
			// Refused for now (the store failed, the quota is full…):
			// again later, not at once, nor only at the next change.
			opts := ss.l.opts
			ss.retryIn = min(max(2*ss.retryIn, opts.MinBackoff), opts.MaxBackoff)
			ss.retry = time.NewTimer(ss.retryIn)
		}
		return nil
	case protocol.Pong:
		return nil // heard: the keepalive is reset
	default:
		return fmt.Errorf("unexpected %v from the relay", e.Kind)
	}
}

// inOrder checks that e does not skip seqs: the relay sends delivers and
// acks in seq order, without gap, save where its welcome said truncated
// or epoch_changed (the backlog then starts where the relay has one), and
// caught_up names the last seq sent. A relay that skipped one breaks
// that: the link would resume after the seq it never got, and never get
// its body. The session ends instead, saying so, and the link reconnects
// from the last seq it did get; an older seq (a body delivered again) is
// harmless, an import changing nothing.
func (ss *session) inOrder(e protocol.Envelope) error {
	next := ss.state.Cursor + 1
	if e.Kind == protocol.CaughtUp {
		next-- // the last seq sent, not a new one
	}
	if e.Cursor > next && !ss.jump {
		return fmt.Errorf("the relay skipped seqs %d to %d of the room (it sent %v with seq %d): reconnecting from seq %d", next, e.Cursor-1, e.Kind, e.Cursor, ss.state.Cursor)
	}
	ss.jump = false
	return nil
}

// deliver imports a body from the room. A body holding an invalid event
// is imported author by author, so that the valid events of every other
// author in it are kept; what was refused is said in the status, and
// kept there. A body that is no batch at all can never become one: it is
// skipped rather than stall the room forever.
func (ss *session) deliver(ctx context.Context, e protocol.Envelope) error {
	res, err := ss.l.s.Import(ctx, e.Body)
	switch store.Code(err) {
	case "":
		return ss.imported(ctx, res)
	case store.CodeInvalidEvent:
		return ss.salvage(ctx, e, err)
	case store.CodeInvalidBatch:
		ss.reject(fmt.Sprintf("room seq %d skipped: %v", e.Cursor, err))
		return nil
	default:
		return fmt.Errorf("import room seq %d: %w", e.Cursor, err)
	}
}

// salvage imports a body's events author by author.
func (ss *session) salvage(ctx context.Context, e protocol.Envelope, cause error) error {
	b, err := sync.Decode(e.Body)
	if err != nil { // the store decoded it; it cannot fail now
		return fmt.Errorf("decode room seq %d again: %w", e.Cursor, err)
	}
	byAuthor := map[event.PeerID]*sync.Batch{}
	for _, ev := range b.Events {
		part := byAuthor[ev.Peer]
		if part == nil {
			part = &sync.Batch{Signatures: map[event.ID]event.Signature{}}
			byAuthor[ev.Peer] = part
		}
		part.Events = append(part.Events, ev)
		if sig, ok := b.Signatures[ev.ID]; ok {
			part.Signatures[ev.ID] = sig
		}
	}
	refused := 0
	for _, peer := range slices.SortedFunc(maps.Keys(byAuthor), func(a, b event.PeerID) int { return slices.Compare(a[:], b[:]) }) {
		res, err := ss.l.s.ImportBatch(ctx, byAuthor[peer])
		switch code := store.Code(err); code {
		case "":
			if err := ss.imported(ctx, res); err != nil {
				return err
			}
		case store.CodeInvalidEvent, store.CodeInvalidBatch:
			refused += len(byAuthor[peer].Events)
			ss.reject(fmt.Sprintf("room seq %d: %d events of author %s refused: %v", e.Cursor, len(byAuthor[peer].Events), peer, err))
		default:
			return fmt.Errorf("import room seq %d: %w", e.Cursor, err)
		}
	}
	if refused == 0 { // the events were valid alone: what failed was between authors
		ss.reject(fmt.Sprintf("room seq %d: %v (its events were imported author by author)", e.Cursor, cause))
	}
	return nil
}

// imported learns what an import says the room holds, and the forks.
func (ss *session) imported(ctx context.Context, res *store.ImportResult) error {
	if err := ss.learn(ctx, res.Seen); err != nil {
		return err
	}
	if res.Added == 0 {
		return nil
	}
	forks, err := ss.l.s.Forks(ctx)
	if err != nil {
		return err
	}
	ss.l.update(func(st *Status) { st.Forks = forks })
	return nil
}

// learn adds to what the room is known to hold.
func (ss *session) learn(ctx context.Context, seen sync.VersionVector) error {
	room := ss.state.Room.Clone()
	room.Merge(seen)
	room, err := ss.l.s.Reduce(ctx, room)
	if err != nil {
		return err
	}
	ss.state.Room = room
	return nil
}

// reject records why events from the room were refused.
func (ss *session) reject(why string) {
	ss.l.update(func(st *Status) {
		st.Rejected = append(st.Rejected, why)
		if len(st.Rejected) > MaxRejected {
			st.Rejected = st.Rejected[len(st.Rejected)-MaxRejected:]
		}
	})
}

func (ss *session) stateName() string {
	if ss.caughtUp {
		return Online
	}
	return CatchingUp
}

// advance records that every seq up to cursor is processed, and the
// digest of the body at cursor (nil if not known). The relay sends
// deliveries and acks in seq order, so the last one seen is a cursor.
func (ss *session) advance(ctx context.Context, cursor uint64, digest []byte) error {
	if cursor > ss.state.Cursor {
		ss.state.Cursor, ss.state.Digest = cursor, digest
	}
	if err := ss.l.s.SaveLinkState(ctx, ss.l.key, ss.state); err != nil {
		return err
	}
	ss.l.update(func(st *Status) {
		st.State, st.Cursor, st.Notice = ss.stateName(), ss.state.Cursor, ss.notice
		if st.State == Online && st.Error != "" && len(ss.inflight) == 0 && !ss.refused {
			st.Error = "" // the last publish got through
		}
	})
	return nil
}

// publish sends what the room lacks — by the tips it is known to hold,
// which tell forked branches apart — as batches that fit a frame, once
// the backlog is in and nothing is in flight.
func (ss *session) publish(ctx context.Context) error {
	if !ss.caughtUp || ss.readOnly || len(ss.inflight) > 0 || ss.retry != nil {
		return nil
	}
	have, err := ss.l.s.VersionVector(ctx)
	if err != nil {
		return err
	}
	ss.sentWith = ss.l.frame
	chunks, err := ss.l.s.ExportChunks(ctx, ss.state.Room, ss.l.frame-1024)
	if err != nil {
		return err
	}
	if len(chunks) == 0 {
		return ss.learn(ctx, have)
	}
	ss.covers = have
	for _, c := range chunks {
		ss.nextID++
		ss.inflight[ss.nextID] = protocol.Digest(c)
		if err := write(ctx, ss.ws, protocol.Envelope{Kind: protocol.Publish, ID: ss.nextID, Body: c}); err != nil {
			return err
		}
	}
	return nil
}
