//go:build js && wasm

// Command cloudflare is the relay as a Cloudflare Durable Object: one
// instance per room, running the same room logic as the native relay
// (package room) over the object's own SQLite and WebSocketPair, with the
// WebSocket Hibernation API, so that an idle room costs nothing. worker.mjs
// is the JavaScript shim that routes requests to the objects and calls in
// here; relay/cloudflare/README.md says how to deploy it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	gosync "sync"
	"syscall/js"
	"time"

	"github.com/factlog/factlog/relay/protocol"
	"github.com/factlog/factlog/relay/room"
	"golang.org/x/time/rate"
)

// Limits, as the native relay's defaults (relay/PROTOCOL.md).
const (
	maxFrame        = protocol.MaxFrame
	messagesPerSec  = 100
	messageBurst    = 200
	retentionPeriod = time.Minute
)

// config is the object's, from its environment (wrangler.jsonc's vars and
// secrets; the names are the native relay's flags as RELAY_ variables).
type config struct {
	secret      []byte        // RELAY_SECRET, ≥ 16 bytes
	origins     []string      // RELAY_ORIGINS
	roomBytes   int64         // RELAY_ROOM_BYTES (default 256 MiB)
	retainFor   time.Duration // RELAY_RETAIN_FOR
	retainBytes int64         // RELAY_RETAIN_BYTES
	retainEvery time.Duration // RELAY_RETAIN_EVERY (default 1m)
	joinTimeout time.Duration // RELAY_JOIN_TIMEOUT (default 10s)
}

func readConfig(env js.Value) (config, error) {
	c := config{roomBytes: 256 << 20, retainEvery: retentionPeriod, joinTimeout: 10 * time.Second}
	get := func(k string) string {
		if v := env.Get(k); v.Type() == js.TypeString {
			return v.String()
		}
		return ""
	}
	var errs []error
	num := func(k string, p *int64) {
		if v := get(k); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			errs = append(errs, wrapVar(k, err))
			*p = n
		}
	}
	dur := func(k string, p *time.Duration) {
		if v := get(k); v != "" {
			d, err := time.ParseDuration(v)
			errs = append(errs, wrapVar(k, err))
			*p = d
		}
	}
	if s := get("RELAY_SECRET"); s != "" {
		if len(s) < room.MinSecret {
			errs = append(errs, fmt.Errorf("RELAY_SECRET has %d bytes: %w", len(s), room.ErrShortSecret))
		}
		c.secret = []byte(s)
	}
	if o := get("RELAY_ORIGINS"); o != "" {
		c.origins = strings.Split(o, ",")
	}
	num("RELAY_ROOM_BYTES", &c.roomBytes)
	num("RELAY_RETAIN_BYTES", &c.retainBytes)
	dur("RELAY_RETAIN_FOR", &c.retainFor)
	dur("RELAY_RETAIN_EVERY", &c.retainEvery)
	dur("RELAY_JOIN_TIMEOUT", &c.joinTimeout)
	return c, errors.Join(errs...)
}

func wrapVar(k string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", k, err)
	}
	return nil
}

type worker struct {
	ctx   js.Value // the DurableObjectState
	cfg   config
	hub   *room.Hub
	store *doStore

	mu        gosync.Mutex
	sessions  map[string]*session // by the socket's attachment id
	nextAlarm time.Time           // the alarm set, as far as this instance knows
}

type session struct {
	*room.Session
	conn  *wsConn
	limit *rate.Limiter
}

func main() {
	boot := js.Global().Get("__relayBoot")
	w := &worker{ctx: boot.Get("ctx"), sessions: map[string]*session{}}
	cfg, err := readConfig(boot.Get("env"))
	if err != nil {
		boot.Invoke(map[string]any{"error": err.Error()})
		return
	}
	w.cfg = cfg
	store, err := openDOStore(w.ctx.Get("storage").Get("sql"))
	if err != nil {
		boot.Invoke(map[string]any{"error": err.Error()})
		return
	}
	w.store = store
	w.hub = room.NewHub(store, room.Limits{MaxRooms: 1, MaxRoomBytes: cfg.roomBytes}, nil)
	w.recover()
	if w.retains() {
		w.wakeAt(time.Now().Add(cfg.retainEvery))
	}
	boot.Invoke(map[string]any{
		"fetch":   async(func(args []js.Value) (any, error) { return w.fetch(args[0]), nil }),
		"message": async(func(args []js.Value) (any, error) { w.message(args[0], args[1]); return nil, nil }),
		"close":   async(func(args []js.Value) (any, error) { w.closed(args[0]); return nil, nil }),
		"alarm":   async(func(args []js.Value) (any, error) { return w.alarm(), nil }),
	})
	select {}
}

// async wraps fn as a JavaScript function returning a promise, running fn
// in a goroutine: it may wait for the store's goroutine, which cannot run
// while a callback holds the event loop.
func async(fn func([]js.Value) (any, error)) js.Func {
	return js.FuncOf(func(_ js.Value, args []js.Value) any {
		var resolve, reject js.Value
		executor := js.FuncOf(func(_ js.Value, fns []js.Value) any {
			resolve, reject = fns[0], fns[1]
			return nil
		})
		p := js.Global().Get("Promise").New(executor)
		executor.Release()
		go func() {
			defer func() {
				if r := recover(); r != nil {
					reject.Invoke(fmt.Sprint("relay: ", r))
				}
			}()
			v, err := fn(args)
			if err != nil {
				reject.Invoke(err.Error())
				return
			}
			resolve.Invoke(v)
		}()
		return p
	})
}

func reply(status int, text string) map[string]any {
	return map[string]any{"status": status, "text": text + "\n"}
}

// fetch answers GET /v1/rooms/{room}: it checks the room name and the
// origin before the upgrade and the token after it, as the native relay
// does, then accepts a hibernatable WebSocket.
func (w *worker) fetch(req js.Value) any {
	u, err := url.Parse(req.Get("url").String())
	if err != nil {
		return reply(400, "bad URL")
	}
	// The name as the native relay's router decodes it: once, the last
	// segment of the escaped path (worker.mjs routed by the same).
	name, _ := protocol.RoomOf(u.EscapedPath())
	if !protocol.ValidRoom(name) {
		return reply(400, protocol.RoomRule)
	}
	headers := req.Get("headers")
	header := func(k string) string {
		v := headers.Call("get", k)
		if v.Type() != js.TypeString {
			return ""
		}
		return v.String()
	}
	if !strings.EqualFold(header("Upgrade"), "websocket") {
		return reply(426, "this is a WebSocket endpoint (relay/PROTOCOL.md)")
	}
	if origin := header("Origin"); origin != "" && !w.allowed(origin, u.Host) {
		return reply(403, fmt.Sprintf("origin %s is not allowed", origin))
	}
	mode, expires := room.ReadWrite, time.Time{}
	if len(w.cfg.secret) > 0 {
		token := strings.TrimPrefix(header("Authorization"), "Bearer ")
		if token == "" {
			token = u.Query().Get("token")
		}
		if mode, expires, err = room.CheckToken(w.cfg.secret, token, name); err != nil {
			return refuse(protocol.CloseToken, err.Error())
		}
	}
	pair := js.Global().Get("WebSocketPair").New()
	client, server := pair.Index(0), pair.Index(1)
	w.ctx.Call("acceptWebSocket", server)
	b := make([]byte, 8)
	rand.Read(b)
	id := hex.EncodeToString(b)
	attachment := map[string]any{"id": id, "room": name, "mode": string(mode), "joined": false, "at": float64(time.Now().UnixMilli())}
	if !expires.IsZero() {
		// The alarm closes the socket when its token expires, as the
		// native relay does.
		attachment["expires"] = float64(expires.UnixMilli())
		w.wakeAt(expires)
	}
	server.Call("serializeAttachment", attachment)
	if _, err := w.open(server, id, name, mode); err != nil {
		server.Call("close", 1013, protocol.CloseReason(err.Error()))
	}
	w.wakeAt(time.Now().Add(w.cfg.joinTimeout))
	return map[string]any{"webSocket": client}
}

// refuse accepts a WebSocket only to close it with code and reason, as
// the native relay does for a refused token: a browser can read a close,
// not the status of a refused upgrade. The socket is not the object's
// (no session, no hibernation).
func refuse(code int, reason string) map[string]any {
	pair := js.Global().Get("WebSocketPair").New()
	client, server := pair.Index(0), pair.Index(1)
	server.Call("accept")
	server.Call("close", code, protocol.CloseReason(reason))
	return map[string]any{"webSocket": client}
}

// allowed applies the origin allow-list: the relay's own host, and the
// configured host patterns (as coder/websocket's OriginPatterns).
func (w *worker) allowed(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, host) {
		return true
	}
	for _, p := range w.cfg.origins {
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(u.Host)); ok {
			return true
		}
	}
	return false
}

func (w *worker) open(ws js.Value, id, name string, mode room.Mode) (*session, error) {
	c := &wsConn{ws: ws}
	s, err := w.hub.NewSession(name, mode, c)
	if err != nil {
		return nil, err
	}
	ss := &session{Session: s, conn: c, limit: rate.NewLimiter(messagesPerSec, messageBurst)}
	w.mu.Lock()
	w.sessions[id] = ss
	w.mu.Unlock()
	return ss, nil
}

// recover rebuilds the sessions of the sockets that stayed open while the
// object was evicted (hibernation): those that had joined are members again
// at once, so that live bodies reach them.
func (w *worker) recover() {
	sockets := w.ctx.Call("getWebSockets")
	for i := range sockets.Length() {
		ws := sockets.Index(i)
		a := ws.Call("deserializeAttachment")
		if a.Type() != js.TypeObject {
			continue
		}
		s, err := w.open(ws, a.Get("id").String(), a.Get("room").String(), room.Mode(a.Get("mode").String()))
		if err == nil && a.Get("joined").Bool() {
			s.Resume()
		}
	}
}

func (w *worker) session(ws js.Value) *session {
	a := ws.Call("deserializeAttachment")
	if a.Type() != js.TypeObject {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sessions[a.Get("id").String()]
}

// message handles one WebSocket message.
func (w *worker) message(ws, msg js.Value) {
	s := w.session(ws)
	if s == nil {
		ws.Call("close", 1011, "unknown connection")
		return
	}
	if msg.Type() == js.TypeString {
		s.conn.Close(1003, "the relay speaks binary CBOR envelopes (relay/PROTOCOL.md)")
		return
	}
	data := js.Global().Get("Uint8Array").New(msg)
	if data.Length() > maxFrame {
		s.conn.Close(1009, fmt.Sprintf("a message may have at most %d bytes; split the batch", maxFrame))
		return
	}
	b := make([]byte, data.Length())
	js.CopyBytesToGo(b, data)
	if err := s.limit.Wait(context.Background()); err != nil {
		return
	}
	backlog, err := s.Handle(context.Background(), b)
	if ce, ok := err.(*room.CloseError); ok {
		s.conn.Close(ce.Code, ce.Reason)
		return
	}
	if backlog != nil {
		a := ws.Call("deserializeAttachment")
		a.Set("joined", true)
		ws.Call("serializeAttachment", a)
		w.sendBacklog(s, backlog)
	}
}

// sendBacklog streams the Welcome, the stored bodies and CaughtUp (the
// room logic's StreamBacklog, a page of bodies at a time); a body that
// retention removed meanwhile closes the socket with 4003, as natively.
func (w *worker) sendBacklog(s *session, b *room.Backlog) {
	err := w.hub.StreamBacklog(context.Background(), b, maxFrame, func(msg []byte) error {
		s.conn.Send(msg)
		return nil
	})
	switch {
	case errors.Is(err, room.ErrTrimmed):
		s.conn.Close(protocol.CloseTruncated, "retention removed bodies during your join: reconnect with your cursor")
	case err != nil:
		s.conn.Close(1011, "the relay could not read the room")
	}
}

// retains reports whether retention is configured.
func (w *worker) retains() bool { return w.cfg.retainFor > 0 || w.cfg.retainBytes > 0 }

// wakeAt makes sure the object's alarm goes off by t: it drives
// retention, the join deadline and the tokens' expiry, so that none needs
// the object to stay in memory.
func (w *worker) wakeAt(t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.nextAlarm.IsZero() && !w.nextAlarm.After(t) && w.nextAlarm.After(time.Now()) {
		return
	}
	w.nextAlarm = t
	w.ctx.Get("storage").Call("setAlarm", float64(t.UnixMilli()))
}

// alarm runs when the object's alarm goes off: retention when it is due,
// the expiry of sockets' tokens, and the join deadline of sockets that
// have not joined. It sets the
// next alarm and returns a summary for the log.
func (w *worker) alarm() string {
	now := time.Now()
	w.mu.Lock()
	w.nextAlarm = time.Time{}
	w.mu.Unlock()
	var notes []string
	if w.retains() {
		cutoff := time.Time{}
		if w.cfg.retainFor > 0 {
			cutoff = now.Add(-w.cfg.retainFor)
		}
		n, err := w.store.Trim(context.Background(), cutoff, w.cfg.retainBytes)
		if err != nil {
			notes = append(notes, "retention: "+err.Error())
		} else if n > 0 {
			notes = append(notes, fmt.Sprintf("retention removed %d bodies", n))
		}
		w.wakeAt(now.Add(w.cfg.retainEvery))
	}
	sockets := w.ctx.Call("getWebSockets")
	for i := range sockets.Length() {
		ws := sockets.Index(i)
		a := ws.Call("deserializeAttachment")
		if a.Type() != js.TypeObject {
			continue
		}
		if exp := a.Get("expires"); exp.Type() == js.TypeNumber {
			at := time.UnixMilli(int64(exp.Float()))
			if !now.Before(at) {
				w.closeSocket(ws, protocol.CloseToken, room.Expired(at))
				notes = append(notes, "closed a socket whose token expired")
				continue
			}
			w.wakeAt(at)
		}
		if a.Get("joined").Bool() {
			continue
		}
		deadline := time.UnixMilli(int64(a.Get("at").Float())).Add(w.cfg.joinTimeout)
		if now.Before(deadline) {
			w.wakeAt(deadline)
			continue
		}
		w.closeSocket(ws, protocol.CloseProtocol, fmt.Sprintf("no join within %v of connecting", w.cfg.joinTimeout))
		notes = append(notes, "closed a socket that did not join")
	}
	return strings.Join(notes, "; ")
}

// closeSocket closes a socket through its session if it has one, so that
// the session ends too.
func (w *worker) closeSocket(ws js.Value, code int, reason string) {
	if s := w.session(ws); s != nil {
		s.conn.Close(code, reason)
		return
	}
	defer func() { recover() }() // a socket already closed
	ws.Call("close", code, protocol.CloseReason(reason))
}

// closed ends the session of a socket the client closed.
func (w *worker) closed(ws js.Value) {
	a := ws.Call("deserializeAttachment")
	if a.Type() != js.TypeObject {
		return
	}
	w.mu.Lock()
	s := w.sessions[a.Get("id").String()]
	delete(w.sessions, a.Get("id").String())
	w.mu.Unlock()
	if s != nil {
		s.End()
	}
}

// wsConn is a room.Conn over a Workers WebSocket: send never blocks (the
// runtime buffers), so no client is ever too slow here.
type wsConn struct {
	ws   js.Value
	once gosync.Once
}

func (c *wsConn) Send(msg []byte) bool {
	a := js.Global().Get("Uint8Array").New(len(msg))
	js.CopyBytesToJS(a, msg)
	defer func() { recover() }() // a socket that closed meanwhile
	c.ws.Call("send", a)
	return true
}

func (c *wsConn) Close(code int, reason string) {
	c.once.Do(func() {
		defer func() { recover() }()
		c.ws.Call("close", code, protocol.CloseReason(reason))
	})
}
