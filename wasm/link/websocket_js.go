//go:build js && wasm

package link

import (
	"context"
	"errors"
	"fmt"
	gosync "sync"
	"syscall/js"

	"github.com/factlog/factlog/wasm/internal/jsvalue"
)

// ErrNoWebSocket is the dial error where JavaScript has no WebSocket
// constructor (Node 20 has none; the ws package provides one).
var ErrNoWebSocket = errors.New("no WebSocket implementation: in Node 20 install the ws package (npm install ws) or pass { WebSocket } to connect")

// DialWebSocket is the default Dial in WebAssembly: the global WebSocket
// of the page, Worker or Node process, looked up at each dial.
func DialWebSocket(ctx context.Context, url string, readLimit int64) (Conn, error) {
	return dialJS(ctx, js.Global().Get("WebSocket"), url, readLimit)
}

// WebSocketDial returns a Dial over the JavaScript WebSocket constructor
// that constructor returns at each dial: the browser's, or in Node one
// from the ws package. A constructor that is missing or throws fails the
// dial; nothing panics.
func WebSocketDial(constructor func() js.Value) Dial {
	return func(ctx context.Context, url string, readLimit int64) (Conn, error) {
		return dialJS(ctx, constructor(), url, readLimit)
	}
}

// maxQueued bounds the bytes a connection holds that the link has not
// taken yet. A JavaScript WebSocket cannot be told to stop reading: a
// relay streams a room's backlog as fast as the network goes, and an
// import slower than that would hold it all (a room may keep 256 MiB).
// Past the bound the connection ends, after what it holds is imported,
// and the link resumes from the last seq it imported.
const maxQueued = 16 << 20

// jsConn is a Conn over a JavaScript WebSocket. Its event handlers never
// block: they queue what arrives and signal the reader, so that no
// JavaScript event can stall (or deadlock) the Go program.
type jsConn struct {
	ws        js.Value
	readLimit int64
	funcs     []js.Func
	opened    chan struct{}
	signal    chan struct{} // capacity 1: something was queued, or err set
	closeOnce gosync.Once

	mu          gosync.Mutex
	queue       [][]byte
	queued      int   // bytes in queue
	err         error // why the connection ended; set once, or by a close after an error event
	failedEvent bool  // err is an error event's
	isOpen      bool
}

func dialJS(ctx context.Context, constructor js.Value, url string, readLimit int64) (Conn, error) {
	if constructor.Type() != js.TypeFunction {
		return nil, ErrNoWebSocket
	}
	ws, err := jsvalue.New(constructor, url)
	if err != nil {
		return nil, fmt.Errorf("new WebSocket(%q): %w", url, err)
	}
	c := &jsConn{ws: ws, readLimit: readLimit, opened: make(chan struct{}), signal: make(chan struct{}, 1)}
	ws.Set("binaryType", "arraybuffer")
	c.on("onopen", func(js.Value) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.isOpen && c.err == nil {
			c.isOpen = true
			close(c.opened)
		}
	})
	c.on("onmessage", c.message)
	c.on("onerror", func(ev js.Value) {
		// Browsers say nothing more; the close event that follows has
		// the code. Node's ws puts the cause in message.
		msg := "connection failed"
		if m := ev.Get("message"); m.Type() == js.TypeString && m.String() != "" {
			msg = m.String()
		}
		c.mu.Lock()
		c.failedEvent = c.err == nil
		c.mu.Unlock()
		c.fail(errors.New(msg))
	})
	c.on("onclose", func(ev js.Value) {
		code, reason := ev.Get("code"), ev.Get("reason")
		if code.Type() != js.TypeNumber {
			c.fail(errors.New("closed by the relay"))
			return
		}
		ce := &CloseError{Code: code.Int()}
		if reason.Type() == js.TypeString {
			ce.Reason = reason.String()
		}
		c.mu.Lock()
		if c.failedEvent { // the close says more than the error before it
			c.err = nil
		}
		c.mu.Unlock()
		c.fail(ce)
	})
	select {
	case <-c.opened:
		return c, nil
	case <-c.signal:
		err := c.ended()
		c.Close(StatusFailed, "")
		return nil, err
	case <-ctx.Done():
		c.Close(StatusFailed, "")
		return nil, ctx.Err()
	}
}

// on sets an event handler property (onopen, …), remembering the function
// to release it on Close.
func (c *jsConn) on(prop string, fn func(ev js.Value)) {
	f := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ev := js.Undefined()
		if len(args) > 0 {
			ev = args[0]
		}
		fn(ev)
		return nil
	})
	c.funcs = append(c.funcs, f)
	c.ws.Set(prop, f)
}

func (c *jsConn) message(ev js.Value) {
	data := ev.Get("data")
	var p []byte
	switch {
	case data.InstanceOf(js.Global().Get("ArrayBuffer")):
		n := data.Get("byteLength").Int()
		if int64(n) > c.readLimit {
			c.fail(fmt.Errorf("a message of %d bytes exceeds the limit of %d", n, c.readLimit))
			jsvalue.Call(c.ws, "close", 1009, "message too big")
			return
		}
		p = make([]byte, n)
		js.CopyBytesToGo(p, js.Global().Get("Uint8Array").New(data))
	default:
		c.fail(fmt.Errorf("the relay sent a %s message; its messages are binary", data.Type()))
		jsvalue.Call(c.ws, "close", 1003, "binary messages only")
		return
	}
	c.mu.Lock()
	over := c.err == nil && c.queued > 0 && c.queued+len(p) > maxQueued
	if over {
		c.err = fmt.Errorf("the relay sent more than this replica imported (%d MiB waiting): reconnecting from the last seq imported", c.queued>>20)
	} else if c.err == nil {
		c.queue = append(c.queue, p)
		c.queued += len(p)
	}
	c.mu.Unlock()
	if over {
		jsvalue.Call(c.ws, "close") // what is queued is still read
	}
	c.poke()
}

// fail records why the connection ended (the first reason wins) and wakes
// the reader.
func (c *jsConn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.poke()
}

func (c *jsConn) ended() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *jsConn) poke() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

func (c *jsConn) Read(ctx context.Context) ([]byte, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			p := c.queue[0]
			c.queue[0] = nil
			c.queue = c.queue[1:]
			c.queued -= len(p)
			c.mu.Unlock()
			return p, nil
		}
		err := c.err
		c.mu.Unlock()
		if err != nil {
			c.poke() // for another reader
			return nil, err
		}
		select {
		case <-c.signal:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *jsConn) Write(ctx context.Context, p []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.ended(); err != nil {
		return err
	}
	_, err := jsvalue.Call(c.ws, "send", jsvalue.Array(p))
	return err
}

// Close closes the WebSocket and releases the event handlers. (Browsers
// accept no close code but 1000 and 3000–4999 from a page, so a failed
// connection closes without one.)
func (c *jsConn) Close(code int, reason string) error {
	c.closeOnce.Do(func() {
		c.fail(errors.New("connection closed"))
		// Detach before releasing: events still come after close(), and
		// must not call a released function. A handler stays (a no-op),
		// since Node's ws throws an error event nobody listens to.
		noop := js.Global().Get("Function").New("")
		for _, prop := range []string{"onopen", "onmessage", "onerror", "onclose"} {
			c.ws.Set(prop, noop)
		}
		for _, f := range c.funcs {
			f.Release()
		}
		var err error
		if code == StatusNormal {
			_, err = jsvalue.Call(c.ws, "close", code, reason)
		}
		if code != StatusNormal || err != nil {
			jsvalue.Call(c.ws, "close")
		}
	})
	return nil
}
