// Package jsapi is the Go half of factlog's JavaScript API: it turns calls
// from JavaScript (a method name, JSON arguments, an optional byte array)
// into calls on stores, and results and errors back into JSON. It is pure
// Go, tested natively; package main in wasm/js binds it to syscall/js, and
// jsbridge/ is the JavaScript half. Both halves follow the protocol below.
//
// # Protocol
//
// JavaScript calls call(method, argsJSON, bytes) and gets back a promise of
// [resultJSON, bytes]. A failed call rejects with {code, message}, code
// being one of store's codes. What Go pushes without being asked arrives
// through notify(kind, id, json): "watch" ({columns, rows} or {error}),
// "progress" ({done, total}) and "link" (its status). The id is a key the
// caller chose (watch, progress, link in the call's arguments), so that it
// listens before the first notification, which may come before the call
// returns.
package jsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	gosync "sync"

	"github.com/factlog/factlog/wasm/link"
	"github.com/factlog/factlog/wasm/lww"
	"github.com/factlog/factlog/wasm/store"
)

// Storage places a named store: a database path and the SQLite VFS that
// holds it, and whether the data outlives the page or process. It returns
// a warning for the application when it has to fall back (no OPFS: the
// store is kept in memory).
type Storage func(name string) (path, vfs string, persisted bool, warning string, err error)

// Host holds the stores, watches, links and registers JavaScript opened.
type Host struct {
	// Storage places stores; nil keeps every store in memory.
	Storage Storage
	// Notify delivers what Go pushes to JavaScript (see the package doc).
	Notify func(kind string, id int, json []byte)
	// Dial, if set, returns how the link with the given key connects
	// (nil: link.DialWebSocket).
	Dial func(key int) link.Dial
	// Context, if set, wraps the context of each call; the js/wasm build
	// uses it to let JavaScript's event loop run during a long call, so
	// that the call's cancellation can arrive at all.
	Context func(context.Context) context.Context

	mu        gosync.Mutex
	next      int
	calls     map[int]context.CancelFunc // running calls that can be cancelled, by the caller's id
	stores    handles[*store.Store]
	watches   handles[owned[func()]]     // by the caller's key
	links     handles[owned[*link.Link]] // by the caller's key
	registers handles[*lww.Registers]
	requests  map[int]*requests // the request journal of each store, by handle
}

// owned is something that belongs to a store, and goes when it closes.
type owned[T any] struct {
	db int
	v  T
}

// handles maps the ids JavaScript holds to Go values. Store and registers
// ids come from one counter per Host, so an id never names two things;
// watches and links go by the key the caller chose.
type handles[T any] map[int]T

func (h *Host) add(put func(id int)) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next++
	put(h.next)
	return h.next
}

func put[T any](m *handles[T], id int, v T) {
	if *m == nil {
		*m = handles[T]{}
	}
	(*m)[id] = v
}

// take removes and returns a handle.
func take[T any](h *Host, m handles[T], id int) (T, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := m[id]
	delete(m, id)
	return v, ok
}

// get returns a handle; the caller holds h.mu.
func get[T any](m handles[T], id int, what string) (T, error) {
	v, ok := m[id]
	if !ok {
		return v, fmt.Errorf("%s %d: %w", what, id, store.ErrClosed)
	}
	return v, nil
}

// Error is a failed call as JavaScript sees it.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// asError gives err its code. The message loses store's "invalid
// argument: " prefix, which the code already says.
func asError(err error) Error {
	code := store.Code(err)
	msg := err.Error()
	if code == store.CodeArgument {
		msg = strings.Replace(msg, store.ErrArgument.Error()+": ", "", 1)
	}
	return Error{Code: code, Message: msg}
}

// CodeAborted is the code of a call cancelled by Cancel (an AbortSignal in
// JavaScript). What the call had done is undone, as after any error.
const CodeAborted = "ABORTED"

// Call runs one method. Its error is always an *Error. A call with an id
// other than 0 (the caller picks it, unique among its running calls)
// stops when Cancel(id) is called.
func (h *Host) Call(ctx context.Context, id int, method string, args, data []byte) (result, out []byte, err error) {
	if id != 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		h.mu.Lock()
		if h.calls == nil {
			h.calls = map[int]context.CancelFunc{}
		}
		h.calls[id] = cancel
		h.mu.Unlock()
		defer func() {
			h.mu.Lock()
			delete(h.calls, id)
			h.mu.Unlock()
			cancel()
		}()
	}
	if h.Context != nil {
		ctx = h.Context(ctx)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: internal error: %v", method, p)
		}
		if err != nil {
			var e *Error
			switch {
			case errors.As(err, &e):
			case ctx.Err() != nil:
				e = &Error{Code: CodeAborted, Message: method + " was aborted; nothing it did was kept"}
			default:
				ae := asError(err)
				e = &ae
			}
			err = e
		}
	}()
	m, ok := methods[method]
	if !ok {
		return nil, nil, store.ArgumentError(fmt.Sprintf("no method %q", method))
	}
	res, out, err := m(h, ctx, args, data)
	if err != nil {
		return nil, nil, err
	}
	if r, ok := res.(encoded); ok {
		return r, out, nil
	}
	result, err = json.Marshal(res)
	return result, out, err
}

// encoded is a method's result already written as JSON: encoding/json
// would check it again (appends return it, for speed).
type encoded []byte

// Cancel stops the running call with the id, if there is one.
func (h *Host) Cancel(id int) {
	h.mu.Lock()
	cancel := h.calls[id]
	h.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// decode reads a method's JSON arguments.
func decode(method string, args []byte, v any) error {
	if err := json.Unmarshal(args, v); err != nil {
		return store.ArgumentError(fmt.Sprintf("%s: %v", method, err))
	}
	return nil
}

// dbArg is the member of a store method's arguments that names the store
// ({"db": id, …}); a method's arguments embed it.
type dbArg struct {
	DB *int `json:"db"`
}

func (a *dbArg) handle() (string, *int) { return "db", a.DB }

// registersArg names a table of registers ({"registers": id, …}).
type registersArg struct {
	Registers *int `json:"registers"`
}

func (a *registersArg) handle() (string, *int) { return "registers", a.Registers }

// handled is a method's arguments, which name a handle.
type handled interface{ handle() (key string, id *int) }

// handleArgs decodes a method's arguments into v, in one pass (those of an
// append hold its events), and returns what the handle they name is.
func handleArgs[T any](h *Host, m *handles[T], method string, args []byte, v handled) (T, error) {
	var zero T
	if err := decode(method, args, v); err != nil {
		return zero, err
	}
	key, id := v.handle()
	if id == nil {
		return zero, store.ArgumentError(fmt.Sprintf("%s: no %s: pass the handle's number", method, key))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return get(*m, *id, key)
}

// storeArgs decodes arguments that name a store.
func (h *Host) storeArgs(method string, args []byte, v handled) (*store.Store, error) {
	return handleArgs(h, &h.stores, method, args, v)
}

// place finds where a named store lives; "" or ":memory:" is in memory.
func (h *Host) place(name string) (path, vfs string, persisted bool, warning string, err error) {
	if name == ":memory:" || name == "" || h.Storage == nil {
		return "", "", false, "", nil
	}
	return h.Storage(name)
}

func (h *Host) notify(kind string, id int, v any) {
	if h.Notify == nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"error": asError(err)})
	}
	h.Notify(kind, id, b)
}

// Close closes every link, store and table of registers.
func (h *Host) Close() {
	h.mu.Lock()
	stores, links, registers := h.stores, h.links, h.registers
	h.stores, h.watches, h.links, h.registers = nil, nil, nil, nil
	h.mu.Unlock()
	for _, l := range links {
		l.v.Close()
	}
	for _, s := range stores {
		s.Close()
	}
	for _, r := range registers {
		r.Close()
	}
}
