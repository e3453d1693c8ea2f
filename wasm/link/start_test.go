package link_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/factlog/factlog/wasm/link"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/todo"
)

// TestStartRefusesNonRooms: a URL that names no room the relay would
// take (its path not /v1/rooms/{room}, or a room name the relay refuses
// with 400) is refused by Start, saying what to pass, instead of a link
// that retries forever (a browser cannot see the HTTP status of a failed
// handshake). A room name is the path's last segment, percent-decoded
// once, as the relay's router reads it.
func TestStartRefusesNonRooms(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Schema: todo.Schema, Materializers: todo.LastWriterWins})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	down := func(context.Context, string, int64) (link.Conn, error) { return nil, errors.New("down") }
	for _, url := range []string{
		"ws://relay.example/v1/rooms/todos",
		"wss://relay.example:8443/v1/rooms/a.b_c~d-e?token=t",
		"https://relay.example/v1/rooms/todos",
		"ws://relay.example/sync/v1/rooms/todos", // behind a reverse proxy at /sync
		"ws://relay.example/v1/rooms/to%64os",    // percent-encoded: the relay decodes it
		"ws://relay.example/v1/rooms/" + strings.Repeat("r", 128),
		"ws://relay.example/v1/rooms/...", // not a dot segment
		"ws://relay.example/v1/rooms/.todos",
	} {
		l, err := link.Start(s, link.Options{URL: url, Dial: down})
		if err != nil {
			t.Errorf("Start(%q): %v", url, err)
			continue
		}
		l.Close()
	}
	for url, want := range map[string]string{
		"ws://relay.example":                                      "/v1/rooms/ROOM",
		"ws://relay.example/":                                     "/v1/rooms/ROOM",
		"ws://relay.example/todos":                                "/v1/rooms/ROOM",
		"ws://relay.example/v1/rooms/":                            "1 to 128 letters",
		"ws://relay.example/v1/rooms/a/b":                         "/v1/rooms/ROOM",
		"ws://relay.example/v1/rooms/todos/":                      "/v1/rooms/ROOM",
		"ws://relay.example/v1/rooms/a%2Fb":                       `"a/b"`,
		"ws://relay.example/v1/rooms/my%20todos":                  `"my todos"`,
		"ws://relay.example/v1/rooms/caf%C3%A9":                   `"café"`,
		"ws://relay.example/v1/rooms/..":                          `"..": a room name is`,
		"ws://relay.example/v1/rooms/%2e%2e":                      `"..": a room name is`, // a WebSocket dials /v1/
		"ws://relay.example/v1/rooms/%2E":                         `".": a room name is`,
		"ws://relay.example/v1/rooms/" + strings.Repeat("r", 129): "1 to 128 letters",
		"ws:///v1/rooms/todos":                                    "ws:// or wss://",
	} {
		l, err := link.Start(s, link.Options{URL: url, Dial: down})
		if err == nil {
			l.Close()
			t.Errorf("Start(%q) started a link, want INVALID_ARGUMENT", url)
			continue
		}
		if store.Code(err) != store.CodeArgument || !strings.Contains(err.Error(), want) {
			t.Errorf("Start(%q) = %v (%s), want INVALID_ARGUMENT saying %s", url, err, store.Code(err), want)
		}
	}
}
