package conformance

import (
	"bytes"
	"context"
	"errors"
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
	"github.com/factlog/factlog/tests/internal/e2e"
	"github.com/factlog/factlog/wasm/link"
	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/todo"
)

// conformanceSecret signs the room tokens of both targets.
var conformanceSecret = []byte("conformance-secret-0123456789")

// The limits both targets are configured with.
const (
	confRoomBytes   = 16 << 20
	confJoinTimeout = time.Second
	confRetainBytes = 4 << 10 // for the retention targets
)

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
	return startNative(t, relay.Options{})
}

// nativeRetention is the Go relay with retention by bytes, run often.
func nativeRetention(t *testing.T) target {
	return startNative(t, relay.Options{RetainBytes: confRetainBytes, RetainEvery: 200 * time.Millisecond})
}

func startNative(t *testing.T, opts relay.Options) target {
	store, err := sqlitestore.Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	opts.Store, opts.Secret, opts.MessagesPerSecond, opts.MessageBurst = store, conformanceSecret, 1000, 1000
	opts.MaxRoomBytes, opts.JoinTimeout = confRoomBytes, confJoinTimeout
	srv, err := relay.New(opts)
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
		cmd.Dir = e2e.Root
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
	return startWorker(t)
}

// cloudflareRetention is the Worker with retention by bytes, run by the
// Durable Object's alarm every second.
func cloudflareRetention(t *testing.T) target {
	return startWorker(t, "RELAY_RETAIN_BYTES:"+strconv.Itoa(confRetainBytes), "RELAY_RETAIN_EVERY:1s")
}

func startWorker(t *testing.T, vars ...string) target {
	wrangler := e2e.Need(t, filepath.Join(e2e.Root, "node_modules", ".bin", "wrangler"), "run npm ci at the repository's top")
	cloudflareBuild(t)
	vars = append(vars, "RELAY_SECRET:"+string(conformanceSecret), "RELAY_ROOM_BYTES:"+strconv.Itoa(confRoomBytes),
		"RELAY_JOIN_TIMEOUT:"+confJoinTimeout.String())
	// A port found free may be taken by another process (another test
	// package) before workerd binds it: then it starts again on others.
	for attempt := 1; ; attempt++ {
		tg, err := tryWorker(t, wrangler, vars)
		if err == nil {
			return tg
		}
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("wrangler dev, attempt %d: %v", attempt, err)
	}
}

var errPortTaken = errors.New("a port was taken before workerd bound it")

// tryWorker runs wrangler dev on ports found free, until it answers.
func tryWorker(t *testing.T, wrangler string, vars []string) (target, error) {
	port := freePort(t)
	log, err := os.Create(filepath.Join(t.TempDir(), "wrangler.log"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"dev", "--local", "--ip", "127.0.0.1", "--port", strconv.Itoa(port),
		"--inspector-port", strconv.Itoa(freePort(t)), "--show-interactive-dev-session=false", "--persist-to", t.TempDir()}
	for _, v := range vars {
		args = append(args, "--var", v)
	}
	cmd := exec.Command(wrangler, args...)
	cmd.Dir = filepath.Join(e2e.Root, "relay", "cloudflare")
	cmd.Env = append(os.Environ(), wranglerEnv...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so that workerd goes with it
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
	}
	base := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(120 * time.Second)
	client := http.Client{Timeout: 5 * time.Second} // whoever took the port may not answer
	for {
		resp, err := client.Get("http://" + base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		out, _ := os.ReadFile(log.Name())
		if bytes.Contains(out, []byte("Address already in use")) {
			stop()
			return target{}, fmt.Errorf("%w:\n%s", errPortTaken, out)
		}
		if time.Now().After(deadline) {
			stop()
			return target{}, fmt.Errorf("wrangler dev did not answer within 120 s:\n%s", out)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Cleanup(stop)
	return target{"cloudflare", "ws://" + base, log.Name()}, nil
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

// TestConformanceRetention: on both relays, retention (the native
// relay's loop; the Worker's Durable Object alarm) trims a room, and a
// joiner whose cursor falls before what is kept is told truncated and
// gets what is kept, without gap (issue 12, finding 4).
func TestConformanceRetention(t *testing.T) {
	for _, start := range []func(*testing.T) target{nativeRetention, cloudflareRetention} {
		tg := start(t)
		t.Run(tg.name, func(t *testing.T) {
			const n, size = 16, 1 << 10
			a := relaytest.Dial(t, tg.url(t, "retained", room.ReadWrite))
			w, _ := a.Join(0, "")
			for i := range n {
				a.Send(protocol.Envelope{Kind: protocol.Publish, ID: uint64(i + 1), Body: make([]byte, size)})
				if e := a.Recv(); e.Kind != protocol.Ack {
					t.Fatalf("publish %d: %+v", i+1, e)
				}
			}
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(250 * time.Millisecond) {
				got, backlog := relaytest.Dial(t, tg.url(t, "retained", room.ReadOnly)).Join(0, w.Epoch)
				if got.Code == protocol.Truncated {
					if len(backlog) == 0 || len(backlog)*size > confRetainBytes || backlog[len(backlog)-1].Cursor != n {
						t.Fatalf("after retention: %d bodies, the last %d", len(backlog), backlog[len(backlog)-1].Cursor)
					}
					for i, e := range backlog {
						if e.Kind != protocol.Deliver || e.Cursor != backlog[0].Cursor+uint64(i) {
							t.Fatalf("backlog after retention has a gap at %d: %+v", i, e.Kind)
						}
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("retention did not run within 60 s")
				}
			}
		})
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
			// Accepted, then closed with 1008 and the reason: what a
			// browser can see (not a 401 before the upgrade).
			code, reason := relaytest.Dial(t, tg.base+"/v1/rooms/tok?token="+tok).Closed()
			if code != protocol.CloseToken || !strings.HasPrefix(reason, room.ErrToken.Error()) {
				t.Errorf("%s token: closed with %d %q, want %d and why", name, code, reason, protocol.CloseToken)
			}
		}
		// The link ends there, rather than retry forever.
		s, err := store.Open(context.Background(), store.Options{Schema: todo.Schema, Materializers: todo.LastWriterWins})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		l, err := link.Start(s, link.Options{URL: tg.base + "/v1/rooms/tok", Token: expired, MinBackoff: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		for deadline := time.Now().Add(30 * time.Second); l.Status().State != link.Closed; time.Sleep(25 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("a link with an expired token: %+v, want closed", l.Status())
			}
		}
		if st := l.Status(); st.Code != store.CodeArgument || !strings.Contains(st.Error, "expired") {
			t.Fatalf("a link with an expired token: %+v, want %s saying so", st, store.CodeArgument)
		}
		ro := relaytest.Dial(t, tg.url(t, "tok", room.ReadOnly))
		ro.Join(0, "")
		ro.Send(protocol.Envelope{Kind: protocol.Publish, ID: 1, Body: []byte("x")})
		if e := ro.Recv(); e.Kind != protocol.Error || e.Code != protocol.ReadOnly {
			t.Fatalf("read-only publish: %+v", e)
		}
	})
	t.Run("token expires while connected", func(t *testing.T) {
		// exp holds whole seconds: this token expires 4 to 5 s from now.
		tok, _ := room.MintToken(conformanceSecret, "expiring", room.ReadWrite, 5*time.Second)
		c := relaytest.Dial(t, tg.base+"/v1/rooms/expiring?token="+tok)
		c.Join(0, "")
		if code, reason := c.Closed(); code != protocol.CloseToken || !strings.HasPrefix(reason, room.ErrToken.Error()) || !strings.Contains(reason, "expired") {
			t.Fatalf("closed with %d %q, want %d saying the token expired", code, reason, protocol.CloseToken)
		}
	})
	t.Run("room names", func(t *testing.T) {
		// A name is the path's last segment percent-decoded once, as
		// the native router reads it: encoded, a room is the same room.
		a := relaytest.Dial(t, tg.url(t, "enc-oded", room.ReadWrite))
		a.Join(0, "")
		a.Send(protocol.Envelope{Kind: protocol.Publish, ID: 1, Body: []byte("x")})
		a.Recv()
		tok, _ := room.MintToken(conformanceSecret, "enc-oded", room.ReadOnly, time.Hour)
		if _, backlog := relaytest.Dial(t, tg.base+"/v1/rooms/enc%2Doded?token="+tok).Join(0, ""); len(backlog) != 1 {
			t.Fatalf("enc%%2Doded holds %d bodies, want enc-oded's 1", len(backlog))
		}
		// An encoded "/" is in the name, which is invalid; so is a "%"
		// left after one decoding (each was taken for another room).
		for path, tokenRoom := range map[string]string{"a%2Fb": "b", "a%252Db": "a-b"} {
			tok, _ := room.MintToken(conformanceSecret, tokenRoom, room.ReadWrite, time.Hour)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c, resp, err := websocket.Dial(ctx, tg.base+"/v1/rooms/"+path+"?token="+tok, nil)
			cancel()
			if err == nil {
				c.CloseNow()
			}
			if resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Errorf("/v1/rooms/%s: %v %v, want 400", path, err, resp)
			}
		}
	})
	t.Run("quota counts pending bodies", func(t *testing.T) { // issue 12, finding 1
		const size = 512 << 10
		c := relaytest.Dial(t, tg.url(t, "flood", room.ReadWrite))
		c.Join(0, "")
		const n = 3 * confRoomBytes / size / 2
		go func() {
			for i := range n {
				msg := protocol.Encode(protocol.Envelope{Kind: protocol.Publish, ID: uint64(i + 1), Body: make([]byte, size)})
				if c.WS.Write(context.Background(), websocket.MessageBinary, msg) != nil {
					return
				}
			}
		}()
		acked := 0
		for i := range n {
			switch e := c.Recv(); {
			case e.Kind == protocol.Ack:
				acked++
			case e.Kind == protocol.Error && e.Code == protocol.QuotaExceeded:
			default:
				t.Fatalf("answer %d: %+v", i+1, e)
			}
		}
		if want := confRoomBytes / (size + room.BodyOverhead); acked != want { // each body is charged its overhead too
			t.Fatalf("%d of %d bodies of %d bytes acknowledged with a quota of %d bytes, want %d", acked, n, size, confRoomBytes, want)
		}
	})
	t.Run("large backlog in frames", func(t *testing.T) { // issue 12, findings 2 and 10
		const n = 6
		a := relaytest.Dial(t, tg.url(t, "large", room.ReadWrite))
		a.Join(0, "")
		body := make([]byte, protocol.MaxBody(protocol.MaxFrame))
		for i := range n {
			a.Send(protocol.Envelope{Kind: protocol.Publish, ID: uint64(i + 1), Body: body})
			if e := a.Recv(); e.Kind != protocol.Ack {
				t.Fatalf("publish %d: %+v", i+1, e)
			}
		}
		a.Send(protocol.Envelope{Kind: protocol.Publish, ID: n + 1, Body: append(body, 0)})
		if e := a.Recv(); e.Kind != protocol.Error || e.Code != protocol.TooLarge {
			t.Fatalf("a body over MaxBody: %+v", e)
		}
		b := relaytest.Dial(t, tg.url(t, "large", room.ReadOnly))
		b.WS.SetReadLimit(protocol.MaxFrame) // every message within the documented limit
		_, backlog := b.Join(0, "")
		if len(backlog) != n {
			t.Fatalf("backlog of %d bodies, want %d", len(backlog), n)
		}
		for i, e := range backlog {
			if e.Cursor != uint64(i+1) || len(e.Body) != len(body) {
				t.Fatalf("backlog %d: seq %d, %d bytes", i, e.Cursor, len(e.Body))
			}
		}
	})
	t.Run("empty publish", func(t *testing.T) { // issue 12, finding 3
		c := relaytest.Dial(t, tg.url(t, "empty", room.ReadWrite))
		c.Join(0, "")
		c.Send(protocol.Envelope{Kind: protocol.Publish, ID: 1})
		if e := c.Recv(); e.Kind != protocol.Error || e.ID != 1 || e.Code != protocol.BadRequest {
			t.Fatalf("empty publish: %+v", e)
		}
		c.Send(protocol.Envelope{Kind: protocol.Publish, ID: 2, Body: []byte("x")})
		if e := c.Recv(); e.Kind != protocol.Ack || e.Cursor != 1 {
			t.Fatalf("the publish after it: %+v", e)
		}
	})
	t.Run("ping", func(t *testing.T) {
		c := relaytest.Dial(t, tg.url(t, "ping", room.ReadWrite))
		c.Join(0, "")
		c.Send(protocol.Envelope{Kind: protocol.Ping, ID: 9})
		if e := c.Recv(); e.Kind != protocol.Pong || e.ID != 9 {
			t.Fatalf("ping: %+v, want pong 9", e)
		}
	})
	t.Run("join deadline", func(t *testing.T) { // issue 12, finding 5
		c := relaytest.Dial(t, tg.url(t, "silent", room.ReadWrite))
		if code, reason := c.Closed(); code != protocol.CloseProtocol {
			t.Fatalf("a connection that never joins closed with %d %q, want %d", code, reason, protocol.CloseProtocol)
		}
	})
	t.Run("long close reason", func(t *testing.T) { // issue 12, finding 7
		c := relaytest.Dial(t, tg.url(t, "reason", room.ReadWrite))
		// A kind that overflows: the decoder's message is 169 bytes.
		c.WS.Write(context.Background(), websocket.MessageBinary, []byte{0xa2, 0x00, 0x01, 0x01, 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		code, reason := c.Closed()
		if code != websocket.StatusUnsupportedData || !strings.HasPrefix(reason, "malformed envelope") {
			t.Fatalf("closed with %d %q, want 1003", code, reason)
		}
	})
	// WebSocket framing is the relay's own natively; on Cloudflare it is
	// the runtime's (workerd accepts an unmasked client frame), so this
	// case is the native relay's alone.
	if tg.name != "cloudflare" {
		t.Run("unmasked frame", func(t *testing.T) { // issue 12, finding 7
			c := relaytest.DialRaw(t, tg.url(t, "unmasked", room.ReadWrite))
			c.WriteUnmasked(protocol.Encode(protocol.Envelope{Kind: protocol.Join}))
			if code, reason := c.Closed(); code != int(websocket.StatusProtocolError) {
				t.Fatalf("closed with %d %q, want 1002", code, reason)
			}
		})
	}
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
	wrangler := e2e.Need(t, filepath.Join(e2e.Root, "node_modules", ".bin", "wrangler"), "run npm ci at the repository's top")
	cmd := exec.Command(wrangler, "deploy", "--dry-run", "--outdir", t.TempDir())
	cmd.Dir = filepath.Join(e2e.Root, "relay", "cloudflare")
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
