package event

import (
	"errors"
	"strings"
	"testing"
)

func valid() Event {
	e := Event{Peer: PeerID{1}, Seq: 1, Clock: 1, Time: 1700000000000, Item: "1", Type: "create", Value: []byte(`"make pasta"`)}
	e.ID = e.Hash()
	return e
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Event)
		reason error
	}{
		{"valid", func(*Event) {}, nil},
		{"seq 0", func(e *Event) { e.Seq = 0 }, ErrField},
		{"empty type", func(e *Event) { e.Type = "" }, ErrField},
		{"long type", func(e *Event) { e.Type = strings.Repeat("t", MaxTypeBytes+1) }, ErrTooLarge},
		{"long item", func(e *Event) { e.Item = strings.Repeat("i", MaxItemBytes+1) }, ErrTooLarge},
		{"invalid UTF-8", func(e *Event) { e.Item = "\xff" }, ErrField},
		{"too many parents", func(e *Event) { e.Parents, e.Clock = make([]ID, MaxParents+1), 2 }, ErrTooLarge},
		{"unsorted parents", func(e *Event) { e.Parents, e.Clock = []ID{{2}, {1}}, 2 }, ErrParents},
		{"duplicate parents", func(e *Event) { e.Parents, e.Clock = []ID{{1}, {1}}, 2 }, ErrParents},
		{"root with clock 2", func(e *Event) { e.Clock = 2 }, ErrClock},
		{"child with clock 1", func(e *Event) { e.Parents = []ID{{1}} }, ErrClock},
		{"value not JSON", func(e *Event) { e.Value = []byte(`{`) }, ErrValue},
		{"value not canonical", func(e *Event) { e.Value = []byte(`{"b":1, "a":2}`) }, ErrValue},
		{"value too large", func(e *Event) { e.Value = []byte(`"` + strings.Repeat("v", MaxValueBytes) + `"`) }, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := valid()
			tt.change(&e)
			e.ID = e.Hash()
			err := e.Check()
			if !errors.Is(err, tt.reason) || (tt.reason == nil) != (err == nil) {
				t.Fatalf("Check() = %v, want %v", err, tt.reason)
			}
			var invalid *InvalidError
			if err != nil && (!errors.As(err, &invalid) || invalid.ID != e.ID) {
				t.Fatalf("Check() = %#v, want an *InvalidError naming the event", err)
			}
		})
	}
}

func TestCheckHash(t *testing.T) {
	e := valid()
	e.Value = []byte(`"cook"`)
	if err := e.Check(); !errors.Is(err, ErrHash) {
		t.Fatalf("Check() of a changed event = %v, want %v", err, ErrHash)
	}
}

func TestCanonicalValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, `null`},
		{` null `, `null`},
		{`true`, `true`},
		{`1.0`, `1`},
		{`1e2`, `100`},
		{`-0.5E-7`, `-5e-8`},
		{`123456789012345678901234`, `1.2345678901234569e+23`},
		{`"a<b>&c"`, `"a<b>&c"`},
		{`"\u00e9"`, `"é"`},
		{`{"b": [1, {"d": null, "c": "x"}], "a": 2}`, `{"a":2,"b":[1,{"c":"x","d":null}]}`},
		// RFC 8785: numbers as JavaScript prints them, the least escaping,
		// keys by UTF-16 code units.
		{`-0`, `0`},
		{`1e21`, `1e+21`},
		{`0.000001`, `0.000001`},
		{`1e-7`, `1e-7`},
		{`9007199254740993`, `9007199254740992`},
		{`"\u2028\u2029"`, "\"\u2028\u2029\""},
		{`"\u000f\/\t"`, `"\u000f/\t"`},
		{`{"\ud83d\ude00": 1, "\uff61": 2, "a": 3}`, "{\"a\":3,\"\U0001F600\":1,\"\uff61\":2}"},
	}
	for _, tt := range tests {
		got, err := CanonicalValue([]byte(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("CanonicalValue(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{`{`, `nul`, `1 2`, `[1,]`, `'x'`, `NaN`, `{"a": 1, "a": 2}`, `"\ud800"`, "\"\xff\""} {
		if _, err := CanonicalValue([]byte(bad)); !errors.Is(err, ErrValue) {
			t.Errorf("CanonicalValue(%q) error = %v, want %v", bad, err, ErrValue)
		}
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	e := valid()
	e.Parents, e.Clock, e.Seq = []ID{{1}, {2}}, 7, 3
	e.ID = e.Hash()
	got, err := Decode(e.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != e.ID || got.Clock != 7 || len(got.Parents) != 2 {
		t.Fatalf("Decode(Encode(e)) = %+v, want %+v", got, e)
	}
}

func TestParseID(t *testing.T) {
	e := valid()
	got, err := ParseID(e.ID.String())
	if err != nil || got != e.ID {
		t.Fatalf("ParseID(%s) = %s, %v", e.ID, got, err)
	}
	for _, bad := range []string{"", "00", strings.Repeat("zz", 32)} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) succeeded", bad)
		}
	}
	p, err := ParsePeerID(e.Peer.String())
	if err != nil || p != e.Peer {
		t.Fatalf("ParsePeerID(%s) = %s, %v", e.Peer, p, err)
	}
}

func TestCompare(t *testing.T) {
	a, b := valid(), valid()
	b.Clock = 2
	if Compare(&a, &b) >= 0 || Compare(&b, &a) <= 0 || Compare(&a, &a) != 0 {
		t.Fatal("events do not order by clock first")
	}
	b.Clock, b.ID = a.Clock, ID{0xff}
	if Compare(&a, &b) >= 0 {
		t.Fatal("events of one clock do not order by id")
	}
}

func TestSignature(t *testing.T) {
	k, err := NewKey(strings.NewReader(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	e := valid()
	e.Peer = k.Peer()
	e.ID = e.Hash()
	sig := k.Sign(e.ID)
	if !sig.Verify(e.Peer, e.ID) {
		t.Fatal("a signature does not verify")
	}
	other := e.ID
	other[31] ^= 1
	if sig.Verify(e.Peer, other) {
		t.Fatal("a signature verifies another id")
	}
	sig[0] ^= 1
	if sig.Verify(e.Peer, e.ID) {
		t.Fatal("a changed signature verifies")
	}
	again, err := KeyFromSeed(k.Seed())
	if err != nil || again.Peer() != k.Peer() {
		t.Fatalf("KeyFromSeed(Seed()) = %v, %v", again.Peer(), err)
	}
}

// BenchmarkSign and BenchmarkVerify: what a signature costs the author
// (once per exported chain tip and per 128 events) and the receiver.
func BenchmarkSign(b *testing.B) {
	k, _ := NewKey(strings.NewReader(strings.Repeat("k", 32)))
	e := valid()
	for b.Loop() {
		k.Sign(e.ID)
	}
}

func BenchmarkVerify(b *testing.B) {
	k, _ := NewKey(strings.NewReader(strings.Repeat("k", 32)))
	e := valid()
	e.Peer = k.Peer()
	e.ID = e.Hash()
	sig := k.Sign(e.ID)
	for b.Loop() {
		if !sig.Verify(e.Peer, e.ID) {
			b.Fatal("does not verify")
		}
	}
}
