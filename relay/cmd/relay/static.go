package main

import (
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// static serves a built site: .wasm as application/wasm, the precompressed
// factlog.wasm.br or .gz when the browser accepts them, and caching that
// revalidates (the files are not content-hashed, so a deploy is seen at
// once; an unchanged file costs a 304).
func static(dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := path.Clean(r.URL.Path)
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		if strings.HasSuffix(name, ".wasm") {
			h.Set("Content-Type", "application/wasm")
			h.Add("Vary", "Accept-Encoding")
			accept := r.Header.Get("Accept-Encoding")
			for _, enc := range []struct{ ext, name string }{{".br", "br"}, {".gz", "gzip"}} {
				if !strings.Contains(accept, enc.name) {
					continue
				}
				if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)+enc.ext)); err == nil {
					h.Set("Content-Encoding", enc.name)
					r2 := r.Clone(r.Context())
					r2.URL.Path = name + enc.ext
					files.ServeHTTP(w, r2)
					return
				}
			}
		}
		files.ServeHTTP(w, r)
	})
}
