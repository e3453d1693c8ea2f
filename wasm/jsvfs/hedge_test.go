package jsvfs

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// requests stands in for an asynchronous source of grants: request i
// settles as its script says, after its delay, or never.
type requests struct {
	mu       sync.Mutex
	asked    int
	released []int
}

type reply struct {
	after time.Duration
	never bool
	err   error
}

func (r *requests) ask(script []reply) func(func(int, error)) {
	return func(settle func(int, error)) {
		r.mu.Lock()
		i := r.asked
		r.asked++
		r.mu.Unlock()
		s := script[i]
		if s.never {
			return
		}
		time.AfterFunc(s.after, func() { settle(i, s.err) })
	}
}

func (r *requests) release(v int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.released = append(r.released, v)
}

func TestHedge(t *testing.T) {
	// Answers come half a period away from any decision, which a busy
	// machine's timers keep in order.
	const every = 100 * time.Millisecond
	refused := errors.New("refused")
	never := reply{never: true}
	for _, tt := range []struct {
		name     string
		script   []reply
		want     int
		err      error
		released []int // what is given back, after the late grants came
		asked    int
	}{
		{"granted at once", []reply{{}}, 0, nil, nil, 1},
		{"the first never answers: the second is granted", []reply{never, {}}, 1, nil, nil, 2},
		{"a slow first grant wins over a refused second", []reply{{after: 2*every + every/2}, {err: refused}, never}, 0, nil, nil, 3},
		{"two grants: the first is used, the late one released", []reply{{after: every + every/2}, {}, never}, 1, nil, []int{0}, 2},
		{"refused with nothing pending", []reply{{err: refused}}, 0, refused, nil, 1},
		{"never answered", []reply{never, never, never}, 0, errStillWaiting, nil, 3},
		{"refused, then nothing answers", []reply{never, {err: refused}, never}, 0, refused, nil, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &requests{}
			got, err := hedge(r.ask(tt.script), every, 3, r.release)
			if !errors.Is(err, tt.err) || (err == nil && got != tt.want) {
				t.Fatalf("got %d, %v; want %d, %v", got, err, tt.want, tt.err)
			}
			time.Sleep(4 * every) // late answers come
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.asked != tt.asked {
				t.Errorf("asked %d times; want %d", r.asked, tt.asked)
			}
			if len(r.released) != len(tt.released) || (len(tt.released) > 0 && r.released[0] != tt.released[0]) {
				t.Errorf("released %v; want %v", r.released, tt.released)
			}
		})
	}
}
