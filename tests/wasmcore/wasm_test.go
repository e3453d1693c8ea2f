package wasmcore

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/factlog/factlog/tests/internal/e2e"
)

// TestCoreInWasm runs the core packages' own tests compiled to js/wasm,
// under Node, so that the browser build cannot rot — all but the store's,
// which take as long as all the others and run in tests/wasmcore/store,
// so that each package stays well within Go's time limit.
func TestCoreInWasm(t *testing.T) {
	cmd := exec.Command("go", "list", "./wasm/...")
	cmd.Dir = e2e.Root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./wasm/...: %v", err)
	}
	pkgs := strings.Fields(string(out))
	if !slices.Contains(pkgs, storePkg) {
		t.Fatalf("go list ./wasm/... does not list %s", storePkg)
	}
	e2e.GoTestWasm(t, slices.DeleteFunc(pkgs, func(p string) bool { return p == storePkg })...)
}

// storePkg is the package tests/wasmcore/store runs.
const storePkg = "github.com/factlog/factlog/wasm/store"
