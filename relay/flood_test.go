package relay_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/factlog/factlog/relay"
	"github.com/factlog/factlog/relay/protocol"
	"github.com/factlog/factlog/relay/relaytest"
	"github.com/factlog/factlog/relay/room"
)

// metric reads one sample of the relay's /metrics ("name" or
// `name{label="value"}`), 0 when absent.
func metric(t *testing.T, r *relayServer, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + r.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

// flood publishes n bodies of size bytes without waiting for answers, and
// returns the answers (acks and errors), in order.
func flood(t *testing.T, c *relaytest.Client, n, size int) []protocol.Envelope {
	t.Helper()
	body := bytes.Repeat([]byte("f"), size)
	go func() {
		for i := range n {
			msg := protocol.Encode(protocol.Envelope{Kind: protocol.Publish, ID: uint64(i + 1), Body: body})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := c.WS.Write(ctx, websocket.MessageBinary, msg)
			cancel()
			if err != nil {
				return
			}
		}
	}()
	var out []protocol.Envelope
	for range n {
		out = append(out, c.Recv())
	}
	return out
}

// TestFloodIsBounded (issue 12, finding 1): a client publishing large
// bodies as fast as it can is pushed back, not queued without end; the
// room's quota counts what is on its way to the store, so the room never
// keeps more than its quota; and a publish in another room is
// acknowledged while the flood goes on.
func TestFloodIsBounded(t *testing.T) {
	const quota, size = 8 << 20, 256 << 10
	r := startRelay(t, relay.Options{MaxRoomBytes: quota, RoomPending: 1 << 20, Pending: 2 << 20,
		MessagesPerSecond: 1e6, MessageBurst: 1e6})
	flooder := dial(t, r.url("flooded"))
	flooder.Join(0, "")
	other := dial(t, r.url("other"))
	other.Join(0, "")
	var wg sync.WaitGroup
	var answers []protocol.Envelope
	wg.Add(1)
	go func() {
		defer wg.Done()
		answers = flood(t, flooder, 3*quota/size, size)
	}()
	for i := range 20 { // the other room keeps working
		other.Send(protocol.Envelope{Kind: protocol.Publish, ID: uint64(i + 1), Body: []byte("small")})
		if e := other.Recv(); e.Kind != protocol.Ack {
			t.Fatalf("publish %d in another room during a flood: %+v", i+1, e)
		}
	}
	wg.Wait()
	acked := 0
	for _, e := range answers {
		switch {
		case e.Kind == protocol.Ack:
			acked++
		case e.Kind == protocol.Error && e.Code == protocol.QuotaExceeded:
		default:
			t.Fatalf("flood answer %+v", e)
		}
	}
	st, err := r.store.Stats(context.Background(), "flooded")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of %d acknowledged; the room keeps %d bytes (quota %d)", acked, len(answers), st.Bytes, quota)
	if st.Bytes > quota || int64(acked*(size+room.BodyOverhead)) != st.Bytes {
		t.Fatalf("the room keeps %d bytes in %d acknowledged bodies; quota %d", st.Bytes, acked, quota)
	}
	if p := metric(t, r, "relay_store_pending_bytes"); p != 0 {
		t.Fatalf("%v bytes still pending after every answer", p)
	}
}

// TestEmptyPublish (issue 12, finding 3): a publish without a body is
// refused with bad_request, and publishes of other clients in other rooms,
// stored meanwhile, all succeed.
func TestEmptyPublish(t *testing.T) {
	r := startRelay(t, relay.Options{MessagesPerSecond: 1e6, MessageBurst: 1e6})
	bad := dial(t, r.url("bad"))
	bad.Join(0, "")
	good := dial(t, r.url("good"))
	good.Join(0, "")
	const n = 200
	done := make(chan error, 1)
	go func() {
		for i := range n {
			bad.Send(protocol.Envelope{Kind: protocol.Publish, ID: uint64(i + 1)})
			if e, err := bad.Next(); err != nil || e.Kind != protocol.Error || e.Code != protocol.BadRequest {
				done <- fmt.Errorf("empty publish %d: %+v, %v", i+1, e, err)
				return
			}
		}
		done <- nil
	}()
	for i := range n {
		good.Send(protocol.Envelope{Kind: protocol.Publish, ID: uint64(i + 1), Body: []byte("ok")})
		if e := good.Recv(); e.Kind != protocol.Ack {
			t.Fatalf("publish %d in another room: %+v", i+1, e)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := metric(t, r, `relay_refused_publishes_total{code="bad_request"}`); got != n {
		t.Fatalf("refused publishes metric %v, want %d", got, n)
	}
}

// TestDeliverFitsFrame (issue 12, finding 10): a member whose read limit
// is the documented frame limit can read every Deliver: a body whose
// Deliver would not fit is refused with too_large.
func TestDeliverFitsFrame(t *testing.T) {
	r := startRelay(t, relay.Options{})
	pub, sub := dial(t, r.url("room")), dial(t, r.url("room"))
	sub.WS.SetReadLimit(protocol.MaxFrame)
	pub.Join(0, "")
	sub.Join(0, "")
	// The largest publish that fits a frame, with a small id.
	overhead := len(protocol.Encode(protocol.Envelope{Kind: protocol.Publish, ID: 1, Body: make([]byte, protocol.MaxFrame)})) - protocol.MaxFrame
	body := make([]byte, protocol.MaxFrame-overhead)
	pub.Send(protocol.Envelope{Kind: protocol.Publish, ID: 1, Body: body})
	if e := pub.Recv(); e.Kind != protocol.Error || e.Code != protocol.TooLarge {
		t.Fatalf("publish of %d bytes: %+v, want too_large", len(body), e)
	}
	body = body[:protocol.MaxBody(protocol.MaxFrame)]
	pub.Send(protocol.Envelope{Kind: protocol.Publish, ID: 2, Body: body})
	if e := pub.Recv(); e.Kind != protocol.Ack {
		t.Fatalf("publish of %d bytes: %+v", len(body), e)
	}
	if e := sub.Recv(); e.Kind != protocol.Deliver || len(e.Body) != len(body) {
		t.Fatalf("delivery: %v with %d bytes", e.Kind, len(e.Body))
	}
}

// TestPacedClientStays: PROTOCOL.md promises that a client publishing
// faster than its rate is slowed down, not cut off. While the relay holds
// its reader, the client's answer to a ping waits behind the publishes it
// sent before it: the relay must not take that for a dead client.
func TestPacedClientStays(t *testing.T) {
	r := startRelay(t, relay.Options{MessagesPerSecond: 200, MessageBurst: 100,
		PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	c := dial(t, r.url("paced"))
	c.Join(0, "")
	const n = 500 // two seconds at the rate, a ping every 300 ms
	for i, e := range flood(t, c, n, 1) {
		if e.Kind != protocol.Ack {
			t.Fatalf("answer %d: %+v", i+1, e)
		}
	}
	if d := metric(t, r, `relay_dropped_connections_total{reason="ping"}`); d != 0 {
		t.Fatalf("%v connections dropped for pings", d)
	}
}

// TestBodyOverPending: a body larger than what all rooms may have on its
// way to the store (Options.Pending, below the frame limit) is stored
// alone rather than waiting forever for room that cannot come, and the
// connection is released when its client leaves.
func TestBodyOverPending(t *testing.T) {
	r := startRelay(t, relay.Options{Pending: 64 << 10, MessagesPerSecond: 1e6, MessageBurst: 1e6})
	c := dial(t, r.url("big"))
	c.Join(0, "")
	c.Send(protocol.Envelope{Kind: protocol.Publish, ID: 1, Body: make([]byte, 100<<10)})
	if e := c.Recv(); e.Kind != protocol.Ack {
		t.Fatalf("a 100 KiB publish with Pending at 64 KiB: %+v", e)
	}
	c.WS.CloseNow()
	for i := 0; metric(t, r, "relay_connections") != 0; i++ {
		if i == 100 {
			t.Fatal("the connection is still counted 5 s after its client left")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
