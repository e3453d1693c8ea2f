package relaytest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// Raw is a WebSocket connection opened by hand, for frames no library
// would send (unmasked ones, say).
type Raw struct {
	Conn net.Conn
	r    *bufio.Reader
}

// DialRaw upgrades a ws:// room URL by hand; the connection closes with
// the test, and every read or write is bounded by Timeout.
func DialRaw(t testing.TB, room string) *Raw {
	t.Helper()
	u, err := url.Parse(room)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, Timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(Timeout))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", u.RequestURI(), u.Host)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade %s: %v %v", room, resp, err)
	}
	return &Raw{Conn: conn, r: br}
}

// WriteUnmasked sends a binary message in one frame without the mask a
// client must set (RFC 6455 5.1).
func (c *Raw) WriteUnmasked(msg []byte) error {
	if len(msg) > 125 {
		return fmt.Errorf("WriteUnmasked: %d bytes, at most 125", len(msg))
	}
	_, err := c.Conn.Write(append([]byte{0x82, byte(len(msg))}, msg...))
	return err
}

// Closed reads frames until the relay's close frame and returns its code
// and reason; code is -1 when the connection ends without one.
func (c *Raw) Closed() (int, string) {
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.r, h[:]); err != nil {
			return -1, err.Error()
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var l [2]byte
			if _, err := io.ReadFull(c.r, l[:]); err != nil {
				return -1, err.Error()
			}
			n = uint64(binary.BigEndian.Uint16(l[:]))
		case 127:
			var l [8]byte
			if _, err := io.ReadFull(c.r, l[:]); err != nil {
				return -1, err.Error()
			}
			n = binary.BigEndian.Uint64(l[:])
		}
		if h[0]&0x0f != 0x8 { // not a close frame: skip it
			if _, err := io.CopyN(io.Discard, c.r, int64(n)); err != nil {
				return -1, err.Error()
			}
			continue
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(c.r, p); err != nil {
			return -1, err.Error()
		}
		if n < 2 {
			return 1005, "" // no status
		}
		return int(binary.BigEndian.Uint16(p)), string(p[2:])
	}
}
