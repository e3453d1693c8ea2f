//go:build js && wasm

package jsvalue

import (
	"syscall/js"
	"testing"
	"time"
)

// later returns a promise and the functions that settle it.
func later() (p js.Value, resolve, reject js.Value) {
	var res, rej js.Value
	exec := js.FuncOf(func(_ js.Value, args []js.Value) any {
		res, rej = args[0], args[1]
		return nil
	})
	defer exec.Release()
	p = js.Global().Get("Promise").New(exec)
	return p, res, rej
}

func TestThen(t *testing.T) {
	type got struct {
		v   js.Value
		err error
	}
	then := func(p js.Value) chan got {
		ch := make(chan got, 2)
		Then(p, func(v js.Value, err error) { ch <- got{v, err} })
		return ch
	}
	wait := func(ch chan got) got {
		select {
		case g := <-ch:
			return g
		case <-time.After(10 * time.Second):
			t.Fatal("fn was not called")
			return got{}
		}
	}
	p, resolve, _ := later()
	ch := then(p)
	time.AfterFunc(10*time.Millisecond, func() { resolve.Invoke(42) })
	if g := wait(ch); g.err != nil || g.v.Int() != 42 {
		t.Fatalf("got %v, %v; want 42", g.v, g.err)
	}
	p, _, reject := later()
	ch = then(p)
	reject.Invoke(js.Global().Get("Error").New("no"))
	if g := wait(ch); !IsName(g.err, "Error") {
		t.Fatalf("got %v; want the rejection", g.err)
	}
	if g := wait(then(js.ValueOf(7))); g.err == nil {
		t.Fatal("Then of a value that is no promise: no error")
	}
}

// TestBuffer: Get gives a view of exactly n bytes over one array, which
// grows when asked for more; views kept for reuse follow it.
func TestBuffer(t *testing.T) {
	var b Buffer
	for _, n := range []int{24, 4096, 24, 100, 5000, 24, 4096} {
		a := b.Get(n)
		if got := a.Get("length").Int(); got != n {
			t.Fatalf("Get(%d) has length %d", n, got)
		}
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(n + i)
		}
		js.CopyBytesToJS(a, p)
		q := make([]byte, n)
		js.CopyBytesToGo(q, b.Get(n))
		if string(p) != string(q) {
			t.Fatalf("Get(%d): another call sees other bytes", n)
		}
		if n >= 5000 && b.Get(24).Get("buffer").Get("byteLength").Int() < n {
			t.Fatalf("after Get(%d), Get(24) is a view of the old, smaller array", n)
		}
	}
	for n := range 100 { // more sizes than views are kept
		if got := b.Get(n + 1).Get("length").Int(); got != n+1 {
			t.Fatalf("Get(%d) has length %d", n+1, got)
		}
	}
}
