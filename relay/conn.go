package relay

import (
	"context"
	"errors"
	"fmt"
	"github.com/factlog/factlog/relay/room"
	"sync"

	"github.com/coder/websocket"
	"github.com/factlog/factlog/relay/protocol"
	"golang.org/x/time/rate"
)

// wsConn is a Conn over a coder/websocket connection: a bounded queue, a
// reader (the serving goroutine) and a writer goroutine.
//
// Closing is a handshake, not a cut: Close tells the writer to stop after
// the message it is writing and to send the close frame, so that even a
// slow client, once it reads, learns why (and that it should resume from
// its cursor). Only ctx — the server giving up — cuts the connection.
type wsConn struct {
	srv    *Server
	ws     *websocket.Conn
	joined chan *room.Backlog

	// The send queue: a slice rather than a buffered channel, whose
	// buffer an idle connection would pay for in full.
	qmu    sync.Mutex
	queue  [][]byte
	queued chan struct{} // a value when queue became non-empty

	closing chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc

	once   sync.Once
	code   websocket.StatusCode
	reason string
}

// Send implements Conn.
func (c *wsConn) Send(msg []byte) bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if len(c.queue) >= c.srv.opts.SendQueue {
		return false
	}
	c.queue = append(c.queue, msg)
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
	c.queue = nil
	return q
}

// Close implements Conn.
func (c *wsConn) Close(code int, reason string) {
	c.once.Do(func() {
		c.code, c.reason = websocket.StatusCode(code), reason
		close(c.closing)
	})
}

// serve runs the connection until it closes, and recovers from a panic in
// either goroutine without taking the process down.
func (c *wsConn) serve(sess *room.Session) {
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		defer func() {
			// The close frame; this also ends the reader's Read once the
			// client answers, or after coder/websocket's timeout.
			c.ws.Close(c.code, c.reason)
		}()
		defer c.recover("writer")
		c.write()
	}()
	func() {
		defer c.recover("reader")
		c.read(sess)
	}()
	c.Close(int(websocket.StatusNormalClosure), "")
	<-wrote
	c.ws.CloseNow()
}

func (c *wsConn) recover(where string) {
	if p := recover(); p != nil {
		c.srv.log.Error("connection panicked", "where", where, "panic", fmt.Sprint(p))
		c.srv.metrics.dropped.WithLabelValues("panic").Inc()
		c.Close(int(websocket.StatusInternalError), "internal error")
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
			return
		}
		c.srv.metrics.framesIn.Inc()
		c.srv.metrics.bytesIn.Add(float64(len(msg)))
		if typ != websocket.MessageBinary {
			c.srv.metrics.dropped.WithLabelValues("protocol").Inc()
			c.Close(int(websocket.StatusUnsupportedData), "the relay speaks binary CBOR envelopes (relay/PROTOCOL.md)")
			return
		}
		if err := limit.Wait(c.ctx); err != nil {
			return
		}
		backlog, err := sess.Handle(c.ctx, msg)
		var ce *room.CloseError
		if errors.As(err, &ce) {
			c.srv.metrics.dropped.WithLabelValues("protocol").Inc()
			c.Close(ce.Code, ce.Reason)
			return
		}
		if backlog != nil {
			c.joined <- backlog
		}
	}
}

// write sends, in order: after the Join, the Welcome, the backlog and
// CaughtUp; then whatever the room queued.
func (c *wsConn) write() {
	select {
	case b := <-c.joined:
		if err := c.backlog(b); err != nil {
			return
		}
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

func (c *wsConn) backlog(b *room.Backlog) error {
	batch := [][]byte{protocol.Encode(b.Welcome)}
	last := b.From
	err := c.srv.hub.Store().Read(c.ctx, b.Room, b.From, b.To, func(seq uint64, body []byte) error {
		select {
		case <-c.closing:
			return errClosing
		default:
		}
		last = seq
		batch = append(batch, protocol.Encode(protocol.Envelope{Kind: protocol.Deliver, Cursor: seq, Body: body}))
		if len(batch) < 256 {
			return nil
		}
		err := c.sendAll(batch)
		batch = batch[:0]
		return err
	})
	if err != nil {
		return err
	}
	return c.sendAll(append(batch, protocol.Encode(protocol.Envelope{Kind: protocol.CaughtUp, Cursor: max(last, b.To)})))
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

var errClosing = errors.New("closing")

func (c *wsConn) send(msg []byte) error {
	ctx, cancel := context.WithTimeout(c.ctx, DefaultWriteTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageBinary, msg); err != nil {
		return err
	}
	c.srv.metrics.framesOut.Inc()
	c.srv.metrics.bytesOut.Add(float64(len(msg)))
	return nil
}
