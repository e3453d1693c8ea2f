// Package e2e holds what factlog's end-to-end test packages share: where
// the repository is, the tools a test needs, and dist/ built once per test
// run however many packages want it.
//
// The end-to-end tests are split by what they drive, so that `go test
// ./...` runs them side by side and each stays within its time budget:
// tests/wasmcore (the core compiled to js/wasm under Node, and the fuzz
// targets; tests/wasmcore/store the store package, the longest, apart),
// tests/node (the JavaScript library in Node, its types, the
// README's snippets), tests/browser (the library and the demo in headless
// Chromium) and tests/conformance (the relay, native and on Cloudflare).
//
// A tool a test needs (Node, Chromium, wrangler) that is missing fails the
// test when CI is set, and skips it with a message otherwise.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Root is the repository's top folder.
var Root = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(file))))
}()

// Need returns the path of a command the test cannot run without (a name
// looked up in PATH, or a path). In CI a missing tool fails the test: CI
// must never pass by skipping.
func Need(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; %s (.ci/run does)", name, install)
		}
		t.Skipf("%s is missing; %s (.ci/run does)", name, install)
	}
	return path
}

var distOnce struct {
	sync.Once
	err error
	out []byte
}

// Dist builds dist/ once per test run (go run ./build: the wasm only if a
// Go source changed) and returns its path. Test packages run in parallel
// processes: a lock file makes one build at a time, and the others then
// find it done.
func Dist(t *testing.T) string {
	t.Helper()
	distOnce.Do(func() {
		unlock, err := lock(filepath.Join(Root, ".build.lock"), 10*time.Minute)
		if err != nil {
			distOnce.err = err
			return
		}
		defer unlock()
		cmd := exec.Command("go", "run", "./build")
		cmd.Dir = Root
		distOnce.out, distOnce.err = cmd.CombinedOutput()
	})
	if distOnce.err != nil {
		t.Fatalf("go run ./build: %v\n%s", distOnce.err, distOnce.out)
	}
	return filepath.Join(Root, "dist")
}

// lock takes an exclusive lock on path, waiting at most wait for it.
func lock(path string, wait time.Duration) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(wait); ; time.Sleep(100 * time.Millisecond) {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("another test package held %s for %v: %w", path, wait, err)
		}
	}
}

// GoTestWasm runs the tests of the packages (patterns, from the
// repository's top) compiled to js/wasm, under Node, in -short mode: the
// same tests, on smaller inputs (WebAssembly is several times slower;
// BENCHMARKS.md has the figures).
func GoTestWasm(t *testing.T, pkgs ...string) {
	t.Helper()
	Need(t, "node", "install Node 20+")
	args := append([]string{"test", "-short", "-count=1", "-tags", "sqlite3_dotlk",
		"-exec", filepath.Join(Root, "tests", "go_js_wasm_exec")}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = Root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("wasm tests: %v", err)
	}
}
