package protocol

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRoundTrip(t *testing.T) {
	for _, e := range []Envelope{
		{Kind: Join},
		{Kind: Join, Cursor: 42, Epoch: "e1"},
		{Kind: Publish, ID: 7, Body: []byte{1, 2, 3}},
		{Kind: Welcome, Epoch: "e1", Cursor: 100, Code: EpochChanged},
		{Kind: Deliver, Cursor: 1 << 40, Body: make([]byte, 1000)},
		{Kind: Error, ID: 3, Code: QuotaExceeded, Text: "room is full"},
	} {
		got, err := Decode(Encode(e))
		e.V = Version
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Errorf("Decode(Encode(%+v)) = %+v, %v", e, got, err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":         {},
		"not a map":     {0x01},
		"version 2":     {0xa2, 0x00, 0x02, 0x01, 0x01},
		"unknown kind":  {0xa2, 0x00, 0x01, 0x01, 0x09},
		"unknown field": {0xa3, 0x00, 0x01, 0x01, 0x01, 0x09, 0x01},
		"duplicate key": {0xa3, 0x00, 0x01, 0x01, 0x01, 0x01, 0x02},
		"trailing":      append(Encode(Envelope{Kind: Join}), 0),
	} {
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Decode() error = %v, want %v", name, err, ErrMalformed)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(Envelope{Kind: Join, Cursor: 1, Epoch: "x"}))
	f.Add(Encode(Envelope{Kind: Publish, ID: 1, Body: []byte("batch")}))
	f.Add(Encode(Envelope{Kind: Deliver, Cursor: 9, Body: []byte{0xff}}))
	f.Add([]byte{0xbf, 0xff})
	f.Add([]byte{0xa1, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Decode(Encode(e))
		if err != nil || !reflect.DeepEqual(again, e) {
			t.Fatalf("decoded %+v, which does not round-trip (%v)", e, err)
		}
	})
}

func TestDecodeAll(t *testing.T) {
	a, b := Envelope{Kind: Deliver, Cursor: 1, Body: []byte("x")}, Envelope{Kind: CaughtUp, Cursor: 1}
	got, err := DecodeAll(append(Encode(a), Encode(b)...))
	if err != nil || len(got) != 2 || got[0].Cursor != 1 || got[1].Kind != CaughtUp {
		t.Fatalf("DecodeAll = %+v, %v", got, err)
	}
	for _, bad := range [][]byte{nil, append(Encode(a), 0xff)} {
		if _, err := DecodeAll(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeAll(%x) error = %v", bad, err)
		}
	}
}

// TestMaxBody: a Deliver of the largest body a relay accepts, with the
// largest cursor, fits the frame (issue 12, finding 10).
func TestMaxBody(t *testing.T) {
	for _, frame := range []int{MaxFrame, 1 << 16, 300} {
		b := Encode(Envelope{Kind: Deliver, Cursor: ^uint64(0), Body: make([]byte, MaxBody(frame))})
		if len(b) > frame {
			t.Errorf("a Deliver of MaxBody(%d) = %d bytes takes %d bytes", frame, MaxBody(frame), len(b))
		}
		p := Encode(Envelope{Kind: Publish, ID: ^uint64(0), Body: make([]byte, MaxBody(frame))})
		if len(p) > frame {
			t.Errorf("a Publish of MaxBody(%d) takes %d bytes", frame, len(p))
		}
	}
}

func TestCloseReason(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	for _, s := range []string{"", "short", strings.Repeat("x", 123), strings.Repeat("x", 124), long} {
		got := CloseReason(s)
		if len(got) > MaxCloseReason || !utf8.ValidString(got) || !strings.HasPrefix(s, got) || (len(s) <= MaxCloseReason && got != s) {
			t.Errorf("CloseReason(%d bytes) = %d bytes %q", len(s), len(got), got)
		}
	}
}

func TestRoomOf(t *testing.T) {
	for _, c := range []struct {
		path, name string
		ok, valid  bool
	}{
		{"/v1/rooms/todos", "todos", true, true},
		{"/relay/v1/rooms/todos", "todos", true, true}, // behind a proxy at /relay
		{"/v1/rooms/a%2Db", "a-b", true, true},         // encoded, decoded as the router does
		{"/v1/rooms/" + strings.Repeat("r", MaxRoom), strings.Repeat("r", MaxRoom), true, true},
		{"/v1/rooms/" + strings.Repeat("r", MaxRoom+1), strings.Repeat("r", MaxRoom+1), true, false},
		{"/v1/rooms/a%2Fb", "a/b", true, false},
		{"/v1/rooms/a%20b", "a b", true, false},
		{"/v1/rooms/caf%C3%A9", "café", true, false},
		{"/v1/rooms/a%2", "a%2", true, false},
		{"/v1/rooms/...", "...", true, true},
		{"/v1/rooms/.a", ".a", true, true},
		// Dot segments: a URL parser removes them, encoded too
		// (/v1/rooms/%2e%2e is /v1/ to a browser's WebSocket).
		{"/v1/rooms/.", ".", true, false},
		{"/v1/rooms/..", "..", true, false},
		{"/v1/rooms/%2e", ".", true, false},
		{"/v1/rooms/%2E%2e", "..", true, false},
		{"/v1/rooms/.%2e", "..", true, false},
		{"/v1/rooms/", "", true, false},
		{"/v1/rooms/a/b", "", false, false},
		{"/v1/rooms/a/", "", false, false},
		{"/v1/room/a", "", false, false},
		{"/todos", "", false, false},
		{"", "", false, false},
	} {
		name, ok := RoomOf(c.path)
		if name != c.name || ok != c.ok || ValidRoom(name) != c.valid {
			t.Errorf("RoomOf(%q) = %q, %v (valid %v), want %q, %v (valid %v)", c.path, name, ok, ValidRoom(name), c.name, c.ok, c.valid)
		}
	}
}
