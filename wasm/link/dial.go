//go:build !js

package link

import (
	"context"
	"errors"

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
	return b, closeError(err)
}

func (w wsConn) Write(ctx context.Context, p []byte) error {
	return closeError(w.c.Write(ctx, websocket.MessageBinary, p))
}

// closeError turns the relay's close frame into a *CloseError.
func closeError(err error) error {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return &CloseError{Code: int(ce.Code), Reason: ce.Reason}
	}
	return err
}

func (w wsConn) Close(code int, reason string) error {
	if code == StatusNormal {
		// A goodbye the relay logs as a normal departure; coder/websocket
		// waits a bounded time for the answer.
		return w.c.Close(websocket.StatusCode(code), reason)
	}
	return w.c.CloseNow()
}
