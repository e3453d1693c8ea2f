package event

import (
	"bytes"
	"testing"
)

// FuzzDecode: whatever the input, Decode does not panic, and what it
// accepts is canonical: it re-encodes to the same bytes and checks out.
func FuzzDecode(f *testing.F) {
	e := valid()
	f.Add(e.Encode())
	e.Parents, e.Clock = []ID{{1}, {2}, {3}}, 9
	e.Value = []byte(`{"a":[1,2,{"b":null}]}`)
	f.Add(e.Encode())
	f.Add([]byte{})
	f.Add([]byte{0x80})
	f.Add([]byte{0x8a, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			return
		}
		if !bytes.Equal(e.Encode(), b) {
			t.Fatalf("accepted %x, which re-encodes to %x", b, e.Encode())
		}
		if err := e.Check(); err != nil {
			t.Fatalf("accepted an event that fails Check: %v", err)
		}
	})
}

// FuzzCanonicalValue: canonical values are fixed points.
func FuzzCanonicalValue(f *testing.F) {
	for _, s := range []string{`null`, `1.5e300`, `"\ud800"`, `{"z":{"y":[true,false]}}`, `[[[[[]]]]]`, `"\u2028<>&"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := CanonicalValue(b)
		if err != nil {
			return
		}
		again, err := CanonicalValue(c)
		if err != nil || !bytes.Equal(again, c) {
			t.Fatalf("CanonicalValue(%q) = %q, whose canonical form is %q (%v)", b, c, again, err)
		}
	})
}
