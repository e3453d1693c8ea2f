// Package jsapi is the Go half of factlog's JavaScript API: it turns calls
// from JavaScript (a method name, JSON arguments, an optional byte array)
// into calls on stores, and results and errors back into JSON. It is pure
// Go, tested natively; package main in wasm/js binds it to syscall/js, and
// jsbridge/ is the JavaScript half. Both halves follow PROTOCOL below.
//
// # Protocol
//
// JavaScript calls call(method, argsJSON, bytes) and gets back a promise of
// [resultJSON, bytes]. A failed call rejects with an Error whose code is
// one of store's codes. Results the Go side pushes without being asked —
// watch results, link status — arrive through notify(kind, id, json).
package jsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// Host holds the stores, watches and links that JavaScript opened.
type Host struct {
	// Storage places stores; nil keeps every store in memory.
	Storage Storage
	// Notify delivers what Go pushes to JavaScript: kind "watch" (id: the
	// watch, json: {rows} or {error}), "progress" (id: the one the
	// caller gave open or reinterpret, json: {done, total}) and "link"
	// (id: the link, json: its status).
	Notify func(kind string, id int, json []byte)

	mu        gosync.Mutex
	next      int
	stores    map[int]*store.Store
	watches   map[int]watchEntry
	links     map[int]linkEntry
	registers map[int]*lww.Registers
}

type watchEntry struct {
	db   int
	stop func()
}

type linkEntry struct {
	db   int
	link *link.Link
}

// Error is a failed call as JavaScript sees it.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// errArgs marks malformed arguments from JavaScript.
func errArgs(method string, err error) error {
	return fmt.Errorf("%w: %s: %v", store.ErrArgument, method, err)
}

// Call runs one method. Its error is always an *Error.
func (h *Host) Call(ctx context.Context, method string, args, data []byte) (result, out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: internal error: %v", method, p)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				err = &Error{Code: store.Code(err), Message: err.Error()}
			}
		}
	}()
	m, ok := methods[method]
	if !ok {
		return nil, nil, fmt.Errorf("%w: no method %q", store.ErrArgument, method)
	}
	res, out, err := m(h, ctx, args, data)
	if err != nil {
		return nil, nil, err
	}
	result, err = json.Marshal(res)
	return result, out, err
}

func errorsIs(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

func (h *Host) store(id int) (*store.Store, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.stores[id]
	if !ok {
		return nil, fmt.Errorf("store %d: %w", id, store.ErrClosed)
	}
	return s, nil
}

func (h *Host) notify(kind string, id int, v any) {
	if h.Notify == nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"error": Error{Code: store.CodeInternal, Message: err.Error()}})
	}
	h.Notify(kind, id, b)
}

// Close closes every link and store.
func (h *Host) Close() {
	h.mu.Lock()
	stores, links, registers := h.stores, h.links, h.registers
	h.stores, h.watches, h.links, h.registers = nil, nil, nil, nil
	h.mu.Unlock()
	for _, l := range links {
		l.link.Close()
	}
	for _, r := range registers {
		r.Close()
	}
	for _, s := range stores {
		s.Close()
	}
}
