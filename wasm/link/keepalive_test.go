package link_test

import (
	"context"
	"fmt"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/factlog/factlog/relay/protocol"
	"github.com/factlog/factlog/wasm/link"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/todo"
)

// fakeConn is a relay that answers join, ping (within 5 ms) and publish
// (slowly: writing a publish takes writeDelay, as over a slow uplink).
type fakeConn struct {
	pipe
	seq        atomic.Uint64
	onPing     func()
	writeDelay time.Duration
}

func (c *fakeConn) reply(e protocol.Envelope) { c.send(protocol.Encode(e)) }

func (c *fakeConn) Write(ctx context.Context, p []byte) error {
	e, err := protocol.Decode(p)
	if err != nil {
		return err
	}
	switch e.Kind {
	case protocol.Join:
		go func() {
			c.reply(protocol.Envelope{Kind: protocol.Welcome, Epoch: "e", Cursor: c.seq.Load()})
			c.reply(protocol.Envelope{Kind: protocol.CaughtUp, Cursor: c.seq.Load()})
		}()
	case protocol.Ping:
		if c.onPing != nil {
			c.onPing()
		}
		go func() {
			time.Sleep(5 * time.Millisecond) // the relay answers within 5 ms
			c.reply(protocol.Envelope{Kind: protocol.Pong, ID: e.ID})
		}()
	case protocol.Publish:
		time.Sleep(c.writeDelay) // a slow uplink
		n := c.seq.Add(1)
		go c.reply(protocol.Envelope{Kind: protocol.Ack, ID: e.ID, Cursor: n})
	}
	return nil
}

// TestAnsweredPingKeepsConnection: the link pings and the relay answers
// in 5 ms, while a local change makes the link publish, and writing the
// publish takes longer than Timeout. When the write returns, the keepalive
// timer has expired and the pong waits in the read-ahead: the pong counts,
// and the connection stays.
func TestAnsweredPingKeepsConnection(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Schema: todo.Schema, Materializers: todo.LastWriterWins})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var dials atomic.Int32
	var mu gosync.Mutex
	var falseDeaths []string
	n := 0
	dial := func(ctx context.Context, url string, limit int64) (link.Conn, error) {
		dials.Add(1)
		c := &fakeConn{pipe: newPipe(64), writeDelay: 150 * time.Millisecond}
		c.onPing = func() {
			mu.Lock()
			n++
			i := n
			mu.Unlock()
			go s.Append(context.Background(), fmt.Sprint(i), "create", []byte(`"x"`)) // a local change, now
			time.Sleep(2 * time.Millisecond)
		}
		return c, nil
	}
	l, err := link.Start(s, link.Options{URL: "ws://fake/v1/rooms/r", Dial: dial, Keepalive: 30 * time.Millisecond, Timeout: 60 * time.Millisecond,
		MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond,
		OnStatus: func(st link.Status) {
			if strings.Contains(st.Error, "did not answer a ping") {
				mu.Lock()
				falseDeaths = append(falseDeaths, st.Error)
				mu.Unlock()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // some 15 pings, each a chance to get it wrong
	l.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(falseDeaths) > 0 {
		t.Fatalf("%d of %d pings (each answered in 5 ms) ended the connection as unanswered, %d dials: %s", len(falseDeaths), n, dials.Load(), falseDeaths[0])
	}
	t.Logf("%d pings, %d dials", n, dials.Load())
}
