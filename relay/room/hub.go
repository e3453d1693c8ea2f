package room

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/factlog/factlog/relay/protocol"
	"golang.org/x/sync/semaphore"
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

// Observer is told what the room logic does, for metrics. Its methods
// must not block; they may be called from the store's goroutine.
type Observer interface {
	// Published: a body of room was stored, taking stored since the
	// publish reached the hub.
	Published(room string, bytes int, stored time.Duration)
	// Delivered: a body went live to n members.
	Delivered(n int)
	// Dropped: a member was disconnected (slow, protocol, panic).
	Dropped(reason string)
	// Rooms: n rooms have members.
	Rooms(n int)
	// Refused: a publish was refused with an error code (read_only,
	// quota_exceeded, bad_request, too_large, internal).
	Refused(code string)
	// Pending: the bytes handed to the store and not yet stored changed
	// by delta.
	Pending(delta int64)
	// StoreFailed: the store could not keep a body of room.
	StoreFailed(room string, err error)
}

type nopObserver struct{}

func (nopObserver) Published(string, int, time.Duration) {}
func (nopObserver) Delivered(int)                        {}
func (nopObserver) Dropped(string)                       {}
func (nopObserver) Rooms(int)                            {}
func (nopObserver) Refused(string)                       {}
func (nopObserver) Pending(int64)                        {}
func (nopObserver) StoreFailed(string, error)            {}

// Defaults of Limits.
const (
	DefaultRoomPending = 8 << 20
	DefaultPending     = 64 << 20
	DefaultBacklogs    = 256 << 20
)

// Limits bound what a Hub holds. A zero field takes its default.
type Limits struct {
	// MaxRooms caps the rooms with members at once (0: no cap).
	MaxRooms int
	// MaxRoomBytes caps the bytes a room keeps, as RoomStats.Bytes counts
	// them (BodyOverhead a body), counting the bodies the store has not
	// finished writing (0: no cap); a publish beyond gets quota_exceeded.
	MaxRoomBytes int64
	// MaxBody is the largest body a publish may carry; a larger one gets
	// too_large. Default: what keeps a Deliver envelope within
	// protocol.MaxFrame (protocol.MaxBody).
	MaxBody int
	// RoomPending bounds the bytes of one room handed to the store and not
	// yet stored (DefaultRoomPending, 8 MiB); Pending bounds them for all
	// rooms together (DefaultPending, 64 MiB). A publish beyond either
	// waits — its connection is not read meanwhile, which pushes back on
	// the client — so a flood fills neither memory nor the store's queue,
	// and other rooms' publishes are not stuck behind it.
	RoomPending, Pending int64
	// Backlogs bounds the memory that joins' backlogs being sent hold
	// together (DefaultBacklogs, 256 MiB): a join holds up to two pages
	// of bodies (ReadPage) and a message while its backlog goes out, and
	// a client that joins and then never reads holds them until the
	// transport gives up on it. Joins beyond wait for their turn.
	Backlogs int64
	// MaxAddrBytes caps the bytes one client address keeps across all
	// rooms, counted as MaxRoomBytes counts a room's, of the bodies it
	// published that are still kept (0: no cap); a publish beyond gets
	// quota_exceeded. Without it, one address filled the disk of an open
	// relay room after room, and every room's publishes failed. It needs
	// a Store that is an AddrStore, and a Conn that is an AddrConn.
	MaxAddrBytes int64
}

// An AddrStore is a Store that also keeps who published each body, so
// that the bytes an address keeps across rooms can be capped
// (Limits.MaxAddrBytes).
type AddrStore interface {
	// AppendFrom is Append for a body published from addr, which keeps
	// it counted in AddrBytes(addr) until retention removes it.
	AppendFrom(room, addr string, body []byte, done func(seq uint64, err error))
	// AddrBytes returns the bytes addr keeps, each body counted as in
	// RoomStats.Bytes. A body is counted before its done is called.
	AddrBytes(ctx context.Context, addr string) (int64, error)
}

// An AddrConn is a Conn that knows the address of its client, as the
// per-address limits count clients (an IPv4 address or an IPv6 /64).
type AddrConn interface {
	Conn
	Addr() string
}

// Hub holds the rooms that have connected members, over one Store.
type Hub struct {
	store   Store
	lim     Limits
	obs     Observer
	pending *semaphore.Weighted // bytes of all rooms not yet stored
	// backlogs is the memory of the backlogs being sent (Limits.Backlogs)
	backlogs *semaphore.Weighted

	mu    sync.Mutex
	rooms map[string]*room

	// addrs counts the bytes of each address (nil: no cap, or a store
	// that keeps no publishers).
	addrs AddrStore
	// addrMu guards unstoredBy; it is taken last, after any room's lock.
	addrMu     sync.Mutex
	unstoredBy map[string]int64 // bytes handed to the store and not yet stored, by publisher address
}

// NewHub returns a hub over store. obs may be nil.
func NewHub(store Store, lim Limits, obs Observer) *Hub {
	if obs == nil {
		obs = nopObserver{}
	}
	if lim.MaxBody <= 0 {
		lim.MaxBody = protocol.MaxBody(protocol.MaxFrame)
	}
	if lim.RoomPending <= 0 {
		lim.RoomPending = DefaultRoomPending
	}
	if lim.Pending <= 0 {
		lim.Pending = DefaultPending
	}
	lim.RoomPending = min(lim.RoomPending, lim.Pending)
	if lim.Backlogs <= 0 {
		lim.Backlogs = DefaultBacklogs
	}
	h := &Hub{store: store, lim: lim, obs: obs, pending: semaphore.NewWeighted(lim.Pending),
		backlogs: semaphore.NewWeighted(lim.Backlogs), rooms: map[string]*room{}, unstoredBy: map[string]int64{}}
	if lim.MaxAddrBytes > 0 {
		h.addrs, _ = store.(AddrStore)
	}
	return h
}

// Store returns the hub's store.
func (h *Hub) Store() Store { return h.store }

type room struct {
	name    string
	pending *semaphore.Weighted // bytes not yet stored, within Limits.RoomPending

	mu        sync.Mutex // orders publishes, so seqs are gapless and fan-out is in order
	members   map[*member]bool
	refs      int    // sessions, and publishes not yet stored
	loaded    bool   // delivered holds the store's last seq
	delivered uint64 // the last seq acknowledged and forwarded
	unstored  int64  // bytes handed to the store and not yet stored, as RoomStats.Bytes counts them
}

type member struct {
	conn Conn
	mode Mode
}

// ErrTooManyRooms refuses a connection to a new room when the hub is full.
var ErrTooManyRooms = errors.New("too many rooms")

func (h *Hub) acquire(name string) (*room, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[name]
	if r == nil {
		if h.lim.MaxRooms > 0 && len(h.rooms) >= h.lim.MaxRooms {
			return nil, fmt.Errorf("%w: the relay serves %d rooms at most", ErrTooManyRooms, h.lim.MaxRooms)
		}
		r = &room{name: name, members: map[*member]bool{}, pending: semaphore.NewWeighted(h.lim.RoomPending)}
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
		return s.join(ctx, e.Cursor, e.Epoch, e.Body)
	case e.Kind == protocol.Publish && s.joined:
		s.publish(ctx, e.ID, e.Body)
		return nil, nil
	case e.Kind == protocol.Ping && s.joined:
		if !s.member.conn.Send(protocol.Encode(protocol.Envelope{Kind: protocol.Pong, ID: e.ID})) {
			s.hub.drop(s.room, s.member, "slow")
		}
		return nil, nil
	default:
		return nil, &CloseError{Code: protocol.CloseProtocol, Reason: fmt.Sprintf("unexpected %v (a session is one join, then publishes and pings)", e.Kind)}
	}
}

// join registers the member for live messages and returns the backlog up
// to the last seq forwarded at that moment: every later seq reaches the
// member live, so there is no gap and no duplicate at the seam.
func (s *Session) join(ctx context.Context, cursor uint64, epoch string, digest []byte) (*Backlog, error) {
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
	if (epoch != "" && epoch != store.Epoch()) || cursor > last || !s.holds(ctx, cursor, digest) {
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

// holds reports whether the room's body at seq cursor is the one whose
// digest the client gave (yes when it gave none, or the body is no longer
// kept): a store restored from an older copy has given the seqs after the
// copy to other bodies, and the client's cursor then means nothing here.
func (s *Session) holds(ctx context.Context, cursor uint64, digest []byte) bool {
	if cursor == 0 || len(digest) == 0 {
		return true
	}
	same := true
	s.hub.store.Read(ctx, s.room.name, cursor-1, cursor, func(_ uint64, body []byte) error {
		same = bytes.Equal(protocol.Digest(body), digest)
		return nil
	})
	return same
}

// publish hands a body to the store; once it is durable the room
// acknowledges it and forwards it to every other member (stored). The
// room is not locked while the store writes, so a room's publishes are
// written in groups, not one fsync each. A body is checked before it
// reaches the store, so that one client's bad publish never fails another
// client's write, and it waits while its room, or all rooms together,
// have as many bytes on their way to the store as Limits allow.
func (s *Session) publish(ctx context.Context, id uint64, body []byte) {
	m, r, h := s.member, s.room, s.hub
	refuse := func(code, text string) {
		h.obs.Refused(code)
		if !m.conn.Send(protocol.Encode(protocol.Envelope{Kind: protocol.Error, ID: id, Code: code, Text: text})) {
			h.drop(r, m, "slow")
		}
	}
	switch {
	case m.mode != ReadWrite:
		refuse(protocol.ReadOnly, "this connection's token is read-only")
		return
	case len(body) == 0:
		refuse(protocol.BadRequest, "a publish needs a body")
		return
	case len(body) > h.lim.MaxBody:
		refuse(protocol.TooLarge, fmt.Sprintf("a body may have at most %d bytes; split the batch", h.lim.MaxBody))
		return
	}
	// What a publish costs while it waits for the store: its body, and
	// its request's bookkeeping, so that tiny bodies are bounded in number.
	// A body larger than a bound takes all of it (a semaphore never grants
	// more than its size: it would wait forever).
	n := int64(len(body)) + requestCost
	inRoom, inAll := min(n, h.lim.RoomPending), min(n, h.lim.Pending)
	if err := acquire(ctx, r.pending, inRoom); err != nil {
		return // the connection is closing
	}
	if err := acquire(ctx, h.pending, inAll); err != nil {
		r.pending.Release(inRoom)
		return
	}
	release := func() {
		h.pending.Release(inAll)
		r.pending.Release(inRoom)
	}
	// over refuses a publish that a quota has no room for, or whose
	// count could not be read, once the caller let go of its locks.
	over := func(err error, quota string) {
		release()
		if err != nil {
			h.obs.StoreFailed(r.name, err)
			refuse(protocol.Internal, "the relay could not read what the room or this address keeps; publish again")
			return
		}
		refuse(protocol.QuotaExceeded, quota)
	}
	size := int64(len(body)) + BodyOverhead
	r.mu.Lock()
	if h.lim.MaxRoomBytes > 0 {
		// Under the room's lock: the store counts a body in Stats before
		// it calls back, and the callback takes the lock to stop counting
		// it as unstored, so no body is ever counted in neither.
		st, err := h.store.Stats(ctx, r.name)
		if err != nil || st.Bytes+r.unstored+size > h.lim.MaxRoomBytes {
			r.mu.Unlock()
			over(err, fmt.Sprintf("the room keeps at most %d bytes", h.lim.MaxRoomBytes))
			return
		}
	}
	addr := s.quotaAddr()
	if addr != "" {
		// The same for the address's, under the lock its callback takes.
		h.addrMu.Lock()
		kept, err := h.addrs.AddrBytes(ctx, addr)
		if err != nil || kept+h.unstoredBy[addr]+size > h.lim.MaxAddrBytes {
			h.addrMu.Unlock()
			r.mu.Unlock()
			over(err, fmt.Sprintf("this client's address keeps at most %d bytes across rooms", h.lim.MaxAddrBytes))
			return
		}
		h.unstoredBy[addr] += size
		h.addrMu.Unlock()
	}
	r.unstored += size
	h.obs.Pending(int64(len(body)))
	h.mu.Lock()
	r.refs++ // the room outlives its members while their bodies are stored
	h.mu.Unlock()
	start := time.Now()
	done := func(seq uint64, err error) {
		defer release()
		if addr != "" {
			h.addrMu.Lock()
			if h.unstoredBy[addr] -= size; h.unstoredBy[addr] == 0 {
				delete(h.unstoredBy, addr)
			}
			h.addrMu.Unlock()
		}
		s.stored(m, id, body, seq, err, time.Since(start))
	}
	if addr != "" {
		h.addrs.AppendFrom(r.name, addr, body, done)
	} else {
		h.store.Append(r.name, body, done)
	}
	r.mu.Unlock()
}

// quotaAddr returns the address whose bytes this session's publishes
// count in, or "" where there is no cap, no address, or no store that
// counts them.
func (s *Session) quotaAddr() string {
	c, known := s.member.conn.(AddrConn)
	if s.hub.addrs == nil || !known {
		return ""
	}
	return c.Addr()
}

// requestCost is about the memory a publish waiting for the store takes
// besides its body.
const requestCost = 256

// acquire takes n from sem, waiting until it can or ctx ends.
func acquire(ctx context.Context, sem *semaphore.Weighted, n int64) error {
	if sem.TryAcquire(n) {
		return nil
	}
	return sem.Acquire(ctx, n)
}

// stored acknowledges and forwards a body the store has made durable. The
// store calls it in seq order.
func (s *Session) stored(m *member, id uint64, body []byte, seq uint64, err error, took time.Duration) {
	r, h := s.room, s.hub
	defer h.release(r)
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
		r.unstored -= int64(len(body)) + BodyOverhead
		h.obs.Pending(-int64(len(body)))
		defer func() {
			// This runs on the store's goroutine: a panic here must not
			// stop the store for every room.
			if p := recover(); p != nil {
				h.obs.Dropped("panic")
				slow = append(slow, m)
			}
		}()
		// A publisher no longer a member left, or was dropped because a
		// message did not fit its queue: it is sent nothing more, its ack
		// least of all, which would move its cursor past the message it
		// missed (it resumes from its cursor, and publishes again what it
		// holds that the room may lack).
		member := r.members[m]
		if err != nil {
			h.obs.StoreFailed(r.name, err)
			h.obs.Refused(protocol.Internal)
			if member {
				send(m, protocol.Encode(protocol.Envelope{Kind: protocol.Error, ID: id, Code: protocol.Internal, Text: "the relay could not store the body; publish it again"}))
			}
			return
		}
		h.obs.Published(r.name, len(body), took)
		r.delivered = seq
		if member {
			send(m, protocol.Encode(protocol.Envelope{Kind: protocol.Ack, ID: id, Cursor: seq}))
		}
		deliver := protocol.Encode(protocol.Envelope{Kind: protocol.Deliver, Cursor: seq, Body: body})
		n := 0
		for o := range r.members {
			if o != m && send(o, deliver) {
				n++
			}
		}
		h.obs.Delivered(n)
	}()
	for _, o := range slow {
		h.drop(r, o, "slow")
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
