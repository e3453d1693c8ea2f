package main

import (
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
)

// static serves a built site from dir and nothing outside it: the files
// are opened through an os.Root, so a symbolic link that leads out of dir
// is refused; names with a part starting with "." (.env, .git/) are not
// served; a folder is served by its index.html or not at all (no
// listings). A file with a precompressed sibling (name.br, name.gz) is
// sent compressed when the request's Accept-Encoding takes that coding
// (q-values honoured: br;q=0 refuses br). Caching revalidates (the files
// are not content-hashed, so a deploy is seen at once; an unchanged file
// costs a 304). The caller closes the returned root.
func static(dir string) (http.Handler, *os.Root, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("-web %s: %w", dir, err)
	}
	fsys := root.FS()
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name == "" {
			name = "."
		}
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		if hidden(name) {
			http.NotFound(w, r)
			return
		}
		st, err := fs.Stat(fsys, name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if st.IsDir() {
			if _, err := fs.Stat(fsys, path.Join(name, "index.html")); err != nil {
				http.NotFound(w, r) // no listings
				return
			}
			files.ServeHTTP(w, r)
			return
		}
		if typ := mime.TypeByExtension(path.Ext(name)); typ != "" {
			h.Set("Content-Type", typ)
		}
		var codings []string
		for _, c := range precompressed {
			if _, err := fs.Stat(fsys, name+c.ext); err == nil {
				codings = append(codings, c.coding)
			}
		}
		if len(codings) > 0 {
			h.Add("Vary", "Accept-Encoding")
		}
		if c := negotiate(r.Header.Get("Accept-Encoding"), codings); c != "" {
			h.Set("Content-Encoding", c)
			name += extOf(c)
		}
		f, err := fsys.Open(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			http.Error(w, "cannot read "+name, http.StatusInternalServerError)
			return
		}
		rs, ok := f.(io.ReadSeeker)
		if !ok {
			http.Error(w, "cannot read "+name, http.StatusInternalServerError)
			return
		}
		http.ServeContent(w, r, name, fi.ModTime(), rs)
	}), root, nil
}

// precompressed are the codings served from sibling files, in order of
// preference when the client likes them equally.
var precompressed = []struct{ coding, ext string }{{"br", ".br"}, {"gzip", ".gz"}}

func extOf(coding string) string {
	for _, c := range precompressed {
		if c.coding == coding {
			return c.ext
		}
	}
	return ""
}

// hidden reports whether a slash-separated name has a part starting with
// a dot.
func hidden(name string) bool {
	for part := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(part, ".") && part != "." {
			return true
		}
	}
	return false
}

// negotiate picks, from the codings offered (in order of preference), the
// one an Accept-Encoding header (RFC 9110 12.5.3) weighs highest, "" for
// none: a coding the header does not name takes the q of "*" if present,
// else is not acceptable; q=0 refuses.
func negotiate(header string, offered []string) string {
	q := map[string]float64{}
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding == "" {
			continue
		}
		weight := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0 // malformed: not acceptable
				}
				weight = f
			}
		}
		q[coding] = weight
	}
	best, bestQ := "", 0.0
	for _, c := range offered {
		w, ok := q[c]
		if !ok {
			w = q["*"]
		}
		if w > bestQ {
			best, bestQ = c, w
		}
	}
	return best
}
