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

// FuzzPlainCanonical: what plainCanonical passes as canonical without
// parsing it is canonical — CanonicalValue leaves it as it is.
func FuzzPlainCanonical(f *testing.F) {
	for _, s := range []string{`true`, `null`, `0`, `-0`, `007`, `-12`, `123456789012345`, `1234567890123456`, `9007199254740993`, `""`, `"a\"b"`, `"\u0041"`, `"\/"`, `"\u0001"`, "\"\x01\"", "\"\xed\xa0\x80\"", "\"\u2028é\"", `"`, `-`, `1e3`, `1.0`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		if !plainCanonical(v) {
			return
		}
		canon, err := CanonicalValue(v)
		if err != nil || !bytes.Equal(canon, v) {
			t.Fatalf("plainCanonical passed %q, whose canonical form is %q (%v)", v, canon, err)
		}
	})
}
