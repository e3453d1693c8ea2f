package event

import (
	"bytes"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"
)

// CanonicalValue returns the canonical form of a JSON value: the JSON
// Canonicalization Scheme of RFC 8785 — object keys sorted by their UTF-16
// code units, no insignificant space, numbers as IEEE doubles in the form
// JavaScript prints them (so -0 is 0, and integers beyond 2^53 lose
// precision exactly as they would in the browser that appended them),
// strings with the least escaping. An empty input is null. Duplicate keys
// and text that is not valid Unicode (invalid UTF-8, lone surrogates) are
// refused: they have no canonical form. Errors are *InvalidError without
// an event id.
//
// Any client, in any language, that implements RFC 8785 computes the same
// bytes, and so the same event ids (testdata/golden.json).
func CanonicalValue(raw []byte) ([]byte, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return []byte("null"), nil
	}
	if len(raw) > 4*MaxValueBytes {
		// Do not spend time parsing what cannot fit even after
		// whitespace is removed.
		return nil, &InvalidError{Reason: ErrTooLarge, Detail: fmt.Sprintf("value has %d bytes, at most %d allowed", len(raw), MaxValueBytes)}
	}
	v := jsontext.Value(bytes.Clone(raw))
	if err := v.Canonicalize(); err != nil {
		return nil, &InvalidError{Reason: ErrValue, Detail: err.Error()}
	}
	if len(v) > MaxValueBytes {
		return nil, &InvalidError{Reason: ErrTooLarge, Detail: fmt.Sprintf("value has %d bytes, at most %d allowed", len(v), MaxValueBytes)}
	}
	return v, nil
}
