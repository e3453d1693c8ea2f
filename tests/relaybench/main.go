// Command relaybench measures the relay on this machine over loopback
// (BENCHMARKS.md, "Relay"): it builds and starts the relay as a separate
// process, so that its CPU and memory can be read from /proc, and drives
// it with WebSocket clients.
//
//	go run ./tests/relaybench                  # all phases
//	go run ./tests/relaybench -phase idle      # one phase
//
// Phases:
//   - rate: 1,000 connections in 100 rooms publish 10,000 small batches per
//     second in all; each is delivered to the 9 other members of its room.
//     It reports delivered messages/s and publish→delivery latency.
//   - max: the same clients publish as fast as the relay acknowledges.
//   - idle: 10,000 connections join and stay idle; it reports the relay's
//     memory per connection.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/factlog/factlog/relay/protocol"
)

var profile = flag.String("cpuprofile", "", "have the relay write CPU profiles to this path + .phase")

func main() {
	phase := flag.String("phase", "all", "rate, max, idle or all")
	dur := flag.Duration("duration", 10*time.Second, "how long each traffic phase runs")
	pubRate := flag.Int("rate", 10_000, "published messages per second in the rate phase")
	rooms := flag.Int("rooms", 100, "rooms in the traffic phases (10 connections each)")
	flag.Parse()
	raiseFileLimit()
	dir, err := os.MkdirTemp("", "relaybench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "relay")
	build := exec.Command("go", "build", "-o", bin, "./relay/cmd/relay")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("machine: %d CPUs, %s\n", cpus(), strings.TrimSpace(cpuModel()))
	for _, p := range []string{"rate", "max", "idle"} {
		if *phase != "all" && *phase != p {
			continue
		}
		r := startRelay(bin, dir, p)
		switch p {
		case "rate":
			traffic(r, *rooms, 10, *pubRate, *dur)
		case "max":
			traffic(r, *rooms, 10, 0, *dur)
		case "idle":
			idle(r, 10_000)
		}
		r.stop()
	}
}

type relayProc struct {
	cmd  *exec.Cmd
	addr string
}

func startRelay(bin, dir, name string) *relayProc {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	args := []string{"-addr", addr, "-db", filepath.Join(dir, name+".db"),
		"-msg-rate", "100000", "-ip-rate", "1000000000", "-ip-conns", "1000000", "-ip-sockets", "1000000", "-ip-bytes", "0", "-max-conns", "50000", "-log-level", "warn"}
	if *profile != "" {
		args = append(args, "-cpuprofile", *profile+"."+name)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	// The relay dies with the bench, which a log.Fatal ends at once: an
	// orphan kept serving, and holding the caller's pipe open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	for range 200 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	return &relayProc{cmd: cmd, addr: addr}
}

func (r *relayProc) stop() {
	r.cmd.Process.Signal(syscall.SIGTERM)
	r.cmd.Wait()
}

// usage reads the relay's CPU time (user+system) and resident memory.
func (r *relayProc) usage() (cpu time.Duration, rss int64) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.cmd.Process.Pid))
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	pages, _ := strconv.ParseInt(f[21], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond, pages * int64(os.Getpagesize())
}

// storeLatency reads the relay's mean time to store a body from /metrics.
func (r *relayProc) storeLatency() time.Duration {
	resp, err := http.Get("http://" + r.addr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sum, count float64
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "relay_store_append_seconds_sum "); ok {
			sum, _ = strconv.ParseFloat(v, 64)
		}
		if v, ok := strings.CutPrefix(line, "relay_store_append_seconds_count "); ok {
			count, _ = strconv.ParseFloat(v, 64)
		}
	}
	if count == 0 {
		return 0
	}
	return time.Duration(sum / count * float64(time.Second))
}

func dial(addr, room string) *websocket.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/v1/rooms/"+room, nil)
	if err != nil {
		log.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(2 << 20)
	ws.Write(ctx, websocket.MessageBinary, protocol.Encode(protocol.Envelope{Kind: protocol.Join}))
	for { // welcome, backlog, caught_up
		_, b, err := ws.Read(ctx)
		if err != nil {
			log.Fatalf("join: %v", err)
		}
		es, _ := protocol.DecodeAll(b)
		for _, e := range es {
			if e.Kind == protocol.CaughtUp {
				return ws
			}
		}
	}
}

// traffic runs rooms×members connections; each publishes bodies stamped
// with the send time, at rate per second in all (0: as fast as acks come
// back, one publish in flight per connection).
func traffic(r *relayProc, rooms, members, rate int, dur time.Duration) {
	n := rooms * members
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		conns[i] = dial(r.addr, fmt.Sprintf("room-%d", i%rooms))
	}
	var delivered atomic.Int64
	var published atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	acks := make([]chan struct{}, n)
	measuring := atomic.Bool{}
	for i, ws := range conns {
		acks[i] = make(chan struct{}, 1)
		wg.Add(1)
		go func() { // reader
			defer wg.Done()
			local := make([]time.Duration, 0, 1024)
			defer func() {
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
			}()
			for {
				_, b, err := ws.Read(ctx)
				if err != nil {
					return
				}
				es, _ := protocol.DecodeAll(b)
				for _, e := range es {
					switch e.Kind {
					case protocol.Deliver:
						if measuring.Load() {
							delivered.Add(1)
							sent := int64(binary.BigEndian.Uint64(e.Body))
							local = append(local, time.Duration(time.Now().UnixNano()-sent))
						}
					case protocol.Ack:
						select {
						case acks[i] <- struct{}{}:
						default:
						}
					}
				}
			}
		}()
	}
	body := make([]byte, 120) // a small batch: a few todo edits
	for i, ws := range conns {
		wg.Add(1)
		go func() { // publisher
			defer wg.Done()
			var tick <-chan time.Time
			if rate > 0 {
				per := time.Duration(float64(time.Second) * float64(n) / float64(rate))
				time.Sleep(time.Duration(i) * per / time.Duration(n)) // spread the connections out evenly
				t := time.NewTicker(per)
				defer t.Stop()
				tick = t.C
			}
			b := slices.Clone(body)
			for id := uint64(1); ; id++ {
				if rate > 0 {
					select {
					case <-tick:
					case <-ctx.Done():
						return
					}
				}
				binary.BigEndian.PutUint64(b, uint64(time.Now().UnixNano()))
				if ws.Write(ctx, websocket.MessageBinary, protocol.Encode(protocol.Envelope{Kind: protocol.Publish, ID: id, Body: b})) != nil {
					return
				}
				published.Add(1)
				if rate == 0 {
					select {
					case <-acks[i]:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
	}
	time.Sleep(2 * time.Second) // warm up
	cpu0, _ := r.usage()
	pub0 := published.Load()
	measuring.Store(true)
	start := time.Now()
	time.Sleep(dur)
	measuring.Store(false)
	elapsed := time.Since(start)
	cpu1, rss := r.usage()
	pub1 := published.Load()
	storeAvg := r.storeLatency()
	cancel()
	for _, ws := range conns {
		ws.CloseNow()
	}
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(float64(len(lat)-1)*p)]
	}
	name := fmt.Sprintf("%d published/s target", rate)
	if rate == 0 {
		name = "as fast as acked"
	}
	fmt.Printf("\n%d connections in %d rooms, %s:\n", n, rooms, name)
	fmt.Printf("  published  %8.0f msg/s\n", float64(pub1-pub0)/elapsed.Seconds())
	fmt.Printf("  delivered  %8.0f msg/s\n", float64(delivered.Load())/elapsed.Seconds())
	fmt.Printf("  latency    p50 %v  p99 %v  max %v (publish → delivery)\n", pct(0.5).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), pct(1).Round(10*time.Microsecond))
	fmt.Printf("  relay CPU  %.0f%% of one core; RSS %d MiB; store append %v on average\n", 100*float64(cpu1-cpu0)/float64(elapsed), rss>>20, storeAvg.Round(10*time.Microsecond))
}

// idle opens n connections that join and stay idle, and reports the
// relay's memory per connection.
func idle(r *relayProc, n int) {
	time.Sleep(500 * time.Millisecond)
	_, before := r.usage()
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		conns[i] = dial(r.addr, fmt.Sprintf("room-%d", i%100))
	}
	time.Sleep(2 * time.Second)
	_, after := r.usage()
	fmt.Printf("\n%d idle connections: relay RSS %d MiB → %d MiB, %.1f KB per connection\n",
		n, before>>20, after>>20, float64(after-before)/float64(n)/1024)
	for _, ws := range conns {
		ws.CloseNow()
	}
}

func raiseFileLimit() {
	var l syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	l.Cur = l.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}

func cpus() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			return strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
		}
	}
	return ""
}
