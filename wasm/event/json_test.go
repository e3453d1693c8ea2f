package event

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// TestJSONIsTheLibrarys: the event JavaScript reads, written directly,
// is the JSON encoding/json writes from jsonEvent's struct tags, for any
// text (escapes, quotes, U+2028, invalid UTF-8), any number and any
// value: both decode to the same thing, and it reads back as the event.
func TestJSONIsTheLibrarys(t *testing.T) {
	edges := []uint64{0, 1, 1<<53 - 1, 1 << 53, math.MaxUint64}
	uints := rapid.OneOf(rapid.SampledFrom(edges), rapid.Uint64())
	times := rapid.OneOf(rapid.SampledFrom([]int64{math.MinInt64, -1, 0, math.MaxInt64}), rapid.Int64())
	tricky := rapid.SampledFrom([]string{"", `"`, `\`, "<a&b>", "\u2028\u2029", "\x00\x1f\x7f", "\xff", "é😀", "\xed\xa0\x80"})
	text := rapid.OneOf(rapid.String(), tricky, rapid.Custom(func(t *rapid.T) string {
		return strings.Join(rapid.SliceOf(rapid.OneOf(tricky, rapid.String())).Draw(t, "parts"), "")
	}))
	values := rapid.SampledFrom([]string{"", "null", "true", "-12.5e3", `"x\"y"`, `[1,{"a":[]}]`, `{"":"\u2028"}`})
	rapid.Check(t, func(t *rapid.T) {
		e := Event{
			Seq: uints.Draw(t, "seq"), Clock: uints.Draw(t, "clock"), Time: times.Draw(t, "time"),
			Item: text.Draw(t, "item"), Type: text.Draw(t, "type"), Value: []byte(values.Draw(t, "value")),
		}
		copy(e.ID[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "id"))
		copy(e.Peer[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "peer"))
		for range rapid.IntRange(0, 3).Draw(t, "parents") {
			var id ID
			copy(id[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "parent"))
			e.Parents = append(e.Parents, id)
		}
		j := jsonEvent{e.ID, e.Peer, e.Seq, e.Parents, e.Clock, e.Time, e.Item, e.Type, e.Value}
		if j.Parents == nil {
			j.Parents = []ID{}
		}
		if len(j.Value) == 0 {
			j.Value = json.RawMessage("null")
		}
		lib, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		got := e.AppendJSON([]byte("[")) // appends, keeping what is there
		if got[0] != '[' {
			t.Fatalf("AppendJSON overwrote what it appends to")
		}
		got = got[1:]
		var a, b any
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("AppendJSON wrote invalid JSON %s: %v", got, err)
		}
		json.Unmarshal(lib, &b)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("AppendJSON wrote\n%s\nencoding/json writes\n%s", got, lib)
		}
		var back Event
		if err := back.UnmarshalJSON(got); err != nil && len(e.Value) > 0 {
			t.Fatalf("read back: %v", err)
		}
		if m, _ := e.MarshalJSON(); string(m) != string(got) {
			t.Fatalf("MarshalJSON wrote %s, AppendJSON %s", m, got)
		}
	})
}
