//go:build js && wasm

package main

import (
	"context"
	"time"
)

// yieldEvery is how long a call runs before it lets JavaScript's event
// loop run once.
const yieldEvery = 50 * time.Millisecond

// yielding is a call's context that, when SQLite asks it whether the call
// was cancelled (which it does every few thousand instructions of a
// running statement), first lets JavaScript's event loop run if the call
// has held it for yieldEvery. Go in WebAssembly returns to the event loop
// only when every goroutine waits, so without this a long import or query
// holds the Worker (or Node) until it ends: a cancel message could not
// arrive, nor anything else.
type yielding struct {
	context.Context
	last time.Time
}

func yieldingContext(ctx context.Context) context.Context {
	return &yielding{Context: ctx, last: time.Now()}
}

func (y *yielding) Err() error {
	if now := time.Now(); now.Sub(y.last) >= yieldEvery {
		time.Sleep(time.Millisecond) // parks the goroutine: the event loop runs
		y.last = time.Now()
	}
	return y.Context.Err()
}
