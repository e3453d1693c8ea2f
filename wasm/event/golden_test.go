package event

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// golden is one vector of testdata/golden.json: an event as a client
// builds it (the value as any JSON text), its canonical value, its
// canonical encoding and its id. Another client of the format — in any
// language — checks itself against these.
type golden struct {
	Peer     string   `json:"peer"`
	Seq      uint64   `json:"seq"`
	Parents  []string `json:"parents"`
	Clock    uint64   `json:"clock"`
	Time     int64    `json:"time"`
	Item     string   `json:"item"`
	Type     string   `json:"type"`
	Input    string   `json:"input"`    // the value as sent
	Value    string   `json:"value"`    // its canonical form (RFC 8785)
	Encoding string   `json:"encoding"` // hex of the canonical CBOR
	ID       string   `json:"id"`       // hex SHA-256 of the encoding
}

// goldenInputs are the vectors' events; FACTLOG_UPDATE_GOLDEN=1 go test
// writes testdata/golden.json from them, to be reviewed by diff.
var goldenInputs = []golden{
	{Peer: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", Seq: 1, Clock: 1, Time: 1700000000000, Item: "1", Type: "create", Input: `"make pasta"`},
	{Peer: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", Seq: 2, Clock: 2, Time: 1700000000001, Item: "1", Type: "set_completed", Input: `true`,
		Parents: []string{"0000000000000000000000000000000000000000000000000000000000000001"}},
	{Peer: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", Seq: 7, Clock: 12, Time: -1, Item: "", Type: "note", Input: ` { "b" : [1.0, -0, 1e21, 0.000001, 1E-7, 9007199254740993], "a": null } `,
		Parents: []string{"0000000000000000000000000000000000000000000000000000000000000001", "ff00000000000000000000000000000000000000000000000000000000000000"}},
	{Peer: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", Seq: 1, Clock: 1, Item: "é", Type: "text", Input: `"e\u0301 \u00e9 \u2028 \u0007 \/ \"q\" \ud83d\ude00"`},
	{Peer: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", Seq: 1, Clock: 1, Item: "keys", Type: "map", Input: `{"\ud83d\ude00": 1, "\uff61": 2, "a": 3, "B": 4, "": 5}`},
	{Peer: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", Seq: 1, Clock: 1, Item: "empty", Type: "nothing", Input: ``},
}

func (g golden) event(t *testing.T) Event {
	t.Helper()
	peer, err := ParsePeerID(g.Peer)
	if err != nil {
		t.Fatal(err)
	}
	e := Event{Peer: peer, Seq: g.Seq, Clock: g.Clock, Time: g.Time, Item: g.Item, Type: g.Type}
	for _, p := range g.Parents {
		id, err := ParseID(p)
		if err != nil {
			t.Fatal(err)
		}
		e.Parents = append(e.Parents, id)
	}
	if e.Value, err = CanonicalValue([]byte(g.Input)); err != nil {
		t.Fatal(err)
	}
	e.ID = e.Hash()
	return e
}

func TestGolden(t *testing.T) {
	const path = "testdata/golden.json"
	if os.Getenv("FACTLOG_UPDATE_GOLDEN") != "" {
		var out []golden
		for _, g := range goldenInputs {
			e := g.event(t)
			g.Value, g.Encoding, g.ID = string(e.Value), hex.EncodeToString(e.Encode()), e.ID.String()
			out = append(out, g)
		}
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var vectors []golden
	if err := json.Unmarshal(b, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) != len(goldenInputs) {
		t.Fatalf("%d vectors in %s, want %d (FACTLOG_UPDATE_GOLDEN=1 writes them)", len(vectors), path, len(goldenInputs))
	}
	for i, g := range vectors {
		e := g.event(t)
		if string(e.Value) != g.Value || hex.EncodeToString(e.Encode()) != g.Encoding || e.ID.String() != g.ID {
			t.Errorf("vector %d: value %s, id %s; want %s, %s", i, e.Value, e.ID, g.Value, g.ID)
		}
		d, err := Decode(e.Encode())
		if err != nil || d.ID != e.ID {
			t.Errorf("vector %d does not decode: %v", i, err)
		}
	}
}
