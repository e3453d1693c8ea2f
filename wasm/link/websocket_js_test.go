//go:build js && wasm

package link

import (
	"context"
	"strings"
	"syscall/js"
	"testing"
	"time"
)

// fakeWebSocket is a JavaScript WebSocket constructor that opens at once
// and counts its close() calls; the test delivers messages by calling
// the handlers the connection set.
var fakeWebSocket = js.Global().Get("Function").New(`
	function FakeWebSocket(url) {
		this.closed = 0;
		setTimeout(() => this.onopen && this.onopen({}), 0);
	}
	FakeWebSocket.prototype.close = function () { this.closed++; };
	FakeWebSocket.prototype.send = function () {};
	return FakeWebSocket;
`).Invoke()

// TestQueueBounded: a relay that sends faster than the link takes its
// messages (a JavaScript WebSocket reads whatever comes) fills the
// connection's queue only to maxQueued. Past it the connection closes;
// what it holds is still read, in order, and then the error says why.
func TestQueueBounded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := dialJS(ctx, fakeWebSocket, "ws://relay.test/v1/rooms/r", 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	c := conn.(*jsConn)
	defer c.Close(StatusNormal, "")
	const size = 1 << 20
	send := func(i int) {
		buf := js.Global().Get("ArrayBuffer").New(size)
		js.Global().Get("Uint8Array").New(buf).SetIndex(0, i)
		c.ws.Get("onmessage").Invoke(map[string]any{"data": buf})
	}
	n := maxQueued/size + 4
	for i := range n {
		send(i)
	}
	if closed := c.ws.Get("closed").Int(); closed != 1 {
		t.Fatalf("%d MiB sent and none read: the WebSocket was closed %d times, want once", n, closed)
	}
	for i := range maxQueued / size {
		p, err := c.Read(ctx)
		if err != nil || len(p) != size || int(p[0]) != i {
			t.Fatalf("read %d: %d bytes starting %v, %v; want the message sent %d-th", i, len(p), p[:min(1, len(p))], err, i)
		}
	}
	if p, err := c.Read(ctx); err == nil || !strings.Contains(err.Error(), "sent more than this replica imported") {
		t.Fatalf("after what it held: %d bytes, %v; want the error saying the queue was full", len(p), err)
	}
}
