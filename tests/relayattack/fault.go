package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"time"

	"github.com/factlog/factlog/relay/protocol"
)

const (
	faultRooms      = 4
	faultPublishers = 2 // per room
	faultWindow     = 8 // publishes in flight per publisher
)

// ledger is what the clients of one room saw.
type ledger struct {
	mu    sync.Mutex
	acked map[string]uint64 // body → the seq its ack gave
	read  map[string]uint64 // body → the seq a resuming reader got it at
	bad   []string          // what broke the rules (the first 20)
	count map[string]int    // broken rules by kind: lost, gap, duplicate, other
}

func (l *ledger) fail(kind, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failLocked(kind, format, args...)
}

func (l *ledger) failLocked(kind, format string, args ...any) {
	l.count[kind]++
	if len(l.bad) < 20 {
		l.bad = append(l.bad, kind+": "+fmt.Sprintf(format, args...))
	}
}

// fault kills the relay kills times under load and checks what was
// acknowledged and delivered.
func fault(bin, dir string, kills int, seed int64) bool {
	rnd := rand.New(rand.NewPCG(uint64(seed), 0))
	r := &relayProc{bin: bin, addr: freeAddr(), args: []string{"-db", filepath.Join(dir, "fault.db"),
		"-msg-rate", "100000", "-ip-rate", "1000000000", "-ip-conns", "100000"}}
	r.start()
	ledgers := make([]*ledger, faultRooms)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var resumes sync.Map // reader → reconnections
	for i := range ledgers {
		l := &ledger{acked: map[string]uint64{}, read: map[string]uint64{}, count: map[string]int{}}
		ledgers[i] = l
		room := fmt.Sprint("fault-", i)
		for p := range faultPublishers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				publisher(ctx, r.addr, room, fmt.Sprintf("%s/p%d/", room, p), l)
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resumes.Store(room, reader(ctx, r.addr, room, l))
		}()
	}
	fmt.Printf("fault: %d rooms, %d publishers each (%d in flight), a resuming reader each; %d kills, seed %d\n",
		faultRooms, faultPublishers, faultWindow, kills, seed)
	start := time.Now()
	for range kills {
		time.Sleep(time.Duration(200+rnd.IntN(1800)) * time.Millisecond)
		r.kill()
		time.Sleep(time.Duration(rnd.IntN(200)) * time.Millisecond)
		r.start()
	}
	time.Sleep(2 * time.Second) // the clients reconnect and catch up
	cancel()
	wg.Wait()
	elapsed := time.Since(start)
	r.kill()
	r.start() // one more, with no load: the file as a crash left it
	defer r.stop()

	ok := true
	total, unknownKept := 0, 0
	broken := map[string]int{}
	for i, l := range ledgers {
		room := fmt.Sprint("fault-", i)
		kept, err := fetchAll(r.addr, room)
		if err != nil {
			l.fail("other", "fresh join: %v", err)
		}
		bySeq := map[uint64]string{}
		seen := map[string]uint64{}
		for seq, body := range kept {
			if seq != uint64(len(bySeq)+1) {
				l.fail("gap", "fresh join: seq %d after %d", seq, len(bySeq))
			}
			if prev, dup := seen[body]; dup {
				l.fail("duplicate", "body %q kept twice, at %d and %d", body, prev, seq)
			}
			bySeq[seq], seen[body] = body, seq
		}
		for body, seq := range l.acked {
			if bySeq[seq] != body {
				l.fail("lost", "acknowledged %q at seq %d; the relay keeps %q there", body, seq, bySeq[seq])
			}
		}
		for body, seq := range l.read {
			if bySeq[seq] != body {
				l.fail("other", "the reader got %q at seq %d; the relay keeps %q there", body, seq, bySeq[seq])
			}
		}
		unknownKept += len(seen) - len(l.acked)
		total += len(l.acked)
		n, _ := resumes.Load(room)
		fmt.Printf("room %s: %d acknowledged, %d kept, the reader got %d over %v connections\n",
			room, len(l.acked), len(seen), len(l.read), n)
		for _, b := range l.bad {
			fmt.Println("  FAIL:", b)
			ok = false
		}
		for k, n := range l.count {
			broken[k] += n
		}
	}
	fmt.Printf("\n%d kills in %v: %d acknowledged bodies (%.0f/s); lost %d, gaps %d, duplicates %d, other %d; "+
		"%d bodies kept whose ack the kill cut off (allowed: once at most)\n",
		kills, elapsed.Round(time.Second), total, float64(total)/elapsed.Seconds(),
		broken["lost"], broken["gap"], broken["duplicate"], broken["other"], unknownKept)
	return ok
}

// publisher publishes unique bodies (prefix + counter), faultWindow at a
// time, reconnecting after each kill and resuming from its cursor, until
// ctx ends; it records each acknowledged body.
func publisher(ctx context.Context, addr, room, prefix string, l *ledger) {
	var cursor uint64
	var epoch string
	n := 0
	for ctx.Err() == nil {
		ws := dial(addr, room)
		if ws == nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		func() {
			defer ws.CloseNow()
			if send(ws, protocol.Envelope{Kind: protocol.Join, Cursor: cursor, Epoch: epoch}) != nil {
				return
			}
			inflight := map[uint64]string{}
			for ctx.Err() == nil {
				for len(inflight) < faultWindow {
					n++
					body := fmt.Sprint(prefix, n)
					if send(ws, protocol.Envelope{Kind: protocol.Publish, ID: uint64(n), Body: []byte(body)}) != nil {
						return
					}
					inflight[uint64(n)] = body
				}
				es, err := recv(ws, 10*time.Second)
				if err != nil {
					return
				}
				for _, e := range es {
					switch e.Kind {
					case protocol.Welcome:
						if epoch != "" && e.Epoch != epoch {
							l.fail("other", "the epoch changed across a restart: %s → %s", epoch, e.Epoch)
						}
						epoch = e.Epoch
					case protocol.Ack:
						l.mu.Lock()
						l.acked[inflight[e.ID]] = e.Cursor
						l.mu.Unlock()
						delete(inflight, e.ID)
						cursor = max(cursor, e.Cursor)
					case protocol.Deliver, protocol.CaughtUp:
						cursor = max(cursor, e.Cursor)
					case protocol.Error:
						l.fail("other", "publish %d refused: %s %s", e.ID, e.Code, e.Text)
						delete(inflight, e.ID)
					}
				}
			}
		}()
	}
}

// reader joins with its cursor after every kill and checks that the seqs
// it gets follow one another, once each; it returns its connections.
func reader(ctx context.Context, addr, room string, l *ledger) int {
	var cursor uint64
	var epoch string
	conns := 0
	for ctx.Err() == nil {
		ws := dial(addr, room)
		if ws == nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		conns++
		func() {
			defer ws.CloseNow()
			if send(ws, protocol.Envelope{Kind: protocol.Join, Cursor: cursor, Epoch: epoch}) != nil {
				return
			}
			for ctx.Err() == nil {
				es, err := recv(ws, 5*time.Second)
				if err != nil {
					return
				}
				for _, e := range es {
					switch e.Kind {
					case protocol.Welcome:
						if e.Code != "" {
							l.fail("gap", "welcome at cursor %d: %s", cursor, e.Code)
						}
						epoch = e.Epoch
					case protocol.Deliver:
						if e.Cursor != cursor+1 {
							l.fail("gap", "reader at %d got seq %d", cursor, e.Cursor)
						}
						l.mu.Lock()
						if prev, dup := l.read[string(e.Body)]; dup {
							l.failLocked("duplicate", "reader got %q twice (%d, %d)", e.Body, prev, e.Cursor)
						}
						l.read[string(e.Body)] = e.Cursor
						l.mu.Unlock()
						cursor = max(cursor, e.Cursor)
					}
				}
			}
		}()
	}
	return conns
}

// fetchAll joins a room at cursor 0 and returns what it keeps, in order.
func fetchAll(addr, room string) (func(func(uint64, string) bool), error) {
	ws := dial(addr, room)
	if ws == nil {
		return nil, fmt.Errorf("cannot connect")
	}
	defer ws.CloseNow()
	if err := send(ws, protocol.Envelope{Kind: protocol.Join}); err != nil {
		return nil, err
	}
	type kept struct {
		seq  uint64
		body string
	}
	var all []kept
	for {
		es, err := recv(ws, 30*time.Second)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			switch e.Kind {
			case protocol.Deliver:
				all = append(all, kept{e.Cursor, string(e.Body)})
			case protocol.CaughtUp:
				return func(yield func(uint64, string) bool) {
					for _, k := range all {
						if !yield(k.seq, k.body) {
							return
						}
					}
				}, nil
			}
		}
	}
}
