package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/andybalholm/brotli"
)

// report prints the size of each file in out, raw and compressed, and
// writes factlog.wasm.gz and factlog.wasm.br beside the wasm so that a
// server (the relay's -web) can send them as they are.
func report(log *slog.Logger, out string, wasmBuilt, release bool) error {
	quality := 9
	if release {
		quality = brotli.BestCompression
	}
	files, err := filepath.Glob(filepath.Join(out, "*"))
	if err != nil {
		return err
	}
	var total [3]int
	for _, f := range files {
		name := filepath.Base(f)
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".gz") || strings.HasSuffix(name, ".br") || strings.HasSuffix(name, ".map") {
			continue
		}
		if st, err := os.Stat(f); err != nil || st.IsDir() {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		gz, br, err := compressed(f, b, quality, wasmBuilt || release || name != "factlog.wasm")
		if err != nil {
			return err
		}
		log.Info("file", "name", name, "raw", size(len(b)), "gzip", size(gz), "brotli", size(br))
		total[0], total[1], total[2] = total[0]+len(b), total[1]+gz, total[2]+br
	}
	log.Info("total", "raw", size(total[0]), "gzip", size(total[1]), "brotli", size(total[2]), "brotli quality", quality)
	return nil
}

// compressed returns the gzip and brotli sizes of a file. For the wasm it
// also writes the compressed files, or, when fresh is false, reuses them.
func compressed(path string, b []byte, quality int, fresh bool) (gz, br int, err error) {
	keep := filepath.Base(path) == "factlog.wasm"
	if keep && !fresh {
		g, err1 := os.Stat(path + ".gz")
		r, err2 := os.Stat(path + ".br")
		if err1 == nil && err2 == nil {
			return int(g.Size()), int(r.Size()), nil
		}
	}
	var g, r bytes.Buffer
	gw, _ := gzip.NewWriterLevel(&g, gzip.BestCompression)
	gw.Write(b)
	gw.Close()
	bw := brotli.NewWriterLevel(&r, quality)
	bw.Write(b)
	bw.Close()
	if keep {
		if err := os.WriteFile(path+".gz", g.Bytes(), 0o644); err != nil {
			return 0, 0, err
		}
		if err := os.WriteFile(path+".br", r.Bytes(), 0o644); err != nil {
			return 0, 0, err
		}
	}
	return g.Len(), r.Len(), nil
}

func size(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}
