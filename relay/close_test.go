package relay_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/factlog/factlog/relay"
	"github.com/factlog/factlog/relay/protocol"
	"github.com/factlog/factlog/relay/relaytest"
)

// rawUpgrade opens a WebSocket to url by hand, so that a test can send
// frames no library would.
func rawUpgrade(t *testing.T, r *relayServer, room string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", r.addr, relaytest.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(relaytest.Timeout))
	fmt.Fprintf(conn, "GET /v1/rooms/%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", room, r.addr)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return conn, br
}

// readClose reads server frames until a close frame, and returns its code
// and reason (-1 if the connection ended without one).
func readClose(br *bufio.Reader) (int, string) {
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return -1, err.Error()
		}
		n := int(h[1] & 0x7f)
		switch n {
		case 126:
			var l [2]byte
			io.ReadFull(br, l[:])
			n = int(binary.BigEndian.Uint16(l[:]))
		case 127:
			var l [8]byte
			io.ReadFull(br, l[:])
			n = int(binary.BigEndian.Uint64(l[:]))
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			return -1, err.Error()
		}
		if h[0]&0x0f == 0x8 && n >= 2 {
			return int(binary.BigEndian.Uint16(p)), string(p[2:])
		}
	}
}

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
		conn, br := rawUpgrade(t, r, "room")
		join := protocol.Encode(protocol.Envelope{Kind: protocol.Join})
		conn.Write(append([]byte{0x82, byte(len(join))}, join...)) // FIN, binary, no mask bit
		if code, reason := readClose(br); code != int(websocket.StatusProtocolError) {
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
