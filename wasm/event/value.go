package event

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// CanonicalValue returns the canonical form of a JSON value: the text that
// Go's encoding/json produces for it after decoding into any — object keys
// sorted, no insignificant space, numbers as float64 in their shortest
// round-tripping form (the form JavaScript's JSON.stringify prints), and
// no HTML escaping. An empty input is null. Errors are *InvalidError
// without an event id.
//
// Values are numbers as JavaScript sees them: integers beyond 2^53 lose
// precision, exactly as they would in the browser that appended them.
func CanonicalValue(raw []byte) ([]byte, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return []byte("null"), nil
	}
	if len(raw) > 4*MaxValueBytes {
		// Do not spend time parsing what cannot fit even after
		// whitespace is removed.
		return nil, &InvalidError{Reason: ErrTooLarge, Detail: fmt.Sprintf("value has %d bytes, at most %d allowed", len(raw), MaxValueBytes)}
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, &InvalidError{Reason: ErrValue, Detail: err.Error()}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, &InvalidError{Reason: ErrValue, Detail: err.Error()}
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(out) > MaxValueBytes {
		return nil, &InvalidError{Reason: ErrTooLarge, Detail: fmt.Sprintf("value has %d bytes, at most %d allowed", len(out), MaxValueBytes)}
	}
	return out, nil
}
