// Command relayattack tries the relay as an attacker and a crash would
// (issue 12; figures in BENCHMARKS.md, "Relay under attack"). It builds
// the relay and runs it as a process of its own on 127.0.0.1, so that it
// can be killed and its memory read from /proc.
//
//	go run ./tests/relayattack fault  [-kills 30] [-seed 1]
//	go run ./tests/relayattack memory [-flood 20s]
//	go run ./tests/relayattack memory -relay /tmp/relay-old   # another build
//
// fault: publishers and resuming readers in several rooms while the relay
// is killed with SIGKILL at random moments and restarted on the same
// file; then it checks that every acknowledged body is kept, under its
// seq, exactly once, that every seq a reader got is gapless and unique
// across its reconnections, and that a fresh join gets the same.
//
// memory: one client floods a room with the largest bodies at the default
// limits while another room publishes small ones; then 12 joiners take a
// 250 MiB backlog slowly. It reports the relay's peak RSS in each phase.
//
// Both exit non-zero when a check fails.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/factlog/factlog/relay/protocol"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 || (os.Args[1] != "fault" && os.Args[1] != "memory") {
		log.Fatal("usage: relayattack fault|memory [flags]")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	kills := fs.Int("kills", 30, "fault: how many times to kill the relay")
	seed := fs.Int64("seed", time.Now().UnixNano(), "fault: random seed")
	floodFor := fs.Duration("flood", 20*time.Second, "memory: how long the flood runs")
	relayBin := fs.String("relay", "", "a relay binary to try instead of building ./relay/cmd/relay (an older version, say)")
	fs.Parse(os.Args[2:])
	dir, err := os.MkdirTemp("", "relayattack")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := *relayBin
	if bin == "" {
		bin = filepath.Join(dir, "relay")
		build := exec.Command("go", "build", "-o", bin, "./relay/cmd/relay")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("machine: %d CPUs, %s; %s\n", cpus(), cpuModel(), strings.TrimSpace(goVersion()))
	ok := false
	switch os.Args[1] {
	case "fault":
		ok = fault(bin, dir, *kills, *seed)
	case "memory":
		ok = memory(bin, dir, *floodFor)
	}
	if !ok {
		os.RemoveAll(dir)
		os.Exit(1)
	}
}

// relayProc is the relay running as a process.
type relayProc struct {
	bin, addr string
	args      []string
	cmd       *exec.Cmd
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs the relay and waits (boundedly) until /healthz answers.
func (r *relayProc) start() {
	r.cmd = exec.Command(r.bin, append([]string{"-addr", r.addr, "-log-level", "warn"}, r.args...)...)
	r.cmd.Stderr = os.Stderr
	if err := r.cmd.Start(); err != nil {
		log.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + r.addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			log.Fatal("the relay did not answer /healthz within 30 s")
		}
	}
}

func (r *relayProc) kill() {
	r.cmd.Process.Signal(syscall.SIGKILL)
	r.cmd.Wait()
}

func (r *relayProc) stop() {
	r.cmd.Process.Signal(syscall.SIGTERM)
	r.cmd.Wait()
}

// resetPeak starts the relay's VmHWM afresh (Linux: clear_refs 5).
func (r *relayProc) resetPeak() {
	os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", r.cmd.Process.Pid), []byte("5"), 0)
}

// memory returns the relay's resident and peak resident memory (VmRSS,
// VmHWM), in bytes.
func (r *relayProc) memory() (rss, peak int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", r.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak
}

// dial connects to a room (bounded by 10 s); nil if the relay is down.
func dial(addr, room string) *websocket.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/v1/rooms/"+room, nil)
	if err != nil {
		return nil
	}
	ws.SetReadLimit(protocol.MaxFrame + 4096)
	return ws
}

func send(ws *websocket.Conn, e protocol.Envelope) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return ws.Write(ctx, websocket.MessageBinary, protocol.Encode(e))
}

func recv(ws *websocket.Conn, timeout time.Duration) ([]protocol.Envelope, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, b, err := ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	return protocol.DecodeAll(b)
}

func cpus() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			return strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
		}
	}
	return ""
}

func goVersion() string {
	out, _ := exec.Command("go", "version").Output()
	return string(out)
}
