package link_test

import (
	"context"
	"errors"
	gosync "sync"
)

// pipe is the relay's end of a fake connection, which the fake relays of
// these tests embed: what it sends, the link reads; after Close (the
// link's), reads and sends end.
type pipe struct {
	in     chan []byte
	closed chan struct{}
	once   gosync.Once
}

func newPipe(buffer int) pipe {
	return pipe{in: make(chan []byte, buffer), closed: make(chan struct{})}
}

func (c *pipe) Read(ctx context.Context) ([]byte, error) {
	select {
	case b := <-c.in:
		return b, nil
	case <-c.closed:
		return nil, errors.New("closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// send queues a message for the link; it reports false once the
// connection is closed.
func (c *pipe) send(b []byte) bool {
	select {
	case c.in <- b:
		return true
	case <-c.closed:
		return false
	}
}

func (c *pipe) Close(int, string) error {
	c.once.Do(func() { close(c.closed) })
	return nil
}
