package event

import (
	"bytes"
	"errors"
	"unicode/utf8"
)

// Check validates what an event says about itself, without looking at any
// other event: the fields (see CheckFields) and an ID that is the hash of
// the content. It returns an *InvalidError.
func (e *Event) Check() error {
	if err := e.CheckFields(); err != nil {
		return err
	}
	if h := e.Hash(); h != e.ID {
		return e.Invalid(ErrHash, "content hashes to %s", h)
	}
	return nil
}

// CheckFields is Check without the hash, for callers that computed the ID
// themselves: sizes, field shapes, sorted unique parents, a clock that can
// be derived (1 without parents, more with) and a canonical value.
func (e *Event) CheckFields() error {
	if e.Seq == 0 {
		return e.Invalid(ErrField, "seq is 0; an author's first event has seq 1")
	}
	if e.Type == "" {
		return e.Invalid(ErrField, "type is empty")
	}
	if len(e.Type) > MaxTypeBytes {
		return e.Invalid(ErrTooLarge, "type has %d bytes, at most %d allowed", len(e.Type), MaxTypeBytes)
	}
	if len(e.Item) > MaxItemBytes {
		return e.Invalid(ErrTooLarge, "item has %d bytes, at most %d allowed", len(e.Item), MaxItemBytes)
	}
	if !utf8.ValidString(e.Type) || !utf8.ValidString(e.Item) {
		return e.Invalid(ErrField, "item and type must be valid UTF-8")
	}
	if len(e.Parents) > MaxParents {
		return e.Invalid(ErrTooLarge, "%d parents, at most %d allowed", len(e.Parents), MaxParents)
	}
	for i := 1; i < len(e.Parents); i++ {
		if e.Parents[i-1].Compare(e.Parents[i]) >= 0 {
			return e.Invalid(ErrParents, "parents must be sorted ascending without duplicates (parent %d)", i)
		}
	}
	switch {
	case len(e.Parents) == 0 && e.Clock != 1:
		return e.Invalid(ErrClock, "an event without parents has clock 1, not %d", e.Clock)
	case len(e.Parents) > 0 && e.Clock < 2:
		return e.Invalid(ErrClock, "an event with parents has a clock of at least 2, not %d", e.Clock)
	}
	if len(e.Value) > MaxValueBytes {
		return e.Invalid(ErrTooLarge, "value has %d bytes, at most %d allowed", len(e.Value), MaxValueBytes)
	}
	if plainCanonical(e.Value) {
		return nil
	}
	canon, err := CanonicalValue(e.Value)
	if err != nil {
		var ie *InvalidError
		errors.As(err, &ie)
		return e.Invalid(ie.Reason, "%s", ie.Detail)
	}
	if !bytes.Equal(canon, e.Value) {
		return e.Invalid(ErrValue, "value %.40q is not canonical JSON; canonical is %.40q", e.Value, canon)
	}
	return nil
}

// plainCanonical reports whether v is, as it is, the canonical form of a
// value, for the values that show it without being parsed: true, false,
// null, integers of at most 15 digits (a double holds them exactly, and
// they print as written), and strings of valid UTF-8 that need no escape.
// Most events' values are such, and an import checks every event's
// without copying and parsing it (FuzzPlainCanonical holds it to
// CanonicalValue).
func plainCanonical(v []byte) bool {
	switch string(v) {
	case "true", "false", "null", "0":
		return true
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		in := v[1 : len(v)-1]
		for _, c := range in {
			if c < 0x20 || c == '"' || c == '\\' {
				return false
			}
		}
		return utf8.Valid(in)
	}
	digits := v
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 15 || digits[0] == '0' {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
