package event

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
)

// jsonEvent is an event as JavaScript sees it: ids as hex strings and the
// value as the JSON value itself.
type jsonEvent struct {
	ID      ID              `json:"id"`
	Peer    PeerID          `json:"peer"`
	Seq     uint64          `json:"seq"`
	Parents []ID            `json:"parents"`
	Clock   uint64          `json:"clock"`
	Time    int64           `json:"time"`
	Item    string          `json:"item"`
	Type    string          `json:"type"`
	Value   json.RawMessage `json:"value"`
}

// MarshalJSON writes the event with lowercase field names, hex ids and the
// value as JSON.
func (e Event) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

// AppendJSON appends what MarshalJSON writes to b. Every call from
// JavaScript that appends returns its events so: written directly, not
// through reflection, since in a browser or Node that is a good part of
// an append's cost.
func (e Event) AppendJSON(b []byte) []byte {
	hexID := func(b []byte, id [32]byte) []byte {
		b = append(b, '"')
		b = hex.AppendEncode(b, id[:])
		return append(b, '"')
	}
	b = append(b, `{"id":`...)
	b = hexID(b, e.ID)
	b = append(b, `,"peer":`...)
	b = hexID(b, e.Peer)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"parents":[`...)
	for i, p := range e.Parents {
		if i > 0 {
			b = append(b, ',')
		}
		b = hexID(b, p)
	}
	b = append(b, `],"clock":`...)
	b = strconv.AppendUint(b, e.Clock, 10)
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, e.Time, 10)
	// Invalid UTF-8 (never in a checked event) becomes U+FFFD, as
	// encoding/json writes it.
	b = append(b, `,"item":`...)
	b, _ = jsontext.AppendQuote(b, e.Item)
	b = append(b, `,"type":`...)
	b, _ = jsontext.AppendQuote(b, e.Type)
	b = append(b, `,"value":`...)
	if len(e.Value) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, e.Value...) // canonical JSON (CanonicalValue)
	}
	return append(b, '}')
}

// UnmarshalJSON reads what MarshalJSON writes. It does not check the
// event; Check does.
func (e *Event) UnmarshalJSON(b []byte) error {
	var j jsonEvent
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("event: %w", err)
	}
	v, err := CanonicalValue(j.Value)
	if err != nil {
		return err
	}
	*e = Event{j.ID, j.Peer, j.Seq, j.Parents, j.Clock, j.Time, j.Item, j.Type, v}
	if len(e.Parents) == 0 {
		e.Parents = nil
	}
	return nil
}
