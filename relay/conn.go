package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/factlog/factlog/relay/protocol"
	"github.com/factlog/factlog/relay/room"
	"golang.org/x/time/rate"
)

// wsConn is a room.Conn over a coder/websocket connection: a bounded
// queue, a reader (the serving goroutine), a writer and a pinger.
//
// Closing is a handshake, not a cut: Close tells the writer to stop after
// the message it is writing and to send the close frame, so that even a
// slow client, once it reads, learns why (and that it should resume from
// its cursor). Only a write stalled for twice the write timeout, or ctx
// — the server giving up — cuts the connection.
type wsConn struct {
	srv    *Server
	ip     string
	ws     *websocket.Conn
	joined chan *room.Backlog

	// The send queue: a slice rather than a buffered channel, whose
	// buffer an idle connection would pay for in full.
	qmu    sync.Mutex
	queue  [][]byte
	qbytes int
	queued chan struct{} // a value when queue became non-empty

	closing chan struct{} // closed by the first Close
	ctx     context.Context
	cancel  context.CancelFunc

	// What the reader last heard, for ping: the time of the client's last
	// message, and whether the relay holds the reader with it (the rate
	// limit, the store's back-pressure). A client's pong waits behind the
	// messages it sent before it, which a held reader does not read.
	heard    atomic.Int64 // Unix ns
	handling atomic.Bool

	cmu    sync.Mutex // guards the close status, read by the writer
	closed bool
	code   websocket.StatusCode
	reason string
}

// Addr implements room.AddrConn: the client's address, as the
// per-address limits count it.
func (c *wsConn) Addr() string { return c.ip }

// Send implements room.Conn: false when the queue holds SendQueue
// messages or SendQueueBytes bytes.
func (c *wsConn) Send(msg []byte) bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	o := c.srv.opts
	if len(c.queue) >= o.SendQueue || (len(c.queue) > 0 && c.qbytes+len(msg) > o.SendQueueBytes) {
		return false
	}
	c.queue = append(c.queue, msg)
	c.qbytes += len(msg)
	if len(c.queue) == 1 {
		select {
		case c.queued <- struct{}{}:
		default:
		}
	}
	return true
}

// take empties the queue.
func (c *wsConn) take() [][]byte {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	q := c.queue
	c.queue, c.qbytes = nil, 0
	return q
}

// Close implements room.Conn.
func (c *wsConn) Close(code int, reason string) { c.shut(code, reason) }

// shut starts closing: the first call sets the close frame's code and
// reason (cut to the 123 bytes a close frame holds); it reports whether
// it was the first.
func (c *wsConn) shut(code int, reason string) bool {
	c.cmu.Lock()
	defer c.cmu.Unlock()
	if c.closed {
		return false
	}
	c.closed, c.code, c.reason = true, websocket.StatusCode(code), protocol.CloseReason(reason)
	close(c.closing)
	return true
}

// status returns the close frame's code and reason.
func (c *wsConn) status() (websocket.StatusCode, string) {
	c.cmu.Lock()
	defer c.cmu.Unlock()
	return c.code, c.reason
}

// serve runs the connection until it closes, and recovers from a panic in
// any of its goroutines without taking the process down.
func (c *wsConn) serve(sess *room.Session) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer func() {
			// The close frame; this also ends the reader's Read once the
			// client answers, or after coder/websocket's timeout.
			c.Close(int(websocket.StatusNormalClosure), "")
			c.ws.Close(c.status())
		}()
		defer c.recover("writer")
		c.write()
	}()
	go func() {
		defer wg.Done()
		defer c.recover("pinger")
		c.ping()
	}()
	func() {
		defer c.recover("reader")
		c.read(sess)
	}()
	c.Close(int(websocket.StatusNormalClosure), "")
	wg.Wait()
	c.ws.CloseNow()
}

func (c *wsConn) recover(where string) {
	if p := recover(); p != nil {
		c.srv.log.Error("connection panicked", "where", where, "panic", fmt.Sprint(p))
		c.srv.metrics.dropped.WithLabelValues("panic").Inc()
		c.Close(int(websocket.StatusInternalError), "internal error")
	}
}

// drop closes the connection for a reason the metrics count.
func (c *wsConn) drop(reason string, code int, text string) {
	if c.shut(code, text) {
		c.srv.metrics.dropped.WithLabelValues(reason).Inc()
	}
}

func (c *wsConn) read(sess *room.Session) {
	limit := rate.NewLimiter(rate.Limit(c.srv.opts.MessagesPerSecond), c.srv.opts.MessageBurst)
	for {
		// Not c.ctx: coder/websocket cuts a connection whose Read is
		// cancelled, and a close should be a handshake. The writer's
		// close, or CloseNow, ends this Read.
		typ, msg, err := c.ws.Read(context.Background())
		if err != nil {
			// A network error (a reset: the client's network went, or it
			// was killed) is a client gone, not one that broke the protocol.
			var netErr net.Error
			if websocket.CloseStatus(err) == -1 && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.As(err, &netErr) {
				// Bad framing (an unmasked frame, a reserved bit, …).
				// coder/websocket sends its own close frame for most of
				// them; this one goes out when it did not.
				c.drop("protocol", int(websocket.StatusProtocolError), err.Error())
			}
			return
		}
		c.heard.Store(time.Now().UnixNano())
		c.srv.metrics.framesIn.Inc()
		c.srv.metrics.bytesIn.Add(float64(len(msg)))
		if typ != websocket.MessageBinary {
			c.drop("protocol", int(websocket.StatusUnsupportedData), "the relay speaks binary CBOR envelopes (relay/PROTOCOL.md)")
			return
		}
		c.handling.Store(true)
		if err := limit.Wait(c.ctx); err != nil {
			return
		}
		backlog, err := sess.Handle(c.ctx, msg)
		c.handling.Store(false)
		var ce *room.CloseError
		if errors.As(err, &ce) {
			c.drop("protocol", ce.Code, ce.Reason)
			return
		}
		if backlog != nil {
			c.joined <- backlog
		}
	}
}

// ping checks every PingInterval that the client answers within
// PingTimeout; one that does not is closed with 4001 (its reader is
// stalled, or it is gone). A client the relay is slowing down is not
// asked to answer in time: its pong is queued behind its own messages,
// and a message heard since the ping shows it is there.
func (c *wsConn) ping() {
	t := time.NewTicker(c.srv.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-c.closing:
			return
		case <-c.ctx.Done():
			return
		}
		sent := time.Now().UnixNano()
		ctx, cancel := context.WithTimeout(c.ctx, c.srv.opts.PingTimeout)
		err := c.ws.Ping(ctx)
		cancel()
		if err != nil && c.ctx.Err() == nil && (c.handling.Load() || c.heard.Load() > sent) {
			continue
		}
		if err != nil {
			// A client that does not answer would not answer a closing
			// handshake either: cut it, so that its room slot frees now.
			c.drop("ping", protocol.CloseSlow, "no answer to a ping: reconnect and resume from your cursor")
			c.ws.CloseNow()
			return
		}
	}
}

// write sends, in order: after the Join, the Welcome, the backlog and
// CaughtUp; then whatever the room queued. A client that does not join
// within JoinTimeout is closed with 4002.
func (c *wsConn) write() {
	deadline := time.NewTimer(c.srv.opts.JoinTimeout)
	defer deadline.Stop()
	select {
	case b := <-c.joined:
		deadline.Stop()
		// A join may wait for its turn (its address's slots, the shares of
		// Options.Backlogs): a connection that closes meanwhile stops
		// waiting, and frees its slot in the relay at once.
		ctx, cancel := context.WithCancel(c.ctx)
		defer cancel()
		go func() {
			select {
			case <-c.closing:
				cancel()
			case <-ctx.Done():
			}
		}()
		release, err := c.srv.backlogSlot(ctx, c.ip)
		if err != nil {
			return
		}
		var sendErr error // the client's side failed: nothing to report
		err = c.srv.hub.StreamBacklog(ctx, b, int(c.srv.opts.MaxFrame), func(msg []byte) error {
			sendErr = c.sendOpen(msg)
			return sendErr
		})
		release()
		if err != nil {
			switch {
			case errors.Is(err, room.ErrTrimmed):
				c.drop("truncated", protocol.CloseTruncated, "retention removed bodies during your join: reconnect with your cursor")
			case sendErr != nil || ctx.Err() != nil:
			default:
				c.srv.log.Error("backlog", "err", err)
				c.drop("internal", int(websocket.StatusInternalError), "the relay could not read the room")
			}
			return
		}
		cancel() // and its watcher goes
	case <-deadline.C:
		c.drop("join_timeout", protocol.CloseProtocol, fmt.Sprintf("no join within %v of connecting", c.srv.opts.JoinTimeout))
		return
	case <-c.closing:
		return
	case <-c.ctx.Done():
		return
	}
	for {
		select {
		case <-c.queued:
			// Everything queued goes out in as few WebSocket messages as
			// the frame limit allows: under load a connection then costs a
			// system call per batch, not per envelope.
			if err := c.sendAll(c.take()); err != nil {
				return
			}
		case <-c.closing:
			return
		case <-c.ctx.Done():
			return
		}
	}
}

var errClosing = errors.New("connection closing")

// sendOpen sends msg unless the connection is closing.
func (c *wsConn) sendOpen(msg []byte) error {
	select {
	case <-c.closing:
		return errClosing
	default:
		return c.send(msg)
	}
}

// sendAll writes envelopes, as few WebSocket messages (CBOR sequences of
// envelopes) as fit the frame limit.
func (c *wsConn) sendAll(msgs [][]byte) error {
	var buf []byte
	for _, m := range msgs {
		if len(buf) > 0 && int64(len(buf)+len(m)) > c.srv.opts.MaxFrame {
			if err := c.send(buf); err != nil {
				return err
			}
			buf = nil
		}
		buf = append(buf, m...)
	}
	if len(buf) == 0 {
		return nil
	}
	return c.send(buf)
}

// send writes one message. A client that has not taken it after
// WriteTimeout is too slow: it is closed with 4001 once the message is
// through (the close frame follows it), or cut after twice WriteTimeout.
func (c *wsConn) send(msg []byte) error {
	wt := c.srv.opts.WriteTimeout
	ctx, cancel := context.WithTimeout(c.ctx, 2*wt)
	defer cancel()
	slow := time.AfterFunc(wt, func() {
		c.drop("slow", protocol.CloseSlow, "too slow to read: reconnect and resume from your cursor")
	})
	defer slow.Stop()
	if err := c.ws.Write(ctx, websocket.MessageBinary, msg); err != nil {
		return err
	}
	c.srv.metrics.framesOut.Inc()
	c.srv.metrics.bytesOut.Add(float64(len(msg)))
	return nil
}
