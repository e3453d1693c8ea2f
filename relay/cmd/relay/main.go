// Command relay serves factlog rooms over WebSockets, keeping their event
// batches in an SQLite file; with -web it also serves a static site (the
// demo) from the same address.
//
//	relay [flags]                              serve
//	relay token -room ROOM [-mode rw] [-ttl 24h]   mint a room token
//
// Every flag can also be set by an environment variable, RELAY_ and the
// flag's name in capitals with _ for - (RELAY_ADDR, RELAY_ROOM_BYTES, …).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/factlog/factlog/relay"
	"github.com/factlog/factlog/relay/room"
	"github.com/factlog/factlog/relay/sqlitestore"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "token" {
		if err := token(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "relay token:", err)
			os.Exit(2)
		}
		return
	}
	if err := serve(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

// envDefaults lets RELAY_* variables set flags the command line did not.
func envDefaults(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := "RELAY_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && !set[f.Name] && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %w", env, v, e)
			}
		}
	})
	return err
}

func serve(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	dbPath := fs.String("db", "relay.db", "SQLite file that keeps the rooms")
	web := fs.String("web", "", "also serve this folder as a static site (the demo: dist/)")
	secret := fs.String("secret", "", "if set (16 bytes or more), connections need a room token signed with it (relay token)")
	origins := fs.String("origins", "", "comma-separated browser origins allowed besides the site's own (host patterns, e.g. *.example.com)")
	hosts := fs.String("hosts", "", "comma-separated host names requests may be addressed to (patterns; default: localhost, 127.0.0.1 and ::1 when -addr is a loopback address, any otherwise)")
	maxFrame := fs.Int64("max-frame", relay.DefaultMaxFrame, "largest message in bytes (larger closes with 1009)")
	maxConns := fs.Int("max-conns", relay.DefaultMaxConns, "most open connections")
	maxRooms := fs.Int("max-rooms", relay.DefaultMaxRooms, "most rooms with members")
	ipRate := fs.Int("ip-rate", relay.DefaultConnsPerIPMin, "new connections per client address per minute")
	ipConns := fs.Int("ip-conns", relay.DefaultMaxConnsPerIP, "open WebSocket connections per client address (an IPv4 address or an IPv6 /64)")
	ipSockets := fs.Int("ip-sockets", relay.DefaultMaxSocketsPerIP, "open TCP connections per client address, HTTP and WebSocket alike")
	msgRate := fs.Float64("msg-rate", relay.DefaultMessagesPerSec, "messages per second per connection (faster ones are slowed)")
	queue := fs.Int("send-queue", relay.DefaultSendQueue, "messages queued for a slow client before it is disconnected")
	roomBytes := fs.Int64("room-bytes", 256<<20, "bytes a room keeps; publishing beyond is refused (0: no cap)")
	ipBytes := fs.Int64("ip-bytes", relay.DefaultMaxBytesPerIP, "bytes the bodies one client address published keep across rooms; publishing beyond is refused (0: no cap)")
	retainFor := fs.Duration("retain-for", 0, "drop bodies older than this (0: keep forever)")
	retainBytes := fs.Int64("retain-bytes", 0, "trim each room's oldest bodies to this size (0: no limit)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file until shutdown")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := envDefaults(fs); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	if *secret != "" && len(*secret) < room.MinSecret {
		return fmt.Errorf("-secret has %d bytes: %w", len(*secret), room.ErrShortSecret)
	}
	allowedHosts, err := hostList(*hosts, *addr)
	if err != nil {
		return err
	}
	if *ipBytes == 0 {
		*ipBytes = -1 // no cap, as Options says it
	}
	store, err := sqlitestore.Open(*dbPath)
	if err != nil {
		return err
	}
	defer store.Close()
	srv, err := relay.New(relay.Options{
		Store: store, Secret: []byte(*secret), Origins: list(*origins), Hosts: allowedHosts, MaxFrame: *maxFrame, SendQueue: *queue,
		MaxConns: *maxConns, MaxRooms: *maxRooms, ConnsPerIPMinute: *ipRate, MaxConnsPerIP: *ipConns, MaxSocketsPerIP: *ipSockets,
		MessagesPerSecond: *msgRate, MaxRoomBytes: *roomBytes, MaxBytesPerIP: *ipBytes, RetainFor: *retainFor, RetainBytes: *retainBytes, Logger: log,
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", srv)
	mux.Handle("/healthz", srv)
	mux.Handle("/metrics", srv)
	if *web != "" {
		site, root, err := static(*web)
		if err != nil {
			return fmt.Errorf("%w (run go run ./build first)", err)
		}
		defer root.Close()
		if allowedHosts != nil { // the relay's own routes check it themselves
			site = relay.AllowHosts(allowedHosts, site, nil)
		}
		mux.Handle("/", site)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := httpServer(mux)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(srv.Listener(l)) }()
	url := "http://" + l.Addr().String()
	log.Info("relay listening", "url", url, "rooms", url+"/v1/rooms/{room}", "db", *dbPath, "epoch", store.Epoch(), "web", *web,
		"tokens", *secret != "", "hosts", strings.Join(allowedHosts, ","))
	if *web != "" {
		fmt.Fprintf(os.Stderr, "\n  factlog demo: %s/\n\n", url)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = errors.Join(hs.Shutdown(shut), srv.Close(shut))
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// httpServer serves h with timeouts on every stage of an HTTP
// connection, so that a client cannot hold one open by sending slowly,
// reading slowly or saying nothing. A WebSocket is not bound by them:
// net/http clears a connection's deadlines when it is hijacked, and the
// relay's own pings and write timeout take over.
func httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second, // our requests have no body
		WriteTimeout:      2 * time.Minute,  // the demo's wasm, over a slow link
		IdleTimeout:       30 * time.Second, // a keep-alive connection with no request
	}
}

// list splits a comma-separated flag.
func list(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// hostList is the -hosts allow-list: the flag's, or the loopback names
// when the relay listens on a loopback address (so that DNS rebinding
// cannot reach it), or nil (any host).
func hostList(flagValue, addr string) ([]string, error) {
	if flagValue != "" {
		return list(flagValue), nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("-addr %s: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return relay.LoopbackHosts, nil
	}
	return nil, nil
}

func token(args []string) error {
	fs := flag.NewFlagSet("relay token", flag.ContinueOnError)
	roomName := fs.String("room", "", "the room the token opens (required)")
	mode := fs.String("mode", "rw", "r (read) or rw (read and publish)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	secret := fs.String("secret", "", "the relay's secret (or RELAY_SECRET)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := envDefaults(fs); err != nil {
		return err
	}
	if *roomName == "" || *secret == "" {
		return errors.New("-room and -secret (or RELAY_SECRET) are required")
	}
	t, err := room.MintToken([]byte(*secret), *roomName, room.Mode(*mode), *ttl)
	if err != nil {
		return err
	}
	fmt.Println(t)
	return nil
}
