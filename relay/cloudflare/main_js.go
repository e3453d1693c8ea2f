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
	"fmt"
	"net/url"
	"path"
	"strings"
	gosync "sync"
	"syscall/js"

	"github.com/factlog/factlog/relay/protocol"
	"github.com/factlog/factlog/relay/room"
	"golang.org/x/time/rate"
)

// Limits, as the native relay's defaults (relay/PROTOCOL.md).
const (
	maxFrame       = protocol.MaxFrame
	maxRoomBytes   = 256 << 20
	messagesPerSec = 100
	messageBurst   = 200
)

type worker struct {
	ctx     js.Value // the DurableObjectState
	secret  []byte
	origins []string
	hub     *room.Hub

	mu       gosync.Mutex
	sessions map[string]*session // by the socket's attachment id
}

type session struct {
	*room.Session
	conn  *wsConn
	limit *rate.Limiter
}

func main() {
	boot := js.Global().Get("__relayBoot")
	w := &worker{ctx: boot.Get("ctx"), sessions: map[string]*session{}}
	env := boot.Get("env")
	if s := env.Get("RELAY_SECRET"); s.Type() == js.TypeString {
		w.secret = []byte(s.String())
	}
	if o := env.Get("RELAY_ORIGINS"); o.Type() == js.TypeString && o.String() != "" {
		w.origins = strings.Split(o.String(), ",")
	}
	store, err := openDOStore(w.ctx.Get("storage").Get("sql"))
	if err != nil {
		boot.Invoke(map[string]any{"error": err.Error()})
		return
	}
	w.hub = room.NewHub(store, 1, maxRoomBytes, nil)
	w.recover()
	boot.Invoke(map[string]any{
		"fetch":   async(func(args []js.Value) (any, error) { return w.fetch(args[0]), nil }),
		"message": async(func(args []js.Value) (any, error) { w.message(args[0], args[1]); return nil, nil }),
		"close":   async(func(args []js.Value) (any, error) { w.closed(args[0]); return nil, nil }),
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

// fetch answers GET /v1/rooms/{room}: it checks the token and the origin
// before the upgrade, as the native relay does, then accepts a hibernatable
// WebSocket.
func (w *worker) fetch(req js.Value) any {
	u, err := url.Parse(req.Get("url").String())
	if err != nil {
		return reply(400, "bad URL")
	}
	name, _ := url.PathUnescape(path.Base(u.Path))
	if !room.ValidName(name) {
		return reply(400, "a room name is 1 to 128 letters, digits and . _ ~ -")
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
	mode := room.ReadWrite
	if len(w.secret) > 0 {
		token := strings.TrimPrefix(header("Authorization"), "Bearer ")
		if token == "" {
			token = u.Query().Get("token")
		}
		if mode, err = room.CheckToken(w.secret, token, name); err != nil {
			return reply(401, err.Error())
		}
	}
	pair := js.Global().Get("WebSocketPair").New()
	client, server := pair.Index(0), pair.Index(1)
	w.ctx.Call("acceptWebSocket", server)
	b := make([]byte, 8)
	rand.Read(b)
	id := hex.EncodeToString(b)
	server.Call("serializeAttachment", map[string]any{"id": id, "room": name, "mode": string(mode), "joined": false})
	if _, err := w.open(server, id, name, mode); err != nil {
		server.Call("close", 1013, err.Error())
	}
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
	for _, p := range w.origins {
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

// sendBacklog sends the Welcome, the stored bodies and CaughtUp, in
// messages of up to 256 envelopes.
func (w *worker) sendBacklog(s *session, b *room.Backlog) {
	batch := protocol.Encode(b.Welcome)
	n, last := 1, b.From
	flush := func() {
		s.conn.Send(batch)
		batch, n = nil, 0
	}
	w.hub.Store().Read(context.Background(), b.Room, b.From, b.To, func(seq uint64, body []byte) error {
		last = seq
		batch = append(batch, protocol.Encode(protocol.Envelope{Kind: protocol.Deliver, Cursor: seq, Body: body})...)
		if n++; n == 256 || len(batch) > maxFrame/2 {
			flush()
		}
		return nil
	})
	batch = append(batch, protocol.Encode(protocol.Envelope{Kind: protocol.CaughtUp, Cursor: max(last, b.To)})...)
	flush()
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
		c.ws.Call("close", code, reason)
	})
}
