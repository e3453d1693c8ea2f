package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestStatic (issue 12, finding 8): the site is served from its folder
// only: no symbolic link out of it, no listing, no dotfile; precompressed
// files only for codings the client accepts with q > 0.
func TestStatic(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "dist")
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("index.html", "home")
	write("factlog.wasm", "wasm")
	write("factlog.wasm.br", "wasm-br")
	write("factlog.wasm.gz", "wasm-gz")
	write(".env", "SECRET=1")
	write(".git/config", "x")
	write("assets/app.js", "js")
	write("app/index.html", "app")
	if err := os.WriteFile(filepath.Join(top, "outside"), []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(top, "outside"), filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(top, filepath.Join(dir, "up")); err != nil {
		t.Fatal(err)
	}
	h, root, err := static(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, tt := range []struct {
		path, accept string
		status       int
		body, enc    string
	}{
		{"/", "", 200, "home", ""},
		{"/factlog.wasm", "", 200, "wasm", ""},
		{"/factlog.wasm", "gzip, br", 200, "wasm-br", "br"},
		{"/factlog.wasm", "br;q=0, gzip", 200, "wasm-gz", "gzip"},
		{"/factlog.wasm", "br;q=0.5, gzip;q=0.8", 200, "wasm-gz", "gzip"},
		{"/factlog.wasm", "br;q=0, gzip;q=0", 200, "wasm", ""},
		{"/factlog.wasm", "*", 200, "wasm-br", "br"},
		{"/factlog.wasm", "*;q=0", 200, "wasm", ""},
		{"/factlog.wasm", "identity", 200, "wasm", ""},
		{"/factlog.wasm", "xbr, gzipx", 200, "wasm", ""},
		{"/.env", "", 404, "", ""},
		{"/.git/config", "", 404, "", ""},
		{"/assets/", "", 404, "", ""},
		{"/assets/app.js", "", 200, "js", ""},
		{"/app/", "", 200, "app", ""},
		{"/escape", "", 404, "", ""},
		{"/up/outside", "", 404, "", ""},
		{"/../outside", "", 404, "", ""},
	} {
		req := httptest.NewRequest("GET", tt.path, nil)
		if tt.accept != "" {
			req.Header.Set("Accept-Encoding", tt.accept)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tt.status || (tt.status == 200 && (w.Body.String() != tt.body || w.Header().Get("Content-Encoding") != tt.enc)) {
			t.Errorf("GET %s (Accept-Encoding %q): %d %q, encoding %q; want %d %q, encoding %q",
				tt.path, tt.accept, w.Code, w.Body.String(), w.Header().Get("Content-Encoding"), tt.status, tt.body, tt.enc)
		}
		if tt.path == "/factlog.wasm" && w.Header().Get("Content-Type") != "application/wasm" {
			t.Errorf("GET %s: Content-Type %q", tt.path, w.Header().Get("Content-Type"))
		}
	}
}

func TestHostList(t *testing.T) {
	for _, tt := range []struct {
		flag, addr string
		want       int // hosts allowed; 0: any
	}{
		{"", "127.0.0.1:8080", 3},
		{"", "localhost:8080", 3},
		{"", "[::1]:8080", 3},
		{"", ":8080", 0},
		{"", "0.0.0.0:8080", 0},
		{"relay.example", ":8080", 1},
	} {
		got, err := hostList(tt.flag, tt.addr)
		if err != nil || len(got) != tt.want {
			t.Errorf("hostList(%q, %q) = %v, %v", tt.flag, tt.addr, got, err)
		}
	}
}
