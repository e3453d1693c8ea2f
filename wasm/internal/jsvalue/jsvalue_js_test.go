//go:build js && wasm

package jsvalue

import (
	"errors"
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

func TestAwaitWithin(t *testing.T) {
	t.Run("settled in time", func(t *testing.T) {
		p, resolve, _ := later()
		time.AfterFunc(10*time.Millisecond, func() { resolve.Invoke(42) })
		v, err := AwaitWithin(p, 10*time.Second, nil)
		if err != nil || v.Int() != 42 {
			t.Fatalf("got %v, %v; want 42", v, err)
		}
	})
	t.Run("rejected in time", func(t *testing.T) {
		p, _, reject := later()
		reject.Invoke(js.Global().Get("Error").New("no"))
		if _, err := AwaitWithin(p, 10*time.Second, nil); !IsName(err, "Error") {
			t.Fatalf("got %v; want the rejection", err)
		}
	})
	t.Run("never settles", func(t *testing.T) {
		p, _, _ := later()
		if _, err := AwaitWithin(p, 20*time.Millisecond, nil); !errors.Is(err, ErrTimeout) {
			t.Fatalf("got %v; want ErrTimeout", err)
		}
	})
	t.Run("settles late", func(t *testing.T) {
		// What a late promise resolves to reaches late, to be released.
		p, resolve, _ := later()
		if _, err := AwaitWithin(p, 20*time.Millisecond, nil); !errors.Is(err, ErrTimeout) {
			t.Fatalf("got %v; want ErrTimeout", err)
		}
		p2, resolve2, _ := later()
		got := make(chan int, 1)
		if _, err := AwaitWithin(p2, 20*time.Millisecond, func(v js.Value) { got <- v.Int() }); !errors.Is(err, ErrTimeout) {
			t.Fatalf("got %v; want ErrTimeout", err)
		}
		resolve.Invoke(1) // no late function: dropped
		resolve2.Invoke(7)
		select {
		case v := <-got:
			if v != 7 {
				t.Fatalf("late got %d; want 7", v)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("late was not called")
		}
	})
}
