package room

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/factlog/factlog/relay/protocol"
)

// Conn is one client connection as the room logic sees it.
type Conn interface {
	// Send queues an encoded envelope for the client without blocking.
	// It returns false when the client is too slow (its queue is full);
	// the room then closes it, and the client resumes from its cursor.
	Send(msg []byte) bool
	// Close ends the connection with a WebSocket close code and reason.
	// It must not block.
	Close(code int, reason string)
}

// Observer is told what the room logic does, for metrics.
type Observer interface {
	Published(room string, bytes int, stored time.Duration)
	Delivered(n int)
	Dropped(reason string)
	Rooms(n int)
}

type nopObserver struct{}

func (nopObserver) Published(string, int, time.Duration) {}
func (nopObserver) Delivered(int)                        {}
func (nopObserver) Dropped(string)                       {}
func (nopObserver) Rooms(int)                            {}

// Hub holds the rooms that have connected members, over one Store.
type Hub struct {
	store        Store
	maxRooms     int
	maxRoomBytes int64
	obs          Observer

	mu    sync.Mutex
	rooms map[string]*room
}

// NewHub returns a hub over store. maxRooms caps the rooms with members
// at once; maxRoomBytes the bytes a room keeps (0: no cap).
func NewHub(store Store, maxRooms int, maxRoomBytes int64, obs Observer) *Hub {
	if obs == nil {
		obs = nopObserver{}
	}
	return &Hub{store: store, maxRooms: maxRooms, maxRoomBytes: maxRoomBytes, obs: obs, rooms: map[string]*room{}}
}

// Store returns the hub's store.
func (h *Hub) Store() Store { return h.store }

type room struct {
	name      string
	mu        sync.Mutex // orders publishes, so seqs are gapless and fan-out is in order
	members   map[*member]bool
	refs      int    // sessions, and publishes not yet stored
	loaded    bool   // delivered holds the store's last seq
	delivered uint64 // the last seq acknowledged and forwarded
}

type member struct {
	conn Conn
	mode Mode
}

// ErrTooManyRooms refuses a connection to a new room when the hub is full.
var ErrTooManyRooms = fmt.Errorf("too many rooms")

func (h *Hub) acquire(name string) (*room, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[name]
	if r == nil {
		if h.maxRooms > 0 && len(h.rooms) >= h.maxRooms {
			return nil, fmt.Errorf("%w: the relay serves %d rooms at most", ErrTooManyRooms, h.maxRooms)
		}
		r = &room{name: name, members: map[*member]bool{}}
		h.rooms[name] = r
		h.obs.Rooms(len(h.rooms))
	}
	r.refs++
	return r, nil
}

func (h *Hub) release(r *room) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.refs--; r.refs == 0 {
		delete(h.rooms, r.name)
		h.obs.Rooms(len(h.rooms))
	}
}

// Backlog is what a transport sends a client that joined, before any live
// message: Welcome, the stored bodies with From < seq <= To, then CaughtUp.
type Backlog struct {
	Welcome  protocol.Envelope
	Room     string
	From, To uint64
}

// CloseError tells the transport to close the connection.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string { return fmt.Sprintf("close %d: %s", e.Code, e.Reason) }

// Session is the relay's side of one client connection: it holds the
// protocol's order (Join first, once; then Publish) and turns messages
// into room operations. A transport feeds it the client's messages, in
// order, from one goroutine.
type Session struct {
	hub    *Hub
	room   *room
	member *member
	joined bool
}

// NewSession starts a session in a room with the mode the client's token
// grants. The caller must End it.
func (h *Hub) NewSession(roomName string, mode Mode, c Conn) (*Session, error) {
	r, err := h.acquire(roomName)
	if err != nil {
		return nil, err
	}
	return &Session{hub: h, room: r, member: &member{conn: c, mode: mode}}, nil
}

// Resume registers the session as a member that has joined and caught up
// before: the Cloudflare Worker calls it for the sockets it finds again
// after its instance was evicted while they stayed open.
func (s *Session) Resume() {
	s.joined = true
	s.room.mu.Lock()
	s.room.members[s.member] = true
	s.room.mu.Unlock()
}

// Handle processes one message. For a Join it returns the backlog the
// transport must send before anything queued on the Conn. A *CloseError
// says to close the connection.
func (s *Session) Handle(ctx context.Context, msg []byte) (*Backlog, error) {
	e, err := protocol.Decode(msg)
	if err != nil {
		return nil, &CloseError{Code: 1003, Reason: err.Error()}
	}
	switch {
	case e.Kind == protocol.Join && !s.joined:
		s.joined = true
		return s.join(ctx, e.Cursor, e.Epoch)
	case e.Kind == protocol.Publish && s.joined:
		s.publish(ctx, e.ID, e.Body)
		return nil, nil
	default:
		return nil, &CloseError{Code: protocol.CloseProtocol, Reason: fmt.Sprintf("unexpected %v (a session is one join, then publishes)", e.Kind)}
	}
}

// join registers the member for live messages and returns the backlog up
// to the last seq forwarded at that moment: every later seq reaches the
// member live, so there is no gap and no duplicate at the seam.
func (s *Session) join(ctx context.Context, cursor uint64, epoch string) (*Backlog, error) {
	r, store := s.room, s.hub.store
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := store.Stats(ctx, r.name)
	if err != nil {
		return nil, &CloseError{Code: 1011, Reason: "the relay could not read the room"}
	}
	if !r.loaded {
		r.delivered, r.loaded = st.Last, true
	}
	last := r.delivered
	w := protocol.Envelope{Kind: protocol.Welcome, Epoch: store.Epoch(), Cursor: last}
	from := cursor
	if (epoch != "" && epoch != store.Epoch()) || cursor > last {
		w.Code, from = protocol.EpochChanged, 0
	}
	if st.First > 0 && from+1 < st.First {
		if w.Code == "" {
			w.Code = protocol.Truncated
		}
		from = st.First - 1
	}
	r.members[s.member] = true
	return &Backlog{Welcome: w, Room: r.name, From: from, To: last}, nil
}

// publish hands a body to the store; once it is durable the room
// acknowledges it and forwards it to every other member (stored). The
// room is not locked while the store writes, so a room's publishes are
// written in groups, not one fsync each.
func (s *Session) publish(ctx context.Context, id uint64, body []byte) {
	m, r := s.member, s.room
	refuse := func(code, text string) {
		if !m.conn.Send(protocol.Encode(protocol.Envelope{Kind: protocol.Error, ID: id, Code: code, Text: text})) {
			s.hub.drop(r, m, "slow")
		}
	}
	if m.mode != ReadWrite {
		refuse(protocol.ReadOnly, "this connection's token is read-only")
		return
	}
	if s.hub.maxRoomBytes > 0 {
		// Approximate by what is in flight; close enough for a quota.
		st, err := s.hub.store.Stats(ctx, r.name)
		if err == nil && st.Bytes+int64(len(body)) > s.hub.maxRoomBytes {
			refuse(protocol.QuotaExceeded, fmt.Sprintf("the room keeps at most %d bytes", s.hub.maxRoomBytes))
			return
		}
	}
	s.hub.mu.Lock()
	r.refs++ // the room outlives its members while their bodies are stored
	s.hub.mu.Unlock()
	start := time.Now()
	r.mu.Lock()
	s.hub.store.Append(r.name, body, func(seq uint64, err error) {
		s.stored(m, id, body, seq, err, time.Since(start))
	})
	r.mu.Unlock()
}

// stored acknowledges and forwards a body the store has made durable. The
// store calls it in seq order.
func (s *Session) stored(m *member, id uint64, body []byte, seq uint64, err error, took time.Duration) {
	r := s.room
	defer s.hub.release(r)
	var slow []*member
	send := func(to *member, msg []byte) bool {
		if !to.conn.Send(msg) {
			slow = append(slow, to)
			return false
		}
		return true
	}
	func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		defer func() {
			// This runs on the store's goroutine: a panic here must not
			// stop the store for every room.
			if p := recover(); p != nil {
				s.hub.obs.Dropped("panic")
				slow = append(slow, m)
			}
		}()
		if err != nil {
			send(m, protocol.Encode(protocol.Envelope{Kind: protocol.Error, ID: id, Code: protocol.Internal, Text: "the relay could not store the body; publish it again"}))
			return
		}
		s.hub.obs.Published(r.name, len(body), took)
		r.delivered = seq
		send(m, protocol.Encode(protocol.Envelope{Kind: protocol.Ack, ID: id, Cursor: seq}))
		deliver := protocol.Encode(protocol.Envelope{Kind: protocol.Deliver, Cursor: seq, Body: body})
		n := 0
		for o := range r.members {
			if o != m && send(o, deliver) {
				n++
			}
		}
		s.hub.obs.Delivered(n)
	}()
	for _, o := range slow {
		s.hub.drop(r, o, "slow")
	}
}

// drop disconnects a member that cannot keep up: it leaves the room, and
// its client reconnects and resumes from its cursor.
func (h *Hub) drop(r *room, m *member, reason string) {
	r.mu.Lock()
	_, ok := r.members[m]
	delete(r.members, m)
	r.mu.Unlock()
	if ok {
		h.obs.Dropped(reason)
		m.conn.Close(protocol.CloseSlow, "too slow to read: reconnect and resume from your cursor")
	}
}

// End leaves the room.
func (s *Session) End() {
	s.room.mu.Lock()
	delete(s.room.members, s.member)
	s.room.mu.Unlock()
	s.hub.release(s.room)
}
