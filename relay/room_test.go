package relay_test

import (
	"bytes"
	"context"
	"fmt"
	"github.com/factlog/factlog/relay/relaytest"
	"github.com/factlog/factlog/relay/room"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/factlog/factlog/relay"
	"github.com/factlog/factlog/relay/protocol"
)

func TestPublishAckForward(t *testing.T) {
	r := startRelay(t, relay.Options{})
	a, b := dial(t, r.url("room")), dial(t, r.url("room"))
	wa, _ := a.Join(0, "")
	if wa.Epoch == "" || wa.Cursor != 0 || wa.Code != "" {
		t.Fatalf("welcome %+v", wa)
	}
	b.Join(0, "")
	a.Send(protocol.Envelope{Kind: protocol.Publish, ID: 7, Body: []byte("batch 1")})
	if ack := a.Recv(); ack.Kind != protocol.Ack || ack.ID != 7 || ack.Cursor != 1 {
		t.Fatalf("ack %+v", ack)
	}
	if d := b.Recv(); d.Kind != protocol.Deliver || d.Cursor != 1 || string(d.Body) != "batch 1" {
		t.Fatalf("delivery %+v", d)
	}
	// A third client joining later gets the backlog; one joining with a
	// cursor gets what follows it.
	c := dial(t, r.url("room"))
	a.Send(protocol.Envelope{Kind: protocol.Publish, ID: 8, Body: []byte("batch 2")})
	a.Recv()
	if _, backlog := c.Join(0, wa.Epoch); len(backlog) != 2 || string(backlog[1].Body) != "batch 2" {
		t.Fatalf("backlog %+v", backlog)
	}
	if _, backlog := dial(t, r.url("room")).Join(1, wa.Epoch); len(backlog) != 1 || backlog[0].Cursor != 2 {
		t.Fatalf("backlog after cursor 1: %+v", backlog)
	}
	// Other rooms see nothing of it.
	if _, backlog := dial(t, r.url("other")).Join(0, ""); len(backlog) != 0 {
		t.Fatalf("other room's backlog %+v", backlog)
	}
}

// TestSeam joins clients while others publish: each joiner sees every seq
// once, in order, across the backlog and live messages.
func TestSeam(t *testing.T) {
	r := startRelay(t, relay.Options{MessagesPerSecond: 1e6, MessageBurst: 1e6})
	const n = 300
	pub := dial(t, r.url("seam"))
	pub.Join(0, "")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			pub.Send(protocol.Envelope{Kind: protocol.Publish, ID: uint64(i + 1), Body: []byte(fmt.Sprint(i))})
		}
	}()
	for j := range 4 {
		c := dial(t, r.url("seam"))
		_, backlog := c.Join(0, "")
		seen := make([]uint64, 0, n)
		for _, e := range backlog {
			seen = append(seen, e.Cursor)
		}
		for len(seen) < n {
			e := c.Recv()
			if e.Kind != protocol.Deliver {
				t.Fatalf("joiner %d: %v", j, e.Kind)
			}
			seen = append(seen, e.Cursor)
		}
		for i, seq := range seen {
			if seq != uint64(i+1) {
				t.Fatalf("joiner %d saw seq %d at position %d (joined after %d in backlog)", j, seq, i, len(backlog))
			}
		}
	}
	wg.Wait()
}

func TestEpochAndTruncation(t *testing.T) {
	r := startRelay(t, relay.Options{})
	a := dial(t, r.url("room"))
	w, _ := a.Join(0, "")
	for i := range 5 {
		a.Send(protocol.Envelope{Kind: protocol.Publish, ID: uint64(i + 1), Body: []byte{byte(i)}})
		a.Recv()
	}
	// A client whose cursor came from another store starts over.
	got, backlog := dial(t, r.url("room")).Join(3, "another-epoch")
	if got.Code != protocol.EpochChanged || len(backlog) != 5 {
		t.Fatalf("other epoch: %+v, %d bodies", got, len(backlog))
	}
	// Retention removed seq 1–3: a client at cursor 1 is told so.
	if _, err := r.store.Trim(context.Background(), time.Time{}, 2*(1+room.BodyOverhead)); err != nil {
		t.Fatal(err)
	}
	got, backlog = dial(t, r.url("room")).Join(1, w.Epoch)
	if got.Code != protocol.Truncated || len(backlog) != 2 || backlog[0].Cursor != 4 {
		t.Fatalf("truncated: %+v, %+v", got, backlog)
	}
	got, backlog = dial(t, r.url("room")).Join(4, w.Epoch)
	if got.Code != "" || len(backlog) != 1 {
		t.Fatalf("cursor within what is kept: %+v, %d bodies", got, len(backlog))
	}
}

// TestRetentionEmptiesRoom: once retention removed every body of a room,
// a client behind is told truncated and gets an empty backlog, one at the
// last seq is not, and the next body follows the last seq.
func TestRetentionEmptiesRoom(t *testing.T) {
	r := startRelay(t, relay.Options{})
	a := dial(t, r.url("room"))
	w, _ := a.Join(0, "")
	for i := range 3 {
		a.Send(protocol.Envelope{Kind: protocol.Publish, ID: uint64(i + 1), Body: []byte{byte(i)}})
		a.Recv()
	}
	if n, err := r.store.Trim(context.Background(), time.Now().Add(time.Hour), 0); err != nil || n != 3 {
		t.Fatalf("retention removed %d (%v), want every body", n, err)
	}
	for _, cursor := range []uint64{0, 1} {
		got, backlog := dial(t, r.url("room")).Join(cursor, w.Epoch)
		if got.Code != protocol.Truncated || got.Cursor != 3 || len(backlog) != 0 {
			t.Fatalf("join at %d: %+v, %d bodies; want truncated at 3, none", cursor, got, len(backlog))
		}
	}
	b := dial(t, r.url("room"))
	if got, backlog := b.Join(3, w.Epoch); got.Code != "" || len(backlog) != 0 {
		t.Fatalf("join at the last seq: %+v, %d bodies", got, len(backlog))
	}
	a.Send(protocol.Envelope{Kind: protocol.Publish, ID: 4, Body: []byte{3}})
	if e := a.Recv(); e.Kind != protocol.Ack || e.Cursor != 4 {
		t.Fatalf("the next publish: %+v, want seq 4", e)
	}
	if e := b.Recv(); e.Kind != protocol.Deliver || e.Cursor != 4 {
		t.Fatalf("a member got %+v, want seq 4", e)
	}
}

func TestQuota(t *testing.T) {
	r := startRelay(t, relay.Options{MaxRoomBytes: 100 + 2*room.BodyOverhead})
	a := dial(t, r.url("room"))
	a.Join(0, "")
	a.Send(protocol.Envelope{Kind: protocol.Publish, ID: 1, Body: make([]byte, 80)})
	if e := a.Recv(); e.Kind != protocol.Ack {
		t.Fatalf("first publish: %+v", e)
	}
	a.Send(protocol.Envelope{Kind: protocol.Publish, ID: 2, Body: make([]byte, 30)})
	if e := a.Recv(); e.Kind != protocol.Error || e.ID != 2 || e.Code != protocol.QuotaExceeded {
		t.Fatalf("over quota: %+v", e)
	}
}

func TestTokens(t *testing.T) {
	secret := []byte("0123456789abcdef0123")
	r := startRelay(t, relay.Options{Secret: secret})
	mint := func(name string, mode room.Mode, ttl time.Duration) string {
		tok, err := room.MintToken(secret, name, mode, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	other, _ := room.MintToken([]byte("another secret, 16+ bytes"), "room", room.ReadWrite, time.Hour)
	for name, tok := range map[string]string{
		"missing":        "",
		"garbage":        "not.a.token",
		"wrong secret":   other,
		"expired":        mint("room", room.ReadWrite, -time.Minute),
		"for other room": mint("elsewhere", room.ReadWrite, time.Hour),
	} {
		// Accepted, and closed with the reason: a browser sees it (it
		// cannot see a 401 before the upgrade).
		code, reason := dial(t, r.url("room")+"?token="+tok).Closed()
		if code != protocol.CloseToken || !strings.HasPrefix(reason, room.ErrToken.Error()) {
			t.Errorf("%s token: closed with %d %q; want %d and why", name, code, reason, protocol.CloseToken)
		}
	}
	rw := dial(t, r.url("room")+"?token="+mint("room", room.ReadWrite, time.Hour))
	rw.Join(0, "")
	ro := dial(t, r.url("room")+"?token="+mint("room", room.ReadOnly, time.Hour))
	ro.Join(0, "")
	ro.Send(protocol.Envelope{Kind: protocol.Publish, ID: 1, Body: []byte("x")})
	if e := ro.Recv(); e.Kind != protocol.Error || e.Code != protocol.ReadOnly {
		t.Fatalf("read-only publish: %+v", e)
	}
	rw.Send(protocol.Envelope{Kind: protocol.Publish, ID: 1, Body: []byte("y")})
	rw.Recv()
	if e := ro.Recv(); e.Kind != protocol.Deliver || string(e.Body) != "y" {
		t.Fatalf("read-only member did not receive: %+v", e)
	}
}

func TestBadClients(t *testing.T) {
	r := startRelay(t, relay.Options{MaxFrame: 1 << 16})
	bystander := dial(t, r.url("room"))
	bystander.Join(0, "")
	ctx := context.Background()
	tests := []struct {
		name string
		send func(c *relaytest.Client)
		code websocket.StatusCode
		says string
	}{
		{"oversized frame", func(c *relaytest.Client) { c.WS.Write(ctx, websocket.MessageBinary, make([]byte, 1<<17)) }, websocket.StatusMessageTooBig, "read limited at 65537 bytes"},
		{"garbage", func(c *relaytest.Client) { c.WS.Write(ctx, websocket.MessageBinary, []byte("\xff\x00garbage")) }, websocket.StatusUnsupportedData, "malformed envelope"},
		{"text frame", func(c *relaytest.Client) { c.WS.Write(ctx, websocket.MessageText, []byte("hello")) }, websocket.StatusUnsupportedData, "binary CBOR"},
		{"publish before join", func(c *relaytest.Client) { c.Send(protocol.Envelope{Kind: protocol.Publish, ID: 1, Body: []byte("x")}) }, protocol.CloseProtocol, "unexpected publish"},
		{"two joins", func(c *relaytest.Client) {
			c.Join(0, "")
			c.Send(protocol.Envelope{Kind: protocol.Join})
		}, protocol.CloseProtocol, "unexpected join"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, r.url("room"))
			tt.send(c)
			code, reason := c.Closed()
			if code != tt.code || !strings.Contains(reason, tt.says) {
				t.Fatalf("closed with %d %q, want %d saying %q", code, reason, tt.code, tt.says)
			}
		})
	}
	// The room is unaffected.
	pub := dial(t, r.url("room"))
	pub.Join(0, "")
	pub.Send(protocol.Envelope{Kind: protocol.Publish, ID: 1, Body: []byte("still here")})
	pub.Recv()
	if e := bystander.Recv(); string(e.Body) != "still here" {
		t.Fatalf("bystander got %+v", e)
	}
}

func TestConnectionLimits(t *testing.T) {
	r := startRelay(t, relay.Options{MaxConns: 2, ConnsPerIPMinute: 1000})
	dial(t, r.url("a"))
	dial(t, r.url("b"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, r.url("c"), nil)
	if err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third connection: %v %v, want 503", err, resp)
	}
	r2 := startRelay(t, relay.Options{ConnsPerIPMinute: 3})
	for range 3 {
		dial(t, r2.url("a"))
	}
	_, resp, err = websocket.Dial(ctx, r2.url("a"), nil)
	if err == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fourth connection in a minute: %v %v, want 429", err, resp)
	}
	r3 := startRelay(t, relay.Options{MaxRooms: 1})
	dial(t, r3.url("one")).Join(0, "")
	c := dial(t, r3.url("two"))
	if code, _ := c.Closed(); code != websocket.StatusTryAgainLater {
		t.Fatalf("a room over the limit: %d", code)
	}
}

// TestSlowConsumer: a client that never reads is disconnected once its
// queue is full; the room keeps flowing to the others.
func TestSlowConsumer(t *testing.T) {
	r := startRelay(t, relay.Options{SendQueue: 64, MessagesPerSecond: 1e6, MessageBurst: 1e6})
	slow := dial(t, r.url("room"))
	slow.Join(0, "")
	fast := dial(t, r.url("room"))
	fast.Join(0, "")
	pub := dial(t, r.url("room"))
	pub.Join(0, "")
	body := bytes.Repeat([]byte("x"), 32<<10)
	const n = 400 // 12 MiB: more than the socket buffers hold
	go func() {   // one publish at a time, so the fast client sees no burst
		for i := range n {
			pub.WS.Write(context.Background(), websocket.MessageBinary, protocol.Encode(protocol.Envelope{Kind: protocol.Publish, ID: uint64(i + 1), Body: body}))
			if _, err := pub.Next(); err != nil {
				return
			}
		}
	}()
	for i := range n {
		e := fast.Recv()
		if e.Kind != protocol.Deliver || e.Cursor != uint64(i+1) {
			t.Fatalf("fast client at %d: %+v", i, e.Kind)
		}
	}
	code, reason := slow.Closed()
	if code != protocol.CloseSlow || !strings.Contains(reason, "resume from your cursor") {
		t.Fatalf("slow client closed with %d %q", code, reason)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	r := startRelay(t, relay.Options{})
	dial(t, r.url("room")).Join(0, "")
	for path, want := range map[string]string{"/healthz": "ok", "/metrics": "relay_connections 1"} {
		resp, err := http.Get("http://" + r.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(b.String(), want) {
			t.Errorf("GET %s: %d %q, want %q", path, resp.StatusCode, b.String(), want)
		}
	}
}

// TestShutdown closes connections with 1001.
func TestShutdown(t *testing.T) {
	r := startRelay(t, relay.Options{})
	c := dial(t, r.url("room"))
	c.Join(0, "")
	go r.srv.Close(context.Background())
	if code, _ := c.Closed(); code != websocket.StatusGoingAway {
		t.Fatalf("closed with %d, want 1001", code)
	}
}

// TestDotRoomsRefused: "." and ".." are dot segments, which a URL parser
// removes even percent-encoded (a browser's or Node's WebSocket dials
// /v1/rooms/%2e%2e as /v1/): the relay served them as rooms only Go
// clients could reach, and a link to one retried forever. They are
// refused with 400, as any other invalid name.
func TestDotRoomsRefused(t *testing.T) {
	r := startRelay(t, relay.Options{})
	for _, name := range []string{"%2e", "%2E%2e", ".%2e"} {
		ctx, cancel := context.WithTimeout(context.Background(), relaytest.Timeout)
		c, resp, err := websocket.Dial(ctx, r.url(name), nil)
		cancel()
		if err == nil {
			c.CloseNow()
		}
		if resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("/v1/rooms/%s: %v %v, want 400", name, err, resp)
		}
	}
	if _, backlog := dial(t, r.url("...")).Join(0, ""); len(backlog) != 0 { // not a dot segment: a room
		t.Fatalf("room ... holds %d bodies", len(backlog))
	}
}

// TestAddressQuota: the bytes one address keeps across rooms are capped,
// however many rooms and connections it fills them from; another address
// publishes to the same rooms, and retention gives the first its room
// again.
func TestAddressQuota(t *testing.T) {
	const body, cap = 1000, 5 * (1000 + room.BodyOverhead)
	r := startRelay(t, relay.Options{MaxBytesPerIP: cap, MaxRoomBytes: 100 << 10, MessagesPerSecond: 1e6, MessageBurst: 1e6})
	attacker := v6Host(t, r) // one IPv6 /64
	publish := func(c *relaytest.Client, id uint64) protocol.Envelope {
		c.Send(protocol.Envelope{Kind: protocol.Publish, ID: id, Body: bytes.Repeat([]byte{byte(id)}, body)})
		return c.Recv()
	}
	acked := 0
	for i := range 4 { // two bodies to each room it opens, until refused
		c := dial(t, "ws://"+attacker+fmt.Sprintf("/v1/rooms/fill-%d", i))
		c.Join(0, "")
		for id := uint64(1); id <= 2; id++ {
			switch e := publish(c, id); {
			case e.Kind == protocol.Ack:
				acked++
			case e.Kind == protocol.Error && e.Code == protocol.QuotaExceeded:
				if !strings.Contains(e.Text, "address") {
					t.Fatalf("refused with %q: say it is the address's quota", e.Text)
				}
			default:
				t.Fatalf("publish to room fill-%d: %+v", i, e)
			}
		}
	}
	if acked != 5 {
		t.Fatalf("the address kept %d bodies across rooms, want 5", acked)
	}
	// Another address has its own, in the first's rooms too.
	other := dial(t, r.url("fill-0"))
	other.Join(0, "")
	for id := uint64(1); id <= 5; id++ {
		if e := publish(other, id); e.Kind != protocol.Ack {
			t.Fatalf("another address's publish %d: %+v", id, e)
		}
	}
	// The count is the address's, not a connection's (and the store's,
	// which keeps it across restarts: TestAddrBytes in sqlitestore).
	again := dial(t, "ws://"+v6Host(t, r)+"/v1/rooms/fill-9")
	again.Join(0, "")
	if e := publish(again, 1); e.Kind != protocol.Error || e.Code != protocol.QuotaExceeded {
		t.Fatalf("after a restart: %+v, want quota_exceeded", e)
	}
	// Retention removes its bodies: it publishes again.
	if _, err := r.store.Trim(context.Background(), time.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	if e := publish(again, 2); e.Kind != protocol.Ack {
		t.Fatalf("after retention: %+v, want an ack", e)
	}
}

// TestAddressQuotaInFlight: publishes of one address to many rooms at
// once are counted while the store writes them, so together they keep no
// more than the cap.
func TestAddressQuotaInFlight(t *testing.T) {
	const body, cap = 1000, 5 * (1000 + room.BodyOverhead)
	r := startRelay(t, relay.Options{MaxBytesPerIP: cap, MessagesPerSecond: 1e6, MessageBurst: 1e6})
	attacker := v6Host(t, r)
	var clients []*relaytest.Client
	for i := range 8 {
		c := dial(t, "ws://"+attacker+fmt.Sprintf("/v1/rooms/many-%d", i))
		c.Join(0, "")
		clients = append(clients, c)
	}
	for _, c := range clients { // all sent before any answer is read
		for id := uint64(1); id <= 3; id++ {
			c.Send(protocol.Envelope{Kind: protocol.Publish, ID: id, Body: make([]byte, body)})
		}
	}
	acked := 0
	for _, c := range clients {
		for range 3 {
			switch e := c.Recv(); {
			case e.Kind == protocol.Ack:
				acked++
			case e.Kind != protocol.Error || e.Code != protocol.QuotaExceeded:
				t.Fatalf("%+v", e)
			}
		}
	}
	if acked != 5 {
		t.Fatalf("%d of 24 concurrent publishes kept, want 5", acked)
	}
}
