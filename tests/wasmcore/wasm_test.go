package wasmcore

import (
	"github.com/factlog/factlog/tests/internal/e2e"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestCoreInWasm runs the core packages' own tests compiled to js/wasm,
// under Node, so that the browser build cannot rot. It runs them in -short
// mode: the same tests, on smaller inputs (WebAssembly is several times
// slower; BENCHMARKS.md has the figures).
func TestCoreInWasm(t *testing.T) {
	e2e.Need(t, "node", "install Node 20+")
	cmd := exec.Command("go", "test", "-short", "-count=1",
		"-tags", "sqlite3_dotlk",
		"-exec", filepath.Join(e2e.Root, "tests", "go_js_wasm_exec"),
		"./wasm/...")
	cmd.Dir = e2e.Root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("wasm tests: %v", err)
	}
}
