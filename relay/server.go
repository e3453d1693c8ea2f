// Package relay is factlog's relay server: it forwards opaque event batches
// between the replicas of a room over WebSockets (github.com/coder/websocket)
// and keeps them, so that replicas that are never online together still
// converge. It never decodes a batch. The room logic is package room; this
// package is its WebSocket transport, with the limits, metrics and
// shutdown a server needs. relay/PROTOCOL.md is the wire protocol.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/factlog/factlog/relay/protocol"
	"github.com/factlog/factlog/relay/room"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"
)

// Defaults of Options.
const (
	DefaultMaxFrame        = protocol.MaxFrame
	DefaultSendQueue       = 1024
	DefaultSendQueueBytes  = 16 << 20
	DefaultMaxConns        = 20_000
	DefaultMaxRooms        = 10_000
	DefaultConnsPerIPMin   = 600
	DefaultMaxConnsPerIP   = 256
	DefaultMessagesPerSec  = 100
	DefaultMessageBurst    = 200
	DefaultWriteTimeout    = 10 * time.Second
	DefaultJoinTimeout     = 10 * time.Second
	DefaultPingInterval    = 30 * time.Second
	DefaultPingTimeout     = 15 * time.Second
	DefaultRetentionPeriod = time.Minute
	DefaultBacklogsPerIP   = 8
	DefaultMaxBytesPerIP   = 1 << 30
)

// Options configure a Server. A zero field takes the default named after it.
type Options struct {
	// Store keeps the bodies. Required.
	Store room.Store
	// Secret, if set, makes every connection present a room token signed
	// with it (room.MintToken); without it the relay is open to anyone.
	// It has at least room.MinSecret bytes.
	Secret []byte
	// Hosts, if set, are the host names (patterns, as Origins; no port)
	// requests may name in their Host header; others get 421. A relay on
	// a loopback address should allow only LoopbackHosts, so that a web
	// page cannot reach it by DNS rebinding.
	Hosts []string
	// Origins are the browser origins allowed to connect (host patterns,
	// as in coder/websocket's AcceptOptions.OriginPatterns); the page's
	// own origin always is. Non-browser clients send no Origin.
	Origins []string
	// MaxFrame is the largest message accepted, in bytes (DefaultMaxFrame,
	// 1 MiB); a larger one closes the connection with 1009.
	MaxFrame int64
	// SendQueue and SendQueueBytes bound the messages and bytes that
	// wait for a slow client before the relay closes it with 4001
	// (DefaultSendQueue, DefaultSendQueueBytes: 16 MiB).
	SendQueue      int
	SendQueueBytes int
	// WriteTimeout: a client that has not taken a message after this
	// long is closed with 4001 (DefaultWriteTimeout).
	WriteTimeout time.Duration
	// JoinTimeout: a connection that has not joined after this long is
	// closed with 4002 (DefaultJoinTimeout).
	JoinTimeout time.Duration
	// PingInterval and PingTimeout: the relay pings every connection
	// this often, and closes one that does not answer in time with 4001
	// (DefaultPingInterval, DefaultPingTimeout).
	PingInterval, PingTimeout time.Duration
	// MaxConns caps open connections (DefaultMaxConns).
	MaxConns int
	// MaxRooms caps rooms with members (DefaultMaxRooms).
	MaxRooms int
	// ConnsPerIPMinute caps new connections per client address per minute
	// (DefaultConnsPerIPMin), and MaxConnsPerIP the open ones, joined or
	// not (DefaultMaxConnsPerIP); beyond either, HTTP 429. An address is
	// an IPv4 address or an IPv6 /64, what one host commonly holds.
	ConnsPerIPMinute int
	MaxConnsPerIP    int
	// MaxSocketsPerIP caps the TCP connections an address holds open,
	// HTTP and WebSocket alike, when the relay is served through
	// Server.Listener (DefaultMaxSocketsPerIP); one beyond is answered
	// 429 and closed.
	MaxSocketsPerIP int
	// MessagesPerSecond and MessageBurst rate-limit each connection's
	// messages; a faster client is slowed down, not cut off.
	MessagesPerSecond float64
	MessageBurst      int
	// MaxRoomBytes caps the bytes a room keeps, counting those on their
	// way to the store; a publish beyond it is refused with
	// quota_exceeded (0: no cap).
	MaxRoomBytes int64
	// MaxBytesPerIP caps the bytes one client address keeps across all
	// rooms, counted as MaxRoomBytes counts a room's, in the bodies it
	// published that are still kept (DefaultMaxBytesPerIP, 1 GiB; -1: no
	// cap); a publish beyond it is refused with quota_exceeded. Without
	// it, one address of an open relay filled its disk room after room.
	// It needs a Store that is a room.AddrStore (relay/sqlitestore is).
	MaxBytesPerIP int64
	// RoomPending and Pending bound the bytes on their way to the store,
	// per room and in all (room.DefaultRoomPending, room.DefaultPending);
	// a publish beyond waits, and its client is not read meanwhile.
	RoomPending, Pending int64
	// Backlogs bounds the memory of the backlogs being sent to joining
	// clients, together (room.DefaultBacklogs, 256 MiB): a join waits for
	// its share (about 2 MiB), so clients that join and never read hold
	// no more than that until they are dropped as too slow.
	Backlogs int64
	// BacklogsPerIP caps the backlogs one address has being sent at once
	// (DefaultBacklogsPerIP); its joins beyond wait for one of its own to
	// end before they wait for a share of Backlogs. Without it, one
	// address that joins and never reads held every share, reconnecting
	// as fast as it was dropped, and no join of any room got its welcome.
	BacklogsPerIP int
	// RetainFor drops bodies older than this (0: keep forever).
	RetainFor time.Duration
	// RetainBytes trims each room's oldest bodies down to this size (0:
	// no limit).
	RetainBytes int64
	// RetainEvery is how often retention runs (DefaultRetentionPeriod).
	RetainEvery time.Duration
	// Logger logs connections and errors (default: discard).
	Logger *slog.Logger
}

func (o *Options) defaults() {
	set := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = DefaultMaxFrame
	}
	dur := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	set(&o.SendQueue, DefaultSendQueue)
	set(&o.SendQueueBytes, DefaultSendQueueBytes)
	set(&o.MaxConns, DefaultMaxConns)
	set(&o.MaxRooms, DefaultMaxRooms)
	set(&o.ConnsPerIPMinute, DefaultConnsPerIPMin)
	set(&o.MaxConnsPerIP, DefaultMaxConnsPerIP)
	set(&o.MaxSocketsPerIP, DefaultMaxSocketsPerIP)
	set(&o.MessageBurst, DefaultMessageBurst)
	set(&o.BacklogsPerIP, DefaultBacklogsPerIP)
	dur(&o.WriteTimeout, DefaultWriteTimeout)
	dur(&o.JoinTimeout, DefaultJoinTimeout)
	dur(&o.PingInterval, DefaultPingInterval)
	dur(&o.PingTimeout, DefaultPingTimeout)
	dur(&o.RetainEvery, DefaultRetentionPeriod)
	if o.MessagesPerSecond <= 0 {
		o.MessagesPerSecond = DefaultMessagesPerSec
	}
	if o.MaxBytesPerIP == 0 {
		o.MaxBytesPerIP = DefaultMaxBytesPerIP
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server serves rooms over WebSockets at /v1/rooms/{room}, with /healthz
// and /metrics. Its goroutines run from New until Close.
type Server struct {
	opts    Options
	hub     *room.Hub
	metrics *metrics
	log     *slog.Logger
	handler http.Handler

	mu        sync.Mutex
	conns     map[*wsConn]struct{}
	perIP     map[string]*rate.Limiter // connection rate per client address (addrKey)
	openIP    map[string]int           // open connections per client address
	backlogIP map[string]*addrBacklogs // backlogs being sent per client address (BacklogsPerIP)
	closing   bool
	wg        sync.WaitGroup // connections and the retention loop

	ctx        context.Context
	cancel     context.CancelFunc
	stopRetain context.CancelFunc // Close stops retention first, connections drain
}

// New starts a server with opts.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("relay: Options.Store is required")
	}
	if len(opts.Secret) > 0 && len(opts.Secret) < room.MinSecret {
		return nil, fmt.Errorf("relay: %w (it has %d)", room.ErrShortSecret, len(opts.Secret))
	}
	opts.defaults()
	s := &Server{opts: opts, metrics: newMetrics(opts.Logger), log: opts.Logger, conns: map[*wsConn]struct{}{},
		perIP: map[string]*rate.Limiter{}, openIP: map[string]int{},
		backlogIP: map[string]*addrBacklogs{}}
	s.hub = room.NewHub(opts.Store, room.Limits{MaxRooms: opts.MaxRooms, MaxRoomBytes: opts.MaxRoomBytes, MaxAddrBytes: max(opts.MaxBytesPerIP, 0),
		MaxBody: protocol.MaxBody(int(opts.MaxFrame)), RoomPending: opts.RoomPending, Pending: opts.Pending, Backlogs: opts.Backlogs}, s.metrics)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/rooms/{room}", s.serveRoom)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	s.handler = mux
	if len(opts.Hosts) > 0 {
		s.handler = AllowHosts(opts.Hosts, mux, func() { s.metrics.refused.WithLabelValues("host").Inc() })
	}
	retainCtx, stopRetain := context.WithCancel(s.ctx)
	s.stopRetain = stopRetain
	if opts.RetainFor > 0 || opts.RetainBytes > 0 {
		s.wg.Add(1)
		go s.retain(retainCtx)
	}
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) refuse(w http.ResponseWriter, status int, reason, msg string) {
	s.metrics.refused.WithLabelValues(reason).Inc()
	http.Error(w, msg, status)
}

func (s *Server) serveRoom(w http.ResponseWriter, r *http.Request) {
	w = closingWriter{w} // a refusal, here or in websocket.Accept, closes the connection
	name := r.PathValue("room")
	if !protocol.ValidRoom(name) {
		s.refuse(w, http.StatusBadRequest, "room_name", protocol.RoomRule)
		return
	}
	ip := clientIP(r)
	if !s.allowIP(ip) {
		s.refuse(w, http.StatusTooManyRequests, "ip_rate", "too many connections from your address; try again in a minute")
		return
	}
	c, status, err := s.admit(ip)
	if err != nil {
		s.refuse(w, status, "connections", err.Error())
		return
	}
	defer s.leave(c)
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.opts.Origins})
	if err != nil {
		s.metrics.refused.WithLabelValues("origin").Inc()
		return // Accept wrote the response
	}
	mode, expires := room.ReadWrite, time.Time{}
	if len(s.opts.Secret) > 0 {
		m, exp, err := room.CheckToken(s.opts.Secret, tokenOf(r), name)
		if err != nil {
			// Refused after the upgrade, with a close a browser can read
			// (a 401 before it looks like a relay that is down, and the
			// client would retry forever).
			s.metrics.refused.WithLabelValues("token").Inc()
			ws.Close(protocol.CloseToken, protocol.CloseReason(err.Error()))
			return
		}
		mode, expires = m, exp
	}
	ws.SetReadLimit(s.opts.MaxFrame)
	c.ws = ws
	sess, err := s.hub.NewSession(name, mode, c)
	if err != nil {
		s.metrics.refused.WithLabelValues("rooms").Inc()
		ws.Close(websocket.StatusTryAgainLater, err.Error())
		return
	}
	defer sess.End()
	if !expires.IsZero() {
		// A token grants its room until it expires, not only when the
		// connection opens: a client whose access was meant to end
		// must not keep it by staying connected.
		t := time.AfterFunc(time.Until(expires), func() { c.drop("token", protocol.CloseToken, room.Expired(expires)) })
		defer t.Stop()
	}
	s.log.Debug("connected", "room", name, "ip", ip, "mode", mode)
	c.serve(sess)
}

// clientIP is the key of a request's client for the per-address limits
// (addrKey).
func clientIP(r *http.Request) string { return addrKey(r.RemoteAddr) }

// admit registers a new connection within MaxConns and MaxConnsPerIP;
// when it cannot, it returns the HTTP status to refuse it with.
func (s *Server) admit(ip string) (*wsConn, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return nil, http.StatusServiceUnavailable, errors.New("the relay is shutting down")
	case len(s.conns) >= s.opts.MaxConns:
		return nil, http.StatusServiceUnavailable, fmt.Errorf("the relay is full (%d connections)", s.opts.MaxConns)
	case s.openIP[ip] >= s.opts.MaxConnsPerIP:
		return nil, http.StatusTooManyRequests, fmt.Errorf("your address has %d connections open, the most the relay allows", s.opts.MaxConnsPerIP)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	c := &wsConn{srv: s, ip: ip, queued: make(chan struct{}, 1), ctx: ctx, cancel: cancel, joined: make(chan *room.Backlog, 1), closing: make(chan struct{})}
	s.conns[c] = struct{}{}
	s.openIP[ip]++
	s.wg.Add(1)
	s.metrics.conns.Set(float64(len(s.conns)))
	return c, 0, nil
}

func (s *Server) leave(c *wsConn) {
	c.cancel()
	s.mu.Lock()
	delete(s.conns, c)
	if s.openIP[c.ip]--; s.openIP[c.ip] <= 0 {
		delete(s.openIP, c.ip)
	}
	s.metrics.conns.Set(float64(len(s.conns)))
	s.mu.Unlock()
	s.wg.Done()
}

// addrBacklogs are one address's backlogs being sent: a slot each in
// slots; refs counts its connections sending or waiting to, and the entry
// goes with the last.
type addrBacklogs struct {
	slots chan struct{}
	refs  int
}

// backlogSlot waits until the address ip has fewer than BacklogsPerIP
// backlogs being sent, or ctx ends; release gives the slot back.
func (s *Server) backlogSlot(ctx context.Context, ip string) (release func(), err error) {
	s.mu.Lock()
	a := s.backlogIP[ip]
	if a == nil {
		a = &addrBacklogs{slots: make(chan struct{}, s.opts.BacklogsPerIP)}
		s.backlogIP[ip] = a
	}
	a.refs++
	s.mu.Unlock()
	unref := func() {
		s.mu.Lock()
		if a.refs--; a.refs == 0 {
			delete(s.backlogIP, ip)
		}
		s.mu.Unlock()
	}
	select {
	case a.slots <- struct{}{}:
		return func() { <-a.slots; unref() }, nil
	case <-ctx.Done():
		unref()
		return nil, ctx.Err()
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if _, err := s.opts.Store.Stats(r.Context(), "healthz"); err != nil {
		http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// retain applies retention every RetainEvery, until ctx ends.
func (s *Server) retain(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.RetainEvery)
	defer t.Stop()
	for {
		cutoff := time.Time{}
		if s.opts.RetainFor > 0 {
			cutoff = time.Now().Add(-s.opts.RetainFor)
		}
		n, err := s.opts.Store.Trim(ctx, cutoff, s.opts.RetainBytes)
		if err != nil && ctx.Err() == nil {
			s.log.Error("retention", "err", err)
		} else if n > 0 {
			s.log.Info("retention", "removed", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close closes every connection with 1001 (going away) — clients
// reconnect elsewhere or later and resume from their cursors — and waits
// for the server's goroutines, or for ctx. It does not close the Store.
func (s *Server) Close(ctx context.Context) error {
	s.stopRetain()
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		c.Close(int(websocket.StatusGoingAway), "the relay is shutting down")
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	defer s.cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.cancel() // cut what is still draining
		<-done
		return ctx.Err()
	}
}

// tokenOf finds a request's token: the Authorization header, or the token
// query parameter (browsers cannot set headers on a WebSocket).
func tokenOf(r *http.Request) string {
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return strings.TrimPrefix(h, "Bearer ")
	}
	return r.URL.Query().Get("token")
}
