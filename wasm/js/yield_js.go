//go:build js && wasm

package main

import (
	"context"
	gosync "sync"
	"time"
)

// yieldEvery is how long calls may hold JavaScript's event loop before
// they let it run; yieldFor is how long they leave it.
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
//
// Only calls that have held the loop pause: a short one (an append, a
// query) that comes after a quiet moment does not. (At first the first
// call after a quiet moment paused at once, and a pause is a timer, which
// a browser may clamp to 4 ms or more: an app's every interaction paid it.)
type yielding struct{ context.Context }

// yieldCheck: only every yieldCheck-th question reads the clock. SQLite asks
// before every statement and every few thousand instructions, and a clock
// read is a call into JavaScript: reading it each time cost 3% of a long
// import in Node. A pause then starts a few questions late, well within
// yieldEvery.
const yieldCheck = 8

var yield struct {
	gosync.Mutex
	asked int
	// When the event loop last ran, as far as the calls know, and the end
	// of the current (or last) window, as durations since epoch: one
	// monotonic clock read (time.Since) where time.Now reads two clocks.
	loop, until time.Duration
}

var epoch = time.Now()

func yieldingContext(ctx context.Context) context.Context { return yielding{ctx} }

// loopRan records that JavaScript's event loop runs now: a call or a
// cancel has just come from it.
func loopRan() {
	now := time.Since(epoch)
	yield.Lock()
	yield.loop = now
	yield.Unlock()
}

func (y yielding) Err() error {
	var wait time.Duration
	yield.Lock()
	if yield.asked++; yield.asked%yieldCheck == 0 {
		switch now := time.Since(epoch); {
		case now < yield.until: // a window is open: pause to its end
			wait = yield.until - now
		case now-yield.loop >= yieldEvery:
			yield.until = now + yieldFor
			yield.loop = yield.until // the loop runs during the window
			wait = yieldFor
		}
	}
	yield.Unlock()
	if wait > 0 {
		time.Sleep(wait) // parks the goroutine: with all of them parked, the event loop runs
	}
	return y.Context.Err()
}
