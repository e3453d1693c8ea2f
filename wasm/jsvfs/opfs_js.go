//go:build js && wasm

package jsvfs

import (
	"errors"
	"fmt"
	"syscall/js"
	"time"

	"github.com/factlog/factlog/wasm/internal/jsvalue"
)

// OPFS is a folder of the Origin Private File System, for a dedicated
// Worker: its files are opened with createSyncAccessHandle, whose reads
// and writes are synchronous. Opening, deleting and probing files are
// asynchronous, and are awaited (so SQLite must run in a goroutine).
type OPFS struct{ dir js.Value }

// An access handle is asked for again every grantWait while no request
// has settled, up to grantTries requests (hedge); then the file is
// reported locked, and the open is retried (jsbridge/tabs.js). A grant
// takes milliseconds, up to a second on a busy machine; a request asked
// again while an earlier one is about to be granted is refused, and the
// earlier one still counts, so asking early costs nothing: on a reload,
// where the first request is the one that may hang, the store opens
// grantWait later rather than never.
const (
	grantWait  = 250 * time.Millisecond
	grantTries = 8
)

// OpenOPFS opens (creating it if needed) the folder under the origin's
// private root. It fails where OPFS is missing: outside a secure context,
// outside a Worker, or in an old browser.
func OpenOPFS(folder string) (*OPFS, error) {
	storage := js.Global().Get("navigator").Get("storage")
	if storage.IsUndefined() || storage.Get("getDirectory").IsUndefined() {
		return nil, fmt.Errorf("the Origin Private File System is not available here (it needs a secure context: https or localhost)")
	}
	root, err := jsvalue.CallAwait(storage, "getDirectory")
	if err != nil {
		return nil, fmt.Errorf("open OPFS: %w", err)
	}
	dir, err := jsvalue.CallAwait(root, "getDirectoryHandle", folder, map[string]any{"create": true})
	if err != nil {
		return nil, fmt.Errorf("open OPFS folder %q: %w", folder, err)
	}
	probe, err := jsvalue.CallAwait(dir, "getFileHandle", ".probe", map[string]any{"create": true})
	if err == nil && probe.Get("createSyncAccessHandle").IsUndefined() {
		err = fmt.Errorf("createSyncAccessHandle is missing (OPFS works in a dedicated Worker of a recent browser)")
	}
	if err != nil {
		return nil, fmt.Errorf("open OPFS: %w", err)
	}
	return &OPFS{dir: dir}, nil
}

func (o *OPFS) Open(name string, create bool) (Handle, error) {
	fh, err := jsvalue.CallAwait(o.dir, "getFileHandle", name, map[string]any{"create": create})
	if jsvalue.IsName(err, "NotFoundError") {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	grant := func(fh js.Value, settle func(js.Value, error)) {
		p, err := jsvalue.Call(fh, "createSyncAccessHandle")
		if err != nil {
			settle(js.Undefined(), err)
			return
		}
		jsvalue.Then(p, settle)
	}
	asked := 0
	h, err := hedge(func(settle func(js.Value, error)) {
		if asked++; asked == 1 {
			grant(fh, settle)
			return
		}
		go func() { // again with a new file handle, as an open retried anew does
			fh, err := jsvalue.CallAwait(o.dir, "getFileHandle", name, map[string]any{"create": create})
			if err != nil {
				settle(js.Undefined(), err)
				return
			}
			grant(fh, settle)
		}()
	}, grantWait, grantTries, func(late js.Value) { jsvalue.Call(late, "close") })
	switch {
	case errors.Is(err, errStillWaiting):
		return nil, fmt.Errorf("open %s: the browser has not granted access to the file in %v: %w", name, grantWait*grantTries, ErrLocked)
	case jsvalue.IsName(err, "NoModificationAllowedError"), jsvalue.IsName(err, "InvalidStateError"):
		return nil, fmt.Errorf("open %s: %w", name, ErrLocked)
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return &opfsHandle{h: h}, nil
}

func (o *OPFS) Delete(name string) error {
	_, err := jsvalue.CallAwait(o.dir, "removeEntry", name)
	if jsvalue.IsName(err, "NotFoundError") {
		return ErrNotFound
	}
	return err
}

func (o *OPFS) Exists(name string) (bool, error) {
	_, err := jsvalue.CallAwait(o.dir, "getFileHandle", name)
	if jsvalue.IsName(err, "NotFoundError") || jsvalue.IsName(err, "TypeMismatchError") {
		return false, nil
	}
	return err == nil, err
}

type opfsHandle struct {
	h   js.Value
	buf jsvalue.Buffer
	at  js.Value // the { at } options of read and write, reused
}

// atOffset returns the options of a read or write at off.
func (f *opfsHandle) atOffset(off int64) js.Value {
	if f.at.IsUndefined() {
		f.at = js.Global().Get("Object").New()
	}
	f.at.Set("at", off)
	return f.at
}

func (f *opfsHandle) ReadAt(p []byte, off int64) (int, error) {
	a := f.buf.Get(len(p))
	n, err := jsvalue.Call(f.h, "read", a, f.atOffset(off))
	if err != nil {
		return 0, err
	}
	js.CopyBytesToGo(p[:n.Int()], a)
	return n.Int(), nil
}

func (f *opfsHandle) WriteAt(p []byte, off int64) (int, error) {
	a := f.buf.Get(len(p))
	js.CopyBytesToJS(a, p)
	n, err := jsvalue.Call(f.h, "write", a, f.atOffset(off))
	if err != nil {
		return 0, err
	}
	return n.Int(), nil
}

func (f *opfsHandle) Truncate(size int64) error {
	_, err := jsvalue.Call(f.h, "truncate", size)
	return err
}

func (f *opfsHandle) Flush() error {
	_, err := jsvalue.Call(f.h, "flush")
	return err
}

func (f *opfsHandle) Size() (int64, error) {
	n, err := jsvalue.Call(f.h, "getSize")
	if err != nil {
		return 0, err
	}
	return int64(n.Float()), nil
}

func (f *opfsHandle) Close() error {
	_, err := jsvalue.Call(f.h, "close")
	return err
}
