// Package relaytest is a raw relay protocol client for tests, as
// net/http/httptest is for HTTP: it speaks envelopes directly, so a test
// can check what a relay — the native one or the Cloudflare Worker — sends.
package relaytest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/factlog/factlog/relay/protocol"
)

// Timeout bounds every wait of a Client.
const Timeout = 10 * time.Second

// Client is one connection to a room.
type Client struct {
	t    testing.TB
	WS   *websocket.Conn
	more []protocol.Envelope // envelopes of the last message not yet returned
}

// Dial connects to a room URL; the connection closes with the test.
func Dial(t testing.TB, url string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	ws.SetReadLimit(4 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return &Client{t: t, WS: ws}
}

// Send sends one envelope.
func (c *Client) Send(e protocol.Envelope) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := c.WS.Write(ctx, websocket.MessageBinary, protocol.Encode(e)); err != nil {
		c.t.Fatalf("send %v: %v", e.Kind, err)
	}
}

// Recv returns the next envelope, failing the test if there is none.
func (c *Client) Recv() protocol.Envelope {
	c.t.Helper()
	e, err := c.Next()
	if err != nil {
		c.t.Fatalf("receive: %v", err)
	}
	return e
}

// Next returns the next envelope (the relay may send several in one
// message).
func (c *Client) Next() (protocol.Envelope, error) {
	if len(c.more) == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		_, b, err := c.WS.Read(ctx)
		if err != nil {
			return protocol.Envelope{}, err
		}
		if c.more, err = protocol.DecodeAll(b); err != nil {
			return protocol.Envelope{}, err
		}
	}
	e := c.more[0]
	c.more = c.more[1:]
	return e, nil
}

// Closed waits for the relay to close the connection and returns the
// close code and reason.
func (c *Client) Closed() (websocket.StatusCode, string) {
	c.t.Helper()
	for {
		_, err := c.Next()
		if err == nil {
			continue
		}
		code := websocket.CloseStatus(err)
		if code == -1 {
			c.t.Fatalf("connection ended without a close frame: %v", err)
		}
		var ce websocket.CloseError
		errors.As(err, &ce)
		return code, ce.Reason
	}
}

// Join sends Join and returns the Welcome and the backlog, up to CaughtUp.
func (c *Client) Join(cursor uint64, epoch string) (protocol.Envelope, []protocol.Envelope) {
	c.t.Helper()
	c.Send(protocol.Envelope{Kind: protocol.Join, Cursor: cursor, Epoch: epoch})
	w := c.Recv()
	if w.Kind != protocol.Welcome {
		c.t.Fatalf("got %v, want welcome", w.Kind)
	}
	var backlog []protocol.Envelope
	for {
		e := c.Recv()
		if e.Kind == protocol.CaughtUp {
			return w, backlog
		}
		backlog = append(backlog, e)
	}
}
