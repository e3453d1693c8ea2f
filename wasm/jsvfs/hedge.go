package jsvfs

import (
	"errors"
	"sync"
	"time"
)

// errStillWaiting ends hedge when no attempt settled in time.
var errStillWaiting = errors.New("no answer")

// hedge gets a resource that an asynchronous request grants — an OPFS
// access handle — from a source that may leave a request unanswered
// forever: Chromium sometimes never settles createSyncAccessHandle for a
// file whose last handle a just-stopped Worker held (a page reloaded),
// while a new request for the same file is granted at once. So hedge asks
// again every `every` while no request has settled, up to `tries`
// requests, and returns the first grant. Every later grant is given to
// release, since only one can be used; a refusal counts only when no
// request is still pending (a pending one may be granted yet). When every
// request is unanswered `every` after the last, hedge returns
// errStillWaiting.
//
// ask must not block: it starts a request and calls settle (once) when
// the request is granted or refused, from any goroutine or callback.
func hedge[T any](ask func(settle func(T, error)), every time.Duration, tries int, release func(T)) (T, error) {
	type answer struct {
		v   T
		err error
	}
	var (
		mu      sync.Mutex
		done    bool
		pending int
		answers = make(chan answer, tries)
	)
	settle := func(v T, err error) {
		mu.Lock()
		defer mu.Unlock()
		pending--
		if done {
			if err == nil && release != nil {
				release(v)
			}
			return
		}
		answers <- answer{v, err}
	}
	// finish takes the decision under mu, so that a grant arriving at the
	// same time is either returned or released, never lost.
	finish := func() {
		mu.Lock()
		done = true
		mu.Unlock()
		for {
			select {
			case a := <-answers: // settled while deciding
				if a.err == nil && release != nil {
					release(a.v)
				}
			default:
				return
			}
		}
	}
	start := func() {
		mu.Lock()
		pending++
		mu.Unlock()
		ask(settle)
	}
	start()
	asked := 1
	timer := time.NewTimer(every)
	defer timer.Stop()
	var last error
	for {
		select {
		case a := <-answers:
			if a.err == nil {
				finish()
				return a.v, nil
			}
			last = a.err
			mu.Lock()
			waiting := pending > 0
			mu.Unlock()
			if !waiting {
				finish()
				var zero T
				return zero, last
			}
		case <-timer.C:
			if asked == tries {
				finish()
				var zero T
				if last != nil {
					return zero, last
				}
				return zero, errStillWaiting
			}
			start()
			asked++
			timer.Reset(every)
		}
	}
}
