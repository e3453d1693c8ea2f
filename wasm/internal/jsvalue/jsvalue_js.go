//go:build js && wasm

// Package jsvalue wraps the few syscall/js operations factlog needs —
// awaiting a promise, calling a function that may throw, moving bytes —
// so that a thrown JavaScript exception becomes a Go error and never a
// panic, and the rest of the code does not touch syscall/js.
package jsvalue

import (
	"errors"
	"fmt"
	"syscall/js"
)

// Error is a JavaScript exception or rejection.
type Error struct {
	Name    string // "NotFoundError", "NoModificationAllowedError", …
	Message string
	Code    string // Node's system error code ("ENOENT", "ESRCH", …), if any
}

func (e *Error) Error() string { return e.Name + ": " + e.Message }

func toError(v js.Value) error {
	if v.Type() == js.TypeObject {
		name, msg := v.Get("name"), v.Get("message")
		if name.Type() == js.TypeString {
			e := &Error{Name: name.String(), Message: msg.String()}
			if code := v.Get("code"); code.Type() == js.TypeString {
				e.Code = code.String()
			}
			return e
		}
	}
	return &Error{Name: "Error", Message: js.Global().Get("String").Invoke(v).String()}
}

// IsName reports whether err is a JavaScript error with the given name.
func IsName(err error, name string) bool {
	var e *Error
	return errors.As(err, &e) && e.Name == name
}

// Call calls v.method(args...) and returns what it returns, or the
// exception it throws as an *Error.
func Call(v js.Value, method string, args ...any) (result js.Value, err error) {
	defer func() {
		if p := recover(); p != nil {
			if je, ok := p.(js.Error); ok {
				err = toError(je.Value)
				return
			}
			err = fmt.Errorf("%s: %v", method, p)
		}
	}()
	return v.Call(method, args...), nil
}

// New calls new constructor(args...) and returns the object, or the
// exception the constructor throws as an *Error.
func New(constructor js.Value, args ...any) (result js.Value, err error) {
	defer func() {
		if p := recover(); p != nil {
			if je, ok := p.(js.Error); ok {
				err = toError(je.Value)
				return
			}
			err = fmt.Errorf("new: %v", p)
		}
	}()
	return constructor.New(args...), nil
}

// Await waits for a promise. It must run in a goroutine of its own, never
// in a js.FuncOf callback: the promise settles only when the callback has
// returned to the event loop.
func Await(promise js.Value) (js.Value, error) {
	type settled struct {
		v   js.Value
		err error
	}
	ch := make(chan settled, 1)
	Then(promise, func(v js.Value, err error) { ch <- settled{v, err} })
	s := <-ch
	return s.v, s.err
}

// Then calls fn once with what the promise resolves to, or with its
// rejection as an error, from a callback of the event loop: fn must not
// block. Unlike Await, nothing waits; a promise that never settles never
// calls fn.
func Then(promise js.Value, fn func(js.Value, error)) {
	var ok, no js.Func
	settle := func(v js.Value, err error) {
		ok.Release()
		no.Release()
		fn(v, err)
	}
	ok = js.FuncOf(func(_ js.Value, args []js.Value) any {
		settle(arg(args), nil)
		return nil
	})
	no = js.FuncOf(func(_ js.Value, args []js.Value) any {
		settle(js.Undefined(), toError(arg(args)))
		return nil
	})
	if _, err := Call(promise, "then", ok, no); err != nil {
		ok.Release()
		no.Release()
		fn(js.Undefined(), err)
	}
}

// CallAwait calls a method that returns a promise, and awaits it.
func CallAwait(v js.Value, method string, args ...any) (js.Value, error) {
	p, err := Call(v, method, args...)
	if err != nil {
		return p, err
	}
	return Await(p)
}

func arg(args []js.Value) js.Value {
	if len(args) == 0 {
		return js.Undefined()
	}
	return args[0]
}

// Buffer is a reusable Uint8Array for moving bytes between Go and
// JavaScript. A file's I/O comes in few sizes (a page, a WAL frame's
// header, a database header), so the views of each size are kept too:
// every call that made a new one cost a JavaScript object and a Go
// finalizer, measurable on every SQLite write.
type Buffer struct {
	a     js.Value
	n     int              // a's length
	views map[int]js.Value // a.subarray(0, k), by k
}

// Get returns a Uint8Array of n bytes, reusing the last one when it is
// big enough.
func (b *Buffer) Get(n int) js.Value {
	if n > b.n {
		b.n = max(n, 4096)
		b.a = js.Global().Get("Uint8Array").New(b.n)
		clear(b.views)
	}
	if v, ok := b.views[n]; ok {
		return v
	}
	if b.views == nil || len(b.views) >= 32 { // bounded, whatever the sizes asked
		b.views = map[int]js.Value{}
	}
	v := b.a.Call("subarray", 0, n)
	b.views[n] = v
	return v
}

// Bytes copies a Uint8Array into a new Go slice.
func Bytes(a js.Value) []byte {
	out := make([]byte, a.Get("length").Int())
	js.CopyBytesToGo(out, a)
	return out
}

// Array copies a Go slice into a new Uint8Array.
func Array(p []byte) js.Value {
	a := js.Global().Get("Uint8Array").New(len(p))
	js.CopyBytesToJS(a, p)
	return a
}
