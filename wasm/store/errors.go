package store

import (
	"errors"
	"fmt"

	"github.com/factlog/factlog/wasm/dag"
	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/internal/db"
	"github.com/factlog/factlog/wasm/replay"
	"github.com/factlog/factlog/wasm/sync"
	"github.com/ncruces/go-sqlite3"
)

// ErrClosed is returned by every call on a closed Store.
var ErrClosed = errors.New("store is closed")

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
	CodePendingFull  = "PENDING_FULL"  // too many events wait for parents
	CodeMaterializer = "MATERIALIZER"  // a materializer failed on a local append
	CodeSchema       = "SCHEMA"        // the schema cannot be kept rewindable
	CodeSQL          = "SQL"           // SQLite rejected a statement
	CodeClosed       = "CLOSED"        // the store is closed
	CodeArgument     = "INVALID_ARGUMENT"
	CodeNoMemory     = "NO_MEMORY" // the database reached Options.MaxMemory
	CodeLocked       = "LOCKED"    // another tab or worker has the store open
	CodeInternal     = "INTERNAL"
)

// Code returns the stable code for an error returned by this package.
func Code(err error) string {
	var (
		invalid *event.InvalidError
		batch   *sync.BatchError
		mat     *replay.MaterializeError
		sqlErr  *sqlite3.Error
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrClosed):
		return CodeClosed
	case errors.As(err, &batch):
		return CodeInvalidBatch
	case errors.As(err, &invalid):
		return CodeInvalidEvent
	case errors.Is(err, dag.ErrPendingFull):
		return CodePendingFull
	case errors.As(err, &mat):
		return CodeMaterializer
	case errors.Is(err, replay.ErrSchema):
		return CodeSchema
	case errors.Is(err, ErrArgument):
		return CodeArgument
	case errors.Is(err, db.ErrNoMemory):
		return CodeNoMemory
	case errors.Is(err, db.ErrLocked):
		return CodeLocked
	case errors.As(err, &sqlErr):
		return CodeSQL
	default:
		return CodeInternal
	}
}
