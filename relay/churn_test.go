package relay_test

import (
	"context"
	"github.com/factlog/factlog/relay/room"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/factlog/factlog/relay"
	"github.com/factlog/factlog/relay/protocol"
)

// TestChurn: 10,000 cycles of connect, join, disconnect and refused
// tokens leave goroutines and the heap where they were.
func TestChurn(t *testing.T) {
	secret := []byte("0123456789abcdef0123")
	r := startRelay(t, relay.Options{Secret: secret, ConnsPerIPMinute: 1 << 30})
	tok, err := room.MintToken(secret, "room", room.ReadWrite, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cycles := 10_000
	if testing.Short() {
		cycles = 1_000
	}
	measure := func() (int, uint64) {
		deadline := time.Now().Add(10 * time.Second)
		var n int
		for {
			runtime.GC()
			n = runtime.NumGoroutine()
			if n <= baseGoroutines+2 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return n, m.HeapAlloc
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: -1}}
	cycle := func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if i%2 == 1 {
			ws, _, err := websocket.Dial(ctx, r.url("room")+"?token=wrong", &websocket.DialOptions{HTTPClient: client})
			if err != nil {
				t.Fatalf("cycle %d: a wrong token: %v", i, err)
			}
			if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != protocol.CloseToken {
				t.Fatalf("cycle %d: a wrong token got %v, want a close with %d", i, err, protocol.CloseToken)
			}
			return
		}
		ws, _, err := websocket.Dial(ctx, r.url("room")+"?token="+tok, &websocket.DialOptions{HTTPClient: client})
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		ws.Write(ctx, websocket.MessageBinary, protocol.Encode(protocol.Envelope{Kind: protocol.Join}))
		ws.Read(ctx) // welcome
		ws.Close(websocket.StatusNormalClosure, "")
	}
	for i := range 200 { // warm up pools and caches
		cycle(i)
	}
	g0, h0 := measure()
	for i := range cycles {
		cycle(i)
	}
	g1, h1 := measure()
	t.Logf("goroutines %d → %d, heap %d kB → %d kB", g0, g1, h0>>10, h1>>10)
	if g1 > g0+2 {
		t.Errorf("goroutines grew from %d to %d", g0, g1)
	}
	if h1 > h0+4<<20 {
		t.Errorf("heap grew from %d kB to %d kB", h0>>10, h1>>10)
	}
}
