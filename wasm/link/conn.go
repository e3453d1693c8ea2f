package link

import (
	"context"
	"fmt"
)

// Conn is one connection to the relay as the link uses it: whole binary
// messages in and out. It is the seam between the link and its transport:
// natively a github.com/coder/websocket connection (dial.go), in
// WebAssembly a JavaScript WebSocket (websocket_js.go), in tests anything.
//
// Read and Write may be called from two goroutines at once (one reader,
// one writer); Close may be called from any goroutine, more than once.
type Conn interface {
	// Read returns the next message.
	Read(ctx context.Context) ([]byte, error)
	// Write sends one message.
	Write(ctx context.Context, p []byte) error
	// Close ends the connection: with StatusNormal it says goodbye
	// (waiting a bounded time for the peer's answer), with any other code
	// it drops the connection at once. Read and Write then fail.
	Close(code int, reason string) error
}

// Dial opens a Conn to url (ws:// or wss://, with the token already in
// its query); a message longer than readLimit bytes fails Read.
type Dial func(ctx context.Context, url string, readLimit int64) (Conn, error)

// Close codes the link uses or reads (RFC 6455, section 7.4.1).
const (
	StatusNormal = 1000
	StatusTooBig = 1009 // a message over the peer's frame limit
	StatusFailed = 1011
)

// CloseError is a connection the relay closed: its close code and reason.
// A Conn's Read and Write return one after the relay's close frame.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("closed by the relay (code %d)", e.Code)
	}
	return fmt.Sprintf("closed by the relay (code %d): %s", e.Code, e.Reason)
}
