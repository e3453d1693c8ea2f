//go:build !js

package link

import (
	"context"

	"github.com/coder/websocket"
)

// DialWebSocket is the default Dial natively: github.com/coder/websocket.
func DialWebSocket(ctx context.Context, url string, readLimit int64) (Conn, error) {
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(readLimit)
	return wsConn{c}, nil
}

type wsConn struct{ c *websocket.Conn }

func (w wsConn) Read(ctx context.Context) ([]byte, error) {
	_, b, err := w.c.Read(ctx)
	return b, err
}

func (w wsConn) Write(ctx context.Context, p []byte) error {
	return w.c.Write(ctx, websocket.MessageBinary, p)
}

func (w wsConn) Close(code int, reason string) error {
	if code == StatusNormal {
		// A goodbye the relay logs as a normal departure; coder/websocket
		// waits a bounded time for the answer.
		return w.c.Close(websocket.StatusCode(code), reason)
	}
	return w.c.CloseNow()
}
