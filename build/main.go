// Command build makes dist/: factlog compiled to WebAssembly, the
// JavaScript bridge bundled with esbuild (its Go API), and the demo site
// using them; and dist/npm/, the npm package: the library, its types and
// a package.json, nothing of the demo.
//
//	go run ./build            # build dist/
//	go run ./build -release   # also compress the wasm as hard as brotli can
//	go run ./build -cloudflare # the relay as a Cloudflare Worker: relay/cloudflare/dist
//
// The wasm is rebuilt only when a Go source changed (a stamp holds a hash
// of them), so iterating on JavaScript takes about a second. Any esbuild
// error or warning fails the build.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

func main() {
	out := flag.String("out", "dist", "output folder")
	release := flag.Bool("release", false, "compress with brotli's best (slow) quality instead of a fast one")
	cloudflare := flag.Bool("cloudflare", false, "build the relay's Cloudflare Worker (relay/cloudflare/dist) instead")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	run := func() error { return build(log, *out, *release) }
	if *cloudflare {
		run = func() error { return buildWorker(log) }
	}
	if err := run(); err != nil {
		log.Error("build failed", "err", err)
		os.Exit(1)
	}
}

// root is the repository's top folder (build/ sits in it).
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

func build(log *slog.Logger, out string, release bool) error {
	start := time.Now()
	top := root()
	if !filepath.IsAbs(out) {
		out = filepath.Join(top, out)
	}
	if err := os.MkdirAll(filepath.Join(out, "npm"), 0o755); err != nil {
		return err
	}
	built, err := buildWasm(log, top, out)
	if err != nil {
		return fmt.Errorf("wasm: %w", err)
	}
	if err := bundle(top, out); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := writePackage(top, filepath.Join(out, "npm")); err != nil {
		return fmt.Errorf("package: %w", err)
	}
	if err := report(log, out, built, release); err != nil {
		return fmt.Errorf("sizes: %w", err)
	}
	log.Info("built", "dir", out, "wasm", map[bool]string{true: "rebuilt", false: "unchanged"}[built], "took", time.Since(start).Round(time.Millisecond))
	return nil
}
