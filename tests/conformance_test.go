package tests

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/factlog/factlog/relay"
	"github.com/factlog/factlog/relay/protocol"
	"github.com/factlog/factlog/relay/relaytest"
	"github.com/factlog/factlog/relay/room"
	"github.com/factlog/factlog/relay/sqlitestore"
	"github.com/factlog/factlog/wasm/link"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/todo"
)

// conformanceSecret signs the room tokens of both targets.
var conformanceSecret = []byte("conformance-secret-0123456789")

// A target is a relay the conformance suite runs against.
type target struct {
	name string
	base string // ws://host:port
	log  string // wrangler's output, for the Worker
}

func (tg target) url(t *testing.T, name string, mode room.Mode) string {
	t.Helper()
	tok, err := room.MintToken(conformanceSecret, name, mode, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tg.base + "/v1/rooms/" + name + "?token=" + tok
}

// nativeTarget is the Go relay on a store in a temp folder.
func nativeTarget(t *testing.T) target {
	store, err := sqlitestore.Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := relay.New(relay.Options{Store: store, Secret: conformanceSecret, MessagesPerSecond: 1000, MessageBurst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hs.Close()
		srv.Close(ctx)
		store.Close()
	})
	return target{name: "native", base: "ws://" + l.Addr().String()}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var workerBuild struct {
	sync.Once
	out []byte
	err error
}

// cloudflareBuild builds the Worker once per test run.
func cloudflareBuild(t *testing.T) {
	t.Helper()
	workerBuild.Do(func() {
		cmd := exec.Command("go", "run", "./build", "-cloudflare")
		cmd.Dir = root
		workerBuild.out, workerBuild.err = cmd.CombinedOutput()
	})
	if workerBuild.err != nil {
		t.Fatalf("go run ./build -cloudflare: %v\n%s", workerBuild.err, workerBuild.out)
	}
}

// wranglerEnv keeps wrangler offline and quiet.
var wranglerEnv = []string{"WRANGLER_SEND_METRICS=false", "DO_NOT_TRACK=1", "CLOUDFLARE_CF_FETCH_ENABLED=false", "WRANGLER_SEND_ERROR_REPORTS=false", "CI=true"}

// cloudflareTarget builds the Worker and runs it with `wrangler dev
// --local` (workerd, offline) on 127.0.0.1.
func cloudflareTarget(t *testing.T) target {
	wrangler := need(t, filepath.Join(root, "node_modules", ".bin", "wrangler"), "run npm ci at the repository's top")
	cloudflareBuild(t)
	port := freePort(t)
	log, err := os.Create(filepath.Join(t.TempDir(), "wrangler.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(wrangler, "dev", "--local", "--ip", "127.0.0.1", "--port", strconv.Itoa(port),
		"--inspector-port", strconv.Itoa(freePort(t)), "--show-interactive-dev-session=false",
		"--persist-to", t.TempDir(), "--var", "RELAY_SECRET:"+string(conformanceSecret))
	cmd.Dir = filepath.Join(root, "relay", "cloudflare")
	cmd.Env = append(os.Environ(), wranglerEnv...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so that workerd goes with it
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
	})
	base := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(120 * time.Second)
	for {
		resp, err := http.Get("http://" + base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("wrangler dev did not answer within 120 s:\n%s", out)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return target{"cloudflare", "ws://" + base, log.Name()}
}

// TestConformance runs the relay protocol's conformance suite against the
// native relay and against the Cloudflare Worker: one room logic, two
// transports and stores, the same behaviour.
func TestConformance(t *testing.T) {
	for _, start := range []func(*testing.T) target{nativeTarget, cloudflareTarget} {
		tg := start(t)
		t.Run(tg.name, func(t *testing.T) { conformance(t, tg) })
	}
}

func conformance(t *testing.T, tg target) {
	t.Run("publish, ack, forward", func(t *testing.T) {
		a, b := relaytest.Dial(t, tg.url(t, "paf", room.ReadWrite)), relaytest.Dial(t, tg.url(t, "paf", room.ReadWrite))
		w, _ := a.Join(0, "")
		b.Join(0, "")
		a.Send(protocol.Envelope{Kind: protocol.Publish, ID: 7, Body: []byte("batch")})
		if ack := a.Recv(); ack.Kind != protocol.Ack || ack.ID != 7 || ack.Cursor != 1 {
			t.Fatalf("ack %+v", ack)
		}
		if d := b.Recv(); d.Kind != protocol.Deliver || d.Cursor != 1 || string(d.Body) != "batch" {
			t.Fatalf("delivery %+v", d)
		}
		if w.Epoch == "" {
			t.Fatal("no epoch in the welcome")
		}
	})
	t.Run("join with a cursor", func(t *testing.T) {
		a := relaytest.Dial(t, tg.url(t, "cursor", room.ReadWrite))
		w, _ := a.Join(0, "")
		for i := range 3 {
			a.Send(protocol.Envelope{Kind: protocol.Publish, ID: uint64(i + 1), Body: []byte{byte(i)}})
			a.Recv()
		}
		_, backlog := relaytest.Dial(t, tg.url(t, "cursor", room.ReadOnly)).Join(1, w.Epoch)
		if len(backlog) != 2 || backlog[0].Cursor != 2 || backlog[1].Cursor != 3 {
			t.Fatalf("backlog after cursor 1: %+v", backlog)
		}
		got, backlog := relaytest.Dial(t, tg.url(t, "cursor", room.ReadOnly)).Join(2, "another epoch")
		if got.Code != protocol.EpochChanged || len(backlog) != 3 {
			t.Fatalf("another epoch: %+v, %d bodies", got, len(backlog))
		}
	})
	t.Run("gapless under concurrent publishers", func(t *testing.T) {
		listener := relaytest.Dial(t, tg.url(t, "gapless", room.ReadOnly))
		listener.Join(0, "")
		const publishers, each = 4, 25
		var wg sync.WaitGroup
		for p := range publishers {
			c := relaytest.Dial(t, tg.url(t, "gapless", room.ReadWrite))
			c.Join(0, "")
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					c.Send(protocol.Envelope{Kind: protocol.Publish, ID: uint64(i + 1), Body: []byte(fmt.Sprint(p, i))})
				}
			}()
		}
		seen := map[string]bool{}
		for i := range publishers * each {
			e := listener.Recv()
			if e.Kind != protocol.Deliver || e.Cursor != uint64(i+1) || seen[string(e.Body)] {
				t.Fatalf("delivery %d: %+v (a gap, a repeat or out of order)", i+1, e)
			}
			seen[string(e.Body)] = true
		}
		wg.Wait()
	})
	t.Run("oversized frame", func(t *testing.T) {
		c := relaytest.Dial(t, tg.url(t, "big", room.ReadWrite))
		c.Join(0, "")
		c.WS.Write(context.Background(), websocket.MessageBinary, protocol.Encode(protocol.Envelope{Kind: protocol.Publish, ID: 1, Body: make([]byte, protocol.MaxFrame+1)}))
		if code, _ := c.Closed(); code != websocket.StatusMessageTooBig {
			t.Fatalf("closed with %d, want 1009", code)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		expired, _ := room.MintToken(conformanceSecret, "tok", room.ReadWrite, -time.Minute)
		other, _ := room.MintToken([]byte("another secret, long enough"), "tok", room.ReadWrite, time.Hour)
		for name, tok := range map[string]string{"missing": "", "expired": expired, "wrong secret": other} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, resp, err := websocket.Dial(ctx, tg.base+"/v1/rooms/tok?token="+tok, nil)
			cancel()
			if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s token: %v %v, want 401", name, err, resp)
			}
		}
		ro := relaytest.Dial(t, tg.url(t, "tok", room.ReadOnly))
		ro.Join(0, "")
		ro.Send(protocol.Envelope{Kind: protocol.Publish, ID: 1, Body: []byte("x")})
		if e := ro.Recv(); e.Kind != protocol.Error || e.Code != protocol.ReadOnly {
			t.Fatalf("read-only publish: %+v", e)
		}
	})
	t.Run("library clients converge", func(t *testing.T) {
		ctx := context.Background()
		var stores []*store.Store
		for range 2 {
			s, err := store.Open(ctx, store.Options{Schema: todo.Schema, Materializers: todo.LastWriterWins})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			url, tok, _ := strings.Cut(tg.url(t, "library", room.ReadWrite), "?token=")
			l, err := link.Start(s, link.Options{URL: url, Token: tok, MinBackoff: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			stores = append(stores, s)
		}
		stores[0].Append(ctx, "1", "create", []byte(`"make pasta"`))
		stores[1].Append(ctx, "2", "create", []byte(`"clean"`))
		deadline := time.Now().Add(30 * time.Second)
		for {
			a, _ := stores[0].Query(ctx, `SELECT count(*) FROM todo`)
			b, _ := stores[1].Query(ctx, `SELECT count(*) FROM todo`)
			if a.Values[0][0] == int64(2) && b.Values[0][0] == int64(2) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no convergence through %s: %v %v", tg.name, a.Values, b.Values)
			}
			time.Sleep(25 * time.Millisecond)
		}
	})
}

// TestWorkerHibernation leaves a room idle until the runtime evicts its
// object — its sockets stay open — and checks that the room works on: the
// next message starts Go again, which finds the sockets and their
// sessions (getWebSockets and the attachments), so the body still reaches
// the other member. worker.mjs logs each start of a room object with the
// sockets it finds, which tells when an eviction happened.
func TestWorkerHibernation(t *testing.T) {
	tg := cloudflareTarget(t)
	a, b := relaytest.Dial(t, tg.url(t, "idle", room.ReadWrite)), relaytest.Dial(t, tg.url(t, "idle", room.ReadWrite))
	w, _ := a.Join(0, "")
	b.Join(0, "")
	evicted := false
	for seq := uint64(1); !evicted; seq++ {
		if seq > 8 {
			t.Fatal("the idle room was not evicted in 8 rounds of 15 s")
		}
		time.Sleep(15 * time.Second) // idle: workerd evicts after about 10 s
		out, _ := os.ReadFile(tg.log)
		before := strings.Count(string(out), "room object starting, 2 sockets open")
		body := fmt.Sprint("after idling ", seq)
		a.Send(protocol.Envelope{Kind: protocol.Publish, ID: seq, Body: []byte(body)})
		if ack := a.Recv(); ack.Kind != protocol.Ack || ack.Cursor != seq {
			t.Fatalf("ack: %+v", ack)
		}
		if d := b.Recv(); d.Kind != protocol.Deliver || string(d.Body) != body {
			t.Fatalf("delivery: %+v", d)
		}
		out, _ = os.ReadFile(tg.log)
		evicted = strings.Count(string(out), "room object starting, 2 sockets open") > before
	}
	if w2, _ := relaytest.Dial(t, tg.url(t, "idle", room.ReadOnly)).Join(0, w.Epoch); w2.Epoch != w.Epoch || w2.Code != "" {
		t.Fatalf("the room's store after hibernation: %+v", w2)
	}
}

// TestWorkerUpload checks that `wrangler deploy --dry-run` reports an
// upload within the free plan's 3 MB (compressed), and prints it.
func TestWorkerUpload(t *testing.T) {
	cloudflareBuild(t)
	wrangler := need(t, filepath.Join(root, "node_modules", ".bin", "wrangler"), "run npm ci at the repository's top")
	cmd := exec.Command(wrangler, "deploy", "--dry-run", "--outdir", t.TempDir())
	cmd.Dir = filepath.Join(root, "relay", "cloudflare")
	cmd.Env = append(os.Environ(), wranglerEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("wrangler deploy --dry-run: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Total Upload: ([0-9.]+) KiB / gzip: ([0-9.]+) KiB`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no upload size in:\n%s", out)
	}
	gzip, _ := strconv.ParseFloat(string(m[2]), 64)
	t.Logf("Worker upload: %s KiB, %s KiB gzipped (free plan limit: 3 MB)", m[1], m[2])
	if gzip > 3000 {
		t.Fatalf("the Worker is %.0f KiB gzipped, over the free plan's 3 MB", gzip)
	}
}
