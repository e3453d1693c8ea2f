// Package link keeps a store in sync with a room of a factlog relay, over
// a WebSocket (a Conn: github.com/coder/websocket natively, the
// JavaScript WebSocket in WebAssembly, or any Dial in Options):
// it joins with the cursor it saved, imports what the room holds after it,
// publishes what the room lacks, and after a fault reconnects with backoff
// and resumes from its cursor. relay/PROTOCOL.md is the protocol.
package link

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"reflect"
	"slices"
	gosync "sync"
	"time"

	"github.com/factlog/factlog/relay/protocol"
	"github.com/factlog/factlog/wasm/dag"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
)

// Options configure a Link.
type Options struct {
	// URL is the room: ws[s]://host/v1/rooms/{room}, maybe with a path
	// before /v1 (a relay behind a reverse proxy at a sub-path). Start
	// refuses another path, and a room name the relay would refuse
	// (protocol.ValidRoom, of the last segment percent-decoded).
	URL string
	// Token is the room token, if the relay requires one.
	Token string
	// MaxFrame is the relay's largest message (default protocol.MaxFrame);
	// larger exports are split into several batches. A relay that refuses
	// a publish as too large (too_large, or a close with 1009) has a
	// smaller limit: the link halves its batches until they pass, down
	// to what the largest event needs.
	MaxFrame int
	// Timeout bounds the wait for a connection to open and for the
	// relay's welcome (default 20 s): a relay, or a proxy before it, that
	// accepts and then says nothing is retried like one that is down.
	Timeout time.Duration
	// Keepalive is how long the link hears nothing from the relay before
	// it pings it (default 25 s); Timeout bounds the answer. A connection
	// that died without a close (a network gone away) then ends, and the
	// link reconnects, instead of staying online and hearing nothing.
	Keepalive time.Duration
	// MinBackoff and MaxBackoff bound the wait before a reconnection,
	// which doubles after each failure (defaults 250 ms and 30 s).
	MinBackoff, MaxBackoff time.Duration
	// Dial opens connections (default DialWebSocket).
	Dial Dial
	// OnStatus, if set, is called when the link's status changes, from the
	// link's goroutine.
	OnStatus func(Status)
}

// States of a link.
const (
	Connecting = "connecting"
	CatchingUp = "catching-up"
	Online     = "online"
	Offline    = "offline" // waiting to reconnect; Error says why
	Closed     = "closed"  // by Close, or for good by the relay (Code and Error say why)
)

// Status describes a link.
type Status struct {
	State string `json:"state"`
	Error string `json:"error,omitempty"`
	// Code is why a link ended by itself (state Closed), as a store error
	// code: store.CodeArgument when the relay refused its token
	// (protocol.CloseToken), which it would do again.
	Code   string `json:"code,omitempty"`
	Notice string `json:"notice,omitempty"` // protocol.EpochChanged or protocol.Truncated, when the relay said so
	Cursor uint64 `json:"cursor"`
	// Rejected says, newest last, why events from the room were refused
	// (the last MaxRejected): an invalid event, or a body that is no
	// batch. The valid events of other authors around them are kept.
	Rejected []string `json:"rejected,omitempty"`
	// Forks are the forks the store holds: an author's seq held by more
	// than one event — its device's data was copied, or restored from a
	// backup, and both copies appended. Sync goes on; every replica keeps
	// every branch and computes the same state.
	Forks []dag.Fork `json:"forks,omitempty"`
}

// MaxRejected bounds Status.Rejected.
const MaxRejected = 20

// Link is a running link. Start makes one; Close stops it.
type Link struct {
	s      *store.Store
	opts   Options
	key    string
	cancel context.CancelFunc
	done   chan struct{}
	frame  int // the publish frame, at most opts.MaxFrame; the link's goroutine's

	mu     gosync.Mutex
	status Status
}

// Start links s to a room and keeps it linked until Close.
func Start(s *store.Store, opts Options) (*Link, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, store.ArgumentError(fmt.Sprintf("link: %q is not a ws:// or wss:// room URL", opts.URL))
	}
	// A relay refuses another path (404) or room name (400) before the
	// upgrade, which a browser's WebSocket does not tell apart from a
	// relay that is down: checked here, it is refused for good.
	room, ok := protocol.RoomOf(u.EscapedPath())
	if !ok {
		return nil, store.ArgumentError(fmt.Sprintf("link: %q names no room: pass ws[s]://host/v1/rooms/ROOM (a path before /v1 is kept, for a relay behind a proxy)", opts.URL))
	}
	if !protocol.ValidRoom(room) {
		return nil, store.ArgumentError(fmt.Sprintf("link: the room of %q is %q: %s (percent-decoded)", opts.URL, room, protocol.RoomRule))
	}
	if opts.MaxFrame <= 0 {
		opts.MaxFrame = protocol.MaxFrame
	}
	if opts.MaxFrame-1024 < sync.MinChunkLimit {
		return nil, store.ArgumentError(fmt.Sprintf("link: a relay frame of %d bytes is too small for the largest event", opts.MaxFrame))
	}
	if opts.Dial == nil {
		opts.Dial = DialWebSocket
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 250 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 20 * time.Second
	}
	if opts.Keepalive <= 0 {
		opts.Keepalive = 25 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Link{s: s, opts: opts, key: u.Scheme + "://" + u.Host + u.Path, cancel: cancel, done: make(chan struct{}), frame: opts.MaxFrame}
	go l.run(ctx)
	return l, nil
}

// Status returns the link's current status.
func (l *Link) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status
}

// update changes the status with fn, and reports it if it changed.
func (l *Link) update(fn func(*Status)) {
	l.mu.Lock()
	st := l.status
	st.Rejected, st.Forks = slices.Clone(st.Rejected), slices.Clone(st.Forks)
	fn(&st)
	changed := !reflect.DeepEqual(st, l.status)
	l.status = st
	l.mu.Unlock()
	if changed && l.opts.OnStatus != nil {
		l.opts.OnStatus(st)
	}
}

// set changes the state, the error and the notice, and keeps what the
// status says of the room (cursor, rejections, forks).
func (l *Link) set(state, err, notice string) {
	l.update(func(st *Status) { st.State, st.Error, st.Notice = state, err, notice })
}

// Close stops the link and waits for its goroutine.
func (l *Link) Close() error {
	l.cancel()
	<-l.done
	return nil
}

func (l *Link) run(ctx context.Context) {
	defer close(l.done)
	backoff := l.opts.MinBackoff
	for {
		l.set(Connecting, "", l.Status().Notice)
		online, err := l.session(ctx)
		if ctx.Err() != nil {
			l.set(Closed, "", "")
			return
		}
		if ce := (*CloseError)(nil); errors.As(err, &ce) {
			switch ce.Code {
			case StatusTooBig:
				l.shrink()
			case protocol.CloseToken:
				// The relay refused the token, when the link connected or
				// when it expired: it would again, so the link ends here
				// rather than retry forever (Close releases it).
				l.update(func(st *Status) {
					st.State, st.Notice, st.Code = Closed, "", store.CodeArgument
					st.Error = fmt.Sprintf("closed by the relay (%s): connect with a valid token for this room", ce.Reason)
				})
				return
			}
		}
		if online {
			backoff = l.opts.MinBackoff
		}
		l.set(Offline, err.Error(), l.Status().Notice)
		wait := backoff/2 + rand.N(backoff/2+1) // jitter, so a room does not reconnect in step
		backoff = min(2*backoff, l.opts.MaxBackoff)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// maxRead is the largest message the link reads, at least: a relay may
// take larger frames than this link sends, and deliver in them.
const maxRead = 16 << 20

// minFrame is the smallest publish frame: the largest event fits.
const minFrame = sync.MinChunkLimit + 1024

// shrink halves the publish frame, after the relay refused a message as
// too large, down to minFrame.
func (l *Link) shrink() {
	l.frame = max(l.frame/2, minFrame)
}

// errDone ends a session without a fault.
var errDone = errors.New("link closed")

// session runs one connection; online reports whether it got as far as
// the relay's welcome.
func (l *Link) session(ctx context.Context) (online bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	state, err := l.s.LinkState(ctx, l.key)
	if err != nil {
		return false, err
	}
	// Only what is held here counts as held by the room: a state saved
	// by an earlier version may name a tip forged far ahead of a chain.
	if state.Room, err = l.s.Reduce(ctx, state.Room); err != nil {
		return false, err
	}
	dial := l.opts.URL
	if l.opts.Token != "" {
		u, _ := url.Parse(dial)
		q := u.Query()
		q.Set("token", l.opts.Token)
		u.RawQuery = q.Encode()
		dial = u.String()
	}
	// Until the welcome, the timeout holds: a connection accepted and
	// then silent would otherwise keep the link connecting for good.
	hello, cancelHello := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancelHello()
	ws, err := l.opts.Dial(hello, dial, int64(max(l.opts.MaxFrame, maxRead))+4096)
	if err != nil {
		return false, fmt.Errorf("connect: %w", timedOut(hello, err))
	}
	defer ws.Close(StatusFailed, "")
	if err := write(hello, ws, protocol.Envelope{Kind: protocol.Join, Cursor: state.Cursor, Epoch: state.Epoch, Body: state.Digest}); err != nil {
		return false, timedOut(hello, err)
	}
	first, err := read(hello, ws)
	if err != nil {
		return false, fmt.Errorf("join: %w", timedOut(hello, err))
	}
	cancelHello()
	w := first[0]
	if w.Kind != protocol.Welcome {
		return false, fmt.Errorf("the relay answered join with %v", w.Kind)
	}
	notice := w.Code
	if w.Code == protocol.EpochChanged {
		// The relay lost or replaced its store: what it holds now starts
		// afresh, and everything this replica has must be published again.
		state = store.LinkState{Room: sync.VersionVector{}}
	}
	state.Epoch = w.Epoch
	if err := l.s.SaveLinkState(ctx, l.key, state); err != nil {
		return true, err
	}
	l.update(func(st *Status) { st.State, st.Error, st.Notice, st.Cursor = CatchingUp, "", notice, state.Cursor })
	ss := &session{l: l, ws: ws, state: state, notice: notice, jump: notice != "", inflight: map[uint64][]byte{}}
	return true, ss.run(ctx, first[1:])
}

// timedOut says so when err came from hello's deadline.
func timedOut(hello context.Context, err error) error {
	if errors.Is(hello.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within the timeout: %w", err)
	}
	return err
}

func write(ctx context.Context, ws Conn, e protocol.Envelope) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return ws.Write(ctx, protocol.Encode(e))
}

// read returns the envelopes of one message (the relay batches them).
func read(ctx context.Context, ws Conn) ([]protocol.Envelope, error) {
	b, err := ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	return protocol.DecodeAll(b)
}
