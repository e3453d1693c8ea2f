package event

import (
	"errors"
	"fmt"
)

// Reasons an event is invalid. An *InvalidError wraps exactly one of them,
// so callers test with errors.Is(err, event.ErrClock) and find the event
// with errors.As.
var (
	ErrEncoding     = errors.New("malformed encoding")
	ErrNonCanonical = errors.New("non-canonical encoding")
	ErrHash         = errors.New("id is not the hash of the content")
	ErrTooLarge     = errors.New("over a size limit")
	ErrParents      = errors.New("bad parents")
	ErrClock        = errors.New("clock is not 1 + the largest parent clock")
	ErrSeq          = errors.New("seq is not 1 + the largest seq of the author's parents")
	ErrSignature    = errors.New("the author's signature does not verify")
	ErrValue        = errors.New("value is not canonical JSON")
	ErrField        = errors.New("bad field")
)

// InvalidError says which event was rejected and why.
type InvalidError struct {
	ID     ID
	Peer   PeerID
	Seq    uint64
	Reason error  // one of the Err* sentinels above
	Detail string // what exactly is wrong, in words that say what to fix
}

func (e *InvalidError) Error() string {
	if e.ID == (ID{}) && e.Peer == (PeerID{}) {
		return fmt.Sprintf("invalid event: %v: %s", e.Reason, e.Detail)
	}
	return fmt.Sprintf("invalid event %s (author %s, seq %d): %v: %s",
		e.ID.String()[:16], e.Peer.String()[:8], e.Seq, e.Reason, e.Detail)
}

// Unwrap returns the reason, for errors.Is.
func (e *InvalidError) Unwrap() error { return e.Reason }

// Invalid returns an *InvalidError about e.
func (e *Event) Invalid(reason error, format string, args ...any) *InvalidError {
	return &InvalidError{ID: e.ID, Peer: e.Peer, Seq: e.Seq, Reason: reason, Detail: fmt.Sprintf(format, args...)}
}
