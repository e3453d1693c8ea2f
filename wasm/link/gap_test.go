package link_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/factlog/factlog/relay/protocol"
	"github.com/factlog/factlog/wasm/link"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
	"github.com/factlog/factlog/wasm/todo"
)

// scriptConn is a relay that answers a join with what script returns for
// the join's cursor (the messages, in order), then stays silent.
type scriptConn struct {
	pipe
	script func(cursor uint64) [][]byte
}

func (c *scriptConn) Write(ctx context.Context, p []byte) error {
	e, err := protocol.Decode(p)
	if err != nil {
		return err
	}
	if e.Kind == protocol.Join {
		msgs := c.script(e.Cursor)
		go func() {
			for _, m := range msgs {
				if !c.send(m) {
					return
				}
			}
		}()
	}
	return nil
}

// roomOf makes a room of n bodies, one event each of another replica.
func roomOf(t *testing.T, n int) ([][]byte, *store.Store) {
	t.Helper()
	ctx := context.Background()
	src, err := store.Open(ctx, store.Options{Schema: todo.Schema, Materializers: todo.LastWriterWins})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	var bodies [][]byte
	have := sync.VersionVector{}
	for i := range n {
		if _, err := src.Append(ctx, fmt.Sprint(i), "create", []byte(`"x"`)); err != nil {
			t.Fatal(err)
		}
		chunks, err := src.ExportChunks(ctx, have, 1<<20)
		if err != nil || len(chunks) != 1 {
			t.Fatalf("export: %d chunks, %v", len(chunks), err)
		}
		bodies = append(bodies, chunks[0])
		if have, err = src.VersionVector(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return bodies, src
}

func env(e protocol.Envelope) []byte { return protocol.Encode(e) }

// TestRelayGapNotSkipped: a relay that skips a seq (it sends seq 3 after
// seq 1) breaks the protocol's promise of no gap; the link does not move
// its cursor past the seq it never got — it would resume after it and
// never get that body — but says so and reconnects from its cursor.
func TestRelayGapNotSkipped(t *testing.T) {
	ctx := context.Background()
	bodies, src := roomOf(t, 3)
	s, err := store.Open(ctx, store.Options{Schema: todo.Schema, Materializers: todo.LastWriterWins})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu gosync.Mutex
	var joins []uint64
	var errs []string
	dial := func(context.Context, string, int64) (link.Conn, error) {
		return &scriptConn{pipe: newPipe(8), script: func(cursor uint64) [][]byte {
			mu.Lock()
			joins = append(joins, cursor)
			first := len(joins) == 1
			mu.Unlock()
			msgs := [][]byte{env(protocol.Envelope{Kind: protocol.Welcome, Epoch: "e", Cursor: 3})}
			for seq := cursor + 1; seq <= 3; seq++ {
				if first && seq == 2 {
					continue // the gap
				}
				msgs = append(msgs, env(protocol.Envelope{Kind: protocol.Deliver, Cursor: seq, Body: bodies[seq-1]}))
			}
			return append(msgs, env(protocol.Envelope{Kind: protocol.CaughtUp, Cursor: 3}))
		}}, nil
	}
	online := make(chan struct{})
	var once gosync.Once
	l, err := link.Start(s, link.Options{URL: "ws://fake/v1/rooms/r", Dial: dial, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		OnStatus: func(st link.Status) {
			mu.Lock()
			if st.Error != "" {
				errs = append(errs, st.Error)
			}
			mu.Unlock()
			if st.State == link.Online && st.Cursor == 3 {
				once.Do(func() { close(online) })
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	select {
	case <-online:
	case <-time.After(10 * time.Second):
		t.Fatalf("the link is not online at seq 3: %+v", l.Status())
	}
	want, err := src.VersionVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	have, err := s.VersionVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if have.Seq(src.Peer()) != want.Seq(src.Peer()) || have.Seq(src.Peer()) != 3 {
		t.Fatalf("the link is online at seq 3 holding the other replica's events up to %d of 3 (joins at %v)", have.Seq(src.Peer()), joins)
	}
	said := false
	for _, e := range errs {
		said = said || strings.Contains(e, "skipped")
	}
	if !said || len(joins) != 2 || joins[1] != 1 {
		t.Fatalf("joins at %v, errors %q: want a second join at seq 1 after an error saying the relay skipped seq 2", joins, errs)
	}
}

// endingConn is a relay that answers a join with a welcome and the
// room's bodies from the join's cursor, one message each, and then
// fails, as a connection that ends does.
type endingConn struct {
	in     [][]byte
	joins  chan uint64
	bodies [][]byte
}

func (c *endingConn) Read(ctx context.Context) ([]byte, error) {
	if len(c.in) == 0 {
		return nil, errors.New("connection reset")
	}
	b := c.in[0]
	c.in = c.in[1:]
	return b, nil
}

func (c *endingConn) Write(ctx context.Context, p []byte) error {
	e, err := protocol.Decode(p)
	if err != nil {
		return err
	}
	if e.Kind == protocol.Join {
		c.joins <- e.Cursor
		c.in = append(c.in, env(protocol.Envelope{Kind: protocol.Welcome, Epoch: "e", Cursor: uint64(len(c.bodies))}))
		for seq := e.Cursor + 1; seq <= uint64(len(c.bodies)); seq++ {
			c.in = append(c.in, env(protocol.Envelope{Kind: protocol.Deliver, Cursor: seq, Body: c.bodies[seq-1]}))
		}
	}
	return nil
}

func (c *endingConn) Close(int, string) error { return nil }

// TestEndedConnectionsBodiesImported: what the relay sent before its
// connection ended is imported before the link reconnects, all of it:
// the next join resumes after the last body sent, not before bodies the
// link had read and dropped.
func TestEndedConnectionsBodiesImported(t *testing.T) {
	ctx := context.Background()
	bodies, _ := roomOf(t, 40)
	for round := range 5 {
		s, err := store.Open(ctx, store.Options{Schema: todo.Schema, Materializers: todo.LastWriterWins})
		if err != nil {
			t.Fatal(err)
		}
		joins := make(chan uint64, 16)
		dial := func(context.Context, string, int64) (link.Conn, error) {
			return &endingConn{joins: joins, bodies: bodies}, nil
		}
		l, err := link.Start(s, link.Options{URL: "ws://fake/v1/rooms/r", Dial: dial, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			select {
			case cursor := <-joins:
				if want := uint64(i * len(bodies)); cursor != want {
					t.Fatalf("round %d: join %d at seq %d, want %d: bodies the link read before the connection ended were dropped", round, i+1, cursor, want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("round %d: no join %d", round, i+1)
			}
		}
		l.Close()
		s.Close()
	}
}
