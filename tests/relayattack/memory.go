package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/factlog/factlog/relay/protocol"
)

// sample follows the relay's resident memory until stop is closed; peak
// then returns the most it saw (or the kernel's VmHWM, if higher).
func sample(r *relayProc, stop <-chan struct{}) (peak func() int64) {
	var mu sync.Mutex
	var most int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			rss, _ := r.memory()
			mu.Lock()
			most = max(most, rss)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		<-done
		_, hwm := r.memory()
		mu.Lock()
		defer mu.Unlock()
		return max(most, hwm)
	}
}

// memory runs the flood and the slow joins on a relay with the default
// limits, and reports its peak memory.
func memory(bin, dir string, floodFor time.Duration) bool {
	ok := true
	body := make([]byte, protocol.MaxBody(protocol.MaxFrame))

	// The flood: one client publishes the largest bodies as fast as the
	// relay takes them (default limits: 100 messages/s, a 256 MiB quota);
	// another room publishes a small body every 100 ms.
	r := &relayProc{bin: bin, addr: freeAddr(), args: []string{"-db", filepath.Join(dir, "flood.db")}}
	r.start()
	r.resetPeak()
	base, _ := r.memory()
	stop := make(chan struct{})
	peak := sample(r, stop)
	ctx, cancel := context.WithTimeout(context.Background(), floodFor)
	var wg sync.WaitGroup
	var acked, refused int
	wg.Add(1)
	go func() {
		defer wg.Done()
		ws := dial(r.addr, "flood")
		defer ws.CloseNow()
		send(ws, protocol.Envelope{Kind: protocol.Join})
		wg.Add(1)
		go func() { // ends when ws closes, below
			defer wg.Done()
			for i := 1; ctx.Err() == nil; i++ {
				if send(ws, protocol.Envelope{Kind: protocol.Publish, ID: uint64(i), Body: body}) != nil {
					return
				}
			}
		}()
		for ctx.Err() == nil {
			es, err := recv(ws, 10*time.Second)
			if err != nil {
				return
			}
			for _, e := range es {
				switch {
				case e.Kind == protocol.Ack:
					acked++
				case e.Kind == protocol.Error && e.Code == protocol.QuotaExceeded:
					refused++
				}
			}
		}
	}()
	var lat []time.Duration
	var failed int
	other := dial(r.addr, "other")
	send(other, protocol.Envelope{Kind: protocol.Join})
	recv(other, 10*time.Second) // welcome and caught_up
	for i := 1; ctx.Err() == nil; i++ {
		t0 := time.Now()
		send(other, protocol.Envelope{Kind: protocol.Publish, ID: uint64(i), Body: []byte("small")})
		es, err := recv(other, 60*time.Second)
		if err != nil || es[0].Kind != protocol.Ack {
			failed++
		} else {
			lat = append(lat, time.Since(t0))
		}
		time.Sleep(100 * time.Millisecond)
	}
	other.CloseNow()
	wg.Wait()
	cancel()
	close(stop)
	p := peak()
	slices.Sort(lat)
	pct := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(q*float64(len(lat)-1))].Round(100 * time.Microsecond)
	}
	stored := int64(acked) * int64(len(body))
	fmt.Printf("\nflood, %v: %d bodies of 1 MiB acknowledged (%d MiB), %d refused quota_exceeded (quota 256 MiB)\n",
		floodFor, acked, stored>>20, refused)
	fmt.Printf("  relay RSS %d MiB at the start, peak %d MiB\n", base>>20, p>>20)
	fmt.Printf("  another room meanwhile: %d publishes, p50 %v, p99 %v, max %v, %d failed\n",
		len(lat), pct(0.5), pct(0.99), pct(1), failed)
	if stored > 256<<20 || failed > 0 {
		fmt.Println("  FAIL: the quota was exceeded or the other room failed")
		ok = false
	}
	r.stop()

	// Slow joins: a room of 250 bodies of 1 MiB, then 12 joiners that
	// read one message every 100 ms for 20 s. They come from one address,
	// which has 8 backlogs sent at once (relay.DefaultBacklogsPerIP): the
	// other 4 wait for a turn, and read nothing in these 20 s.
	r = &relayProc{bin: bin, addr: freeAddr(), args: []string{"-db", filepath.Join(dir, "join.db"), "-msg-rate", "100000"}}
	r.start()
	ws := dial(r.addr, "backlog")
	send(ws, protocol.Envelope{Kind: protocol.Join})
	recv(ws, 10*time.Second)
	const n, joiners = 250, 12
	for i := range n {
		send(ws, protocol.Envelope{Kind: protocol.Publish, ID: uint64(i + 1), Body: body})
		if es, err := recv(ws, 60*time.Second); err != nil || es[0].Kind != protocol.Ack {
			fmt.Println("  FAIL: filling the room:", err)
			return false
		}
	}
	ws.CloseNow()
	r.resetPeak()
	base, _ = r.memory()
	stop = make(chan struct{})
	peak = sample(r, stop)
	got := make([]int, joiners)
	for j := range joiners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(r.addr, "backlog")
			defer c.CloseNow()
			send(c, protocol.Envelope{Kind: protocol.Join})
			for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
				es, err := recv(c, 30*time.Second)
				if err != nil {
					return
				}
				got[j] += len(es)
			}
		}()
	}
	wg.Wait()
	close(stop)
	p = peak()
	fmt.Printf("\n%d slow joiners of a %d MiB backlog, 20 s: they read %v envelopes\n", joiners, n, got)
	fmt.Printf("  relay RSS %d MiB before the joins, peak %d MiB (+%d MiB, %.1f MiB per joiner)\n",
		base>>20, p>>20, (p-base)>>20, float64(p-base)/float64(joiners)/(1<<20))
	r.stop()
	return ok
}
