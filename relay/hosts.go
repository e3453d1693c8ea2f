package relay

import (
	"net"
	"net/http"
	"path"
	"strings"
)

// LoopbackHosts are the names a relay listening on a loopback address
// answers to (Options.Hosts).
var LoopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// AllowHosts serves only requests whose Host header names one of hosts
// (patterns as path.Match's, matched case-insensitively, port ignored) and
// answers others with 421 Misdirected Request, calling refused if it is
// not nil. This keeps a web page that rebinds its own DNS name to
// 127.0.0.1 from reaching a relay there: its requests still carry its own
// name.
func AllowHosts(hosts []string, next http.Handler, refused func()) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(hosts, r.Host) {
			if refused != nil {
				refused()
			}
			w.Header().Set("Connection", "close") // nothing more to ask on it
			http.Error(w, "this relay does not answer to the host "+r.Host, http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func hostAllowed(hosts []string, hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
	}
	host = strings.ToLower(host)
	for _, p := range hosts {
		if ok, _ := path.Match(strings.ToLower(p), host); ok {
			return true
		}
	}
	return false
}
