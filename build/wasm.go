package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// wasmFlags are the go build arguments of factlog.wasm: stripped, and with
// the sqlite3_dotlk tag, which gives SQLite's default VFS (unused in the
// browser, which has its own) a lock that works on js.
var wasmFlags = []string{"build", "-trimpath", "-ldflags=-s -w", "-tags=sqlite3_dotlk", "-o"}

// buildWasm compiles wasm/js to out/factlog.wasm unless the stamp shows
// that no Go source changed since the last build. It reports whether it
// built.
func buildWasm(log *slog.Logger, top, out string) (bool, error) {
	target := filepath.Join(out, "factlog.wasm")
	stampFile := filepath.Join(out, ".factlog.wasm.stamp")
	stamp, err := sourceHash(top)
	if err != nil {
		return false, err
	}
	if old, err := os.ReadFile(stampFile); err == nil && string(old) == stamp {
		if _, err := os.Stat(target); err == nil {
			return false, nil
		}
	}
	start := time.Now()
	args := append(append([]string{}, wasmFlags...), target, "./wasm/js")
	cmd := exec.Command("go", args...)
	cmd.Dir = top
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return false, fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	log.Info("compiled factlog.wasm", "took", time.Since(start).Round(time.Millisecond))
	return true, os.WriteFile(stampFile, []byte(stamp), 0o644)
}

// sourceHash hashes what factlog.wasm is built from: the module's Go files
// (tests and the build itself excluded), go.mod, go.sum, the Go version
// and the flags.
func sourceHash(top string) (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, runtime.Version(), strings.Join(wasmFlags, " "))
	err := filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(top, path)
		if d.IsDir() {
			switch rel {
			case ".git", "node_modules", "dist", "build", "tests", "web", "jsbridge":
				return filepath.SkipDir
			}
			return nil
		}
		if !(strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go")) && rel != "go.mod" && rel != "go.sum" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", rel, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// buildWorker compiles the relay's Cloudflare Durable Object to
// relay/cloudflare/dist/relay.wasm, beside the wasm_exec.js of the same Go.
func buildWorker(log *slog.Logger) error {
	top := root()
	out := filepath.Join(top, "relay", "cloudflare", "dist")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	start := time.Now()
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(out, "relay.wasm"), "./relay/cloudflare")
	cmd.Dir = top
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./relay/cloudflare: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"))
	if err == nil {
		err = os.WriteFile(filepath.Join(out, "wasm_exec.js"), b, 0o644)
	}
	if err != nil {
		return err
	}
	log.Info("built the Cloudflare Worker", "dir", out, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
