package relay_test

import (
	"errors"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/factlog/factlog/relay"
	"github.com/factlog/factlog/relay/room"
	"github.com/factlog/factlog/relay/sqlitestore"
)

// TestHosts (issue 12, finding 9): with a Host allow-list, a request that
// names another host — a page that rebound its DNS name to the relay's
// address — gets 421, before any upgrade.
func TestHosts(t *testing.T) {
	r := startRelay(t, relay.Options{Hosts: relay.LoopbackHosts})
	for host, want := range map[string]int{
		r.addr:                       http.StatusOK,
		"localhost:8080":             http.StatusOK,
		"[::1]:8080":                 http.StatusOK,
		"LOCALHOST":                  http.StatusOK,
		"attacker.example:8080":      http.StatusMisdirectedRequest,
		"127.0.0.1.attacker.example": http.StatusMisdirectedRequest,
	} {
		req, _ := http.NewRequest("GET", "http://"+r.addr+"/healthz", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

// TestShortSecret (issue 12, finding 9): a secret under 16 bytes is
// refused, as `relay token` refuses it.
func TestShortSecret(t *testing.T) {
	store, err := sqlitestore.Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, secret := range []string{"x", "fifteen bytes!!"} {
		if _, err := relay.New(relay.Options{Store: store, Secret: []byte(secret)}); !errors.Is(err, room.ErrShortSecret) {
			t.Errorf("New with a %d-byte secret: %v, want %v", len(secret), err, room.ErrShortSecret)
		}
	}
}
