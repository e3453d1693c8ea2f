package relay_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/factlog/factlog/relay"
	"github.com/factlog/factlog/relay/protocol"
	"github.com/factlog/factlog/relay/relaytest"
)

// TestCloseFrames (issue 12, finding 7): every way the relay drops a
// client ends with a close frame saying why.
func TestCloseFrames(t *testing.T) {
	t.Run("long reason", func(t *testing.T) {
		r := startRelay(t, relay.Options{})
		c := dial(t, r.url("room"))
		// A kind that overflows: the decoder's message is 169 bytes.
		c.WS.Write(context.Background(), websocket.MessageBinary, []byte{0xa2, 0x00, 0x01, 0x01, 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		code, reason := c.Closed()
		if code != websocket.StatusUnsupportedData || !strings.HasPrefix(reason, "malformed envelope") || len(reason) > 123 {
			t.Fatalf("closed with %d %q", code, reason)
		}
	})
	t.Run("unmasked frame", func(t *testing.T) {
		r := startRelay(t, relay.Options{})
		c := relaytest.DialRaw(t, r.url("room"))
		c.WriteUnmasked(protocol.Encode(protocol.Envelope{Kind: protocol.Join}))
		if code, reason := c.Closed(); code != int(websocket.StatusProtocolError) {
			t.Fatalf("closed with %d %q, want 1002", code, reason)
		}
	})
	t.Run("stalled consumer", func(t *testing.T) {
		// Queues large enough that only the write timeout can drop it.
		r := startRelay(t, relay.Options{WriteTimeout: 200 * time.Millisecond, SendQueue: 1 << 20, SendQueueBytes: 1 << 30,
			MessagesPerSecond: 1e6, MessageBurst: 1e6})
		stalled := dial(t, r.url("room"))
		stalled.Join(0, "")
		pub := dial(t, r.url("room"))
		pub.Join(0, "")
		body := bytes.Repeat([]byte("s"), 256<<10)
		// Publish until the relay gives up on the stalled member.
		for i := 1; metric(t, r, `relay_dropped_connections_total{reason="slow"}`) == 0; i++ {
			if i > 400 {
				t.Fatal("the stalled member was not dropped after 100 MiB")
			}
			pub.Send(protocol.Envelope{Kind: protocol.Publish, ID: uint64(i), Body: body})
			pub.Recv()
		}
		code, reason := stalled.Closed() // only now does it read
		if code != protocol.CloseSlow {
			t.Fatalf("closed with %d %q, want %d", code, reason, protocol.CloseSlow)
		}
	})
}

// TestAbruptDisconnects (issue 12, finding 6, under -race): members
// vanish while the room floods them and the relay closes others; the
// close status is set and read without a data race.
func TestAbruptDisconnects(t *testing.T) {
	r := startRelay(t, relay.Options{SendQueue: 8, WriteTimeout: 100 * time.Millisecond, MessagesPerSecond: 1e6, MessageBurst: 1e6})
	pub := dial(t, r.url("room"))
	pub.Join(0, "")
	var wg sync.WaitGroup
	for i := range 16 {
		c := dial(t, r.url("room"))
		c.Join(0, "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range i {
				if _, err := c.Next(); err != nil {
					return
				}
			}
			c.WS.CloseNow()
		}()
	}
	body := bytes.Repeat([]byte("d"), 32<<10)
	for i := range 64 {
		pub.Send(protocol.Envelope{Kind: protocol.Publish, ID: uint64(i + 1), Body: body})
		if e := pub.Recv(); e.Kind != protocol.Ack {
			t.Fatalf("publish %d: %+v", i+1, e)
		}
	}
	wg.Wait()
}

// TestCloseWithRetention: Close ends the retention loop first, so that a
// relay that trims its rooms shuts down as soon as its connections have
// drained, not when Close's context expires.
func TestCloseWithRetention(t *testing.T) {
	r := startRelay(t, relay.Options{RetainFor: time.Hour, RetainBytes: 1 << 30})
	c := dial(t, r.url("kept"))
	c.Join(0, "")
	closed := make(chan websocket.StatusCode, 1)
	go func() {
		code, _ := c.Closed()
		closed <- code
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.srv.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if code := <-closed; code != websocket.StatusGoingAway {
		t.Fatalf("the client got close code %d, want %d", code, websocket.StatusGoingAway)
	}
}

// TestResetIsNoProtocolError: a client whose connection is reset (its
// network went, it was killed) left; it broke no protocol. It was counted
// as dropped for "protocol", beside clients that send bad frames, and the
// relay wrote a close frame 1002 to the dead socket.
func TestResetIsNoProtocolError(t *testing.T) {
	r := startRelay(t, relay.Options{})
	c := relaytest.DialRaw(t, r.url("room"))
	c.Conn.(*net.TCPConn).SetLinger(0) // close sends a reset
	c.Conn.Close()
	for deadline := time.Now().Add(relaytest.Timeout); metric(t, r, "relay_connections") != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the reset connection is still open")
		}
	}
	if n := metric(t, r, `relay_dropped_connections_total{reason="protocol"}`); n != 0 {
		t.Fatalf("a reset connection counted as %v protocol drops", n)
	}
}
