package link_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	gosync "sync"
	"testing"
	"time"

	"github.com/factlog/factlog/relay/protocol"
	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/link"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
	"github.com/factlog/factlog/wasm/todo"
)

// ackRoom is a room whose one replica is the link's: a connection gets
// the welcome, the backlog and caught_up in one message, as the relay
// sends a short backlog, then an ack for each publish. The events
// published go to published.
type ackRoom struct {
	mu        gosync.Mutex
	bodies    [][]byte // seq n holds bodies[n-1]
	published chan event.ID
}

func (r *ackRoom) dial(context.Context, string, int64) (link.Conn, error) {
	return &ackConn{pipe: newPipe(16), room: r}, nil
}

type ackConn struct {
	pipe
	room *ackRoom
}

func (c *ackConn) Write(ctx context.Context, p []byte) error {
	e, err := protocol.Decode(p)
	if err != nil {
		return err
	}
	r := c.room
	r.mu.Lock()
	defer r.mu.Unlock()
	var reply []byte
	switch e.Kind {
	case protocol.Join:
		seq := uint64(len(r.bodies))
		reply = env(protocol.Envelope{Kind: protocol.Welcome, Epoch: "e", Cursor: seq})
		for n := e.Cursor + 1; n <= seq; n++ {
			reply = append(reply, env(protocol.Envelope{Kind: protocol.Deliver, Cursor: n, Body: r.bodies[n-1]})...)
		}
		reply = append(reply, env(protocol.Envelope{Kind: protocol.CaughtUp, Cursor: seq})...)
	case protocol.Publish:
		b, err := sync.Decode(e.Body)
		if err != nil {
			return err
		}
		for _, ev := range b.Events {
			r.published <- ev.ID
		}
		r.bodies = append(r.bodies, e.Body)
		reply = env(protocol.Envelope{Kind: protocol.Ack, ID: e.ID, Cursor: uint64(len(r.bodies))})
	default:
		return nil
	}
	if !c.send(reply) {
		return errors.New("closed")
	}
	return nil
}

// TestAppendAsLinkJoinsPublished: an append made while a link joins goes
// to the room without waiting for another write, wherever it falls
// against the session's first publish. (An append just after the first
// publish's export, before the link listened for appends, stayed here
// until the next append or connection.)
func TestAppendAsLinkJoinsPublished(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Schema: todo.Schema, Materializers: todo.LastWriterWins})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	room := &ackRoom{published: make(chan event.ID, 16)}
	for i := range 400 {
		appended := make(chan event.ID, 1)
		var once gosync.Once
		l, err := link.Start(s, link.Options{URL: "ws://fake/v1/rooms/r", Dial: room.dial,
			OnStatus: func(st link.Status) {
				if st.State != link.Online {
					return
				}
				// Online is said just before the first publish: an append
				// starts up to 20 µs later, as that publish runs or just
				// after (the window the link once missed).
				once.Do(func() {
					go func() {
						for until := time.Now().Add(time.Duration(rand.N(20)) * time.Microsecond); time.Now().Before(until); {
						}
						ev, err := s.Append(ctx, fmt.Sprint(i), "create", []byte(`"x"`))
						if err != nil {
							t.Error(err)
						}
						appended <- ev.ID
					}()
				})
			}})
		if err != nil {
			t.Fatal(err)
		}
		var id event.ID
		select {
		case id = <-appended:
		case <-time.After(10 * time.Second):
			t.Fatalf("join %d: the link did not come online: %+v", i, l.Status())
		}
		for sent := false; !sent; {
			select {
			case got := <-room.published:
				sent = got == id
			case <-time.After(10 * time.Second):
				t.Fatalf("join %d: an append made as the link joined was not published within 10 s (status %+v)", i, l.Status())
			}
		}
		l.Close()
	}
}
