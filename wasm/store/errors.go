package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/factlog/factlog/wasm/replay"
	"github.com/factlog/factlog/wasm/sync"
	"github.com/ncruces/go-sqlite3"
)

// ErrClosed is returned by every call on a closed Store.
var ErrClosed = errors.New("store is closed")

// ErrLocked rejects opening a store that another Store, process, tab or
// worker has open: a store file has one writer.
var ErrLocked = db.ErrLocked

// ErrArgument rejects a call whose arguments are wrong (an empty SQL
// string, an unsupported parameter type, …); the message says which.
var ErrArgument = errors.New("invalid argument")

// ArgumentError returns an error wrapping ErrArgument that says what is
// wrong.
func ArgumentError(what string) error { return fmt.Errorf("%w: %s", ErrArgument, what) }

// Error codes, stable across versions: the JavaScript bridge puts them on
// the Error objects it rejects with.
const (
	CodeInvalidEvent = "INVALID_EVENT" // an event breaks a rule (event.InvalidError)
	CodeInvalidBatch = "INVALID_BATCH" // a batch cannot be read (sync.BatchError)
	CodeMaterializer = "MATERIALIZER"  // a materializer failed on a local append
	CodeSchema       = "SCHEMA"        // the schema cannot be kept rewindable
	CodeSQL          = "SQL"           // SQLite rejected a statement
	CodeClosed       = "CLOSED"        // the store is closed
	CodeAborted      = "ABORTED"       // the call was cancelled; it changed nothing
	CodeArgument     = "INVALID_ARGUMENT"
	CodeNoMemory     = "NO_MEMORY" // the database reached Options.MaxMemory, or a result is over MaxResultBytes
	CodeLocked       = "LOCKED"    // another tab or worker has the store open
	CodeInternal     = "INTERNAL"
)

// Code returns the stable code for an error returned by this package.
func Code(err error) string {
	var (
		invalid *event.InvalidError
		batch   *sync.BatchError
		mat     *replay.MaterializeError
		interp  *replay.InterpretationError
		sqlErr  *sqlite3.Error
		sqlCode sqlite3.ErrorCode // what some calls return alone (TOOBIG reading a result)
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrClosed):
		return CodeClosed
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return CodeAborted
	case errors.As(err, &batch):
		return CodeInvalidBatch
	case errors.As(err, &invalid):
		return CodeInvalidEvent
	case errors.As(err, &mat):
		return CodeMaterializer
	case errors.As(err, &interp):
		if interp.Type == "" {
			return CodeSchema
		}
		return CodeMaterializer
	case errors.Is(err, replay.ErrSchema):
		return CodeSchema
	case errors.Is(err, ErrArgument):
		return CodeArgument
	case errors.Is(err, db.ErrNoMemory), errors.Is(err, ErrResultTooLarge):
		return CodeNoMemory
	case errors.Is(err, db.ErrLocked):
		return CodeLocked
	case errors.As(err, &sqlErr), errors.As(err, &sqlCode):
		return CodeSQL
	default:
		return CodeInternal
	}
}
