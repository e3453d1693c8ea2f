package relay_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/factlog/factlog/relay"
	"github.com/factlog/factlog/relay/protocol"
	"github.com/factlog/factlog/relay/relaytest"
	"github.com/factlog/factlog/relay/room"
	"github.com/factlog/factlog/relay/sqlitestore"
	"github.com/factlog/factlog/wasm/event"
	"github.com/factlog/factlog/wasm/link"
	"github.com/factlog/factlog/wasm/store"
	fsync "github.com/factlog/factlog/wasm/sync"
	"github.com/factlog/factlog/wasm/todo"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{Schema: todo.Schema, Materializers: todo.LastWriterWins})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func startLink(t *testing.T, s *store.Store, url string) *link.Link {
	t.Helper()
	l, err := link.Start(s, link.Options{URL: url, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// snapshotOf is what converged replicas share.
func snapshotOf(t *testing.T, s *store.Store) string {
	t.Helper()
	var b strings.Builder
	if err := s.Dump(context.Background(), &b, "todo", "event", "event_dag"); err != nil {
		t.Fatal(err)
	}
	heads, _ := s.Heads(context.Background())
	fmt.Fprint(&b, heads)
	return b.String()
}

// converge waits (boundedly) until every store holds the same log and
// state.
func converge(t *testing.T, stores ...*store.Store) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		want := snapshotOf(t, stores[0])
		same := true
		for _, s := range stores[1:] {
			same = same && snapshotOf(t, s) == want
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			for i, s := range stores {
				vv, _ := s.VersionVector(context.Background())
				t.Logf("replica %d: %v", i, vv)
			}
			t.Fatal("the replicas did not converge within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func edit(t *testing.T, s *store.Store, item, typ, value string) {
	t.Helper()
	if _, err := s.Append(context.Background(), item, typ, []byte(value)); err != nil {
		t.Fatal(err)
	}
}

func TestClientsConverge(t *testing.T) {
	for _, n := range []int{2, 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := startRelay(t, relay.Options{})
			stores := make([]*store.Store, n)
			for i := range stores {
				stores[i] = openStore(t)
				startLink(t, stores[i], r.url("todos"))
			}
			var wg sync.WaitGroup
			for i, s := range stores {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range 20 {
						item := fmt.Sprintf("%d-%d", i, j%5)
						s.Append(context.Background(), item, "create", []byte(`"new"`))
						s.Append(context.Background(), item, "set_content", []byte(fmt.Sprintf(`"edit %d"`, j)))
					}
				}()
			}
			wg.Wait()
			converge(t, stores...)
		})
	}
}

// TestOfflineReplicaCatchesUp: one replica publishes while the other has
// never connected; the other converges when it joins, from the relay
// alone.
func TestOfflineReplicaCatchesUp(t *testing.T) {
	r := startRelay(t, relay.Options{})
	a, b := openStore(t), openStore(t)
	la := startLink(t, a, r.url("todos"))
	edit(t, a, "1", "create", `"make pasta"`)
	edit(t, a, "1", "set_completed", `true`)
	waitFor(t, func() bool { return la.Status().State == link.Online && acked(t, a, r.url("todos")) })
	la.Close() // a goes away for good
	edit(t, b, "2", "create", `"clean"`)
	startLink(t, b, r.url("todos"))
	waitFor(t, func() bool {
		rows, _ := b.Query(context.Background(), `SELECT count(*) FROM todo`)
		return rows.Values[0][0] == int64(2)
	})
}

// acked reports whether the room holds everything s has.
func acked(t *testing.T, s *store.Store, url string) bool {
	st, err := s.LinkState(context.Background(), strings.TrimSuffix(url, ""))
	if err != nil {
		t.Fatal(err)
	}
	lacking, err := s.ExportSince(context.Background(), st.Room)
	if err != nil {
		t.Fatal(err)
	}
	return len(lacking) == 0
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRelayRestart stops the relay mid-stream and starts it again on the
// same store: everything acknowledged is still there, the clients
// reconnect by themselves, and all converge.
func TestRelayRestart(t *testing.T) {
	r := startRelay(t, relay.Options{})
	a, b := openStore(t), openStore(t)
	startLink(t, a, r.url("todos"))
	startLink(t, b, r.url("todos"))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // a keeps editing throughout
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			a.Append(context.Background(), fmt.Sprint(i%10), "set_content", []byte(fmt.Sprintf(`"v%d"`, i)))
			time.Sleep(2 * time.Millisecond)
		}
	}()
	waitFor(t, func() bool { st, _ := a.LinkState(context.Background(), r.url("todos")); return st.Cursor > 20 })
	ackedBefore, _ := a.LinkState(context.Background(), r.url("todos"))
	r.restart()
	waitFor(t, func() bool {
		st, _ := a.LinkState(context.Background(), r.url("todos"))
		return st.Cursor > ackedBefore.Cursor+20
	})
	close(stop)
	<-done
	converge(t, a, b)
	// A replica that joins now gets, from the relay alone, at least all
	// that a had acknowledged before the restart.
	c := openStore(t)
	startLink(t, c, r.url("todos"))
	waitFor(t, func() bool {
		vv, _ := c.VersionVector(context.Background())
		for p, tips := range ackedBefore.Room {
			if vv.Seq(p) < (fsync.VersionVector{p: tips}).Seq(p) {
				return false
			}
		}
		return true
	})
	converge(t, a, b, c)
}

// TestDuplicateDelivery: a replica that forgets its cursor gets the whole
// room again; importing it changes nothing.
func TestDuplicateDelivery(t *testing.T) {
	r := startRelay(t, relay.Options{})
	a, b := openStore(t), openStore(t)
	startLink(t, a, r.url("todos"))
	lb := startLink(t, b, r.url("todos"))
	edit(t, a, "1", "create", `"make pasta"`)
	edit(t, b, "2", "create", `"clean"`)
	converge(t, a, b)
	lb.Close()
	before := snapshotOf(t, b)
	st, _ := b.LinkState(context.Background(), r.url("todos"))
	st.Cursor = 0
	b.SaveLinkState(context.Background(), r.url("todos"), st)
	l := startLink(t, b, r.url("todos"))
	waitFor(t, func() bool { return l.Status().State == link.Online })
	if after := snapshotOf(t, b); after != before {
		t.Fatalf("redelivery changed the replica:\n%s\nwas\n%s", after, before)
	}
}

// TestEpochChange: a relay whose store was replaced gets everything
// published again by the replicas that reconnect to it.
func TestEpochChange(t *testing.T) {
	r := startRelay(t, relay.Options{})
	a := openStore(t)
	la := startLink(t, a, r.url("todos"))
	edit(t, a, "1", "create", `"make pasta"`)
	waitFor(t, func() bool { return acked(t, a, r.url("todos")) })
	la.Close()
	r.stop()
	r.path = r.path + ".new" // a wiped relay
	r.start()
	la = startLink(t, a, r.url("todos"))
	waitFor(t, func() bool { return la.Status().Notice == "epoch_changed" && acked(t, a, r.url("todos")) })
	b := openStore(t)
	startLink(t, b, r.url("todos"))
	converge(t, a, b)
}

// TestLinkFitsSmallerFrames: a relay that takes smaller frames than the
// link's default closes the connection (1009) on a larger publish, or
// refuses it (too_large); the link halves its batches until they pass,
// rather than sending the same message again forever.
func TestLinkFitsSmallerFrames(t *testing.T) {
	r := startRelay(t, relay.Options{MaxFrame: 160 << 10})
	a, b := openStore(t), openStore(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 400 { // 400 KB that does not compress
		v := make([]byte, 1000)
		for j := range v {
			v[j] = 'a' + byte(rnd.IntN(26))
		}
		edit(t, a, fmt.Sprint(i), "create", `"`+string(v)+`"`)
	}
	startLink(t, a, r.url("todos"))
	startLink(t, b, r.url("todos"))
	converge(t, a, b)
}

// TestLinkTimesOut: a relay (or a proxy before it) that accepts the
// connection and then says nothing leaves the link offline and retrying,
// not connecting for good.
func TestLinkTimesOut(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, unanswered, until the test ends
		}
	}()
	s := openStore(t)
	lk, err := link.Start(s, link.Options{URL: "ws://" + l.Addr().String() + "/v1/rooms/r", Timeout: 200 * time.Millisecond, MinBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	waitFor(t, func() bool { return lk.Status().State == link.Offline })
	if st := lk.Status(); !strings.Contains(st.Error, "timeout") {
		t.Fatalf("status %+v, want an error saying the relay did not answer in time", st)
	}
}

// TestReadOnlyLinkSaysSo: a link whose token is read-only keeps saying
// that its publishes are refused, while deliveries from the room come in.
func TestReadOnlyLinkSaysSo(t *testing.T) {
	secret := []byte("0123456789abcdef0123")
	r := startRelay(t, relay.Options{Secret: secret})
	token := func(mode room.Mode) string {
		tok, err := room.MintToken(secret, "todos", mode, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	a, b := openStore(t), openStore(t)
	la, err := link.Start(a, link.Options{URL: r.url("todos"), Token: token(room.ReadOnly), MinBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()
	lb, err := link.Start(b, link.Options{URL: r.url("todos"), Token: token(room.ReadWrite), MinBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	edit(t, a, "1", "create", `"mine"`)
	waitFor(t, func() bool { return strings.HasPrefix(la.Status().Error, protocol.ReadOnly) })
	edit(t, b, "2", "create", `"theirs"`)
	waitFor(t, func() bool {
		rows, _ := a.Query(context.Background(), `SELECT count(*) FROM todo`)
		return rows.Values[0][0] == int64(2)
	})
	if st := la.Status(); st.State != link.Online || !strings.HasPrefix(st.Error, protocol.ReadOnly) {
		t.Fatalf("after a delivery: %+v; want online, still saying its publishes are refused", st)
	}
}

// TestLinkTokenRefused: a link whose token the relay refuses ends
// closed, with INVALID_ARGUMENT and the relay's reason, instead of
// retrying forever; so does a link whose token expires while it is
// online, when it expires.
func TestLinkTokenRefused(t *testing.T) {
	secret := []byte("0123456789abcdef0123")
	r := startRelay(t, relay.Options{Secret: secret})
	mint := func(name string, ttl time.Duration) string {
		tok, err := room.MintToken(secret, name, room.ReadWrite, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	refused := func(l *link.Link, why string) {
		t.Helper()
		waitFor(t, func() bool { return l.Status().State == link.Closed })
		if st := l.Status(); st.State != link.Closed || st.Code != store.CodeArgument || !strings.Contains(st.Error, why) {
			t.Fatalf("status %+v; want closed, %s, saying %q", st, store.CodeArgument, why)
		}
	}
	for name, tok := range map[string]string{"missing": "", "other room's": mint("elsewhere", time.Hour), "garbage": "x.y.z"} {
		l, err := link.Start(openStore(t), link.Options{URL: r.url("todos"), Token: tok, MinBackoff: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		refused(l, room.ErrToken.Error())
		t.Logf("%s token: %s", name, l.Status().Error)
	}

	// A token that expires while its link is online: the relay closes
	// the connection then, and the link ends saying so.
	l, err := link.Start(openStore(t), link.Options{URL: r.url("todos"), Token: mint("todos", 4*time.Second), MinBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	waitFor(t, func() bool { return l.Status().State == link.Online })
	refused(l, "expired")
}

// TestForgedTipIgnored: a room member publishes an unsigned event that
// claims to be by a replica, far ahead of its chain, with a parent no one
// has. It never joins anywhere, and the replica's own events still go out
// to the room: what a replica learns the room holds is what joined.
func TestForgedTipIgnored(t *testing.T) {
	r := startRelay(t, relay.Options{})
	a, b := openStore(t), openStore(t)
	la, lb := startLink(t, a, r.url("todos")), startLink(t, b, r.url("todos"))
	edit(t, a, "1", "create", `"before"`)
	converge(t, a, b)

	forged := event.Event{Peer: a.Peer(), Seq: 1_000_000, Clock: 2, Time: 1, Item: "x", Type: "create", Value: []byte(`"forged"`),
		Parents: []event.ID{sha256.Sum256([]byte("no such event"))}}
	forged.ID = forged.Hash()
	body, err := fsync.Encode([]event.Event{forged}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := relaytest.Dial(t, r.url("todos"))
	c.Join(0, "")
	c.Send(protocol.Envelope{Kind: protocol.Publish, ID: 1, Body: body})
	if e := c.Recv(); e.Kind != protocol.Ack {
		t.Fatalf("the relay answered %v to the forged body, want an ack (it does not decode bodies)", e.Kind)
	}
	waitFor(t, func() bool { return la.Status().Cursor >= 2 && lb.Status().Cursor >= 2 })
	for i := range 3 {
		edit(t, a, fmt.Sprint(i+2), "create", `"after"`)
	}
	converge(t, a, b)
	if p, _ := a.Pending(context.Background()); p.Events != 1 {
		t.Fatalf("a holds %d events waiting, want the forged one", p.Events)
	}
}

// refusing is a relay store whose first appends fail, as a full disk's
// do. Its answers come in the order of the appends, from goroutines of
// its own, as room.Store requires.
type refusing struct {
	room.Store
	fails atomic.Int32
	mu    sync.Mutex
	last  chan struct{} // closed once the last append is answered
}

func (s *refusing) Append(name string, body []byte, done func(uint64, error)) {
	s.mu.Lock()
	prev, mine := s.last, make(chan struct{})
	s.last = mine
	s.mu.Unlock()
	answer := func(seq uint64, err error) {
		go func() {
			if prev != nil {
				<-prev
			}
			done(seq, err)
			close(mine)
		}()
	}
	if s.fails.Add(-1) >= 0 {
		answer(0, errors.New("disk full"))
		return
	}
	s.Store.Append(name, body, answer)
}

// TestRefusedBatchSentAgain: the relay refuses the first batch of a
// publish cut in several ("internal": its store failed) and takes the
// others. The room is known to hold none of it — the others' tips would
// say it holds the refused batch's events below them — and all of it
// goes again after a backoff, not only at the next append: the other
// replica gets everything.
func TestRefusedBatchSentAgain(t *testing.T) {
	inner, err := sqlitestore.Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	st := &refusing{Store: inner}
	st.fails.Store(1)
	srv, err := relay.New(relay.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Close(ctx)
		hs.Close()
	})
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/v1/rooms/todos"

	a, b := openStore(t), openStore(t)
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := range 400 { // 400 KB that does not compress: several batches of 128 KiB
		v := make([]byte, 1000)
		for j := range v {
			v[j] = 'a' + byte(rnd.IntN(26))
		}
		edit(t, a, fmt.Sprint(i), "create", `"`+string(v)+`"`)
	}
	la, err := link.Start(a, link.Options{URL: url, MaxFrame: 128 << 10, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()
	startLink(t, b, url)
	converge(t, a, b)
	if st.fails.Load() >= 0 {
		t.Fatal("the relay's store refused nothing: the test tested nothing")
	}
	waitFor(t, func() bool { s := la.Status(); return s.State == link.Online && s.Error == "" })
}

// blackhole is a TCP proxy to a relay whose connections can all go dead
// at once, as a network that goes away does: nothing more is forwarded
// on them either way, and nothing closes them. Connections made after
// work.
type blackhole struct {
	addr string
	dead atomic.Int64 // connections of generations below this are dead
	gen  atomic.Int64
}

func startBlackhole(t *testing.T, to string) *blackhole {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	p := &blackhole{addr: l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, r)
			mu.Unlock()
			gen := p.gen.Load()
			pipe := func(dst, src net.Conn) {
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if p.dead.Load() > gen {
						return // dropped on the floor; the sockets stay open
					}
					if n > 0 {
						if _, err := dst.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						if p.dead.Load() <= gen {
							dst.Close()
						}
						return
					}
				}
			}
			go pipe(r, c)
			go pipe(c, r)
		}
	}()
	return p
}

// cut makes every connection open now dead.
func (p *blackhole) cut() { p.dead.Store(p.gen.Add(1)) }

// TestLinkNoticesDeadConnection: the network between a replica and the
// relay goes away without a close. The link, hearing nothing, pings; no
// answer comes, so it reconnects — rather than saying online for good
// while nothing reaches it.
func TestLinkNoticesDeadConnection(t *testing.T) {
	r := startRelay(t, relay.Options{})
	p := startBlackhole(t, r.addr)
	a, b := openStore(t), openStore(t)
	la, err := link.Start(a, link.Options{URL: "ws://" + p.addr + "/v1/rooms/todos", Keepalive: 100 * time.Millisecond, Timeout: 200 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()
	startLink(t, b, r.url("todos"))
	edit(t, a, "1", "create", `"before"`)
	converge(t, a, b)
	p.cut()
	edit(t, b, "2", "create", `"while a's connection is dead"`)
	converge(t, a, b)
	edit(t, a, "3", "create", `"after"`)
	converge(t, a, b)
}

// TestPing: a ping after the join is answered with a pong of its id, in
// order with what else the relay sends; before the join it breaks the
// protocol.
func TestPing(t *testing.T) {
	r := startRelay(t, relay.Options{})
	c := relaytest.Dial(t, r.url("todos"))
	c.Join(0, "")
	c.Send(protocol.Envelope{Kind: protocol.Ping, ID: 7})
	if e := c.Recv(); e.Kind != protocol.Pong || e.ID != 7 {
		t.Fatalf("got %v %d, want pong 7", e.Kind, e.ID)
	}
	early := relaytest.Dial(t, r.url("todos"))
	early.Send(protocol.Envelope{Kind: protocol.Ping, ID: 1})
	if code, _ := early.Closed(); int(code) != protocol.CloseProtocol {
		t.Fatalf("a ping before the join: closed with %d, want %d", code, protocol.CloseProtocol)
	}
}

// TestRestoredRelayDetected: the relay's database is restored from an
// older copy, and a new replica publishes: the seqs after the copy now
// hold other bodies. Replicas that come back with a cursor past the copy
// are told epoch_changed, since the body at their cursor is not the one
// they had there, and everything converges.
func TestRestoredRelayDetected(t *testing.T) {
	r := startRelay(t, relay.Options{})
	a, b := openStore(t), openStore(t)
	la, lb := startLink(t, a, r.url("todos")), startLink(t, b, r.url("todos"))
	edit(t, a, "1", "create", `"before the copy"`)
	converge(t, a, b)
	waitFor(t, func() bool { return la.Status().Cursor >= 1 && la.Status().Cursor == lb.Status().Cursor })
	copied := la.Status().Cursor

	copyFiles := func(from, to string) {
		t.Helper()
		old, _ := filepath.Glob(to + "*")
		for _, f := range old {
			os.Remove(f)
		}
		m, _ := filepath.Glob(from + "*")
		for _, f := range m {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(to+strings.TrimPrefix(f, from), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.stop()
	backup := filepath.Join(t.TempDir(), "copy.db")
	copyFiles(r.path, backup)
	r.start()
	edit(t, a, "2", "create", `"after the copy"`)
	edit(t, b, "3", "create", `"after the copy too"`)
	converge(t, a, b)
	waitFor(t, func() bool { return la.Status().Cursor > copied && la.Status().Cursor == lb.Status().Cursor })
	left := la.Status().Cursor
	la.Close()
	lb.Close()

	r.stop()
	copyFiles(backup, r.path) // the restore: seqs 2 and 3 are gone
	r.start()
	c := openStore(t)
	lc := startLink(t, c, r.url("todos"))
	for i := 0; lc.Status().Cursor < left; i++ { // until the room is as long as when a and b left it
		at := lc.Status().Cursor
		edit(t, c, fmt.Sprint("c", i), "create", `"at a reused seq"`)
		waitFor(t, func() bool { return lc.Status().Cursor > at })
	}
	startLink(t, a, r.url("todos"))
	startLink(t, b, r.url("todos"))
	converge(t, a, b, c)
}

// TestPoisonedRoomStateCleaned: a link state saved by an earlier version,
// whose room holds a forged tip of this replica's own peer id far ahead
// (what it learned from a forged event). Appends made offline then all
// reach the room: only what is held here counts as held by the room.
func TestPoisonedRoomStateCleaned(t *testing.T) {
	ctx := context.Background()
	r := startRelay(t, relay.Options{})
	url := r.url("todos")
	a, b := openStore(t), openStore(t)
	la := startLink(t, a, url)
	edit(t, a, "1", "create", `"first"`)
	waitFor(t, func() bool { return la.Status().State == link.Online && acked(t, a, url) })
	la.Close()
	st, err := a.LinkState(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	st.Room.Add(a.Peer(), fsync.Tip{Seq: 1 << 40, ID: event.ID{9, 9, 9}}) // what the old Seen learned
	if err := a.SaveLinkState(ctx, url, st); err != nil {
		t.Fatal(err)
	}
	var in []store.Input
	for i := range 9 {
		in = append(in, store.Input{Item: fmt.Sprint(i + 2), Type: "create", Value: []byte(`"offline"`)})
	}
	if _, err := a.AppendMany(ctx, in); err != nil {
		t.Fatal(err)
	}
	la = startLink(t, a, url)
	startLink(t, b, url)
	waitFor(t, func() bool { return la.Status().State == link.Online && acked(t, a, url) })
	converge(t, a, b)
}
