//go:build js && wasm

package main

import (
	gosync "sync"
	"time"

	"context"
)

// yieldEvery is how long calls run before they let JavaScript's event loop
// run once; yieldFor is how long they leave it.
const (
	yieldEvery = 50 * time.Millisecond
	yieldFor   = 2 * time.Millisecond
)

// yielding is a call's context that, when SQLite asks it whether the call
// was cancelled (which it does every few thousand instructions of a
// running statement), pauses the call if the calls have held the event
// loop for yieldEvery. Go in WebAssembly returns to the event loop only
// when every goroutine waits, so without this a long import or query holds
// the Worker (or Node) until it ends: a cancel message could not arrive,
// nor anything else. The pauses are one window for every call — each call
// that asks during it sleeps to its end — since one call still running
// would keep the event loop out.
type yielding struct{ context.Context }

var yield struct {
	gosync.Mutex
	until time.Time // the end of the current (or last) window
}

func yieldingContext(ctx context.Context) context.Context { return yielding{ctx} }

func (y yielding) Err() error {
	now := time.Now()
	yield.Lock()
	if now.Sub(yield.until) >= yieldEvery {
		yield.until = now.Add(yieldFor) // open a window
	}
	wait := yield.until.Sub(now)
	yield.Unlock()
	if wait > 0 {
		time.Sleep(wait) // parks the goroutine: with all of them parked, the event loop runs
	}
	return y.Context.Err()
}
