package relay_test

import (
	"bytes"
	"context"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/factlog/factlog/relay"
	"github.com/factlog/factlog/relay/protocol"
	"github.com/factlog/factlog/relay/relaytest"
	"github.com/factlog/factlog/relay/room"
)

// fill publishes n bodies of size bytes to a room, one at a time.
func fill(t *testing.T, r *relayServer, name string, n, size int) string {
	t.Helper()
	c := dial(t, r.url(name))
	w, _ := c.Join(0, "")
	body := bytes.Repeat([]byte("b"), size)
	for i := range n {
		c.Send(protocol.Envelope{Kind: protocol.Publish, ID: uint64(i + 1), Body: body})
		if e := c.Recv(); e.Kind != protocol.Ack {
			t.Fatalf("publish %d: %+v", i+1, e)
		}
	}
	c.WS.CloseNow()
	return w.Epoch
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestBacklogMemory (issue 12, finding 2): joiners that do not read a
// large backlog hold a bounded amount of the relay's memory each, not
// the backlog.
func TestBacklogMemory(t *testing.T) {
	const n, size, joiners = 48, 512 << 10, 4 // a 24 MiB backlog
	r := startRelay(t, relay.Options{MessagesPerSecond: 1e6, MessageBurst: 1e6})
	fill(t, r, "big", n, size)
	before := heapInUse()
	for range joiners {
		c := dial(t, r.url("big"))
		c.Send(protocol.Envelope{Kind: protocol.Join})
		// Does not read: the relay's writer blocks once the socket
		// buffers are full, holding what it read from the store.
	}
	// Let the writers run into the full sockets: wait until the relay
	// has sent what it can (frames_out stops growing).
	sentWhatItCan(t, r)
	grew := int64(heapInUse()) - int64(before)
	t.Logf("%d joiners of a %d MiB backlog: heap grew %d KiB", joiners, n*size>>20, grew>>10)
	if limit := int64(joiners * 6 << 20); grew > limit {
		t.Fatalf("the heap grew by %d MiB for %d joiners, over %d MiB", grew>>20, joiners, limit>>20)
	}
}

// TestTrimDuringJoin (issue 12, finding 4): retention that removes bodies
// while a backlog is being sent never leaves a silent gap: the joiner gets
// seqs without gap, then either CaughtUp or a close 4003, after which a
// join with its cursor is told Truncated.
func TestTrimDuringJoin(t *testing.T) {
	const n, size = 64, 512 << 10 // 32 MiB: more than the socket buffers
	r := startRelay(t, relay.Options{MessagesPerSecond: 1e6, MessageBurst: 1e6})
	epoch := fill(t, r, "trim", n, size)
	c := dial(t, r.url("trim"))
	c.Send(protocol.Envelope{Kind: protocol.Join})
	if w := c.Recv(); w.Kind != protocol.Welcome || w.Code != "" {
		t.Fatalf("welcome %+v", w)
	}
	if e := c.Recv(); e.Kind != protocol.Deliver || e.Cursor != 1 {
		t.Fatalf("first delivery %+v", e.Kind)
	}
	// The relay is now blocked sending the backlog; retention keeps the
	// last 4 bodies.
	removed, err := r.store.Trim(context.Background(), time.Time{}, 4*(size+room.BodyOverhead))
	if err != nil || removed != n-4 {
		t.Fatalf("trim removed %d (%v)", removed, err)
	}
	cursor := uint64(1)
	for {
		e, err := c.Next()
		if err != nil {
			if code := websocket.CloseStatus(err); code != protocol.CloseTruncated {
				t.Fatalf("after seq %d: %v (close %d), want a close %d", cursor, err, code, protocol.CloseTruncated)
			}
			break
		}
		if e.Kind == protocol.CaughtUp {
			break
		}
		if e.Kind != protocol.Deliver || e.Cursor != cursor+1 {
			t.Fatalf("after seq %d: %v %d (a silent gap)", cursor, e.Kind, e.Cursor)
		}
		cursor = e.Cursor
	}
	if cursor < n-4 {
		w, backlog := dial(t, r.url("trim")).Join(cursor, epoch)
		if w.Code != protocol.Truncated || len(backlog) != 4 || backlog[0].Cursor != n-3 {
			t.Fatalf("rejoin at %d: %+v, %d bodies", cursor, w, len(backlog))
		}
	}
	t.Logf("the joiner got seqs 1–%d, then the close", cursor)
}

// TestJoinTimeout (issue 12, finding 5): a connection that never joins is
// closed with 4002.
func TestJoinTimeout(t *testing.T) {
	r := startRelay(t, relay.Options{JoinTimeout: 200 * time.Millisecond})
	code, reason := dial(t, r.url("room")).Closed()
	if code != protocol.CloseProtocol {
		t.Fatalf("a silent connection closed with %d %q, want %d", code, reason, protocol.CloseProtocol)
	}
}

// TestPingTimeout (issue 12, finding 5): a member that stops answering
// (here: never reads, so never answers a ping) is dropped and frees its
// room's slot.
func TestPingTimeout(t *testing.T) {
	r := startRelay(t, relay.Options{MaxRooms: 1, PingInterval: 100 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	silent := dial(t, r.url("one"))
	silent.Join(0, "")
	// silent reads nothing from now on.
	deadline := time.Now().Add(relaytest.Timeout)
	for {
		c := dial(t, r.url("two"))
		c.Send(protocol.Envelope{Kind: protocol.Join})
		e, err := c.Next()
		if err == nil && e.Kind == protocol.Welcome {
			break
		}
		if code := websocket.CloseStatus(err); code != websocket.StatusTryAgainLater {
			t.Fatalf("join of another room: %+v %v", e, err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the silent member still holds the only room slot")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := metric(t, r, `relay_dropped_connections_total{reason="ping"}`); got != 1 {
		t.Fatalf("ping drops %v, want 1", got)
	}
}

// TestConnsPerIP (issue 12, finding 5): one address cannot hold more
// open connections, joined or not, than MaxConnsPerIP.
func TestConnsPerIP(t *testing.T) {
	r := startRelay(t, relay.Options{MaxConnsPerIP: 3})
	var cs []*relaytest.Client
	for i := range 3 {
		cs = append(cs, dial(t, r.url("room")))
		if i == 0 {
			cs[0].Join(0, "")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), relaytest.Timeout)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, r.url("other"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a fourth connection: %v %v, want 429", err, resp)
	}
	cs[1].WS.Close(websocket.StatusNormalClosure, "")
	for deadline := time.Now().Add(relaytest.Timeout); ; time.Sleep(20 * time.Millisecond) {
		ws, _, err := websocket.Dial(ctx, r.url("other"), nil)
		if err == nil {
			ws.CloseNow()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection after one closed: %v", err)
		}
	}
}

// TestBacklogsOfOneAddress: joins that never read their backlog, all
// from one address, cannot take every share of Options.Backlogs: a
// client of another address still gets its room's backlog at once, not
// after the non-readers are dropped as too slow. (One address could hold
// the relay's every share, reconnecting as fast as it was dropped, and no
// join in any room got its welcome.)
func TestBacklogsOfOneAddress(t *testing.T) {
	const n, size = 64, 512 << 10 // 32 MiB: more than the socket buffers
	share := int64(2*room.ReadPage + 2*protocol.MaxFrame)
	r := startRelay(t, relay.Options{MessagesPerSecond: 1e6, MessageBurst: 1e6, Backlogs: 2 * share,
		BacklogsPerIP: 1, WriteTimeout: time.Minute})
	fill(t, r, "big", n, size)
	fill(t, r, "small", 1, 10)
	// The attacker: one IPv6 /64, through a listener of its own.
	attacker := v6Host(t, r)
	for range 3 {
		c := dial(t, "ws://"+attacker+"/v1/rooms/big")
		c.Send(protocol.Envelope{Kind: protocol.Join}) // and never reads
	}
	// Let the attacker's writers run into their full sockets.
	sentWhatItCan(t, r)
	if _, backlog := dial(t, r.url("small")).Join(0, ""); len(backlog) != 1 {
		t.Fatalf("the other client got %d bodies, want 1", len(backlog))
	}
	if d := metric(t, r, `relay_dropped_connections_total{reason="slow"}`); d != 0 {
		t.Fatalf("%v non-readers dropped: the join waited for them", d)
	}
}

// TestWaitingJoinerLeaves: a client that goes away while its join waits
// for its turn to be sent a backlog leaves at once: its connection no
// longer counts against its address's (it did until a turn came, which a
// non-reader could hold for a minute).
func TestWaitingJoinerLeaves(t *testing.T) {
	const n, size = 64, 512 << 10 // 32 MiB: more than the socket buffers
	r := startRelay(t, relay.Options{MessagesPerSecond: 1e6, MessageBurst: 1e6, MaxConnsPerIP: 2,
		Backlogs: int64(2*room.ReadPage + 2*protocol.MaxFrame), WriteTimeout: time.Minute})
	fill(t, r, "big", n, size)
	holder := dial(t, r.url("big"))
	holder.Send(protocol.Envelope{Kind: protocol.Join}) // and never reads: it holds the only turn
	if w := holder.Recv(); w.Kind != protocol.Welcome {
		t.Fatalf("welcome %+v", w)
	}
	waiter := dial(t, r.url("big"))
	waiter.Send(protocol.Envelope{Kind: protocol.Join})
	waiter.WS.CloseNow()
	for deadline := time.Now().Add(relaytest.Timeout); ; time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), relaytest.Timeout)
		ws, _, err := websocket.Dial(ctx, r.url("other"), nil)
		cancel()
		if err == nil {
			ws.CloseNow()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the waiter's connection still counts: %v", err)
		}
	}
}

// sentWhatItCan waits (up to 20 s) until the relay's writers have run into
// their clients' full sockets: relay_bytes_out_total stops growing.
func sentWhatItCan(t *testing.T, r *relayServer) {
	t.Helper()
	var last float64 = -1
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		out := metric(t, r, "relay_bytes_out_total")
		if out == last && out > 0 {
			return
		}
		last = out
	}
}
