package event

import (
	"encoding/json"
	"fmt"
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
func (e Event) MarshalJSON() ([]byte, error) {
	j := jsonEvent{e.ID, e.Peer, e.Seq, e.Parents, e.Clock, e.Time, e.Item, e.Type, e.Value}
	if j.Parents == nil {
		j.Parents = []ID{}
	}
	if len(j.Value) == 0 {
		j.Value = json.RawMessage("null")
	}
	return json.Marshal(j)
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
